"""What a live view and its plain stand-in share, apart from where a frame goes.

- :class:`TextFeed` — an answer: ``str`` chunks or stream events in, text (and a reasoning model's
  reasoning, in the same frames) coalesced per frame (:class:`~rlm_jupyter._coalesce.Coalescer`),
  a :class:`~rlm_toolkit.response.Response` that counts it, the static bundle (``final_bundle``) a
  saved notebook keeps, the reasoning folded in it.
- :class:`RunFeed` — an agent run: :class:`~rlm_toolkit.agents.AgentEvent` in, folded by
  :class:`~rlm_jupyter._timeline_model.TimelineModel` into page operations that wait for their
  frame (:class:`~rlm_jupyter._coalesce.Pacer`), each step's messages, the static bundle.

Both have the drive interface of :mod:`rlm_jupyter._drive` and stop from any thread
(:class:`~rlm_jupyter._live.Stoppable`). The widgets (:mod:`~rlm_jupyter.stream_view`,
:mod:`~rlm_jupyter.timeline`) send a frame to the page as one custom message; the plain
stand-ins (:mod:`rlm_jupyter._plain`) print it.
"""

from __future__ import annotations

import threading
from typing import Any

from rlm_toolkit.errors import UsageError, scrub, scrub_data
from rlm_toolkit.events import TextDelta
from rlm_toolkit.response import Response

from . import _live, render
from ._approval import Approvals
from ._coalesce import Coalescer, Pacer
from ._live import error_line
from ._timeline_model import TimelineModel, merge_ops

__all__ = ["TextFeed", "RunFeed"]


class TextFeed(_live.Stoppable):
    """What the stream widget and :class:`~rlm_jupyter._plain.PlainStream` share: taking chunks,
    coalescing them per frame, the Response that counts them, the static bundle. Subclasses say
    where a frame's text goes (``_emit``)."""

    response: Response
    coalescer: Coalescer
    _parts: list[str]
    _thought: list[str]
    _source_response: Response | None

    def _start(self, model: str | None, frame: float, response: Response | None) -> None:
        provider, _, name = (model or "stream").partition(":")
        self.response = response or Response(model=name or provider, provider=provider if name else "")
        self._source_response = None
        self.coalescer = Coalescer(frame)
        self.thinking_coalescer = Coalescer(frame)  # the reasoning, sent in the same frames as the text
        self._parts = []
        self._thought = []
        self._lock = threading.RLock()  # the page's requests come on other threads than the feed
        self._init_stop()

    def live(self) -> bool:
        return self.state == "streaming"

    def use_response(self, response: Response | None) -> None:
        """Report the source's own Response (an RLM stream's) instead of counting chunks here."""
        if response is not None:
            self.response = self._source_response = response

    def feed(self, item: Any, now: float | None = None) -> None:
        """Take a ``str`` chunk or a stream event; text goes out when its frame is due."""
        if self._stop.is_set():
            return
        if isinstance(item, str):
            text = item  # an RLM stream's own Response has counted it already
            if text and self.response is not self._source_response:
                self.response.feed(TextDelta(text=text))
            parts, coalescer = self._parts, self.coalescer
        else:
            if self.response is not self._source_response:
                self.response.feed(item)
            kind = getattr(item, "type", None)
            if kind == "text":
                parts, coalescer = self._parts, self.coalescer
            elif kind == "reasoning":
                parts, coalescer = self._thought, self.thinking_coalescer
            else:
                return
            text = item.text
        if text:
            with self._lock:
                parts.append(text)
                coalescer.push(text, now)
            if coalescer.due(now) == 0.0:
                self.flush(now)

    def due(self, now: float | None = None) -> float | None:
        if not self.thinking_coalescer.pending:
            return self.coalescer.due(now)
        dues = [d for d in (self.coalescer.due(now), self.thinking_coalescer.due(now)) if d is not None]
        return min(dues)

    def flush(self, now: float | None = None, *, force: bool = False) -> None:
        """Send the pending text (and reasoning) as one message, if its frame is due (or ``force``)."""
        with self._lock:
            thought = None
            if self.thinking_coalescer.pending:  # both leave in one frame once either is due
                force = force or self.due(now) == 0.0
                thought = self.thinking_coalescer.take(now, force=force)
            delta = self.coalescer.take(now, force=force)
            if delta is not None or thought is not None:
                self._emit(delta, thought)
                # one pace for both: a frame that carried either starts the wait for the next
                self.coalescer.last_sent = self.thinking_coalescer.last_sent = max(
                    self.coalescer.last_sent, self.thinking_coalescer.last_sent)

    def _emit(self, delta: str | None, thought: str | None = None) -> None:
        raise NotImplementedError

    @property
    def answer(self) -> str:
        return "".join(self._parts)

    @property
    def reasoning(self) -> str:
        """The model's reasoning shown so far ("" when it streamed none)."""
        return "".join(self._thought)

    def provenance(self) -> dict[str, Any]:
        """``Response.to_dict()`` with its error as one scrubbed line (it is saved with the notebook)."""
        info = self.response.to_dict()
        if self.response.error is not None:
            info["error"] = error_line(self.response.error)
        return info

    def summary(self) -> str:
        return render.footer_text(self.provenance())

    def final_bundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``text/plain``, ``text/markdown`` and safe ``text/html`` of the answer, provenance in the metadata.

        This is what a saved notebook keeps, so the text is scrubbed of anything key-shaped. The answer
        is the user's: the HTML copy (what front ends show) keeps it whole, the text and markdown
        copies keep ``ANSWER_LIMIT`` characters of it (a note says where the rest is), the reasoning
        is cut at ``TEXT_LIMIT``, so nothing is saved three times over.
        """
        fmt, error = getattr(self, "fmt", "markdown"), getattr(self, "error", "")
        text, info, thought = scrub(self.answer), self.provenance(), scrub(self.reasoning)
        short = render.clip(text, render.ANSWER_LIMIT, _ANSWER_WHOLE)
        plain = short if not error else f"{short}\n[{error}]" if short else f"[{error}]"
        note = render.thinking_note(thought)
        thought = render.clip(thought, render.TEXT_LIMIT, _REASONING_WHOLE)
        data: dict[str, Any] = {
            "text/plain": f"[{note}]\n{plain}" if note else plain,
            "text/markdown": (f"*[{note}]*\n\n" if note else "") + render.to_markdown(short, fmt)
            + (f"\n\n*{render.to_markdown(error, 'text')}*" if error else ""),
            "text/html": render.answer_html(text, fmt, info, error or None, thinking=thought),
        }
        return data, {"rlm": {"kind": "stream", **info}}


_ANSWER_WHOLE = "this output's HTML copy, view.answer and %%rlm -o NAME have it all"
_REASONING_WHOLE = "view.reasoning and the trace (%%rlm --record FILE) have it all"


class RunFeed(_live.Stoppable, Approvals):
    """What the timeline widget and :class:`~rlm_jupyter._plain.PlainTimeline` share: events folded
    into page operations that leave once per frame, the steps' messages, the static bundle, the
    approver of ``approve=True`` runs. Subclasses say where a frame's operations go (``_emit``)."""

    timeline: TimelineModel
    pacer: Pacer
    error: BaseException | None

    def _start(self, model: str | None, *, started_at: float | None, steps: Any, frame: float,
               clock: Any) -> None:
        self.timeline = TimelineModel(model, started_at=started_at, clock=clock)
        self.pacer = Pacer(frame)  # the frame deadlines; the operations wait in _pending
        self._steps = steps
        self._pending: list[dict[str, Any]] = []
        self.error = None
        self.open_steps: set[int] = set()  # steps whose messages a page has open (kept open when static)
        self._lock = threading.RLock()  # the page's requests come on other threads than the events
        self._init_stop()
        self._init_approvals()

    def live(self) -> bool:
        return self.timeline.state == "running"

    def summary(self) -> str:
        return self.timeline.summary()

    # -- driving --------------------------------------------------------------------------------

    def apply(self, event: Any, now: float | None = None) -> None:
        """Fold one :class:`~rlm_toolkit.agents.AgentEvent` in; its operations leave when their frame is
        due."""
        if self._stop.is_set():
            return
        with self._lock:
            if event.type != "token" and self._steps is not None:  # a step ended: its cost is known
                self.timeline.cost = _run_cost(self._step_records())
            self._pending.extend(self.timeline.apply(event))
            self.pacer.arm(now)
        if not self.timeline.model and self._steps is not None:
            self.timeline.model = _model_from(self._steps)
        if self.pacer.due(now) == 0.0:
            self.flush(now)

    feed = apply  # the name the shared drive loops (rlm_jupyter._drive) feed by

    def due(self, now: float | None = None) -> float | None:
        """Seconds until the pending operations must be sent (None: nothing pending)."""
        return self.pacer.due(now)

    def flush(self, now: float | None = None, *, force: bool = False) -> None:
        """Send the pending operations as one frame, if it is due (or ``force``)."""
        with self._lock:
            if not self.pacer.fire(now, force=force):
                return
            ops = merge_ops(self._pending)
            self._pending = []
            self._emit(ops)

    def _emit(self, ops: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    @property
    def sent_messages(self) -> int:
        return self.pacer.messages

    def request_stop(self) -> None:
        """Stop the run (any thread) and deny, with "stopped", the approval it may wait for: its
        approver's thread ends now, whatever the run's driver does next."""
        super().request_stop()
        if self.stopping:
            self.end_approvals("stopped")

    def finish(self, error: BaseException | None = None) -> None:
        """Settle the run (done / stopped / error) and send what is left."""
        self.error = error if isinstance(error, Exception) else None
        self.end_approvals("stopped" if self.stopping else "the run ended before anyone decided")
        with self._lock:
            self._pending.extend(self.timeline.end(error))
            self.pacer.arm()
        self.flush(force=True)

    # -- inspecting -----------------------------------------------------------------------------

    def _step_records(self) -> Any:
        return self._steps() if callable(self._steps) else self._steps

    def messages(self, step: int) -> list[dict[str, Any]]:
        """The exact messages sent to the model at ``step`` (1-based)."""
        steps = self._step_records()
        if isinstance(steps, dict):
            found = steps.get(step)
        elif steps is not None and 1 <= step <= len(steps):
            found = steps[step - 1]
        else:
            found = None
        if found is None:
            raise UsageError(f"no messages for step {step}; the run has {len(steps or ())} recorded step(s)")
        messages = found.get("messages") if isinstance(found, dict) else getattr(found, "messages", None)
        return list(messages or [])

    def all_messages(self) -> dict[int, list[dict[str, Any]]]:
        """Every recorded step's messages, scrubbed (what the static display shows)."""
        out = {}
        for number in self.timeline.steps:
            try:
                out[number] = scrub_data(self.messages(number))
            except UsageError:
                pass
        return out

    @property
    def text(self) -> str:
        return self.timeline.text()

    @property
    def markdown(self) -> str:
        return self.timeline.markdown()

    def final_bundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the run: safe HTML (steps' messages in ``<details>``), markdown, text."""
        data: dict[str, Any] = {
            "text/plain": self.text,
            "text/markdown": self.markdown,
            "text/html": render.timeline_html(self.timeline, self.all_messages(), open_steps=self.open_steps),
        }
        header = {k: v for k, v in self.timeline.header().items() if k != "op"}
        return data, {"rlm": {"kind": "agent", **header}}


def _run_cost(steps: Any) -> dict[str, Any] | None:
    """The summed cost of the step records (live ``StepRecord`` s or a trace's step dicts)."""
    from rlm_toolkit.cost import summed

    records = steps.values() if isinstance(steps, dict) else steps or ()
    cost = summed(r.get("response") if isinstance(r, dict) else getattr(r, "response", None) for r in records)
    return None if cost is None else cost.to_dict()


def _model_from(steps: Any) -> str | None:
    """The model id from a finished step's provenance (agent streams do not carry it otherwise)."""
    items = steps() if callable(steps) else steps
    if isinstance(items, dict):
        return None
    for item in items or ():
        response = item.get("response") if isinstance(item, dict) else getattr(item, "response", None)
        if isinstance(response, dict) and response.get("model"):
            return str(response["model"])
    return None
