"""The agent timeline's static twin: safe HTML of a run, each step's messages in a ``<details>``.

What a saved notebook, nbconvert, GitHub and front ends without widgets show of a run (the live
widget is replaced by it when the run ends), with the same classes as the page
(``timeline/static/timeline.js``). Every text is scrubbed and escaped on its own; the answer goes
through the safe markdown renderer (:func:`rlm_jupyter.render.to_html`); the steps' messages are
capped (:data:`MESSAGE_LIMIT` each, :data:`MESSAGES_BUDGET` in all), each cut saying where the
whole messages are. :func:`page_messages` caps them the same way for the live page's panel.
"""

from __future__ import annotations

import json
from typing import Any

from rlm_toolkit._json_depth import cut_deep
from rlm_toolkit.errors import scrub

from ..render import NO_MATH, OBSERVATION_LIMIT, clip, cut_text, escape_html, plural, thinking_html, to_html
from .model import Row, TimelineModel

__all__ = ["timeline_html", "page_messages", "MESSAGE_LIMIT", "MESSAGES_BUDGET"]

_PRE = "white-space:pre-wrap;word-break:break-word;margin:2px 0"
_ERR = "color:#d32f2f"
_STEP = "margin-top:6px;padding-left:6px;border-left:2px solid #ccc"
_IMG = "max-width:100%;max-height:320px;margin:4px 4px 0 0"


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
    head = (f'<div class="rlm-row-head" style="font-size:0.85em;opacity:0.75"><span class="rlm-label"{style}>'
            f'<b>{label}</b></span> <span class="rlm-duration">{took}</span></div>')
    return f'<div class="{classes}"{outcome}>{head}<div class="rlm-body">{body}</div></div>'


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
    parts = [f'<div class="rlm-timeline rlm-static {NO_MATH}" data-state="{_h(model.state)}">',
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
