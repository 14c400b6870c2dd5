"""The live agent timeline: an anywidget that grows in place as an agent thinks and acts.

::

    from rlm_jupyter import display_agent
    view = display_agent(agent.astream("What is 2 + 40?"))   # or agent.stream(...), or replay(...)
    view.messages(2)                                          # what the model was sent at step 2

The kernel folds events with :class:`~rlm_jupyter.timeline.model.TimelineModel` and sends only
the operations that grow the page (text deltas, new rows), joined per frame (at most ~30
messages a second, none held longer than a frame; :mod:`rlm_jupyter.live.pacing` paces them). When
the run ends the widget holds every operation in its ``snapshot`` trait (a view rendered later is
complete) and the display is replaced by a static bundle — safe ``text/html`` with the same
classes and each step's messages in a ``<details>``, ``text/markdown``, ``text/plain`` — so a saved
notebook, nbconvert, GitHub and front ends without widgets show the run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from rlm_toolkit.errors import UsageError, scrub_data

from .._mathcode import code_css
from ..live import _ipykernel
from ..live.pacing import CATCH_UP, FRAME
from ..live.show import LiveDisplay
from ..live.stop import StopSwitch
from ..page import esm, page_assets
from ..wire import Type, count, dispatch
from .approvals import Approvals
from .feed import RunFeed, RunView
from .forking import Forks, ForkSource
from .html import page_messages
from .model import merge_ops

__all__ = ["TimelineView"]

_HERE = Path(__file__).parent / "static"


class TimelineView(LiveDisplay, RunView, anywidget.AnyWidget):
    """The widget. It has a :class:`~rlm_jupyter.timeline.feed.RunFeed` (``frames``), a
    :class:`~rlm_jupyter.live.stop.StopSwitch` (``stop``) and the run's
    :class:`~rlm_jupyter.timeline.approvals.Approvals` (``approvals``), built before it;
    ``apply(event)`` / ``flush()`` / ``finish()`` drive it;
    :func:`~rlm_jupyter.timeline.display.display_agent` does all."""

    kind = "agent"
    _esm = esm(_HERE / "timeline.js")
    _css = (_HERE / "timeline.css").read_text(encoding="utf-8") + code_css(".rlm-timeline")
    state = traitlets.Unicode("running").tag(sync=True)
    snapshot: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    seq = traitlets.Int(0).tag(sync=True)  # the last message's number, synced with the snapshot only
    stoppable = traitlets.Bool(False).tag(sync=True)  # a Stop button where a driver can act on it
    forkable = traitlets.Bool(False).tag(sync=True)  # "Fork from here" on each step (a recorded run)

    def __init__(self, model: str | None = None, *, started_at: float | None = None, steps: Any = None,
                 frame: float = FRAME, stoppable: bool = False, clock: Any = None,
                 parent: str | None = None) -> None:
        # Its parts first: anywidget's initializer asks for the state (get_state) of a whole view.
        self.frames = RunFeed(model, started_at=started_at, steps=steps, frame=frame, clock=clock,
                              sink=self._send_ops, parent=parent)
        self.stop = StopSwitch()
        self.approvals = Approvals()
        self.forks = Forks()
        self.open_steps: set[int] = set()  # steps whose messages a page has open (kept open when static)
        self._ops: list[dict[str, Any]] = []  # every operation sent so far but headers, for the snapshot
        self._seq = 0
        self.catch_up_at = time.perf_counter() + CATCH_UP  # one unasked snapshot (LiveView.maybe_catch_up)
        # The header is in the state from the start: a view shows "running · model" at once.
        page_assets()  # the page libraries, once per kernel, before this widget's first view
        super().__init__(snapshot=[self.timeline.header()], stoppable=stoppable)
        self.on_msg(self._on_page_message)
        _ipykernel.answer_where_sent(self.comm)

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        """The synced state; while running, ``snapshot`` holds every operation sent so far and
        ``seq`` its number, so a view that appears mid-run (reload, second tab) starts complete."""
        state = super().get_state(key, drop_defaults)
        if self.timeline.state == "running":
            seq, ops = self._sent_so_far()
            if "snapshot" in state:
                state["snapshot"] = ops
            if "seq" in state:
                state["seq"] = seq
        return state

    def _sent_so_far(self) -> tuple[int, list[dict[str, Any]]]:
        """The number of the last message sent and every operation up to it, header last."""
        with self.frames.lock:
            return self._seq, [*merge_ops(self._ops), self.timeline.header()]

    # -- driving --------------------------------------------------------------------------------

    def _send_ops(self, ops: list[dict[str, Any]]) -> None:
        """One frame's operations as one custom message, numbered for a page to spot a gap."""
        for op in ops:
            if op["op"] == "header":
                continue
            if op["op"] == "progress" and self._ops and self._ops[-1]["op"] == "progress" \
                    and self._ops[-1]["id"] == op["id"]:
                self._ops[-1] = op  # a long call's reports: the snapshot keeps only its latest
            else:
                self._ops.append(op)
        self._seq += 1  # not the trait: a trait change would be one more message per frame
        self.send({"type": Type.FRAME, "seq": self._seq, "ops": ops})
        self.maybe_catch_up()

    def catch_up(self) -> None:
        """Every operation so far, unasked, once (see LiveView.catch_up_at)."""
        seq, every = self._sent_so_far()
        self.send({"type": Type.SNAPSHOT, "seq": seq, "ops": every})

    def finish(self, error: BaseException | None = None) -> None:
        """Settle the state, send what is left, and keep the whole run in the ``snapshot`` trait."""
        self.end_run(error)
        seq, ops = self._sent_so_far()
        with self.hold_sync():
            self.snapshot = ops
            self.seq = seq
            self.state = self.timeline.state

    # -- page messages --------------------------------------------------------------------------

    def _on_page_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Runs on whichever thread the kernel hands the message to (a subshell's while a cell
        runs): it only sets flags and sends."""
        if isinstance(content, dict):
            self.approvals.page_seen()  # any message says a page shows the timeline
        dispatch(content, {
            Type.STOP: lambda _m: self.request_stop(),
            Type.DECIDE: self.approvals.decided,  # Approve / Deny (see approvals)
            Type.SYNC: self._sync,
            Type.MESSAGES: self._send_messages,
            Type.CLOSED: lambda m: self.open_steps.discard(count(m.get("step"))),
            Type.FORK: self._fork,
        })

    def _sync(self, held: dict[str, Any]) -> None:
        """A page may have missed operations (see timeline.js): all of them, if it lacks some."""
        seq, ops = self._sent_so_far()
        if seq > count(held.get("seq")):
            self.send({"type": Type.SNAPSHOT, "seq": seq, "ops": ops})

    def _send_messages(self, asked: dict[str, Any]) -> None:
        """The messages the step a page opened added to the conversation (``first``: how many the step
        before sent too; ``all``: the page asked for every one), each text capped as saved."""
        step = count(asked.get("step"))
        self.open_steps.add(step)
        try:
            first, added = self.added_messages(step, whole=asked.get("all") is True)
            reply = {"type": Type.MESSAGES, "step": step, "first": first, "total": first + len(added),
                     "messages": scrub_data(page_messages(added, step))}
        except UsageError as error:
            reply = {"type": Type.MESSAGES, "step": step, "messages": [], "error": error.message}
        self.send(reply)

    def offer_forks(self, source: ForkSource | None, *, cell_runs: bool) -> None:
        """Show "Fork from here" on each step (``source``: the run's trace; None: no button);
        ``cell_runs``: the cell showing the run runs until :meth:`Forks.close`."""
        self.forks.open(source, cell_runs=cell_runs)
        self.forkable = source is not None

    def _fork(self, asked: dict[str, Any]) -> None:
        """Fork from here: only the step number is taken from the page (see timeline/forking.py)."""
        self.send({"type": Type.FORK, **self.forks.ask(count(asked.get("step")), self.timeline.steps)})

    # -- display --------------------------------------------------------------------------------

    def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the run, with ``widget=True`` the live view as well."""
        data, metadata = self.static_bundle(self.open_steps)
        return (self.with_widget(data) if widget else data), metadata

    def __repr__(self) -> str:
        return f"<TimelineView {self.timeline.summary()}>"
