"""The agent timeline's state, sans I/O: agent events in, small page operations and a transcript out.

:class:`TimelineModel` knows nothing of widgets or kernels, so the live widget, replays and the
tests drive the same logic. ``apply(event)`` returns the operations the page needs to grow the
timeline in place (``{"op": "live", "step": 2, "delta": "The "}``…); :func:`merge_ops` joins
consecutive text deltas so a frame carries one message; ``markdown()`` / ``text()`` give the
transcript a saved notebook shows (its safe HTML is :func:`rlm_jupyter.timeline.html.timeline_html`).
Texts are untrusted: the page renders them with textContent or the safe markdown renderer, and the
markdown transcript escapes raw HTML.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlm_toolkit._json_depth import cut_deep
from rlm_toolkit.cost import money
from rlm_toolkit.errors import describe, scrub
from rlm_toolkit.events import AgentEvent
from rlm_toolkit.images import shown_images

from ..live.errors import settled_state
from ..render import (
    ANSWER_LIMIT,
    NAME_LIMIT,
    OBSERVATION_LIMIT,
    TEXT_LIMIT,
    TRACE_KEEPS,
    clip,
    fenced,
    plural,
    thinking_note,
    to_markdown,
)

__all__ = ["TimelineModel", "Row", "Step", "merge_ops", "decision_text", "progress_text", "OBSERVATION_LIMIT",
           "IMAGES_BUDGET"]

#: The base64 of all the images one run shows (page, snapshot, saved copy) at most; later ones are
#: left out (their observation's text still names them).
IMAGES_BUDGET = 8_000_000


class Row:
    """One row of a step: ``kind`` is reasoning (the model's thinking, shown folded with the step's
    thought), live (text still streaming), thought, action, approval, observation, error or final.
    Streamed text is kept as pieces and joined when read (no quadratic growth). ``outcome``: an
    approval's state (pending, approved, denied), "denied" on the observation of a denied call.
    ``images``: an observation's checked images.

    ``text`` is whole (Python keeps it); every copy shows ``shown``, cut at its kind's limit. ``tool``
    and ``args`` are kept as shown (cut when the row is made; the step's messages have them whole)."""

    __slots__ = ("kind", "_parts", "_length", "step", "tool", "args", "call_id", "is_error", "duration",
                 "outcome", "server", "images")

    def __init__(self, kind: str, text: str = "", *, step: int = 0, tool: str | None = None,
                 args: str | None = None, call_id: str | None = None, is_error: bool = False,
                 duration: float | None = None, outcome: str | None = None,
                 server: str | None = None) -> None:
        self.kind, self.step = kind, step
        self._parts = [text] if text else []
        self._length = len(text)
        self.tool, self.args, self.call_id = tool, args, call_id
        self.is_error, self.duration, self.outcome = is_error, duration, outcome
        self.server = server
        self.images: list[dict[str, str]] = []

    @property
    def label(self) -> str:
        """The tool as every copy shows it: ``convert_time (time)`` for an MCP server's tool."""
        return f"{self.tool or ''} ({self.server})" if self.server else self.tool or ""

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @text.setter
    def text(self, value: str) -> None:
        self._parts = [value] if value else []
        self._length = len(value)

    def append(self, piece: str) -> str:
        """Add a streamed piece; return what of it the page is sent (nothing past the kind's limit)."""
        before, self._length = self._length, self._length + len(piece)
        self._parts.append(piece)
        room = _LIMITS.get(self.kind, TEXT_LIMIT) - before
        if len(piece) <= room:
            return piece
        return piece[:room] + _LIVE_CUT if room > 0 else ""

    @property
    def shown(self) -> str:
        """The text as every copy shows it (the page's operations, plain, markdown, HTML): cut at
        its kind's limit with a note saying how much was left out and where it all is."""
        return clip(self.text, _LIMITS.get(self.kind, TEXT_LIMIT), where(self.kind, self.step))

    def __repr__(self) -> str:
        return f"Row({self.kind!r}, {self.text[:40]!r})"


#: How much of a row's text every copy keeps, by kind (TEXT_LIMIT for the others): streamed text
#: ("live") may turn out to be the answer.
_LIMITS = {"final": ANSWER_LIMIT, "live": ANSWER_LIMIT, "observation": OBSERVATION_LIMIT}
#: Where streamed text stops going to the page (how much more will come is not known yet).
_LIVE_CUT = f"… [the rest is not shown here; {TRACE_KEEPS}]"


def where(kind: str, step: int) -> str:
    """Where the whole of a cut text of a row of ``kind`` at ``step`` is (a cut's note says it)."""
    if kind == "final":
        return "the run's trace (%%rlm --record FILE) and view.timeline.final (%%rlm -o NAME) keep it all"
    if kind in ("thought", "action", "approval", "observation"):  # sent back to the model at the next step
        return f"the run's trace (%%rlm --record FILE) and view.messages({step + 1}) keep it all"
    return TRACE_KEEPS


def _name(name: str | None, step: int) -> str:
    """A tool's name as every copy shows it."""
    return clip(name or "", NAME_LIMIT, where("action", step))


def _server(event: AgentEvent) -> str | None:
    """The MCP server of a tool call's event, cut like a name."""
    return clip(event.server, NAME_LIMIT, where("action", event.step)) if event.server else None


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
    """Tool arguments as indented JSON (what the action row shows); nesting deeper than
    ``CUT_DEPTH`` levels is cut to a marker (else each level adds its indentation to every line below)."""
    try:
        shown = cut_deep(value if value is not None else {})
        return json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        return repr(value)


class TimelineModel:
    """Folds agent events into steps and rows; ``state`` is running, done, error or stopped.

    ``clock``: the run's "now" in Unix seconds — ``time.time`` for a live run, the trace's own
    clock for a replay (:meth:`rlm_toolkit.trace.Replay.clock`), so an old trace shows how long
    its run took, not how old it is.
    """

    def __init__(self, model: str | None = None, started_at: float | None = None,
                 clock: Callable[[], float] | None = None, parent: str | None = None) -> None:
        self.model: str | None = model
        self.parent = parent  # a fork's "fork of run.jsonl at step 3" (timeline.forking.parent_text)
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
        self.asks = False  # pending approvals wait for this timeline's buttons (the view sets it)
        self.cost: dict[str, Any] | None = None  # the steps' summed cost (Cost.to_dict()), set by the view
        self.stop_reason: str | None = None  # "budget" when a budget ended the run
        self.image_chars = 0  # the base64 of the images shown so far (IMAGES_BUDGET)

    @property
    def model(self) -> str | None:
        """The model's id, as every copy shows it (a server sends it: cut at NAME_LIMIT)."""
        return self._model

    @model.setter
    def model(self, value: str | None) -> None:
        self._model = None if value is None else clip(str(value), NAME_LIMIT)

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
                step.rows.append(row := Row("live", step=number))
            delta = row.append(event.content)
            if delta:
                ops.append({"op": "live", "step": number, "delta": delta})
        elif kind == "reasoning":
            row = step.row("reasoning")
            if row is None:
                step.rows.append(row := Row("reasoning", step=number))
            delta = row.append(event.content)
            if delta:
                ops.append({"op": "reasoning", "step": number, "delta": delta})
        elif kind == "thought":
            row = step.row("live")
            if row is None or not event.streamed:
                step.rows.append(row := Row("thought", step=number))
            row.kind, row.text, row.duration = "thought", event.content, since
            ops.append({"op": "thought", "step": number, "text": row.shown, "duration": since})
        elif kind == "action":
            args = clip(pretty_args(event.input), TEXT_LIMIT, where(kind, number))
            row = Row("action", step=number, tool=_name(event.tool_name, number), args=args,
                      call_id=event.call_id, server=_server(event))
            step.rows.append(row)
            ops.append({"op": "action", "step": number, "id": event.call_id, "tool": row.label, "args": args,
                        "server": row.server})
        elif kind == "approval":
            ops.append(self._approval(step, number, event))
        elif kind == "progress":
            action = step.row("action", event.call_id) if event.call_id else step.row("action")
            if action is not None and action.duration is None:  # none for a call that has ended
                ops.append({"op": "progress", "step": number, "id": event.call_id,
                            "text": progress_text(event), "done": event.progress, "total": event.total})
        elif kind == "observation":
            action = step.row("action", event.call_id) if event.call_id else step.row("action")
            duration = event.duration
            if duration is None and action is not None:
                duration = since
            if action is not None:
                action.duration = duration
            row = Row("observation", text=event.content, step=number, tool=_name(event.tool_name, number),
                      call_id=event.call_id, is_error=event.is_error, duration=duration,
                      outcome=event.outcome, server=_server(event))
            row.images = self._images(event.images)
            step.rows.append(row)
            ops.append({"op": "observation", "step": number, "id": event.call_id, "tool": row.label,
                        "text": event.content[:OBSERVATION_LIMIT], "length": len(event.content),
                        "error": event.is_error, "duration": duration, "outcome": event.outcome,
                        **({"images": row.images} if row.images else {})})
        elif kind == "error":
            step.rows.append(row := Row("error", text=event.content, step=number, is_error=True))
            ops.append({"op": "error", "step": number, "text": row.shown})
        elif kind == "final":
            row = step.row("live")
            if row is None:
                step.rows.append(row := Row("final", step=number))
            row.kind, row.text, row.is_error, row.duration = "final", event.content, event.is_error, since
            self.final = event.content
            self.stop_reason = event.stop_reason
            self.state = "error" if event.is_error else "stopped" if event.stop_reason else "done"
            self.ended_at = event.timestamp
            if event.duration is not None:
                self.ended_at = max(self.ended_at, self.started_at + event.duration)
            ops.append({"op": "final", "step": number, "text": row.shown, "error": event.is_error,
                        "duration": since})
        self.last_at = max(self.last_at, event.timestamp)
        ops.append(self.header())
        return ops

    def _images(self, images: Any) -> list[dict[str, str]]:
        """An observation's images, checked again (an event can come from anywhere) and kept while
        the run's IMAGES_BUDGET lasts."""
        kept = []
        for image in shown_images(images) if images else ():
            if self.image_chars + len(image["data"]) > IMAGES_BUDGET:
                break
            self.image_chars += len(image["data"])
            kept.append(image)
        return kept

    def _approval(self, step: Step, number: int, event: AgentEvent) -> dict[str, Any]:
        """An approval's row: added while it waits, updated in place with the decision."""
        row = step.row("approval", event.call_id)
        if row is None or row.outcome != "pending":
            args = clip(pretty_args(event.input), TEXT_LIMIT, where("approval", number))
            step.rows.append(row := Row("approval", step=number, tool=_name(event.tool_name, number),
                                        args=args, call_id=event.call_id, server=_server(event)))
        row.outcome, row.text = event.outcome or "pending", event.content
        return {"op": "approval", "step": number, "id": event.call_id, "tool": row.label,
                "args": row.args, "state": row.outcome, "reason": row.shown,
                "ask": self.asks and row.outcome == "pending"}

    def end(self, error: BaseException | None = None, now: float | None = None) -> list[dict[str, Any]]:
        """The event source ended: settle the state (an exception is shown scrubbed, never a traceback)."""
        if self.ended_at is None:
            self.ended_at = self.clock() if now is None else now
        ops: list[dict[str, Any]] = []
        if error is not None and self.state == "running":
            self.state = settled_state(error)
            if self.state == "error":
                self.error = clip(describe(error))
                ops.append({"op": "error", "step": max(self.steps) if self.steps else 0, "text": self.error})
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
                "cost": money(self.cost), "elapsed": round(self.elapsed, 3), "state": self.state,
                "reason": self.stop_reason or "", "parent": self.parent or ""}

    def summary(self) -> str:
        cost = f" · {money(self.cost)}" if self.cost else ""
        parent = f" · {self.parent}" if self.parent else ""
        return (f"{self.model or 'agent'} · {plural(len(self.steps), 'step')} · "
                f"{plural(self.tokens, 'token')}{cost} · {self.elapsed:.1f} s · {self.state_text()}{parent}")

    def state_text(self) -> str:
        """``done``, or ``stopped (budget)`` when a budget ended the run."""
        return f"{self.state} ({self.stop_reason})" if self.stop_reason else self.state

    def text(self) -> str:
        """A plain transcript of the run (the display's ``text/plain``)."""
        out = [f"Agent run: {self.summary()}"]
        for step in self.steps.values():
            out.append(f"\n[step {step.number}]")
            for row in step.rows:
                took = f" ({row.duration:.2f} s)" if row.duration is not None else ""
                if row.kind == "action":
                    out.append(f"Action: {row.tool}({_words(row.args)}){took}"
                               + (f" [MCP server {row.server}]" if row.server else ""))
                elif row.kind == "approval":
                    out.append(f"Approval: {decision_text(row)}")
                elif row.kind == "observation":
                    label = "Observation (error)" if row.is_error else "Observation"
                    out.append(f"{label}{took}: {clip(row.text, 500, where(row.kind, row.step))}")
                elif row.kind in ("thought", "live"):
                    out.append(f"Thought{took}: {row.shown}")
                elif row.kind == "reasoning":
                    out.append(f"({thinking_note(row.text)})")
                elif row.kind == "error":
                    out.append(f"Error: {row.shown}")
                elif row.kind == "final":
                    out.append(f"Final answer{took}: {row.shown}")
        if self.error and not any(r.kind == "error" and r.shown == self.error
                                  for s in self.steps.values() for r in s.rows):
            out.append(f"Error: {self.error}")
        return scrub("\n".join(out))

    def markdown(self) -> str:
        """A markdown transcript (the display's ``text/markdown``); raw HTML in any text is escaped."""
        out = [f"**Agent run** — {to_markdown(self.summary(), 'text')}"]
        for step in self.steps.values():
            out.append(f"\n#### Step {step.number}\n")
            for row in step.rows:
                took = f" *({row.duration:.2f} s)*" if row.duration is not None else ""
                if row.kind == "action":
                    out.append(f"**Action{took}:** {to_markdown(row.label, 'text')}\n\n"
                               f"{fenced(row.args or '', 'json')}")
                elif row.kind == "approval":
                    out.append(f"**Approval:** {to_markdown(decision_text(row), 'text')}")
                elif row.kind == "observation":
                    label = "Observation (error)" if row.is_error else "Observation"
                    shown = clip(row.text, 2000, where(row.kind, row.step))
                    out.append(f"**{label}{took}:**\n\n{fenced(shown)}")
                elif row.kind in ("thought", "live"):
                    out.append(f"**Thought{took}:** {to_markdown(row.shown, 'text')}")
                elif row.kind == "reasoning":
                    out.append(f"*({thinking_note(row.text)})*")
                elif row.kind == "error":
                    out.append(f"**Error:** {to_markdown(row.shown, 'text')}")
                elif row.kind == "final":
                    out.append(f"**Final answer{took}:**\n\n{to_markdown(row.shown, 'markdown')}")
        if self.error:
            out.append(f"\n**Error:** {to_markdown(self.error, 'text')}")
        return scrub("\n\n".join(out))


def progress_text(event: AgentEvent) -> str:
    """``3/10 · reading`` (or ``3 · reading`` with no total): a progress event as its row shows it."""
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    done = number(event.progress) + (f"/{number(event.total)}" if event.total is not None else "")
    message = clip(" ".join(event.content.split()), NAME_LIMIT) if event.content else ""
    return f"{done} · {message}" if message else done


def decision_text(row: Row) -> str:
    """``approved`` / ``denied: reason`` / ``waiting`` (an approval row's state in words)."""
    if row.outcome == "denied":
        return f"denied: {row.shown}" if row.text else "denied"
    return "approved" if row.outcome == "approved" else "waiting"

#: Operations whose consecutive deltas of one step merge into one.
_DELTAS = ("live", "reasoning")


def merge_ops(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive ``live`` (or ``reasoning``) deltas of one step, keep the last of consecutive
    ``progress`` reports of one call, and keep only the last header."""
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
        if (op["op"] == "progress" and last is not None and last["op"] == "progress"
                and last["id"] == op["id"]):
            out[-1] = op  # only the latest report of a call matters
            continue
        out.append(op)
    close_live()
    if header is not None:
        out.append(header)
    return out


def _words(text: str | None) -> str:
    """``text`` on one line, its whitespace runs as single spaces (tool arguments in the transcript)."""
    return " ".join((text or "").split())
