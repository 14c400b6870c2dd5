// A typed answer's JSON as a tree that grows while the text arrives (the stream widget's fmt
// "object"; put in front of stream.js by rlm_jupyter/page.py). Objects are tables of fields,
// lists are numbered rows; strings grow in place, a number or literal appears once it is whole.
// Each character is read once by an incremental parser that builds the DOM as it goes (linear in
// the answer, as the text view is), and the text is model output: only text nodes, never markup.
// Past RLM_OBJ_DEPTH levels, or at anything that is not JSON, the tree stops growing; the raw JSON
// stays one click away in its own <details>. `unwrap`: the answer came as {"value": …} (a schema
// whose root is not an object, rlm_toolkit.typed.schema) and the tree shows the value alone.

const RLM_OBJ_DEPTH = 128;
const RLM_OBJ_ESCAPES = { n: "\n", t: "\t", r: "\r", b: "\b", f: "\f", "\"": "\"", "\\": "\\", "/": "/" };
const RLM_OBJ_SCALAR = /[0-9A-Za-z.+\-]/;

function rlmObjectView(el, unwrap) {
  const tree = el.appendChild(rlmEl("div", "rlm-obj-tree"));
  const raw = el.appendChild(rlmEl("details", "rlm-obj-raw"));
  raw.append(rlmEl("summary", "rlm-obj-raw-title", "JSON"));
  const rawPre = raw.appendChild(rlmEl("pre", "rlm-code"));
  let seen = 0, st = null;
  const reset = () => {
    tree.replaceChildren();
    rawPre.textContent = "";
    seen = 0;
    // stack: {kind: "obj"|"arr", box, want: "key"|"colon"|"value"|"comma", key, wrapper}
    st = { stack: [], str: null, esc: null, tok: "", broken: false, done: false };
  };
  reset();

  // Where the next value goes: the root, a new numbered row, or a new field row.
  const place = () => {
    const top = st.stack[st.stack.length - 1];
    if (!top) return tree;
    if (top.wrapper) return tree;
    if (top.kind === "arr") return top.box.appendChild(rlmEl("li", "rlm-obj-item"));
    const row = top.box.appendChild(rlmEl("tr", "rlm-obj-field"));
    row.append(rlmEl("th", "rlm-obj-key", top.key));
    return row.appendChild(rlmEl("td", "rlm-obj-value"));
  };
  const valueDone = () => {
    const top = st.stack[st.stack.length - 1];
    if (top) top.want = "comma";
    else st.done = true;
  };
  const scalar = () => {
    const tok = st.tok;
    st.tok = "";
    const literal = tok === "true" || tok === "false" || tok === "null";
    if (!literal && !/^-?\d+(\.\d+)?([eE][+\-]?\d+)?$/.test(tok)) { st.broken = true; return; }
    place().append(rlmEl("span", literal ? "rlm-obj-lit" : "rlm-obj-num", tok));
    valueDone();
  };
  const open = (kind) => {
    if (st.stack.length >= RLM_OBJ_DEPTH) { st.broken = true; return; }
    const wrapper = unwrap && kind === "obj" && st.stack.length === 0;
    let box = null;
    if (!wrapper) {
      const at = place();
      box = at.appendChild(kind === "obj" ? rlmEl("table", "rlm-obj") : rlmEl("ol", "rlm-arr"));
      if (kind === "arr") box.start = 0;
    }
    st.stack.push({ kind, box, want: kind === "obj" ? "key" : "value", key: "", wrapper });
  };
  const close = (kind) => {
    const top = st.stack.pop();
    if (!top || top.kind !== kind || top.want === "colon" || (top.want === "value" && kind === "obj")) {
      st.broken = true;
      return;
    }
    valueDone();
  };

  // One piece of new text: every character once.
  const feed = (text) => {
    let held = "";  // the open value string's new characters, added as one text node at the end
    for (let i = 0; i < text.length && !st.broken; i++) {
      const c = text[i];
      const s = st.str;
      if (s) {
        if (st.esc !== null) {
          if (st.esc === "" && c !== "u") {
            const out = RLM_OBJ_ESCAPES[c];
            if (out === undefined) { st.broken = true; break; }
            if (s.key) s.text += out; else held += out;
            st.esc = null;
          } else if (st.esc === "") st.esc = "u";
          else {
            st.esc += c;
            if (st.esc.length === 5) {
              const code = parseInt(st.esc.slice(1), 16);
              if (Number.isNaN(code)) { st.broken = true; break; }
              const out = String.fromCharCode(code);
              if (s.key) s.text += out; else held += out;
              st.esc = null;
            }
          }
        } else if (c === "\\") st.esc = "";
        else if (c === "\"") {
          if (s.key) {
            const top = st.stack[st.stack.length - 1];
            top.key = s.text;
            top.want = "colon";
          } else {
            if (held) s.span.appendChild(document.createTextNode(held));
            held = "";
            valueDone();
          }
          st.str = null;
        } else if (s.key) s.text += c;
        else held += c;
        continue;
      }
      if (st.tok && !RLM_OBJ_SCALAR.test(c)) scalar();
      if (st.broken) break;
      if (c === " " || c === "\n" || c === "\t" || c === "\r") continue;
      const top = st.stack[st.stack.length - 1];
      const want = top ? top.want : (st.done ? "end" : "value");
      if (want === "key") {
        if (c === "\"") st.str = { key: true, text: "" };
        else if (c === "}") close("obj");
        else st.broken = true;
      } else if (want === "colon") {
        if (c === ":") top.want = "value"; else st.broken = true;
      } else if (want === "comma") {
        if (c === ",") top.want = top.kind === "obj" ? "key" : "value";
        else if (c === "}" || c === "]") close(c === "}" ? "obj" : "arr");
        else st.broken = true;
      } else if (want === "value") {
        if (c === "{") open("obj");
        else if (c === "[") open("arr");
        else if (c === "]" && top && top.kind === "arr" && !top.box.childElementCount) close("arr");
        else if (c === "\"") {
          const span = place().appendChild(rlmEl("span", "rlm-obj-str"));
          st.str = { key: false, span };
        } else if (RLM_OBJ_SCALAR.test(c)) st.tok += c;
        else st.broken = true;
      } else st.broken = true;  // text after the whole value
    }
    if (held && st.str && !st.broken) st.str.span.appendChild(document.createTextNode(held));
  };

  return {
    // `tail` {at, d}: the delta just appended, when the caller knows it. Reading it, not the whole
    // text, keeps each update O(new text): a growing string built by `+` is a rope, and reading
    // any character of it (slice included) first copies the whole of it (V8 flattens it).
    update(text, tail) {
      if (text.length < seen) reset();
      if (text.length === seen) return;
      const fresh = tail && tail.at === seen && seen + tail.d.length === text.length ? tail.d : text.slice(seen);
      seen = text.length;
      rawPre.appendChild(document.createTextNode(fresh));
      if (!st.broken) feed(fresh);
      tree.dataset.state = st.broken ? "broken" : st.done ? "done" : "growing";
    },
  };
}
