// Helpers both widgets' modules share (no build step: Python puts this file in front of stream.js
// and timeline.js, after the line naming RLM_PAGE_KEY; see rlm_jupyter/page.py).

// The page libraries (markdown-it, KaTeX, highlight.js; static/vendor/page.js), sent once per page
// by the PageAssets widget: a promise of its renderer {toHtml, renderMarkdown, markdownView}.
function rlmPage() {
  if (!globalThis[RLM_PAGE_KEY]) {
    let resolve;
    const ready = new Promise((r) => { resolve = r; });
    globalThis[RLM_PAGE_KEY] = { ready, resolve };
  }
  return globalThis[RLM_PAGE_KEY].ready;
}

// An element with a class and text (textContent only: model text never becomes markup).
function rlmEl(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined) el.textContent = text;
  return el;
}

// Seconds as the kernel's footers write them (rlm_jupyter.render.seconds): 0.42 s, 12.3 s.
function rlmSeconds(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  return v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(1)} s`;
}

// The messages both widgets exchange with the kernel: {type, ...fields}, one vocabulary (its table
// is in rlm_jupyter/wire.py). A message of a type this page has no handler for is ignored.
function rlmSend(model, type, fields) {
  model.send({ type, ...fields });
}

function rlmOnMessage(model, handlers) {
  model.on("msg:custom", (msg) => {
    if (msg && typeof msg === "object" && typeof msg.type === "string" && Object.hasOwn(handlers, msg.type)) {
      handlers[msg.type](msg);
    }
  });
}

// The Stop button of both widgets: one click sends stop (the view shows or hides it).
function rlmStopButton(model, title) {
  const stop = rlmEl("button", "rlm-stop", "Stop");
  stop.type = "button";
  stop.title = title;
  stop.addEventListener("click", () => { stop.disabled = true; rlmSend(model, "stop"); });
  return stop;
}
