"""The agent timeline's static twin: safe HTML of a run, what each step added to the conversation
in a ``<details>``.

What a saved notebook, nbconvert, GitHub and front ends without widgets show of a run (the live
widget is replaced by it when the run ends), with the same classes as the page
(``timeline/static/timeline.js``). Every text is scrubbed and escaped on its own; the answer goes
through the safe markdown renderer (:func:`rlm_jupyter.render.to_html`); the steps' messages are
capped (:data:`MESSAGE_LIMIT` each, :data:`MESSAGES_BUDGET` in all), each cut saying where the
whole messages are. A step's messages repeat every earlier step's, so each step shows only the
messages it added to what the step before sent (:func:`new_from`): the saved copy of an n-step run
grows as n, not n² (``view.messages(n)`` and the trace keep every step's whole list).
:func:`page_messages` caps them the same way for the live page's panel.
"""

from __future__ import annotations

import html as _html
import json
from typing import Any

from rlm_toolkit._json_depth import cut_deep
from rlm_toolkit.errors import scrub, scrub_data

from ..render import (
    NO_MATH,
    OBSERVATION_LIMIT,
    clip,
    cut_text,
    escape_html,
    plural,
    seconds,
    thinking_html,
    to_html,
)
from .model import Row, TimelineModel

__all__ = ["timeline_html", "header_html", "page_messages", "new_from", "MESSAGE_LIMIT", "MESSAGES_BUDGET"]

#: A pre's own style (repeated per row; word-break is inherited: set once, on the timeline).
_PRE = "white-space:pre-wrap"
_ERR = "color:#d32f2f"
_STEP = "padding-left:6px;border-left:2px solid #ccc"
_IMG = "max-width:100%;max-height:320px;margin:4px 4px 0 0"
# The live widget's box and header (timeline.css), inline: a saved output has no stylesheet of ours.
_ROOT = "word-break:break-word;border:1px solid #ddd;border-radius:4px;padding:6px 8px;max-width:100%"
_HEADER = ("display:flex;flex-wrap:wrap;align-items:center;gap:0 12px;min-height:22px;line-height:20px;"
           "font-size:0.9em;opacity:0.75;padding-bottom:4px;border-bottom:1px solid #eee")
_STATE = ' style="font-weight:600"'
_STOP_BOX = "width:52px;max-width:100%;height:20px"  # where the live header has its Stop (timeline.css)


def _h(text: Any) -> str:
    """Text content: scrubbed of keys, escaped for HTML (quotes need no escape outside attributes:
    a run's JSON would grow by a sixth), ``$`` kept away from MathJax."""
    return _html.escape(scrub(str(text)), quote=False).replace("$", "&#36;")


def _attr(text: Any) -> str:
    """An attribute's value: scrubbed, escaped with its quotes."""
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
    outcome = f' data-outcome="{_attr(row.outcome)}"' if row.outcome else ""  # the decision, as on the page
    style = f' style="{_ERR}"' if row.is_error or kind == "error" else ""
    if kind == "action":
        body = (f'<code class="rlm-tool">{_h(row.label)}</code>'
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
        body += _images_html(row)
    elif kind == "approval":
        body = (f'<code class="rlm-tool">{_h(row.label)}</code>'
                f' <span class="rlm-verdict">{_h(row.shown if row.outcome == "denied" else "")}</span>')
    elif kind == "final":
        body = to_html(scrub(row.shown), "markdown")
    else:
        body = f'<div class="rlm-text" style="{_PRE}">{_h(row.shown)}</div>'
    head = (f'<small class="rlm-row-head"><b class="rlm-label"{style}>{label}</b> '
            f'<span class="rlm-duration">{took}</span></small>')
    return f'<div class="{classes}"{outcome}>{head}{body}</div>'


def _images_html(row: Row) -> str:
    """An observation's images as ``data:`` URLs (checked by the model: a raster type, base64 only)."""
    if not row.images:
        return ""
    shown = "".join(
        f'<img class="rlm-image" alt="image from {_h(row.label)}" style="{_IMG}" '
        f'src="data:{escape_html(image["mime_type"])};base64,{escape_html(image["data"])}">'
        for image in row.images)
    return f'<div class="rlm-images">{shown}</div>'


#: The static copy keeps at most this much of each message sent to the model (content, tool calls) ...
MESSAGE_LIMIT = 4_000
#: ... and this much of all the steps' messages together: they repeat every earlier tool result, so
#: without a cap three 10 MB tool results made a 63 MB output. The trace keeps them whole.
MESSAGES_BUDGET = 200_000
_WHERE_ALL = ("the whole messages are in the run's trace (%%rlm --record FILE; "
              "rlm_toolkit.trace.load(FILE).messages({step})) and in view.messages({step}) while the "
              "kernel runs")


def _capped(text: str, step: int, limit: int) -> str:
    """``text`` escaped, cut at ``limit`` characters with a note saying what was cut and where it all is."""
    kept, left_out = cut_text(text, limit)
    if not left_out:
        return _h(text)
    note = f"… [{left_out:,} more characters not saved here; {_WHERE_ALL.format(step=step)}]"
    return _h(kept) + f'<span class="rlm-cut"><i>{_h(note)}</i></span>'


def new_from(previous: list[dict[str, Any]] | None, messages: list[dict[str, Any]]) -> int:
    """How many of ``messages`` (a step's) open as ``previous`` (the step before's) did: the step
    added ``messages[new_from(...):]`` to the conversation. An agent appends to its messages, so
    that is the assistant turn and the tool results since; a fork's edited step, or a run that
    rewrites its history, shows from the first message that differs."""
    if not previous:
        return 0
    shared = min(len(previous), len(messages))
    first = 0
    while first < shared and previous[first] == messages[first]:
        first += 1
    return first


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
            calls = json.dumps(cut_deep(m["tool_calls"]), ensure_ascii=False)  # one line: as many as steps
            extra = f'<pre class="rlm-args" style="{_PRE}">{_capped(calls, step, limit)}</pre>'
            used += min(len(calls), limit)
            limit = max(0, min(MESSAGE_LIMIT, budget - used))
        role = m.get("role", "")
        items.append(f'<div class="rlm-message"><b class="rlm-role">{_h(role)}</b>'
                     f'<pre class="rlm-text" style="{_PRE}">{_capped(text, step, limit)}</pre>{extra}</div>')
        used += min(len(text), limit)
    return "".join(items), used


def header_html(model: TimelineModel) -> str:
    """The header as the live page draws it (timeline.js, timeline.css): the same fields in the same
    boxes, wrapping in a narrow window, as tall as the live header with its Stop button, so the
    display keeps its shape when the static copy takes the widget's place."""
    header = model.header()
    fields = [("state", model.state_text()), ("model", header["model"]),
              ("steps", plural(len(model.steps), "step")), ("tokens", plural(model.tokens, "token")),
              ("cost", header["cost"]), ("elapsed", seconds(model.elapsed)), ("parent", header["parent"])]
    # Each field ends with a space, which the flex box drops: where styles are stripped (GitHub) the
    # header still reads as words, "done scripted:scripted 2 steps …".
    spans = "".join(f'<span class="rlm-h-{name}"{_STATE if name == "state" else ""}>{_h(text)} </span>'
                    for name, text in fields if text)
    stop = f'<span style="{_STOP_BOX}"></span>'
    return f'<div class="rlm-timeline-header" style="{_HEADER}">{spans}{stop}</div>'


def timeline_html(model: TimelineModel, messages: dict[int, list[dict[str, Any]]] | None = None, *,
                  open_steps: Any = (), fork_line: str | None = None) -> str:
    """The static twin of the live timeline (same classes, ``data-state``/``data-step``), for the final
    display: no script, every text escaped, the answer through the safe renderer, each step's
    messages in a ``<details>`` that opens without a kernel (open already for ``open_steps``, the
    steps whose messages the user had open in the live widget). ``fork_line``: a recorded run's
    ``%rlm fork FILE --step N``, said once at the end (the live widget's Fork from here buttons
    cannot work without a kernel)."""
    parts = [f'<div class="rlm-timeline rlm-static {NO_MATH}" data-state="{_attr(model.state)}" '
             f'style="{_ROOT}">', header_html(model), '<div class="rlm-steps">']
    budget = MESSAGES_BUDGET  # what is left for the steps' messages in this output
    previous: list[dict[str, Any]] | None = None
    for step in model.steps.values():
        sent = (messages or {}).get(step.number)
        title = f"Step {step.number}"
        if sent:
            first = new_from(previous, sent)
            added = scrub_data(sent[first:])  # only what is shown is scrubbed: linear in the run
            previous = sent
            if budget > 0:
                body, used = _messages_html(added, step.number, budget)
                budget -= used
            else:
                note = (f"not saved here: this output keeps at most {MESSAGES_BUDGET:,} characters of "
                        f"messages; {_WHERE_ALL.format(step=step.number)}")
                body = f'<div class="rlm-cut"><i>{_h(note)}</i></div>'
            if first:
                body = f'<i class="rlm-same">1–{first} as at step {step.number - 1}, then:</i>{body}'
            opened = " open" if step.number in open_steps else ""
            what = (f"the {plural(len(sent), 'message')} sent to the model" if not first else
                    f"{len(sent)} messages sent, {len(sent) - first} new")
            head = (f'<details class="rlm-messages"{opened}><summary class="rlm-step-title"><b>{title}</b>'
                    f' · {what}</summary>{body}</details>')
        else:
            previous = None
            head = f'<div class="rlm-step-title"><b>{title}</b></div>'
        rows = "".join(_row_html(row) for row in step.rows)
        parts.append(f'<div class="rlm-step" data-step="{step.number}" style="{_STEP}">{head}{rows}</div>')
    parts.append("</div>")
    if model.error:
        parts.append(f'<div class="rlm-row rlm-error" style="{_ERR}">{_h(model.error)}</div>')
    if fork_line:
        parts.append(f'<div class="rlm-fork-hint" style="font-size:0.85em;opacity:0.75">Fork a step: '
                     f'<code>{_h(fork_line)}</code></div>')
    parts.append("</div>")
    return "".join(parts)  # every text was scrubbed on its own: scrubbing markup could cut a tag
