"""The agent timeline's state, sans I/O: agent events in, small page operations and a transcript out.

:class:`TimelineModel` knows nothing of widgets or kernels, so the live widget, replays and the
tests drive the same logic. ``apply(event)`` returns the operations the page needs to grow the
timeline in place (``{"op": "live", "step": 2, "delta": "The "}``…); :func:`merge_ops` joins
consecutive text deltas so a frame carries one message; ``markdown()`` / ``text()`` give the
transcript a saved notebook shows. Texts are untrusted: the page renders them with textContent
or the safe markdown renderer, and the markdown transcript escapes raw HTML.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlm_toolkit.agents.events import AgentEvent
from rlm_toolkit.errors import scrub

from . import render

__all__ = ["TimelineModel", "Row", "Step", "merge_ops", "timeline_html", "OBSERVATION_LIMIT", "MESSAGE_LIMIT",
           "MESSAGES_BUDGET"]

#: Observations longer than this are cut before they are sent to the page (the rest stays in Python).
OBSERVATION_LIMIT = 20_000


class Row:
    """One row of a step: ``kind`` is reasoning (the model's thinking, shown folded with the step's
    thought), live (text still streaming), thought, action, observation, error or final.
    Streamed text is kept as pieces and joined when read (no quadratic growth)."""

    __slots__ = ("kind", "_parts", "tool", "args", "call_id", "is_error", "duration")

    def __init__(self, kind: str, text: str = "", *, tool: str | None = None, args: str | None = None,
                 call_id: str | None = None, is_error: bool = False, duration: float | None = None) -> None:
        self.kind = kind
        self._parts = [text] if text else []
        self.tool, self.args, self.call_id = tool, args, call_id
        self.is_error, self.duration = is_error, duration

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @text.setter
    def text(self, value: str) -> None:
        self._parts = [value] if value else []

    def append(self, piece: str) -> None:
        self._parts.append(piece)

    def __repr__(self) -> str:
        return f"Row({self.kind!r}, {self.text[:40]!r})"


@dataclass
class Step:
    number: int
    started: float
    rows: list[Row] = field(default_factory=list)

    def row(self, kind: str, call_id: str | None = None) -> Row | None:
        for row in reversed(self.rows):
            if row.kind == kind and (call_id is None or row.call_id == call_id):
                return row
        return None


def pretty_args(value: Any) -> str:
    """Tool arguments as indented JSON (what the action row shows)."""
    try:
        return json.dumps(value if value is not None else {}, indent=2, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        return repr(value)


class TimelineModel:
    """Folds agent events into steps and rows; ``state`` is running, done, error or stopped.

    ``clock``: the run's "now" in Unix seconds — ``time.time`` for a live run, the trace's own
    clock for a replay (:meth:`rlm_toolkit.trace.Replay.clock`), so an old trace shows how long
    its run took, not how old it is.
    """

    def __init__(self, model: str | None = None, started_at: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.model = model
        self.clock = clock or time.time
        self.started_at = self.clock() if started_at is None else started_at
        self.steps: dict[int, Step] = {}
        self.tokens = 0
        self.state = "running"
        self.final: str | None = None
        self.error: str | None = None
        self.last_at = self.started_at
        self.ended_at: float | None = None
        self.events = 0

    # -- events in, operations out -----------------------------------------------------------

    def _step(self, number: int, at: float, ops: list[dict[str, Any]]) -> Step:
        step = self.steps.get(number)
        if step is None:
            step = self.steps[number] = Step(number, started=min(self.last_at, at))
            ops.append({"op": "step", "step": number})
        return step

    def apply(self, event: AgentEvent) -> list[dict[str, Any]]:
        """Fold one event in; return the page operations it causes (header last)."""
        ops: list[dict[str, Any]] = []
        self.events += 1
        number = max(1, event.step or (max(self.steps) if self.steps else 1))
        step = self._step(number, event.timestamp, ops)
        since = max(0.0, event.timestamp - step.started)
        kind = event.type
        if kind == "token":
            self.tokens += 1
            row = step.row("live")
            if row is None:
                step.rows.append(row := Row("live"))
            row.append(event.content)
            ops.append({"op": "live", "step": number, "delta": event.content})
        elif kind == "reasoning":
            row = step.row("reasoning")
            if row is None:
                step.rows.append(row := Row("reasoning"))
            row.append(event.content)
            ops.append({"op": "reasoning", "step": number, "delta": event.content})
        elif kind == "thought":
            row = step.row("live")
            if row is None or not event.streamed:
                step.rows.append(row := Row("thought"))
            row.kind, row.text, row.duration = "thought", event.content, since
            ops.append({"op": "thought", "step": number, "text": event.content, "duration": since})
        elif kind == "action":
            args = pretty_args(event.input)
            step.rows.append(Row("action", tool=event.tool_name, args=args, call_id=event.call_id))
            ops.append({"op": "action", "step": number, "id": event.call_id, "tool": event.tool_name or "",
                        "args": args})
        elif kind == "observation":
            action = step.row("action", event.call_id) if event.call_id else step.row("action")
            duration = event.duration
            if duration is None and action is not None:
                duration = since
            if action is not None:
                action.duration = duration
            step.rows.append(Row("observation", text=event.content, tool=event.tool_name,
                                 call_id=event.call_id, is_error=event.is_error, duration=duration))
            ops.append({"op": "observation", "step": number, "id": event.call_id,
                        "tool": event.tool_name or "",
                        "text": event.content[:OBSERVATION_LIMIT], "length": len(event.content),
                        "error": event.is_error, "duration": duration})
        elif kind == "error":
            step.rows.append(Row("error", text=event.content, is_error=True))
            ops.append({"op": "error", "step": number, "text": event.content})
        elif kind == "final":
            row = step.row("live")
            if row is None:
                step.rows.append(row := Row("final"))
            row.kind, row.text, row.is_error, row.duration = "final", event.content, event.is_error, since
            self.final = event.content
            self.state = "error" if event.is_error else "done"
            self.ended_at = event.timestamp
            if event.duration is not None:
                self.ended_at = max(self.ended_at, self.started_at + event.duration)
            ops.append({"op": "final", "step": number, "text": event.content, "error": event.is_error,
                        "duration": since})
        self.last_at = max(self.last_at, event.timestamp)
        ops.append(self.header())
        return ops

    def end(self, error: BaseException | None = None, now: float | None = None) -> list[dict[str, Any]]:
        """The event source ended: settle the state (an exception is shown scrubbed, never a traceback)."""
        if self.ended_at is None:
            self.ended_at = self.clock() if now is None else now
        ops: list[dict[str, Any]] = []
        if error is not None and self.state == "running":
            if isinstance(error, Exception):
                self.state = "error"
                self.error = scrub(f"{type(error).__name__}: {error}")
                ops.append({"op": "error", "step": max(self.steps) if self.steps else 0, "text": self.error})
            else:
                self.state = "stopped"
        elif self.state == "running":
            self.state = "done" if self.final is not None else "stopped"
        ops.append(self.header())
        return ops

    # -- what the header and the transcript show ---------------------------------------------

    @property
    def elapsed(self) -> float:
        end = self.ended_at if self.ended_at is not None else max(self.last_at, self.clock())
        return max(0.0, end - self.started_at)

    def header(self) -> dict[str, Any]:
        return {"op": "header", "model": self.model or "", "steps": len(self.steps), "tokens": self.tokens,
                "elapsed": round(self.elapsed, 3), "state": self.state}

    def summary(self) -> str:
        return (f"{self.model or 'agent'} · {_count(len(self.steps), 'step')} · "
                f"{_count(self.tokens, 'token')} · {self.elapsed:.1f} s · {self.state}")

    def text(self) -> str:
        """A plain transcript of the run (the display's ``text/plain``)."""
        out = [f"Agent run: {self.summary()}"]
        for step in self.steps.values():
            out.append(f"\n[step {step.number}]")
            for row in step.rows:
                took = f" ({row.duration:.2f} s)" if row.duration is not None else ""
                if row.kind == "action":
                    out.append(f"Action: {row.tool}({_one_line(row.args)}){took}")
                elif row.kind == "observation":
                    label = "Observation (error)" if row.is_error else "Observation"
                    out.append(f"{label}{took}: {_clip(row.text)}")
                elif row.kind in ("thought", "live"):
                    out.append(f"Thought{took}: {row.text}")
                elif row.kind == "reasoning":
                    out.append(f"({render.thinking_note(row.text)})")
                elif row.kind == "error":
                    out.append(f"Error: {row.text}")
                elif row.kind == "final":
                    out.append(f"Final answer{took}: {row.text}")
        if self.error and not any(r.kind == "error" and r.text == self.error
                                  for s in self.steps.values() for r in s.rows):
            out.append(f"Error: {self.error}")
        return scrub("\n".join(out))

    def markdown(self) -> str:
        """A markdown transcript (the display's ``text/markdown``); raw HTML in any text is escaped."""
        out = [f"**Agent run** — {render.to_markdown(self.summary(), 'text')}"]
        for step in self.steps.values():
            out.append(f"\n#### Step {step.number}\n")
            for row in step.rows:
                took = f" *({row.duration:.2f} s)*" if row.duration is not None else ""
                if row.kind == "action":
                    out.append(f"**Action{took}:** {render.to_markdown(row.tool or '', 'text')}\n\n"
                               f"{_fence(row.args or '', 'json')}")
                elif row.kind == "observation":
                    label = "Observation (error)" if row.is_error else "Observation"
                    out.append(f"**{label}{took}:**\n\n{_fence(_clip(row.text, 2000))}")
                elif row.kind in ("thought", "live"):
                    out.append(f"**Thought{took}:** {render.to_markdown(row.text, 'text')}")
                elif row.kind == "reasoning":
                    out.append(f"*({render.thinking_note(row.text)})*")
                elif row.kind == "error":
                    out.append(f"**Error:** {render.to_markdown(row.text, 'text')}")
                elif row.kind == "final":
                    out.append(f"**Final answer{took}:**\n\n{render.to_markdown(row.text, 'markdown')}")
        if self.error:
            out.append(f"\n**Error:** {render.to_markdown(self.error, 'text')}")
        return scrub("\n\n".join(out))


_PRE = "white-space:pre-wrap;word-break:break-word;margin:2px 0"
_ERR = "color:#d32f2f"
_STEP = "margin-top:6px;padding-left:6px;border-left:2px solid #ccc"


def _h(text: Any) -> str:
    """Escaped for HTML, and ``$`` kept away from MathJax."""
    return html.escape(scrub(str(text)), quote=True).replace("$", "&#36;")


def _row_html(row: Row) -> str:
    if row.kind == "reasoning":  # folded, as plain escaped text
        return f'<div class="rlm-row rlm-reasoning">{render.thinking_html(scrub(row.text))}</div>'
    took = f"{row.duration:.2f} s" if row.duration is not None else ""
    kind = {"live": "thought"}.get(row.kind, row.kind)
    label = {"thought": "Thought", "action": "Action", "observation": "Observation", "error": "Error",
             "final": "Answer"}[kind]
    if kind == "observation" and row.is_error:
        label = "Error"
    classes = f"rlm-row rlm-{kind}" + (" rlm-error" if row.is_error and kind != "error" else "")
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
    elif kind == "final":
        body = render.to_html(scrub(row.text), "markdown")
    else:
        body = f'<div class="rlm-text" style="{_PRE}">{_h(row.text)}</div>'
    head = (f'<div class="rlm-row-head" style="font-size:0.85em;opacity:0.75"><span class="rlm-label"{style}>'
            f'<b>{label}</b></span> <span class="rlm-duration">{took}</span></div>')
    return f'<div class="{classes}">{head}<div class="rlm-body">{body}</div></div>'


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
    if len(text) <= limit:
        return _h(text)
    note = f"… [{len(text) - limit:,} more characters not saved here; {_WHERE_ALL.format(step=step)}]"
    kept = scrub(text[: limit + 500])[:limit]  # scrubbed before the cut: a key across it goes whole
    return _h(kept) + f'<span class="rlm-cut"><i>{_h(note)}</i></span>'


def _messages_html(
    messages: list[dict[str, Any]], step: int = 0, budget: int = MESSAGES_BUDGET
) -> tuple[str, int]:
    """The messages of one step as HTML, and how much of ``budget`` (characters of text) they used."""
    items, used = [], 0
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False)
        limit = max(0, min(MESSAGE_LIMIT, budget - used))
        extra = ""
        if m.get("tool_calls"):
            calls = json.dumps(m["tool_calls"], indent=2)
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
    parts = [f'<div class="rlm-timeline rlm-static {render._NO_MATH}" data-state="{_h(model.state)}">',
             '<div class="rlm-timeline-header" style="font-size:0.9em;opacity:0.75">',
             f'<span class="rlm-h-state"><b>{_h(model.state)}</b></span> · <span class="rlm-h-model">'
             f'{_h(header["model"])}</span> · <span class="rlm-h-steps">{_count(len(model.steps), "step")}</span>'
             f' · <span class="rlm-h-tokens">{_count(model.tokens, "token")}</span> · <span class="rlm-h-elapsed">'
             f'{model.elapsed:.2f} s</span></div><div class="rlm-steps">']
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
            head = (f'<details class="rlm-messages"{" open" if step.number in open_steps else ""}><summary class="rlm-step-title"><b>{title}</b> · the '
                    f'{len(sent)} messages sent to the model</summary>{body}</details>')
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


def _count(n: int, word: str) -> str:
    """``1 step``, ``2 steps``, ``0 tokens``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def merge_ops(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive ``live`` (or ``reasoning``) deltas of one step and keep only the last header."""
    out: list[dict[str, Any]] = []
    header: dict[str, Any] | None = None
    pieces: list[str] = []  # the deltas of the live op at out[-1], joined when it is complete

    def close_live() -> None:
        if pieces:
            out[-1] = {**out[-1], "delta": "".join(pieces)}
            pieces.clear()

    for op in ops:
        if op["op"] == "header":
            header = op
            continue
        last = out[-1] if out else None
        if (op["op"] in _DELTAS and last is not None and last["op"] == op["op"]
                and last["step"] == op["step"]):
            if not pieces:
                pieces.append(last["delta"])
            pieces.append(op["delta"])
            continue
        close_live()
        out.append(op)
    close_live()
    if header is not None:
        out.append(header)
    return out


_DELTAS = ("live", "reasoning")


def _fence(text: str, info: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
