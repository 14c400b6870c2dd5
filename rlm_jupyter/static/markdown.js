// Safe markdown → DOM for untrusted model text (no build step, no dependencies).
//
// Safe by construction: it never parses HTML. Every node is made with createElement and every
// piece of text goes in through textContent, so `<script>` or `<img onerror=…>` in the text
// stay text. Links keep only http:, https: and mailto: URLs (rel="noopener noreferrer",
// target=_blank); images become links; `$` is shown as it is.
//
// Plain top-level functions, no import/export: Python concatenates this file (after common.js,
// whose rlmEl it uses) in front of a widget's module (stream.js, timeline.js) to build its `_esm`. The API:
//   renderMarkdown(el, text)        replace el's children with the rendered text
//   markdownView(el) -> {update(text)}   the same, re-rendering only the blocks that changed
//                                   (completed blocks are kept as they are: cheap while streaming)
// Supported: ATX headings, paragraphs, **strong**, *em*, ~~del~~, `code`, fenced code (an
// unclosed fence renders as code), lists (nested by indent), blockquotes, tables (a half-written
// table renders as a table), hr, hard breaks, backslash escapes, links and <autolinks>.

const MD_SAFE_URL = /^(https?:\/\/|mailto:)/i;

function mdSafeUrl(url) {
  const clean = String(url || "").replace(/[\u0000-\u0020\u007f]+/g, "");
  return MD_SAFE_URL.test(clean) ? clean : null;
}

function mdLink(parent, label, url, fallback, depth) {
  const href = mdSafeUrl(url);
  if (href === null) {
    parent.appendChild(document.createTextNode(fallback));
    return;
  }
  const a = rlmEl("a");
  a.setAttribute("href", href);
  a.setAttribute("target", "_blank");
  a.setAttribute("rel", "noopener noreferrer");
  mdInline(a, label, depth);
  parent.appendChild(a);
}

// Find the closing delimiter `delim` at or after `from` (not escaped); -1 if there is none.
function mdClosing(s, delim, from) {
  for (let i = from; i <= s.length - delim.length; i++) {
    if (s[i] === "\\") { i++; continue; }
    if (s[i] === "`") {                       // skip code spans inside emphasis
      const run = /^`+/.exec(s.slice(i))[0];
      const end = s.indexOf(run, i + run.length);
      if (end > 0) { i = end + run.length - 1; continue; }
    }
    if (s.startsWith(delim, i)) return i;
  }
  return -1;
}

// Inline markdown of `s` appended to `parent` (text nodes and a few safe elements only).
function mdInline(parent, s, depth) {
  depth = depth || 0;
  if (depth > 32) { parent.appendChild(document.createTextNode(s)); return; } // pathological nesting: text
  let text = "";
  const flush = () => { if (text) { parent.appendChild(document.createTextNode(text)); text = ""; } };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "\\" && i + 1 < s.length) {
      if (s[i + 1] === "\n") { flush(); parent.appendChild(rlmEl("br")); i += 2; continue; }
      if (/[!-\/:-@\[-`{-~]/.test(s[i + 1])) { text += s[i + 1]; i += 2; continue; }
    }
    if (c === "\n") {
      if (/ {2,}$/.test(text)) { text = text.replace(/ +$/, ""); flush(); parent.appendChild(rlmEl("br")); }
      else text += "\n";
      i++; continue;
    }
    if (c === "`") {
      const run = /^`+/.exec(s.slice(i))[0];
      const end = s.indexOf(run, i + run.length);
      if (end > 0 && s[end + run.length] !== "`") {
        let code = s.slice(i + run.length, end).replace(/\n/g, " ");
        if (/^ .*[^ ].* $/.test(code)) code = code.slice(1, -1);
        flush(); parent.appendChild(rlmEl("code", null, code));
        i = end + run.length; continue;
      }
      text += run; i += run.length; continue;
    }
    if (c === "<") {
      const m = /^<((?:https?:\/\/|mailto:)[^\s<>]*)>/i.exec(s.slice(i));
      if (m) { flush(); mdLink(parent, m[1], m[1], m[0]); i += m[0].length; continue; }
    }
    if (c === "[" || (c === "!" && s[i + 1] === "[")) {
      const start = c === "!" ? i + 1 : i;
      let depth = 0, close = -1;
      for (let j = start; j < s.length; j++) {
        if (s[j] === "\\") { j++; continue; }
        if (s[j] === "[") depth++;
        else if (s[j] === "]" && --depth === 0) { close = j; break; }
      }
      const m = close > 0 ? /^\(\s*<?([^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)>?(?:\s+"[^"]*")?\s*\)/.exec(s.slice(close + 1)) : null;
      if (m) {
        flush();
        const label = s.slice(start + 1, close);
        mdLink(parent, c === "!" ? (label || m[1]) : label, m[1], s.slice(i, close + 1 + m[0].length), depth + 1);
        i = close + 1 + m[0].length; continue;
      }
    }
    if ((c === "*" || c === "_") && s.startsWith(c + c + c, i) && !/\s/.test(s[i + 3] || " ")) {
      const end = mdClosing(s, c + c + c, i + 4);
      if (end > 0) {
        flush();
        const strong = rlmEl("strong"), em = rlmEl("em");
        mdInline(em, s.slice(i + 3, end), depth + 1);
        strong.appendChild(em);
        parent.appendChild(strong);
        i = end + 3; continue;
      }
    }
    if (c === "*" || c === "_" || c === "~") {
      const double = s[i + 1] === c;
      if (c === "~" && !double) { text += c; i++; continue; }
      const delim = double ? c + c : c;
      const before = i > 0 ? s[i - 1] : " ";
      const after = s[i + delim.length] || " ";
      const opens = !/\s/.test(after) && !(c === "_" && /[A-Za-z0-9]/.test(before));
      const end = opens ? mdClosing(s, delim, i + delim.length + 1) : -1;
      if (end > 0 && !/\s/.test(s[end - 1]) && !(c === "_" && /[A-Za-z0-9]/.test(s[end + delim.length] || ""))) {
        flush();
        const tag = c === "~" ? "del" : double ? "strong" : "em";
        const inner = rlmEl(tag);
        mdInline(inner, s.slice(i + delim.length, end), depth + 1);
        parent.appendChild(inner);
        i = end + delim.length; continue;
      }
      text += delim; i += delim.length; continue;
    }
    text += c; i++;
  }
  flush();
}

const MD_FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const MD_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const MD_HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const MD_ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*)|$)/;
const MD_QUOTE = /^ {0,3}> ?(.*)$/;
const MD_DELIM = /^ *\|? *:?-+:? *(\| *:?-*:? *)*\|? *$|^ *\|? *:?-*:? *(\| *:?-+:? *)+\|? *$/;

// Split text into top-level blocks: fenced code (to its closing fence or the end), or runs of
// lines between blank lines. Returns [{src, fence}] in order.
function mdBlocks(text) {
  const lines = text.split("\n");
  const blocks = [];
  let cur = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = MD_FENCE.exec(line);
    if (fence) {
      if (cur) { blocks.push(cur); cur = null; }
      const mark = fence[1];
      const body = [line];
      let closed = false;
      for (i++; i < lines.length; i++) {
        body.push(lines[i]);
        const t = lines[i].trim();
        if (t.startsWith(mark[0].repeat(mark.length)) && /^[`~]+$/.test(t) && t[0] === mark[0]) { closed = true; break; }
      }
      blocks.push({ src: body.join("\n"), fence: true, closed });
      continue;
    }
    if (!line.trim()) {
      if (cur) { blocks.push(cur); cur = null; }
      continue;
    }
    if (!cur) cur = { src: line, fence: false };
    else cur.src += "\n" + line;
  }
  if (cur) blocks.push(cur);
  return blocks;
}

function mdCode(src) {
  const lines = src.split("\n");
  const m = MD_FENCE.exec(lines[0]);
  const indent = /^ */.exec(lines[0])[0].length;
  let body = lines.slice(1);
  if (body.length && /^ {0,3}[`~]{3,}\s*$/.test(body[body.length - 1]) && body[body.length - 1].trim()[0] === m[1][0]
      && body[body.length - 1].trim().length >= m[1].length) body = body.slice(0, -1);
  else if (body.length && body[body.length - 1] === "") body = body.slice(0, -1); // still streaming: no empty last line
  const pre = rlmEl("pre");
  const lang = m && m[2] ? m[2].replace(/[^\w+#.-]/g, "").toLowerCase() : "";
  const code = rlmEl("code", lang ? "language-" + lang : null);
  mdHighlight(code, lang, body.map((l) => l.replace(new RegExp("^ {0," + indent + "}"), "")).join("\n"));
  pre.appendChild(code);
  return pre;
}

// A small highlighter for a few common languages: spans with classes, text through textContent.
const MD_LANGS = { py: "python", python: "python", js: "js", javascript: "js", ts: "js", typescript: "js",
  json: "json", sh: "bash", bash: "bash", shell: "bash", zsh: "bash", console: "bash" };
const MD_KEYWORDS = {
  python: "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield",
  js: "async await break case catch class const continue default delete do else export extends false finally for function if import in instanceof let new null of return super switch this throw true try typeof undefined var void while yield",
  bash: "if then else elif fi for while do done case esac function in export return local",
  json: "true false null",
};
const MD_COMMENT = { python: /#[^\n]*/.source, bash: /#[^\n]*/.source, js: /\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/.source, json: /(?!)/.source };
const MD_TRIPLE = { python: /"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|/.source, js: /`(?:\\[\s\S]|[^`\\])*`?|/.source };
const MD_STRING = /"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?/.source;
const mdHighlighters = {};

function mdHighlighter(kind) {
  if (!mdHighlighters[kind]) {
    mdHighlighters[kind] = new RegExp(`(${MD_COMMENT[kind]})|(${MD_TRIPLE[kind] || ""}${MD_STRING})|` +
      `\\b(\\d+(?:\\.\\d+)?)\\b|\\b(${MD_KEYWORDS[kind].split(" ").join("|")})\\b`, "g");
  }
  return mdHighlighters[kind];
}

function mdHighlight(code, lang, text) {
  const kind = MD_LANGS[lang];
  if (!kind) { code.textContent = text; return; }
  const re = mdHighlighter(kind);
  re.lastIndex = 0;
  let last = 0, m;
  while ((m = re.exec(text)) !== null) {
    if (m[0] === "") { re.lastIndex++; continue; }
    if (m.index > last) code.appendChild(document.createTextNode(text.slice(last, m.index)));
    const cls = m[1] ? "rlm-tok-comment" : m[2] ? "rlm-tok-string" : m[3] ? "rlm-tok-number" : "rlm-tok-keyword";
    code.appendChild(rlmEl("span", cls, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) code.appendChild(document.createTextNode(text.slice(last)));
}

function mdCells(line) {
  let t = line.trim();
  if (t.startsWith("|")) t = t.slice(1);
  if (t.endsWith("|") && !t.endsWith("\\|")) t = t.slice(0, -1);
  const cells = [];
  let cell = "";
  for (let i = 0; i < t.length; i++) {
    if (t[i] === "\\" && t[i + 1] === "|") { cell += "|"; i++; continue; }
    if (t[i] === "|") { cells.push(cell.trim()); cell = ""; continue; }
    cell += t[i];
  }
  cells.push(cell.trim());
  return cells;
}

function mdTable(lines) {
  const head = mdCells(lines[0]);
  const aligns = mdCells(lines[1]).map((c) => (/^:-*:$/.test(c) ? "center" : /-:$/.test(c) ? "right" : /^:/.test(c) ? "left" : ""));
  const table = rlmEl("table");
  const row = (cells, tag) => {
    const tr = rlmEl("tr");
    for (let k = 0; k < head.length; k++) {
      const td = rlmEl(tag);
      if (aligns[k]) td.style.textAlign = aligns[k];
      mdInline(td, cells[k] || "");
      tr.appendChild(td);
    }
    return tr;
  };
  const thead = rlmEl("thead");
  thead.appendChild(row(head, "th"));
  table.appendChild(thead);
  if (lines.length > 2) {
    const tbody = rlmEl("tbody");
    for (const l of lines.slice(2)) tbody.appendChild(row(mdCells(l), "td"));
    table.appendChild(tbody);
  }
  return table;
}

function mdList(lines) {
  // lines: list item lines and their continuation lines; nesting by indentation.
  const root = { indent: -1, el: null, items: null };
  const stack = [root];
  let lastLi = null, lastText = null;
  const out = [];
  for (const line of lines) {
    const m = MD_ITEM.exec(line);
    if (!m) { if (lastLi) lastText.push(line.trim()); continue; }
    const indent = m[1].length;
    const ordered = /\d/.test(m[2]);
    while (stack.length > 1 && indent < stack[stack.length - 1].indent) stack.pop();
    let top = stack[stack.length - 1];
    if (top === root || indent > top.indent + 1) {
      const list = rlmEl(ordered ? "ol" : "ul");
      if (ordered && parseInt(m[2], 10) !== 1) list.setAttribute("start", String(parseInt(m[2], 10)));
      if (top === root) out.push(list); else if (lastLi) lastLi.appendChild(list);
      top = { indent, el: list };
      stack.push(top);
    }
    lastLi = rlmEl("li");
    lastText = [m[3] || ""];
    lastLi._md = lastText;
    top.el.appendChild(lastLi);
  }
  for (const list of out) mdFillItems(list);
  return out;
}

function mdFillItems(list) {
  for (const li of list.children) {
    const nested = [...li.children];
    li.replaceChildren();
    mdInline(li, li._md.join("\n"));
    for (const child of nested) { li.appendChild(child); mdFillItems(child); }
  }
}

// One block (lines between blank lines, no fence) → DOM nodes.
function mdBlock(src, depth) {
  const lines = src.split("\n");
  const nodes = [];
  let para = [];
  const endPara = () => {
    if (para.length) { const p = rlmEl("p"); mdInline(p, para.join("\n")); nodes.push(p); para = []; }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if ((m = MD_HEADING.exec(line))) {
      endPara();
      const h = rlmEl("h" + m[1].length);
      mdInline(h, m[2] || "");
      nodes.push(h);
    } else if (MD_HR.test(line) && !(para.length && /^ *-+ *$/.test(line))) {
      endPara();
      nodes.push(rlmEl("hr"));
    } else if (MD_QUOTE.test(line)) {
      endPara();
      const inner = [];
      while (i < lines.length && (m = MD_QUOTE.exec(lines[i]))) { inner.push(m[1]); i++; }
      i--;
      const q = rlmEl("blockquote");
      mdRenderInto(q, inner.join("\n"), (depth || 0) + 1);
      nodes.push(q);
    } else if (MD_ITEM.test(line) && (para.length === 0 || !/^ /.test(line))) {
      endPara();
      const items = [];
      while (i < lines.length && (MD_ITEM.test(lines[i]) || (items.length && /^\s+\S/.test(lines[i])))) items.push(lines[i++]);
      i--;
      nodes.push(...mdList(items));
    } else if (line.includes("|") && i + 1 < lines.length && MD_DELIM.test(lines[i + 1]) && lines[i + 1].includes("-")) {
      endPara();
      const rows = [line, lines[i + 1]];
      for (i += 2; i < lines.length && lines[i].includes("|"); i++) rows.push(lines[i]);
      i--;
      nodes.push(mdTable(rows));
    } else if (/^ *-+ *$/.test(line) && para.length) {
      const h = rlmEl("h2");                        // setext heading (underlined with -)
      mdInline(h, para.join("\n"));
      para = [];
      nodes.push(h);
    } else if (/^ *=+ *$/.test(line) && para.length) {
      const h = rlmEl("h1");
      mdInline(h, para.join("\n"));
      para = [];
      nodes.push(h);
    } else {
      para.push(line.replace(/^ {1,3}/, ""));
    }
  }
  endPara();
  return nodes;
}

function mdNodes(block, depth) {
  return block.fence ? [mdCode(block.src)] : mdBlock(block.src, depth);
}

function mdRenderInto(el, text, depth) {
  if ((depth || 0) > 16) { el.appendChild(rlmEl("p", null, String(text))); return; } // deeper quotes: text
  for (const block of mdBlocks(String(text || ""))) for (const node of mdNodes(block, depth)) el.appendChild(node);
}

function renderMarkdown(el, text) {
  el.replaceChildren();
  mdRenderInto(el, text);
}

// Incremental view: blocks whose source did not change keep their DOM nodes (the last block
// is always re-rendered, since it may still grow).
function markdownView(el) {
  let done = []; // [{src, fence, nodes}]
  return {
    update(text) {
      const blocks = mdBlocks(String(text || ""));
      let keep = 0;
      while (keep < done.length && keep < blocks.length - 1 && done[keep].src === blocks[keep].src
             && done[keep].fence === blocks[keep].fence && done[keep].closed === blocks[keep].closed) keep++;
      for (const old of done.slice(keep)) for (const n of old.nodes) n.remove();
      done = done.slice(0, keep);
      for (const block of blocks.slice(keep)) {
        const nodes = mdNodes(block);
        for (const n of nodes) el.appendChild(n);
        done.push({ ...block, nodes });
      }
    },
  };
}
