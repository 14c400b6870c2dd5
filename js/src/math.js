// Math in markdown: the one rule both renderers apply (this file for the page; its twin is
// rlm_jupyter/render.py's _math_rule for the kernel's static copy; tests hold them equal).
//
//   $…$    inline, Pandoc's rule: the opening $ is followed by a non-space, the closing $ follows
//          a non-space and is not followed by a digit (so "$5 and $6" stays money); and a closing
//          $ is a lone one (not part of a $$)
//   $$…$$  \[…\]   display        \(…\)  inline
//   a line opening with $$ or \[ starts a display block that ends at the line closing it (or at a
//   blank line: then it was not math, and the lines are a paragraph)
// A backslash escapes the next character (\$ is a dollar). Formulas longer than MATH_LIMIT are
// shown as their source.

export const MATH_LIMIT = 4000;

const CLOSERS = { "$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]" };

// Where the closer of `open` is, from `from` in `src`; -1 when there is none.
export function closing(src, open, from) {
  const close = CLOSERS[open];
  for (let i = from; i < src.length; i++) {
    const ch = src[i];
    if (open === "$" || open === "$$") {
      if (ch === "\\") { i++; continue; }
      if (src.startsWith(close, i)) {
        if (open === "$") {
          if (/\s/.test(src[i - 1]) || /[0-9$]/.test(src[i + 1] || "") || src[i - 1] === "$") continue;
        }
        return i;
      }
    } else if (src.startsWith(close, i)) return i;
  }
  return -1;
}

// The formula that starts at `pos` of `src`: {tex, display, end} or null.
export function inlineMath(src, pos) {
  let open = null;
  if (src.startsWith("$$", pos)) open = "$$";
  else if (src[pos] === "$") open = "$";
  else if (src.startsWith("\\(", pos)) open = "\\(";
  else if (src.startsWith("\\[", pos)) open = "\\[";
  if (!open) return null;
  const start = pos + open.length;
  if (open === "$" && (start >= src.length || /\s/.test(src[start]))) return null;
  const at = closing(src, open, start);
  if (at < 0 || at === start) return null;
  return { tex: src.slice(start, at), display: open === "$$" || open === "\\[", end: at + CLOSERS[open].length };
}

export function mathRule(md, formula) {
  md.inline.ruler.before("escape", "rlm_math", (state, silent) => {
    const ch = state.src[state.pos];
    if (ch !== "$" && ch !== "\\") return false;
    const found = inlineMath(state.src, state.pos);
    if (!found) return false;
    if (!silent) {
      const token = state.push("rlm_math", "", 0);
      token.content = found.tex;
      token.meta = { display: found.display };
    }
    state.pos = found.end;
    return true;
  });
  md.block.ruler.before("fence", "rlm_math_block", (state, startLine, endLine, silent) => {
    const begin = state.bMarks[startLine] + state.tShift[startLine];
    if (state.sCount[startLine] - state.blkIndent >= 4) return false;
    const first = state.src.slice(begin, state.eMarks[startLine]);
    const open = first.startsWith("$$") ? "$$" : first.startsWith("\\[") ? "\\[" : null;
    if (!open) return false;
    const close = CLOSERS[open];
    let line = startLine, body = first.slice(open.length), found = false;
    for (;;) {
      const trimmed = body.trimEnd();
      if (trimmed.endsWith(close) && (line > startLine || trimmed.length >= close.length)) {
        body = trimmed.slice(0, trimmed.length - close.length);
        found = true;
        break;
      }
      line++;
      if (line >= endLine || state.isEmpty(line)) break;
      if (state.sCount[line] < state.blkIndent) break;
      body += "\n" + state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]);
    }
    if (!found || !body.trim()) return false;
    if (silent) return true;
    const token = state.push("rlm_math_block", "", 0);
    token.content = body.trim();
    token.block = true;
    token.map = [startLine, line + 1];
    state.line = line + 1;
    return true;
  }, { alt: ["paragraph", "reference", "blockquote", "list"] });
  md.renderer.rules.rlm_math = (tokens, i) => formula(tokens[i].content, tokens[i].meta.display);
  md.renderer.rules.rlm_math_block = (tokens, i) => `<div class="rlm-math-display">${formula(tokens[i].content, true)}</div>\n`;
}
