"""The live agent timeline: an anywidget that grows in place as an agent thinks and acts.

::

    from rlm_jupyter import display_agent
    view = display_agent(agent.astream("What is 2 + 40?"))   # or agent.stream(...), or replay(...)
    view.messages(2)                                          # what the model was sent at step 2

The kernel folds events with :class:`~rlm_jupyter._timeline_model.TimelineModel` and sends only
the operations that grow the page (text deltas, new rows), joined per frame (at most ~30
messages a second, none held longer than a frame; :mod:`rlm_jupyter._coalesce` paces them). When
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

from . import _display, _live, render
from ._coalesce import FRAME
from ._display import WIDGET_MIME, LiveDisplay, widget_ref
from ._drive import drive
from ._feeds import RunFeed
from ._plain import PlainTimeline
from ._timeline_model import merge_ops

__all__ = ["TimelineView", "PlainTimeline", "display_agent", "drive", "FRAME"]

_STATIC = Path(__file__).parent / "static"


def _esm() -> str:
    """markdown.js (the shared safe renderer) in front of timeline.js: one module, no imports."""
    return "\n".join((_STATIC / name).read_text(encoding="utf-8") for name in ("markdown.js", "timeline.js"))


class TimelineView(LiveDisplay, RunFeed, anywidget.AnyWidget):
    """The widget: ``apply(event)`` / ``flush()`` / ``finish()`` drive it; :func:`display_agent` does all."""

    kind = "agent"
    _esm = _esm()
    _css = (_STATIC / "timeline.css").read_text(encoding="utf-8")
    state = traitlets.Unicode("running").tag(sync=True)
    snapshot = traitlets.List().tag(sync=True)
    seq = traitlets.Int(0).tag(sync=True)  # the last message's number, synced with the snapshot only
    stoppable = traitlets.Bool(False).tag(sync=True)  # a Stop button where a driver can act on it

    def __init__(self, model: str | None = None, *, started_at: float | None = None, steps: Any = None,
                 frame: float = FRAME, stoppable: bool = False, clock: Any = None) -> None:
        self._start(model, started_at=started_at, steps=steps, frame=frame, clock=clock)
        self._ops: list[dict[str, Any]] = []  # every operation sent so far but headers, for the snapshot
        self._seq = 0
        # The header is in the state from the start: a view shows "running · model" at once.
        super().__init__(snapshot=[self.timeline.header()], stoppable=stoppable)
        self.on_msg(self._on_page_message)
        _live.answer_where_sent(self)

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        """The synced state; while running, ``snapshot`` holds every operation sent so far and
        ``seq`` its number, so a view that appears mid-run (reload, second tab) starts complete."""
        state = super().get_state(key, drop_defaults)
        if getattr(self, "_ops", None) is not None and self.timeline.state == "running":
            seq, ops = self._sent_so_far()
            if "snapshot" in state:
                state["snapshot"] = ops
            if "seq" in state:
                state["seq"] = seq
        return state

    def _sent_so_far(self) -> tuple[int, list[dict[str, Any]]]:
        """The number of the last message sent and every operation up to it, header last."""
        with self._lock:
            return self._seq, [*merge_ops(self._ops), self.timeline.header()]

    # -- driving --------------------------------------------------------------------------------

    def _emit(self, ops: list[dict[str, Any]]) -> None:
        """One frame's operations as one custom message, numbered for a page to spot a gap."""
        self._ops.extend(op for op in ops if op["op"] != "header")
        self._seq += 1  # not the trait: a trait change would be one more message per frame
        self.send({"seq": self._seq, "ops": ops})

    def finish(self, error: BaseException | None = None) -> None:
        """Settle the state, send what is left, and keep the whole run in the ``snapshot`` trait."""
        super().finish(error)
        seq, ops = self._sent_so_far()
        with self.hold_sync():
            self.snapshot = ops
            self.seq = seq
            self.state = self.timeline.state

    # -- page messages --------------------------------------------------------------------------

    def _on_page_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Runs on whichever thread the kernel hands the message to (a subshell's while a cell
        runs): it only sets flags and sends."""
        if not isinstance(content, dict):
            return
        self.page_seen()
        if content.get("stop"):
            self.request_stop()
        elif content.get("op") == "decide":  # Approve / Deny (see _approval)
            self.decided(content)
        elif content.get("op") == "sync":  # a page may have missed operations (see timeline.js)
            seq, ops = self._sent_so_far()
            if seq > _int(content.get("seq")):  # only what the page lacks
                self.send({"kind": "sync", "seq": seq, "ops": ops})
        elif content.get("op") == "closed":
            self.open_steps.discard(_int(content.get("step")))
        elif content.get("op") == "messages":
            step = _int(content.get("step"))
            self.open_steps.add(step)
            try:
                shown = render.page_messages(self.messages(step), step)  # each text capped, as saved
                reply = {"kind": "messages", "step": step, "messages": scrub_data(shown)}
            except UsageError as error:
                reply = {"kind": "messages", "step": step, "messages": [], "error": error.message}
            self.send(reply)

    # -- display --------------------------------------------------------------------------------

    def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the run, with ``widget=True`` the live view as well."""
        data, metadata = super().final_bundle()
        if widget:
            data[WIDGET_MIME] = widget_ref(self.model_id)
        return data, metadata

    def __repr__(self) -> str:
        return f"<TimelineView {self.timeline.summary()}>"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _asks_here(view: RunFeed, source: Any) -> None:
    """``approve=True``: this view asks — the timeline with its buttons (``input()`` if no page shows
    it), the plain one with ``input()`` (see :mod:`rlm_jupyter._approval`)."""
    run = getattr(source, "state", None)
    if getattr(run, "approver", None) is True:
        run.approver = view.ask
        view.timeline.asks = isinstance(view, TimelineView)


def display_agent(
    source: Any,
    *,
    model: str | None = None,
    steps: Any = None,
    started_at: float | None = None,
    widget: bool | None = None,
    keep_widget: bool = False,
    background: bool = False,
    replace: bool = False,
) -> TimelineView | PlainTimeline:
    """Show an agent run live in the cell's output and return the finished view.

    ``background=True`` (``%%rlm --agent --bg``; ``source`` must be ``agent.astream(task)``):
    return at once with the live view; the run goes on on the toolkit's loop thread while other
    cells run, ``view.task`` is its ``concurrent.futures.Future`` (``cancel()`` from any thread).

    ``source``: ``agent.stream(task)``, ``agent.astream(task)``, a ``replay(...)`` or any iterable
    of :class:`~rlm_toolkit.agents.AgentEvent`. Errors end up in the timeline (scrubbed), an
    interrupt stops it and propagates. ``steps`` defaults to ``source.history`` (agent streams)
    or the trace's steps (replays), for :meth:`TimelineView.messages`. When the run ends the
    widget is replaced by its static twin (``keep_widget=True`` keeps it in front). With no
    widget front end (``widget=False``, a terminal) a :class:`PlainTimeline` prints the run as it
    happens and is returned (``replace=True``: in a kernel, the printed lines are then swapped for
    the static twin, as :func:`~rlm_jupyter.stream_view.display_stream` does). Example::

        view = display_agent(agent.astream("What is 2 + 40?"))
        view.state, view.messages(1)
    """
    trace = getattr(source, "trace", None)
    if steps is None:
        steps = getattr(source, "history", None)
        if steps is None and trace is not None:
            steps = trace.steps
    if trace is not None:
        model = model or trace.model
        started_at = trace.created if started_at is None else started_at
    if hasattr(source, "history"):  # the agent's live list: read it when asked, it grows per step
        steps = (lambda s=source: s.history)
    run_started = getattr(getattr(source, "state", None), "started", None)  # an agent stream's RunState
    if started_at is None and isinstance(run_started, float):
        # The run's own start, which its trace also uses: a replay shows the same durations.
        started_at = time.time() - (time.perf_counter() - run_started)
    # A replay's elapsed time runs on the trace's clock (its own "now"), not on today's.
    clock = getattr(source, "clock", None)
    if not _display.use_widget(widget):
        plain = PlainTimeline(model, started_at=started_at, steps=steps, clock=clock)
        _asks_here(plain, source)
        return _display.run_plain(plain, source, replace=replace)
    view = TimelineView(model, started_at=started_at, steps=steps, stoppable=True, clock=clock)
    _asks_here(view, source)
    if background:
        view.task = _display.run_live(view, source, keep_widget=keep_widget, background=True)
        return view
    return _display.run_live(view, source, keep_widget=keep_widget)
