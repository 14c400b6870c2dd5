// The live answer widget (anywidget ESM, no build step; common.js is put in front). Markdown is
// rendered by the page libraries (rlmPage(): markdown-it, KaTeX, highlight.js, sent once per page),
// incrementally: a frame's work is what the frame changed, not the answer's length.
//
// Messages ({type, ...}; the vocabulary both widgets share, rlm_jupyter/wire.py):
//   kernel → page  frame {d: "new text", o: its offset (UTF-16 units), n: chunks so far, e: seconds
//                  since the first token (kernel clock), t: seconds to first token (first frame only),
//                  r: "new reasoning", ro: its offset}  (d and r alone or together)
//                  end {text: total length, thinking: reasoning length}  after the last frame; the
//                  traits state/info/error settle the footer
//                  snapshot {text: "whole answer", thinking: "whole reasoning"}  once, unasked, a
//                  second after the widget opened (a page binds this module after the model exists
//                  and loses the frames in between), and in reply to sync
//   page → kernel  stop (the Stop button); sync (a gap the kernel's snapshot did not mend, or a
//                  length mismatch at the end: send all). Nothing else, and nothing unasked at
//                  start: a page message is handled on a subshell whose busy/idle the page would
//                  take for the kernel's while a cell runs.
// The page appends each delta to the model's `text` locally (no round trip), so every view of the
// model and the widget state saved with the notebook hold the whole answer; the kernel sets its
// own `text` trait at the end without sending it again. A model created mid-stream (a reload, a
// second tab) gets the text so far in its state and the counts in `progress`; the offsets let it
// skip what its state already holds. The reasoning is shown as text (textContent, never markup)
// in a "Thinking" section above the answer, open while it streams, folded when the answer starts.
// The prompt that was sent (the `prompt` trait) is a "Prompt" section above both, always folded.

// Live stats (chunks, first-token time) are kept in one object stored on the model itself:
// anywidget hands initialize() and each render() a different proxy of the same model.
function rlmLive(model) {
  let live = model.get("_live");
  if (!live) {
    // a model created mid-stream starts from the kernel's counts (see `progress`)
    const p = model.get("progress") || {};
    live = { n: p.n || 0, ttft: p.t === null ? undefined : p.t };
    if (typeof p.e === "number") { live.e = p.e; live.at = performance.now(); }
    model.set("_live", live);
  }
  return live;
}

const RLM_RATE_MIN_SECONDS = 0.25, RLM_RATE_MIN_TOKENS = 10;

function rlmFooter(model) {
  const info = model.get("info") || {};
  const live = rlmLive(model);
  const state = model.get("state");
  const parts = [info.model || model.get("model_name") || ""];
  // as Response.tokens: reported completion tokens, else answer and reasoning chunks alike
  const tokens = (info.usage && info.usage.completion_tokens)
    || ((info.chunks || 0) + (info.reasoning_chunks || 0)) || live.n || 0;
  if (tokens) parts.push(`${tokens} token${tokens === 1 ? "" : "s"}`);
  parts.push(info.cost_text || "");  // formatted by the kernel (rlm_toolkit.cost.money)
  const ttft = info.ttft_s !== undefined && info.ttft_s !== null ? info.ttft_s : live.ttft;
  if (ttft !== undefined && ttft !== null) parts.push(`first token ${rlmSeconds(ttft)}`);
  // No rate until it means something (render.py's RATE_MIN_*): a burst delivered in one read
  // measures the network, not the model.
  let tps = info.tokens_per_s, span = info.elapsed_s - info.ttft_s;
  if (state === "streaming" && live.at !== undefined) {
    // the kernel's clock: seconds since the first token at the last delta, plus the time since
    span = live.e + (performance.now() - live.at) / 1000;
    tps = span > 0 ? live.n / span : 0;
  }
  if (tps && span >= RLM_RATE_MIN_SECONDS && tokens >= RLM_RATE_MIN_TOKENS) parts.push(`${tps.toFixed(1)} tok/s`);
  parts.push(info.stop_reason && state === "stopped" ? `${state} (${info.stop_reason})` : state);
  return parts.filter(Boolean).join(" · ");
}

function initialize({ model }) {
  rlmLive(model);
  // anywidget binds this module after the model exists: deltas sent in between were lost. The
  // kernel sends the whole text once, a second after the widget opened; a gap it did not mend is
  // asked for (rlmAppend).
  rlmOnMessage(model, {
    frame(msg) {
      const live = rlmLive(model);
      if (typeof msg.t === "number") live.ttft = msg.t;
      if (typeof msg.n === "number") live.n = msg.n;
      if (typeof msg.e === "number") { live.e = msg.e; live.at = performance.now(); }
      if (typeof msg.r === "string") rlmAppend(model, live, "thinking", msg.r, msg.ro);
      if (typeof msg.d === "string") rlmAppend(model, live, "text", msg.d, msg.o);
    },
    end(msg) {
      if ((typeof msg.text === "number" && (model.get("text") || "").length !== msg.text)
          || (typeof msg.thinking === "number" && (model.get("thinking") || "").length !== msg.thinking)) {
        rlmSend(model, "sync");
      }
    },
    snapshot(msg) {
      if (typeof msg.text === "string" && msg.text.length >= (model.get("text") || "").length) {
        model.set("text", msg.text);
      }
      if (typeof msg.thinking === "string" && msg.thinking.length >= (model.get("thinking") || "").length) {
        model.set("thinking", msg.thinking);
      }
      const live = rlmLive(model);
      live.asked = false;
      clearTimeout(live.askTimer);
    },
  });
}

// Append a delta that starts at offset `at` of the trait `name` (the answer or the reasoning).
function rlmAppend(model, live, name, delta, at) {
  const text = model.get(name) || "";
  if (typeof at !== "number") at = text.length;
  if (at === text.length) {
    if (name === "text") live.tail = { at, d: delta };  // object.js reads the new text alone
    model.set(name, text + delta);
  }
  else if (at < text.length) {
    // the state this model started from already holds part (or all) of this delta
    if (at + delta.length > text.length) model.set(name, text + delta.slice(text.length - at));
  } else if (!live.asked) {
    // A gap: ask for the whole text once, unless the kernel's own snapshot mends it first.
    live.asked = true;
    live.askTimer = setTimeout(() => {
      if (live.asked && model.get("state") === "streaming") rlmSend(model, "sync");
    }, 2500);
  }
}

function render({ model, el }) {
  const root = rlmEl("div", "rlm-stream tex2jax_ignore mathjax_ignore");
  // The prompt that was sent, folded; text only (textContent, never markup), set once by the kernel.
  const prompt = rlmEl("details", "rlm-prompt");
  const promptText = rlmEl("div", "rlm-prompt-text");
  prompt.append(rlmEl("summary", "rlm-prompt-title", "Prompt"), promptText);
  const showPrompt = () => {
    promptText.textContent = model.get("prompt") || "";
    prompt.hidden = !model.get("prompt");
  };
  const thinking = rlmEl("details", "rlm-thinking");
  const thinkingText = rlmEl("div", "rlm-thinking-text");
  thinking.append(rlmEl("summary", "rlm-thinking-title", "Thinking"), thinkingText);
  const answer = rlmEl("div", "rlm-answer");
  const error = rlmEl("div", "rlm-error");
  const footer = rlmEl("div", "rlm-footer");
  const info = rlmEl("span", "rlm-info");
  const stop = rlmStopButton(model, "Stop this answer");
  footer.append(info, stop);
  root.append(prompt, thinking, answer, error, footer);
  el.appendChild(root);

  // Until the page libraries are there (a moment at most), markdown shows as plain text.
  let page = null, view = null, pre = null, mode = null;
  const showText = () => {
    const text = model.get("text") || "";
    const fmt = model.get("fmt");
    if (fmt === "object" && typeof rlmObjectView === "function") {  // a typed answer: its tree (object.js)
      if (mode !== "obj") { mode = "obj"; answer.replaceChildren(); view = rlmObjectView(answer, !!model.get("unwrap")); }
      view.update(text, rlmLive(model).tail);
      return;
    }
    // -f code: an answer that comes fenced already is shown as that code block, not with its fences
    const md = fmt === "markdown" || (fmt === "code" && /^\s*(`{3,}|~{3,})/.test(text));
    const want = md && page ? "md" : md ? "wait" : "pre";
    if (want !== mode) {
      mode = want;
      answer.replaceChildren();
      // the classes of the static copy (rlm_jupyter/render.py: to_html): the front end's own
      // rendered-markdown style for both, so nothing changes when the answer settles
      view = want === "md" ? page.markdownView(answer.appendChild(rlmEl("div", "rlm-md jp-RenderedHTMLCommon"))) : null;
      pre = want === "md" ? null : answer.appendChild(rlmEl("pre", fmt === "code" ? "rlm-code" : "rlm-plain"));
    }
    if (view) view.update(text);
    else pre.textContent = text;
  };
  rlmPage().then((api) => { page = api; showText(); });
  // The reasoning grows as text nodes (untrusted: never parsed as markup). Open while it streams;
  // folded once, automatically, when the answer starts (a view of a finished answer starts folded).
  let thoughtShown = 0, folded = false;
  const showThinking = () => {
    const text = model.get("thinking") || "";
    thinking.hidden = !text;
    if (text.length < thoughtShown) { thinkingText.textContent = ""; thoughtShown = 0; }
    if (text.length > thoughtShown) {
      thinkingText.appendChild(document.createTextNode(text.slice(thoughtShown)));
      thoughtShown = text.length;
    }
    if (!folded && text && (model.get("text") || "")) { folded = true; thinking.open = false; }
  };
  thinking.open = !(model.get("text") || "");
  const showState = () => {
    const state = model.get("state");
    root.dataset.state = state;
    error.textContent = model.get("error") || "";
    error.hidden = !model.get("error");
    stop.hidden = state !== "streaming" || !model.get("stoppable");
    info.textContent = rlmFooter(model);
  };
  let timer = null;
  const onText = () => {
    showText();
    showThinking();
    info.textContent = rlmFooter(model);
  };
  const onThinking = () => {
    showThinking();
    info.textContent = rlmFooter(model);
  };
  showPrompt();
  showThinking();
  showText();
  showState();
  // The display's saved copy (the text so far, for a notebook saved mid-stream) follows the
  // widget's output: while a view shows the widget, the copy is hidden (in JupyterLab and
  // Notebook 7 with its whole output row).
  const copyId = String(model.get("copy_id") || "");
  let hideCopy = null;
  if (/^[0-9a-f]{32}$/.test(copyId)) {
    hideCopy = document.createElement("style");
    hideCopy.textContent = `[data-rlm-for="${copyId}"], .jp-OutputArea-child:has([data-rlm-for="${copyId}"]) `
      + "{ display: none !important; }";
    document.head.appendChild(hideCopy);
  }
  // tokens/s ticks while streaming even between deltas
  timer = setInterval(() => { if (model.get("state") === "streaming") info.textContent = rlmFooter(model); }, 500);
  model.on("change:text", onText);
  model.on("change:thinking", onThinking);
  model.on("change:prompt", showPrompt);
  model.on("change:state", showState);
  model.on("change:info", showState);
  model.on("change:error", showState);
  model.on("change:stoppable", showState);
  return () => {
    clearInterval(timer);
    if (hideCopy) hideCopy.remove();
    model.off("change:text", onText);
    model.off("change:thinking", onThinking);
    model.off("change:prompt", showPrompt);
    model.off("change:state", showState);
    model.off("change:info", showState);
    model.off("change:error", showState);
    model.off("change:stoppable", showState);
  };
}

export default { initialize, render };
