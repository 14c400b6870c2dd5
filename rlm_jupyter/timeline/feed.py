"""An agent run's feed: agent events in, page operations out per frame, and what the view and
its static copy show of the run.

:class:`RunFeed` folds :class:`~rlm_toolkit.events.AgentEvent` s with
:class:`~rlm_jupyter.timeline.model.TimelineModel` into page operations that wait for their frame
(:class:`~rlm_jupyter.live.pacing.Pacer`) and hands each frame to its sink — the widget's
``send`` or the plain stand-in's ``print``. :class:`RunView` is what both views of a run
(:class:`~rlm_jupyter.timeline.view.TimelineView`,
:class:`~rlm_jupyter.timeline.plain.PlainTimeline`) read from the feed and the approvals they
have: the steps' messages, the static bundle, the approver of ``approve=True`` runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rlm_toolkit.agents.approval import ApprovalRequest
from rlm_toolkit.cost import Cost
from rlm_toolkit.errors import UsageError

from ..live.pacing import FRAME, Pacer
from ..live.view import LiveView
from .approvals import Approvals
from .forking import Forks
from .html import new_from, timeline_html
from .model import TimelineModel, merge_ops

__all__ = ["RunFeed", "RunView", "OpsSink"]

#: Where a frame goes: ``sink(operations)``.
OpsSink = Callable[[list[dict[str, Any]]], None]


class RunFeed:
    """Agent events in, one frame of page operations out per frame deadline, to ``sink``."""

    def __init__(self, model: str | None = None, *, started_at: float | None = None, steps: Any = None,
                 frame: float = FRAME, clock: Callable[[], float] | None = None,
                 sink: OpsSink | None = None, parent: str | None = None) -> None:
        self.timeline = TimelineModel(model, started_at=started_at, clock=clock, parent=parent)
        self.pacer = Pacer(frame)  # the frame deadlines; the operations wait in _pending
        self.steps = steps
        self._pending: list[dict[str, Any]] = []
        self.lock = threading.RLock()  # the page's requests come on other threads than the events
        self.sink: OpsSink = sink or (lambda _ops: None)
        self._cost = RunCost()

    def step_records(self) -> Any:
        return self.steps() if callable(self.steps) else self.steps

    def push(self, event: Any, now: float | None = None) -> None:
        """Fold one :class:`~rlm_toolkit.events.AgentEvent` in; its operations leave when their
        frame is due."""
        with self.lock:
            if event.type != "token" and self.steps is not None:  # a step ended: its cost is known
                self.timeline.cost = self._cost.update(self.step_records())
            self._pending.extend(self.timeline.apply(event))
            self.pacer.arm(now)
        if not self.timeline.model and self.steps is not None:
            self.timeline.model = _model_from(self.step_records())
        if self.pacer.due(now) == 0.0:
            self.flush(now)

    def due(self, now: float | None = None) -> float | None:
        """Seconds until the pending operations must be sent (None: nothing pending)."""
        return self.pacer.due(now)

    def flush(self, now: float | None = None, *, force: bool = False) -> None:
        """Send the pending operations as one frame, if it is due (or ``force``)."""
        with self.lock:
            if not self.pacer.fire(now, force=force):
                return
            ops = merge_ops(self._pending)
            self._pending = []
            self.sink(ops)

    def end(self, error: BaseException | None) -> None:
        """The run ended: settle the model and send what is left."""
        with self.lock:
            self._pending.extend(self.timeline.end(error))
            self.pacer.arm()
        self.flush(force=True)


class RunView(LiveView):
    """What a view of a run reads from the :class:`RunFeed` (``self.frames``) and the
    :class:`~rlm_jupyter.timeline.approvals.Approvals` (``self.approvals``) it has."""

    frames: RunFeed
    approvals: Approvals
    forks: Forks  # Fork from here (the timeline's buttons; the plain view has the line in its copy)
    error: BaseException | None = None
    #: Seconds an approval waits for a page to show itself before it asks with ``input()``.
    page_wait = 5.0

    def live(self) -> bool:
        return self.timeline.state == "running"

    def apply(self, event: Any, now: float | None = None) -> None:
        """Fold one :class:`~rlm_toolkit.events.AgentEvent` in (the drive loops' ``feed``)."""
        self.feed(event, now)

    @property
    def timeline(self) -> TimelineModel:
        return self.frames.timeline

    @property
    def pacer(self) -> Pacer:
        return self.frames.pacer

    @property
    def sent_messages(self) -> int:
        return self.frames.pacer.messages

    def summary(self) -> str:
        return self.timeline.summary()

    # -- approvals ------------------------------------------------------------------------------

    def ask(self, request: ApprovalRequest) -> bool | str:
        """The approver of a run shown here (on the approver's thread): wait for Approve or Deny."""
        return self.approvals.ask(request, page_wait=self.page_wait)

    def request_stop(self) -> bool:
        """Stop the run (any thread) and deny, with "stopped", the approval it may wait for: its
        approver's thread ends now, whatever the run's driver does next."""
        stopped = super().request_stop()
        if self.stopping:
            self.approvals.end("stopped")
        return stopped

    def end_run(self, error: BaseException | None) -> None:
        """Settle the run (done / stopped / error), deny what still waits, send what is left."""
        self.error = error if isinstance(error, Exception) else None
        self.approvals.end("stopped" if self.stopping else "the run ended before anyone decided")
        self.frames.end(error)

    # -- inspecting -----------------------------------------------------------------------------

    def messages(self, step: int) -> list[dict[str, Any]]:
        """The exact messages sent to the model at ``step`` (1-based)."""
        steps = self.frames.step_records()
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
        """Every recorded step's messages as recorded (the static display scrubs what it shows: the
        messages each step added, see :func:`~rlm_jupyter.timeline.html.new_from`)."""
        out = {}
        for number in self.timeline.steps:
            try:
                out[number] = self.messages(number)
            except UsageError:
                pass
        return out

    def added_messages(self, step: int, *, whole: bool = False) -> tuple[int, list[dict[str, Any]]]:
        """What ``step`` added to the conversation: ``(first, messages[first:])``, ``first`` being how
        many of its messages the step before sent too (0 with ``whole``, or for the first step)."""
        sent = self.messages(step)
        if whole or step <= 1:
            return 0, sent
        try:
            before = self.messages(step - 1)
        except UsageError:
            return 0, sent
        first = new_from(before, sent)
        return first, sent[first:]

    @property
    def text(self) -> str:
        return self.timeline.text()

    @property
    def markdown(self) -> str:
        return self.timeline.markdown()

    def static_bundle(self, open_steps: Any = ()) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the run: safe HTML (what each step added to the conversation in a
        ``<details>``), markdown, text."""
        data: dict[str, Any] = {
            "text/plain": self.text,
            "text/markdown": self.markdown,
            "text/html": timeline_html(self.timeline, self.all_messages(), open_steps=open_steps,
                                       fork_line=self.forks.source.line("N") if self.forks.source else None),
        }
        header = {k: v for k, v in self.timeline.header().items() if k != "op"}
        return data, {"rlm": {"kind": "agent", **header}}


class RunCost:
    """The summed cost of a run's step records (live ``StepRecord`` s or a trace's step dicts), kept as
    steps finish: each record is read once (summing them all on every event made a run's display
    quadratic in its steps: 18 of 19 s of a 400-step run)."""

    def __init__(self) -> None:
        self.counted = 0  # records read: each finished, or passed by a later one
        self.total: Cost | None = None

    def update(self, steps: Any) -> dict[str, Any] | None:
        """Read the records not read yet (a step still running waits for its end); the sum so far."""
        if steps is not None and len(steps) > self.counted:
            records = list(steps.values())[self.counted:] if isinstance(steps, dict) else steps[self.counted:]
            for index, record in enumerate(records):
                response = (record.get("response") if isinstance(record, dict)
                            else getattr(record, "response", None))
                if not response and index == len(records) - 1:
                    break  # the step that is running: its cost is not known yet
                self.counted += 1
                cost = response.get("cost") if isinstance(response, dict) else None
                if isinstance(cost, dict):
                    step_cost = Cost.from_dict(cost)
                    self.total = step_cost if self.total is None else self.total + step_cost
        return None if self.total is None else self.total.to_dict()


def _model_from(steps: Any) -> str | None:
    """The model id from a finished step's provenance (agent streams do not carry it otherwise)."""
    if isinstance(steps, dict):
        return None
    for item in steps or ():
        response = item.get("response") if isinstance(item, dict) else getattr(item, "response", None)
        if isinstance(response, dict) and response.get("model"):
            return str(response["model"])
    return None
