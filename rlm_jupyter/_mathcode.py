"""Math and code in the static copy, the same rules the page applies (js/src/math.js, js/src/page.js).

Math: the one rule both renderers apply —

- ``$…$`` inline, Pandoc's rule: the opening ``$`` is followed by a non-space, the closing one
  follows a non-space and is not followed by a digit (so ``$5 and $6`` stays money), and is a
  lone ``$`` (not part of a ``$$``);
- ``$$…$$`` and ``\\[…\\]`` display, ``\\(…\\)`` inline; a line opening with ``$$`` or ``\\[``
  starts a display block that ends at the line closing it (or at a blank line: not math then);
- a backslash escapes the next character (``\\$`` is a dollar); a formula longer than
  :data:`MATH_LIMIT` is shown as its source.

The page typesets a formula with KaTeX; the static copy leaves it to the front end's own
typesetter (JupyterLab's and Notebook 7's MathJax typeset ``text/html`` outputs), marking only the
formula as math (``mathjax_process`` inside the answer's ``mathjax_ignore``) so no other ``$`` is
touched.

Code: fenced code in a language both sides know is coloured with the classes highlight.js gives
(Pygments' tokens mapped onto them) and the styles of :data:`CODE_STYLES`, inline here (a saved
output has no style sheet) and as the widgets' CSS in the page (:func:`code_css`).
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["MATH_LIMIT", "HIGHLIGHT_LIMIT", "CODE_STYLES", "LANGUAGES", "math_plugin", "highlight",
           "code_css", "MATH_CLASS"]

MATH_LIMIT = 4000
HIGHLIGHT_LIMIT = 20_000
#: MathJax 2 and 3 typeset inside these classes even within an ignored element.
MATH_CLASS = "tex2jax_process mathjax_process"

_CLOSERS = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
_SPACE = re.compile(r"\s")


def _closing(src: str, open_: str, start: int) -> int:
    close = _CLOSERS[open_]
    i, n = start, len(src)
    if open_ in ("\\(", "\\["):
        return src.find(close, start)
    while i < n:
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if src.startswith(close, i):
            after = src[i + 1: i + 2]
            if open_ != "$" or not (_SPACE.match(src[i - 1]) or src[i - 1] == "$" or after == "$"
                                    or after.isdigit() and after.isascii()):
                return i
        i += 1
    return -1


def inline_math(src: str, pos: int) -> tuple[str, bool, int] | None:
    """The formula at ``pos``: (tex, display, end), or None."""
    if src.startswith("$$", pos):
        open_ = "$$"
    elif src.startswith("$", pos):
        open_ = "$"
    elif src.startswith("\\(", pos):
        open_ = "\\("
    elif src.startswith("\\[", pos):
        open_ = "\\["
    else:
        return None
    start = pos + len(open_)
    if open_ == "$" and (start >= len(src) or _SPACE.match(src[start])):
        return None
    at = _closing(src, open_, start)
    if at < 0 or at == start:
        return None
    return src[start:at], open_ in ("$$", "\\["), at + len(_CLOSERS[open_])


def _formula(tex: str, display: bool) -> str:
    if len(tex) > MATH_LIMIT:
        return f'<code class="rlm-math-source">{html.escape(tex)}</code>'
    body = html.escape(tex).replace("$", "&#36;")
    if display:
        return f'<span class="rlm-math {MATH_CLASS}">\\[{body}\\]</span>'
    return f'<span class="rlm-math {MATH_CLASS}">\\({body}\\)</span>'


def math_plugin(md: Any) -> None:
    """Add the math rule to a markdown-it-py parser (the page's js/src/math.js, line for line)."""

    def math_inline(state: Any, silent: bool) -> bool:
        if state.src[state.pos] not in "$\\":
            return False
        found = inline_math(state.src, state.pos)
        if found is None:
            return False
        if not silent:
            token = state.push("rlm_math", "", 0)
            token.content, token.meta = found[0], {"display": found[1]}
        state.pos = found[2]
        return True

    def math_block(state: Any, start_line: int, end_line: int, silent: bool) -> bool:
        begin = state.bMarks[start_line] + state.tShift[start_line]
        if state.sCount[start_line] - state.blkIndent >= 4:
            return False
        first = state.src[begin:state.eMarks[start_line]]
        open_ = "$$" if first.startswith("$$") else "\\[" if first.startswith("\\[") else None
        if open_ is None:
            return False
        close = _CLOSERS[open_]
        line, body, found = start_line, first[len(open_):], False
        while True:
            trimmed = body.rstrip()
            if trimmed.endswith(close) and (line > start_line or len(trimmed) >= len(close)):
                body, found = trimmed[: len(trimmed) - len(close)], True
                break
            line += 1
            if line >= end_line or state.isEmpty(line) or state.sCount[line] < state.blkIndent:
                break
            body += "\n" + state.src[state.bMarks[line] + state.tShift[line]:state.eMarks[line]]
        if not found or not body.strip():
            return False
        if silent:
            return True
        token = state.push("rlm_math_block", "", 0)
        token.content, token.block, token.map = body.strip(), True, [start_line, line + 1]
        state.line = line + 1
        return True

    md.inline.ruler.before("escape", "rlm_math", math_inline)
    md.block.ruler.before("fence", "rlm_math_block", math_block,
                          {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.add_render_rule("rlm_math", lambda self, tokens, i, options, env:
                       _formula(tokens[i].content, tokens[i].meta["display"]))
    md.add_render_rule("rlm_math_block", lambda self, tokens, i, options, env:
                       f'<div class="rlm-math-display">{_formula(tokens[i].content, True)}</div>\n')


# -- code --------------------------------------------------------------------------------------

#: The languages both sides colour: highlight.js's names and aliases (js/src/page.js registers
#: these) → Pygments' lexer.
LANGUAGES = {
    **dict.fromkeys(("python", "py", "gyp", "ipython"), "python"),
    **dict.fromkeys(("javascript", "js", "jsx", "mjs", "cjs"), "javascript"),
    **dict.fromkeys(("typescript", "ts", "tsx", "mts", "cts"), "typescript"),
    **dict.fromkeys(("json", "jsonc", "json5"), "json"),
    **dict.fromkeys(("bash", "sh", "zsh"), "bash"),
    **dict.fromkeys(("shell", "console", "shellsession"), "console"),
    "sql": "sql",
    **dict.fromkeys(("xml", "html", "xhtml", "rss", "atom", "xjb", "xsd", "xsl", "plist", "wsf", "svg"),
                    "html"),
    "css": "css",
    **dict.fromkeys(("c", "h"), "c"),
    **dict.fromkeys(("cpp", "cc", "c++", "h++", "hpp", "hh", "hxx", "cxx"), "cpp"),
    **dict.fromkeys(("java", "jsp"), "java"),
    **dict.fromkeys(("go", "golang"), "go"),
    **dict.fromkeys(("rust", "rs"), "rust"),
    **dict.fromkeys(("yaml", "yml"), "yaml"),
}

#: highlight.js class → its style, in the front end's own editor colours (theme-aware).
CODE_STYLES = {
    "hljs-keyword": "color:var(--jp-mirror-editor-keyword-color,#008000);font-weight:bold",
    "hljs-literal": "color:var(--jp-mirror-editor-keyword-color,#008000);font-weight:bold",
    "hljs-built_in": "color:var(--jp-mirror-editor-builtin-color,#008000)",
    "hljs-title": "color:var(--jp-mirror-editor-def-color,#00f)",
    "hljs-string": "color:var(--jp-mirror-editor-string-color,#ba2121)",
    "hljs-number": "color:var(--jp-mirror-editor-number-color,#080)",
    "hljs-comment": "color:var(--jp-mirror-editor-comment-color,#408080);font-style:italic",
    "hljs-meta": "color:var(--jp-mirror-editor-meta-color,#a2f)",
}


def _class_of(token: Any) -> str | None:
    from pygments import token as t

    for kind, cls in ((t.Comment, "hljs-comment"), (t.String, "hljs-string"), (t.Number, "hljs-number"),
                      (t.Keyword.Constant, "hljs-literal"), (t.Keyword, "hljs-keyword"),
                      (t.Operator.Word, "hljs-keyword"), (t.Name.Builtin, "hljs-built_in"),
                      (t.Name.Function, "hljs-title"), (t.Name.Class, "hljs-title"),
                      (t.Name.Decorator, "hljs-meta"), (t.Comment.Preproc, "hljs-meta")):
        if token in kind:
            return cls
    return None


def highlight(code: str, lang: str) -> str:
    """``code`` as escaped HTML with coloured spans, or "" (markdown-it then escapes it plain) when
    the language is not one both sides know or the code is too long."""
    words = lang.strip().split()
    name = LANGUAGES.get(words[0].lower()) if words else None
    if name is None or len(code) > HIGHLIGHT_LIMIT:
        return ""
    from pygments.lexers import get_lexer_by_name

    runs: list[list[Any]] = []  # [class, text]: Pygments' neighbouring tokens of one class joined
    for token, value in get_lexer_by_name(name, stripnl=False, ensurenl=False).get_tokens(code):
        cls = _class_of(token) if value.strip() else None
        if runs and runs[-1][0] == cls:
            runs[-1][1] += value
        else:
            runs.append([cls, value])
    out = []
    for cls, value in runs:
        text = html.escape(value, quote=False)
        out.append(f'<span class="{cls}" style="{CODE_STYLES[cls]}">{text}</span>' if cls else text)
    return "".join(out)


def code_css(scope: str) -> str:
    """The same styles as the page's CSS, under ``scope``."""
    return "\n".join(f"{scope} .{cls} {{ {style}; }}" for cls, style in CODE_STYLES.items())
