"""Untrusted model text → safe static outputs: HTML, markdown and plain text.

JupyterLab trusts the outputs of a cell that just ran: ``text/html`` and ``text/markdown`` are not
sanitized there, so a model answering ``<img src=x onerror=…>`` would run code. Everything a
widget or a magic puts in a static output goes through this module::

    to_html("**hi** <script>x</script>")      # '<p><strong>hi</strong> &lt;script&gt;x&lt;/script&gt;</p>'
    to_markdown("a <b>b</b> costs $5")         # 'a &lt;b&gt;b&lt;/b&gt; costs \\$5'

HTML: markdown-it-py with raw HTML off, then the nh3 allowlist (no ``data-*``, no
button/form/input/iframe/style/img, links only http/https/mailto with ``rel="noopener
noreferrer"`` and ``target="_blank"``), and ``$`` kept away from MathJax. Markdown: raw HTML
escaped, links with other schemes defused (a target on the line after ``](`` or ``[label]:`` too),
an image's ``!`` escaped (a "!" and a link, as the HTML copy shows it: no fetch when the notebook
is opened), ``$`` escaped; the result is then read by a CommonMark parser that accepts anything,
and if it still finds HTML, an image or such a link, the answer is shown without links (or,
failing that, as text).
``fmt`` is ``markdown``, ``text`` or ``code`` (what ``%%rlm -f`` takes). The live widget renders the
same way in the page (``static/markdown.js``).

The stream's static twin (:func:`answer_html`) is built here; the agent timeline's
(:func:`rlm_jupyter.timeline.html.timeline_html`) from these helpers. :func:`clip` is the one cap
of every text a copy shows; :func:`footer_text` / :func:`seconds` format a stream's footer (the
page's ``rlmSeconds`` writes time the same way; the cost it shows is the kernel's ``money`` text).
"""

from __future__ import annotations

import html as _html
import re
from functools import lru_cache
from typing import Any

from rlm_toolkit.errors import scrub

from ._mathcode import CODE_STYLES, MATH_CLASS, highlight, math_plugin

__all__ = ["FORMATS", "to_html", "to_markdown", "answer_html", "escape_html", "fenced", "plural",
           "thinking_html", "thinking_note", "footer_text", "clip", "cut_text", "seconds", "NO_MATH",
           "rate_shown", "RATE_MIN_SECONDS", "RATE_MIN_TOKENS",
           "OBSERVATION_LIMIT", "TEXT_LIMIT", "ANSWER_LIMIT", "NAME_LIMIT", "TRACE_KEEPS"]

FORMATS = ("markdown", "text", "code")

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "s", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span", "div",
}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}, "th": {"style"}, "td": {"style"},
               "span": {"style"}}
# Classes only rlm writes: formulas (left to the front end's typesetter) and coloured code.
_CLASSES = {"span": {"rlm-math", *MATH_CLASS.split(), *CODE_STYLES}, "div": {"rlm-math-display"}}
# Styles only rlm writes: table cells' alignment, code colours.
_STYLES = {"text-align", "color", "font-weight", "font-style"}
_SCHEMES = {"http", "https", "mailto"}
# MathJax 2 and 3 skip elements with these classes, so "$5 and $6" stays text.
NO_MATH = "tex2jax_ignore mathjax_ignore"


@lru_cache(maxsize=1)
def _markdown_it() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False,
                                   "highlight": lambda code, lang, _attrs: highlight(code, lang)})
    md.enable(["table", "strikethrough"])
    md.disable("image")  # an image would fetch a URL chosen by the model
    math_plugin(md)
    return md


def _clean(fragment: str) -> str:
    import nh3

    return nh3.clean(
        fragment,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        allowed_classes=_CLASSES,
        filter_style_properties=_STYLES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        generic_attribute_prefixes=set(),
        strip_comments=True,
    )


def fenced(text: str, info: str = "") -> str:
    """``text`` as a markdown code block, its backtick fence longer than any run of backticks in it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def escape_html(text: Any) -> str:
    """``text`` escaped for HTML content and attributes, with ``$`` kept away from MathJax."""
    return _html.escape(str(text), quote=True).replace("$", "&#36;")


def plural(n: int, word: str) -> str:
    """``1 step``, ``2 steps``, ``0 tokens``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _shown_as(text: str, fmt: str) -> str:
    """``code`` that arrives fenced already is shown as that markdown code block (as the widget does)."""
    return "markdown" if fmt == "code" and _FENCE_LINE.match(text.lstrip()) else fmt


def to_html(text: str, fmt: str = "markdown", *, unwrap: bool = False) -> str:
    """Safe HTML for ``text`` (a fragment; ``$`` escaped; wrapped in a MathJax-ignored div);
    ``fmt="object"``: a typed answer's JSON as a tree (``unwrap``: see rlm_jupyter.stream.object)."""
    fmt = _shown_as(text, fmt)
    if fmt == "object":
        from .stream.object import object_html

        body = object_html(text, unwrap)
    elif fmt == "markdown":
        body = _clean(_markdown_it().render(text))
    elif fmt == "code":
        body = f"<pre><code>{_html.escape(text)}</code></pre>"
    else:
        body = f'<pre class="rlm-text">{_html.escape(text)}</pre>'
    return f'<div class="rlm-md jp-RenderedHTMLCommon {NO_MATH}">{body.replace("$", "&#36;")}</div>'


_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}(?=[^`\n]*$)|~{3,})", re.M)  # a backtick fence's info has no backtick
_CODE_SPAN = re.compile(r"(`+)(.*?)(?<!`)\1(?!`)", re.S)
_LIST_MARKS = r"(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)"
# A link destination after "](" or after a reference definition's "[label]:" (at a line's start, in a
# list item, or ending a label that began on an earlier line), with the whitespace CommonMark allows.
_LINK_DEST = re.compile(
    rf"(\]\(\s*<?|^ {{0,3}}{_LIST_MARKS}*\[[^\]\n]+\]:\s*<?|^[^\[\]\n]*\]:\s*<?)([^\s)>]*)", re.M
)
# The same openers at the end of a line: the destination may be on the next line ("up to one line
# ending" is whitespace there), so the next line's first word is a destination too.
_OPENER_AT_END = re.compile(rf"(?:\]\(|^ {{0,3}}{_LIST_MARKS}*\[[^\]]*\]:|^[^\[\]]*\]:)[ \t\r]*<?$")
_NEXT_DEST = re.compile(r"^([ \t]*<?)([^\s)>]*)")
_SAFE_DEST = re.compile(r"(?i)^(?:https?://|mailto:|#|[^:&%\\]*$)")
_SAFE_HREF = re.compile(r"(?i)^(?:https?:|mailto:|#|[^:]*$|[^:]*[/?#])")


def _defuse(m: re.Match[str]) -> str:
    """A link destination that is not http(s)/mailto/relative becomes a fragment (``#…``)."""
    dest = m.group(2)
    return m.group(0) if not dest or _SAFE_DEST.match(dest) else m.group(1) + "#" + dest


# A "!" that opens an image (not itself escaped: after an even run of backslashes).
_IMAGE_BANG = re.compile(r"(?<!\\)((?:\\\\)*)!\[")


def _escape_inline(segment: str, brackets: bool) -> str:
    segment = segment.replace("<", "&lt;").replace(">", "&gt;").replace("$", r"\$")
    if brackets:  # the fallback: no link (nor image) can form at all
        return segment.replace("[", r"\[").replace("]", r"\]")
    # An image would fetch a URL chosen by the model when the notebook is opened: "\!" leaves a "!"
    # and a link, as the HTML copy shows it (its renderer has images off).
    return _LINK_DEST.sub(_defuse, _IMAGE_BANG.sub(r"\1\\![", segment))


def _escape_markdown_line(line: str, brackets: bool = False) -> tuple[str, bool]:
    """Escape raw HTML and ``$`` outside code spans (inside them nothing is interpreted); also say
    whether the line ends with a link opener whose destination would be on the next line."""
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(line):
        out.append(_escape_inline(line[pos:m.start()], brackets))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_inline(line[pos:], brackets))
    return "".join(out), bool(_OPENER_AT_END.search(line[pos:] if pos else line))


def _unsafe(markdown: str) -> bool:
    """Whether a CommonMark parser that takes raw HTML and any URL finds HTML, an image or a link we
    would not write: the check behind the line-based escaping, in case a form slipped past it."""
    if "<" not in markdown and "](" not in markdown and "]:" not in markdown:
        return False  # no tag or autolink without "<", no link without "](" or a "[label]:" definition
    for token in _permissive_markdown_it().parse(markdown):
        if token.type == "html_block":
            return True
        for child in token.children or ():
            href = child.attrGet("href") if child.type == "link_open" else None
            if child.type in ("html_inline", "image") or (
                    href is not None and not _SAFE_HREF.match(str(href).strip())):
                return True
    return False


@lru_cache(maxsize=1)
def _permissive_markdown_it() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True, "linkify": False})
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # markdown-it's hook is this attribute; see every link a front end could make, dangerous ones included
    return md


def to_markdown(text: str, fmt: str = "markdown") -> str:
    """Markdown that shows ``text`` without running anything: raw HTML escaped, ``$`` escaped."""
    fmt = _shown_as(text, fmt)
    if fmt == "code":
        return fenced(text)
    if fmt == "object":  # a typed answer's JSON
        return fenced(text, "json")
    if fmt == "text":
        escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$&])", r"\\\1", text)
        return escaped.replace("\n", "  \n")
    out = _escape_markdown(text, brackets=False)
    if _unsafe(out):  # a form the line-based escaping missed: show the answer without links
        out = _escape_markdown(text, brackets=True)
        if _unsafe(out):  # ... or, failing that, as escaped text
            out = to_markdown(text, "text")
    return out


def _escape_markdown(text: str, brackets: bool) -> str:
    lines, fence, carried = [], None, False
    for line in text.split("\n"):
        m = _FENCE_LINE.match(line)
        if fence is None:
            if m:
                fence, carried = m.group(1), False
                lines.append(line)
                continue
            if carried and line.strip():  # the previous line opened a link: this line starts its target
                line = _NEXT_DEST.sub(_defuse, line, count=1)
            escaped, carried = _escape_markdown_line(line, brackets)
            lines.append(escaped)
        else:
            lines.append(line)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip(" `~"):
                fence = None
    return "\n".join(lines)


#: No tokens/s until the answer has streamed this long (seconds from the first token to the last)
#: and this many tokens: a burst that arrives in one network read (a cached or buffered answer, a
#: fast local server) measures how the bytes were delivered, not how fast the model writes
#: ("59473.1 tok/s"). stream.js applies the same rule to the live rate.
RATE_MIN_SECONDS = 0.25
RATE_MIN_TOKENS = 10


def rate_shown(tokens: int, span: float | None) -> bool:
    """Whether a rate over ``tokens`` in ``span`` seconds means something (see RATE_MIN_*)."""
    return span is not None and span >= RATE_MIN_SECONDS and tokens >= RATE_MIN_TOKENS


def seconds(value: float | None) -> str:
    return "" if value is None else (f"{value:.2f} s" if value < 10 else f"{value:.1f} s")


def footer_text(info: dict[str, Any]) -> str:
    """One footer line from provenance (``Response.to_dict()`` shape): model · tokens · cost · TTFT ·
    tok/s (once it means something: :func:`rate_shown`) · state (and why it stopped, when a budget
    stopped it)."""
    from rlm_toolkit.cost import money

    parts = [str(info.get("model") or "")]
    tokens = (info.get("usage") or {}).get("completion_tokens") or (
        (info.get("chunks") or 0) + (info.get("reasoning_chunks") or 0))
    if tokens:
        parts.append(f"{tokens} token{'' if tokens == 1 else 's'}")
    parts.append(money(info.get("cost")))
    if info.get("ttft_s") is not None:
        parts.append(f"first token {seconds(info['ttft_s'])}")
    elapsed, ttft = info.get("elapsed_s"), info.get("ttft_s")
    span = elapsed - ttft if isinstance(elapsed, (int, float)) and isinstance(ttft, (int, float)) else None
    if info.get("tokens_per_s") and rate_shown(tokens, span):
        parts.append(f"{info['tokens_per_s']:.1f} tok/s")
    reason = f" ({info['stop_reason']})" if info.get("stop_reason") else ""
    parts.append(f"{info.get('state') or ''}{reason}")
    return " · ".join(p for p in parts if p)


def thinking_note(thinking: str) -> str:
    """The reasoning in a few words, for ``text/plain`` and ``text/markdown`` ("" when there was none)."""
    if not thinking:
        return ""
    words = len(thinking.split())
    return f"thinking: {plural(words, 'word')}, folded in the HTML output"


# The live Thinking and Prompt boxes (stream.css), inline: a saved output has no style sheet, and the
# answer must not move when the copy takes the widget's place.
FOLDED_STYLE = "margin:0 0 6px;font-size:0.92em;line-height:1.25"


def thinking_html(thinking: str) -> str:
    """The reasoning as a folded ``<details>`` ("Thinking"), as plain escaped text ("" when none)."""
    if not thinking:
        return ""
    return (f'<details class="rlm-thinking" style="{FOLDED_STYLE};padding-left:8px">'
            f'<summary class="rlm-thinking-title" style="opacity:0.75">Thinking'
            f'</summary><div class="rlm-thinking-text" style="white-space:pre-wrap;opacity:0.75">'
            f"{escape_html(thinking)}</div></details>")


def prompt_html(prompt: str) -> str:
    """The prompt that was sent as a folded ``<details>`` ("Prompt"), plain escaped text ("" when none)."""
    if not prompt:
        return ""
    return (f'<details class="rlm-prompt" style="{FOLDED_STYLE}">'
            f'<summary class="rlm-prompt-title" style="opacity:0.75">Prompt'
            f'</summary><div class="rlm-prompt-text" style="white-space:pre-wrap;opacity:0.75">'
            f"{escape_html(prompt)}</div></details>")


# The live footer's box (stream.css: .rlm-footer), inline: a saved output has no style sheet.
FOOTER_STYLE = "font-size:0.85em;line-height:1.5;margin-top:4px;opacity:0.7"


def answer_html(
    text: str, fmt: str, info: dict[str, Any], error: str | None = None, *, thinking: str = "",
    prompt: str = "", unwrap: bool = False,
) -> str:
    """The static twin of the stream widget (same classes, ``data-state``), for the final display;
    the prompt sent and the model's reasoning, if any, folded above the answer."""
    state = escape_html(info.get("state") or "done")
    error_html = f'<div class="rlm-error">{escape_html(error)}</div>' if error else ""
    return (
        f'<div class="rlm-stream rlm-static {NO_MATH}" data-state="{state}" style="margin:0">'
        f'{prompt_html(prompt)}{thinking_html(thinking)}'
        f'<div class="rlm-answer">{to_html(text, fmt, unwrap=unwrap)}</div>{error_html}'
        f'<div class="rlm-footer" style="{FOOTER_STYLE}">{escape_html(footer_text(info))}'
        '</div></div>'
    )


# -- how much of a text every copy keeps -------------------------------------------------------

#: Observations longer than this are cut before they are sent to the page or saved (the rest stays
#: in Python and in the run's trace).
OBSERVATION_LIMIT = 20_000
#: Every copy of a run or an answer (the page's messages and state, ``text/plain``, ``text/markdown``,
#: ``text/html``) keeps at most this much of each other text the model or a tool writes: a thought, tool
#: arguments, an error, an approver's reason, the reasoning ...
TEXT_LIMIT = 20_000
#: ... this much of an agent's final answer (and of a stream's answer in its text and markdown
#: copies; its HTML copy keeps it whole) ...
ANSWER_LIMIT = 100_000
#: ... and this much of a name (a tool's, a model's).
NAME_LIMIT = 200
#: Where a cut text is whole, when nothing closer has it.
TRACE_KEEPS = "the run's trace (%%rlm --record FILE) keeps it all"


def cut_text(text: str, limit: int) -> tuple[str, int]:
    """The first ``limit`` characters of ``text`` (scrubbed before the cut, so a key across it goes
    whole) and how many were left out; ``(text, 0)`` when it fits."""
    if len(text) <= limit:
        return text, 0
    return scrub(text[: limit + 500])[:limit], len(text) - limit


def clip(text: str, limit: int = TEXT_LIMIT, where: str = TRACE_KEEPS) -> str:
    """``text``, or its first ``limit`` characters and a note saying how many were left out and
    ``where`` the whole text is: the one cap of every text a copy of a run or an answer shows."""
    kept, left_out = cut_text(text, limit)
    return f"{kept}… [{left_out:,} more characters not shown here; {where}]" if left_out else text


