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

The static twins of both live widgets are built here, from these helpers: :func:`answer_html` (the
stream) and :func:`timeline_html` (the agent timeline, each step's messages in a ``<details>``).
"""

from __future__ import annotations

import html as _html
import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rlm_toolkit._json_depth import cut_deep
from rlm_toolkit.errors import scrub

if TYPE_CHECKING:
    from ._timeline_model import Row, TimelineModel

__all__ = ["FORMATS", "to_html", "to_markdown", "answer_html", "timeline_html", "escape_html",
           "fenced", "plural", "thinking_html", "thinking_note", "clip", "page_messages", "OBSERVATION_LIMIT",
           "TEXT_LIMIT", "ANSWER_LIMIT", "NAME_LIMIT", "MESSAGE_LIMIT", "MESSAGES_BUDGET"]

FORMATS = ("markdown", "text", "code")

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "s", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span", "div",
}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}, "th": {"style"}, "td": {"style"}}
_SCHEMES = {"http", "https", "mailto"}
# MathJax 2 and 3 skip elements with these classes, so "$5 and $6" stays text.
_NO_MATH = "tex2jax_ignore mathjax_ignore"


@lru_cache(maxsize=1)
def _markdown_it() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")  # an image would fetch a URL chosen by the model
    return md


def _clean(fragment: str) -> str:
    import nh3

    return nh3.clean(
        fragment,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
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


def to_html(text: str, fmt: str = "markdown") -> str:
    """Safe HTML for ``text`` (a fragment; ``$`` escaped; wrapped in a MathJax-ignored div)."""
    fmt = _shown_as(text, fmt)
    if fmt == "markdown":
        body = _clean(_markdown_it().render(text))
    elif fmt == "code":
        body = f"<pre><code>{_html.escape(text)}</code></pre>"
    else:
        body = f'<pre class="rlm-text">{_html.escape(text)}</pre>'
    return f'<div class="rlm-md {_NO_MATH}">{body.replace("$", "&#36;")}</div>'


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
    md.validateLink = lambda url: True  # see every link a front end could make, dangerous ones included
    return md


def to_markdown(text: str, fmt: str = "markdown") -> str:
    """Markdown that shows ``text`` without running anything: raw HTML escaped, ``$`` escaped."""
    fmt = _shown_as(text, fmt)
    if fmt == "code":
        return fenced(text)
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


def _seconds(value: float | None) -> str:
    return "" if value is None else (f"{value:.2f} s" if value < 10 else f"{value:.1f} s")


def footer_text(info: dict[str, Any]) -> str:
    """One footer line from provenance (``Response.to_dict()`` shape): model · tokens · cost · TTFT ·
    tok/s · state (and why it stopped, when a budget stopped it)."""
    from rlm_toolkit.cost import money

    parts = [str(info.get("model") or "")]
    tokens = (info.get("usage") or {}).get("completion_tokens") or (
        (info.get("chunks") or 0) + (info.get("reasoning_chunks") or 0))
    if tokens:
        parts.append(f"{tokens} token{'' if tokens == 1 else 's'}")
    parts.append(money(info.get("cost")))
    if info.get("ttft_s") is not None:
        parts.append(f"first token {_seconds(info['ttft_s'])}")
    if info.get("tokens_per_s"):
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


def thinking_html(thinking: str) -> str:
    """The reasoning as a folded ``<details>`` ("Thinking"), as plain escaped text ("" when none)."""
    if not thinking:
        return ""
    return (f'<details class="rlm-thinking"><summary class="rlm-thinking-title" style="opacity:0.75">Thinking'
            f'</summary><div class="rlm-thinking-text" style="white-space:pre-wrap;opacity:0.75">'
            f"{escape_html(thinking)}</div></details>")


def answer_html(
    text: str, fmt: str, info: dict[str, Any], error: str | None = None, *, thinking: str = ""
) -> str:
    """The static twin of the stream widget (same classes, ``data-state``), for the final display;
    the model's reasoning, if any, folded above the answer."""
    state = escape_html(info.get("state") or "done")
    error_html = f'<div class="rlm-error">{escape_html(error)}</div>' if error else ""
    return (
        f'<div class="rlm-stream rlm-static {_NO_MATH}" data-state="{state}">{thinking_html(thinking)}'
        f'<div class="rlm-answer">{to_html(text, fmt)}</div>{error_html}'
        f'<div class="rlm-footer" style="font-size:0.85em;opacity:0.7">{escape_html(footer_text(info))}'
        '</div></div>'
    )


# -- the agent timeline's static twin ------------------------------------------------------------

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
_PRE = "white-space:pre-wrap;word-break:break-word;margin:2px 0"
_ERR = "color:#d32f2f"
_STEP = "margin-top:6px;padding-left:6px;border-left:2px solid #ccc"


def _h(text: Any) -> str:
    """Scrubbed of keys, escaped for HTML, ``$`` kept away from MathJax."""
    return escape_html(scrub(str(text)))


def _row_html(row: Row) -> str:
    if row.kind == "reasoning":  # folded, as plain escaped text
        return f'<div class="rlm-row rlm-reasoning">{thinking_html(scrub(row.shown))}</div>'
    took = f"{row.duration:.2f} s" if row.duration is not None else ""
    kind = {"live": "thought"}.get(row.kind, row.kind)
    label = {"thought": "Thought", "action": "Action", "observation": "Observation", "error": "Error",
             "final": "Answer", "approval": "Approval"}[kind]
    if kind == "observation" and row.is_error:
        label = "Error"
    if row.outcome in ("approved", "denied"):
        label = row.outcome.capitalize()
    classes = f"rlm-row rlm-{kind}" + (" rlm-error" if row.is_error and kind != "error" else "")
    outcome = f' data-outcome="{_h(row.outcome)}"' if row.outcome else ""  # the decision, as on the page
    style = f' style="{_ERR}"' if row.is_error or kind == "error" else ""
    if kind == "action":
        body = (f'<code class="rlm-tool">{_h(row.tool or "")}</code>'
                f'<pre class="rlm-args" style="{_PRE}">{_h(row.args)}</pre>')
    elif kind == "observation":
        text = row.text[:OBSERVATION_LIMIT]
        if len(text) > 400:
            shown = (f"show all ({len(row.text)} characters)" if len(row.text) <= OBSERVATION_LIMIT else
                     f"show the first {OBSERVATION_LIMIT:,} of {len(row.text):,} characters (the run's "
                     "trace, %%rlm --record FILE, keeps them all)")
            body = (f'<pre class="rlm-text" style="{_PRE}">{_h(text[:400])}…</pre>'
                    f'<details><summary>{_h(shown)}</summary>'
                    f'<pre class="rlm-text" style="{_PRE}">{_h(text)}</pre></details>')
        else:
            body = f'<pre class="rlm-text" style="{_PRE}">{_h(text)}</pre>'
    elif kind == "approval":
        body = (f'<code class="rlm-tool">{_h(row.tool or "")}</code>'
                f' <span class="rlm-verdict">{_h(row.shown if row.outcome == "denied" else "")}</span>')
    elif kind == "final":
        body = to_html(scrub(row.shown), "markdown")
    else:
        body = f'<div class="rlm-text" style="{_PRE}">{_h(row.shown)}</div>'
    head = (f'<div class="rlm-row-head" style="font-size:0.85em;opacity:0.75"><span class="rlm-label"{style}>'
            f'<b>{label}</b></span> <span class="rlm-duration">{took}</span></div>')
    return f'<div class="{classes}"{outcome}>{head}<div class="rlm-body">{body}</div></div>'


#: The static copy keeps at most this much of each message sent to the model (content, tool calls) ...
MESSAGE_LIMIT = 4_000
#: ... and this much of all the steps' messages together: they repeat every earlier tool result, so
#: without a cap three 10 MB tool results made a 63 MB output. The trace keeps them whole.
MESSAGES_BUDGET = 200_000
_WHERE_ALL = ("the whole messages are in the run's trace (%%rlm --record FILE; "
              "rlm_toolkit.trace.load(FILE).messages({step})) and in view.messages({step}) while the "
              "kernel runs")


def _cut(text: str, limit: int) -> tuple[str, int]:
    """The first ``limit`` characters of ``text`` (scrubbed before the cut, so a key across it goes
    whole) and how many were left out; ``(text, 0)`` when it fits."""
    if len(text) <= limit:
        return text, 0
    return scrub(text[: limit + 500])[:limit], len(text) - limit


def clip(text: str, limit: int = TEXT_LIMIT, where: str = TRACE_KEEPS) -> str:
    """``text``, or its first ``limit`` characters and a note saying how many were left out and
    ``where`` the whole text is: the one cap of every text a copy of a run or an answer shows."""
    kept, left_out = _cut(text, limit)
    return f"{kept}… [{left_out:,} more characters not shown here; {where}]" if left_out else text


def _capped(text: str, step: int, limit: int) -> str:
    """``text`` escaped, cut at ``limit`` characters with a note saying what was cut and where it all is."""
    kept, left_out = _cut(text, limit)
    if not left_out:
        return _h(text)
    note = f"… [{left_out:,} more characters not saved here; {_WHERE_ALL.format(step=step)}]"
    return _h(kept) + f'<span class="rlm-cut"><i>{_h(note)}</i></span>'


def page_messages(messages: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
    """A step's messages as the live page's panel gets them: the same shape, every text in them cut
    at ``MESSAGE_LIMIT`` characters and all of them together at ``MESSAGES_BUDGET``, each cut saying
    where the whole messages are."""
    left = [MESSAGES_BUDGET]
    where = _WHERE_ALL.format(step=step)

    def cut(value: Any) -> Any:
        if isinstance(value, str):
            limit = max(0, min(MESSAGE_LIMIT, left[0]))
            left[0] -= min(len(value), limit)
            return clip(value, limit, where)
        if isinstance(value, dict):
            return {key: cut(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [cut(item) for item in value]
        return value

    return [cut(m) for m in cut_deep(messages)]


def _messages_html(
    messages: list[dict[str, Any]], step: int = 0, budget: int = MESSAGES_BUDGET
) -> tuple[str, int]:
    """The messages of one step as HTML, and how much of ``budget`` (characters of text) they used."""
    items, used = [], 0
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(
            cut_deep(content), indent=2, ensure_ascii=False)
        limit = max(0, min(MESSAGE_LIMIT, budget - used))
        extra = ""
        if m.get("tool_calls"):
            calls = json.dumps(cut_deep(m["tool_calls"]), indent=2)
            extra = f'<pre class="rlm-args" style="{_PRE}">{_capped(calls, step, limit)}</pre>'
            used += min(len(calls), limit)
            limit = max(0, min(MESSAGE_LIMIT, budget - used))
        role = _h(m.get("role", ""))
        items.append(f'<div class="rlm-message" data-role="{role}"><b class="rlm-role">{role}</b>'
                     f'<pre class="rlm-text" style="{_PRE}">{_capped(text, step, limit)}</pre>{extra}</div>')
        used += min(len(text), limit)
    return "".join(items), used


def timeline_html(model: TimelineModel, messages: dict[int, list[dict[str, Any]]] | None = None, *,
                  open_steps: Any = ()) -> str:
    """The static twin of the live timeline (same classes, ``data-state``/``data-step``), for the final
    display: no script, every text escaped, the answer through the safe renderer, each step's
    messages in a ``<details>`` that opens without a kernel (open already for ``open_steps``, the
    steps whose messages the user had open in the live widget)."""
    header = model.header()
    parts = [f'<div class="rlm-timeline rlm-static {_NO_MATH}" data-state="{_h(model.state)}">',
             '<div class="rlm-timeline-header" style="font-size:0.9em;opacity:0.75">',
             f'<span class="rlm-h-state"><b>{_h(model.state_text())}</b></span> · <span class="rlm-h-model">'
             f'{_h(header["model"])}</span> · <span class="rlm-h-steps">'
             f'{plural(len(model.steps), "step")}</span> · <span class="rlm-h-tokens">'
             f'{plural(model.tokens, "token")}</span>'
             + (f' · <span class="rlm-h-cost">{_h(header["cost"])}</span>' if header["cost"] else "")
             + f' · <span class="rlm-h-elapsed">{model.elapsed:.2f} s</span></div><div class="rlm-steps">']
    budget = MESSAGES_BUDGET  # what is left for the steps' messages in this output
    for step in model.steps.values():
        sent = (messages or {}).get(step.number)
        title = f"Step {step.number}"
        if sent:
            if budget > 0:
                body, used = _messages_html(sent, step.number, budget)
                budget -= used
            else:
                note = (f"not saved here: this output keeps at most {MESSAGES_BUDGET:,} characters of "
                        f"messages; {_WHERE_ALL.format(step=step.number)}")
                body = f'<div class="rlm-cut"><i>{_h(note)}</i></div>'
            opened = " open" if step.number in open_steps else ""
            head = (f'<details class="rlm-messages"{opened}><summary class="rlm-step-title"><b>{title}</b>'
                    f' · the {len(sent)} messages sent to the model</summary>{body}</details>')
        else:
            head = f'<div class="rlm-step-title"><b>{title}</b></div>'
        rows = "".join(_row_html(row) for row in step.rows)
        parts.append(f'<div class="rlm-step" data-step="{step.number}" style="{_STEP}">{head}'
                     f'<div class="rlm-rows">{rows}</div></div>')
    parts.append("</div>")
    if model.error:
        parts.append(f'<div class="rlm-row rlm-error" style="{_ERR}">{_h(model.error)}</div>')
    parts.append("</div>")
    return "".join(parts)  # every text was scrubbed on its own: scrubbing markup could cut a tag
