// Helpers both widgets' modules share (no build step: Python puts this file, then markdown.js,
// in front of stream.js and timeline.js; see rlm_jupyter/page.py).

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
