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

import threading
import time
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from rlm_toolkit.errors import UsageError, scrub_data

from . import _live
from ._approval import Approvals
from ._coalesce import FRAME, Coalescer
from ._timeline_model import TimelineModel, merge_ops, timeline_html
from ._drive import adrive, drive
from .stream_view import WIDGET_MIME, ShownOnce, _execution_count, _has_widget_frontend

__all__ = ["TimelineView", "display_agent", "drive", "FRAME"]

_STATIC = Path(__file__).parent / "static"


def _esm() -> str:
    """markdown.js (the shared safe renderer) in front of timeline.js: one module, no imports."""
    return "\n".join((_STATIC / name).read_text(encoding="utf-8") for name in ("markdown.js", "timeline.js"))


class TimelineView(ShownOnce, _live.Stoppable, Approvals, anywidget.AnyWidget):
    """The widget: ``apply(event)`` / ``flush()`` / ``finish()`` drive it; :func:`display_agent` does all."""

    _esm = _esm()
    _css = (_STATIC / "timeline.css").read_text(encoding="utf-8")
    state = traitlets.Unicode("running").tag(sync=True)
    snapshot = traitlets.List().tag(sync=True)
    seq = traitlets.Int(0).tag(sync=True)  # the last message's number, synced with the snapshot only
    stoppable = traitlets.Bool(False).tag(sync=True)  # a Stop button where a driver can act on it

    def __init__(self, model: str | None = None, *, started_at: float | None = None, steps: Any = None,
                 frame: float = FRAME, stoppable: bool = False, clock: Any = None) -> None:
        self.timeline = TimelineModel(model, started_at=started_at, clock=clock)
        self._ops: list[dict[str, Any]] = []  # every operation sent so far but headers, for the snapshot
        self._seq = 0
        self._lock = threading.RLock()  # the page's requests come on other threads than the events
        # The header is in the state from the start: a view shows "running · model" at once.
        super().__init__(snapshot=[self.timeline.header()], stoppable=stoppable)
        self.coalescer = Coalescer(frame)  # paces the messages; the operations wait in _pending
        self._steps = steps
        self._pending: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._shown_in: int | None = None
        self._init_stop()
        self._init_approvals()
        self.open_steps: set[int] = set()  # steps whose messages a page has open (kept open when static)
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

    def apply(self, event: Any, now: float | None = None) -> None:
        """Fold one :class:`~rlm_toolkit.agents.AgentEvent` in; its operations leave when their frame is
        due."""
        if self._stop.is_set():
            return
        with self._lock:
            self._pending.extend(self.timeline.apply(event))
            self.coalescer.push("·", now)
        if not self.timeline.model and self._steps is not None:
            self.timeline.model = _model_from(self._steps)
        if self.coalescer.due(now) == 0.0:
            self.flush(now)

    feed = apply  # the name the shared drive loops (rlm_jupyter._drive) feed by

    def due(self, now: float | None = None) -> float | None:
        """Seconds until the pending operations must be sent (None: nothing pending)."""
        return self.coalescer.due(now)

    def flush(self, now: float | None = None, *, force: bool = False) -> None:
        """Send the pending operations as one custom message, if their frame is due (or ``force``)."""
        with self._lock:
            if self.coalescer.take(now, force=force) is None or not self._pending:
                return
            ops = merge_ops(self._pending)
            self._pending = []
            self._ops.extend(op for op in ops if op["op"] != "header")
            self._seq += 1  # not the trait: a trait change would be one more message per frame
            self.send({"seq": self._seq, "ops": ops})

    @property
    def sent_messages(self) -> int:
        return self.coalescer.messages

    def finish(self, error: BaseException | None = None) -> None:
        """Settle the state, send what is left, and keep the whole run in the ``snapshot`` trait."""
        self.error = error if isinstance(error, Exception) else None
        self.end_approvals("the run ended before anyone decided")
        with self._lock:
            self._pending.extend(self.timeline.end(error))
            self.coalescer.push("·")
        self.flush(force=True)
        seq, ops = self._sent_so_far()
        with self.hold_sync():
            self.snapshot = ops
            self.seq = seq
            self.state = self.timeline.state

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
                reply = {"kind": "messages", "step": step, "messages": scrub_data(self.messages(step))}
            except UsageError as error:
                reply = {"kind": "messages", "step": step, "messages": [], "error": error.message}
            self.send(reply)

    # -- display --------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self.timeline.text()

    @property
    def markdown(self) -> str:
        return self.timeline.markdown()

    def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the run: safe HTML (steps' messages in ``<details>``), markdown, text."""
        data: dict[str, Any] = {
            "text/plain": self.text,
            "text/markdown": self.markdown,
            "text/html": timeline_html(self.timeline, self.all_messages(), open_steps=self.open_steps),
        }
        if widget:
            data[WIDGET_MIME] = {"version_major": 2, "version_minor": 1, "model_id": self.model_id}
        header = {k: v for k, v in self.timeline.header().items() if k != "op"}
        return data, {"rlm": {"kind": "agent", **header}}

    kind = "agent"

    def live(self) -> bool:
        return self.timeline.state == "running"

    def summary(self) -> str:
        return self.timeline.summary()

    def __repr__(self) -> str:
        return f"<TimelineView {self.timeline.summary()}>"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


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


def display_agent(
    source: Any,
    *,
    model: str | None = None,
    steps: Any = None,
    started_at: float | None = None,
    widget: bool | None = None,
    keep_widget: bool = False,
    background: bool = False,
) -> TimelineView:
    """Show an agent run live in the cell's output and return the finished view.

    ``background=True`` (``%%rlm --agent --bg``; ``source`` must be ``agent.astream(task)``):
    return at once with the live view; the run goes on on the toolkit's loop thread while other
    cells run, ``view.task`` is its ``concurrent.futures.Future`` (``cancel()`` from any thread).

    ``source``: ``agent.stream(task)``, ``agent.astream(task)``, a ``replay(...)`` or any iterable
    of :class:`~rlm_toolkit.agents.AgentEvent`. Errors end up in the timeline (scrubbed), an
    interrupt stops it and propagates. ``steps`` defaults to ``source.history`` (agent streams)
    or the trace's steps (replays), for :meth:`TimelineView.messages`. When the run ends the
    widget is replaced by its static twin (``keep_widget=True`` keeps it in front); with no
    widget front end (``widget=False``, a terminal) the run is printed as it happens. Example::

        view = display_agent(agent.astream("What is 2 + 40?"))
        view.state, view.messages(1)
    """
    from IPython.display import display

    from rlm_toolkit import _bridge

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
    view = TimelineView(model, started_at=started_at, steps=steps, stoppable=True,
                        clock=getattr(source, "clock", None))
    run = getattr(source, "state", None)
    asks = getattr(run, "approver", None) is True  # approve=True: this view asks (see _approval)
    if asks:
        run.approver = view.ask
    if not (_has_widget_frontend() if widget is None else widget):
        view.page_wait = 0.0  # no buttons: straight to input()
        return _print_run(view, source)
    view.timeline.asks = asks
    data, metadata = view._repr_mimebundle_() or ({}, {})
    handle = display(data, metadata=metadata, raw=True, display_id=True)
    view._shown_in = _execution_count()
    _live.register(view)
    if background:
        async def run() -> TimelineView:
            try:
                await adrive(view, source)
            finally:
                _live.settle(view, handle, keep_widget, KeyboardInterrupt())
            return view

        view.task = _bridge.spawn(run)
        view.on_stop = view.task.cancel
        _live.hook_interrupt()  # ■ while no cell runs stops background runs
        return view
    try:
        drive(view, source)
    finally:
        _live.settle(view, handle, keep_widget, KeyboardInterrupt())
    return view


def _print_run(view: TimelineView, source: Any) -> TimelineView:
    """No widgets: each frame's operations are printed as lines (and streamed text) on stdout."""
    import sys

    original = view.send
    streamed: set[int] = set()

    def line(text: str) -> None:
        sys.stdout.write(text)

    def to_stdout(message: dict[str, Any], *_args: Any) -> None:
        for op in message.get("ops", ()):
            kind = op["op"]
            if kind == "step":
                line(f"\n[step {op['step']}]\n")
            elif kind == "live":
                streamed.add(op["step"])
                line(op["delta"])
            elif kind == "thought" and op["step"] not in streamed:
                line(f"Thought: {op['text']}\n")
            elif kind == "action":
                line(f"\n-> {op['tool']}({' '.join(op['args'].split())})\n")
            elif kind == "observation":
                text = op["text"] if len(op["text"]) <= 300 else op["text"][:300] + "…"
                line(f"<- {'error: ' if op['error'] else ''}{text}\n")
            elif kind == "approval" and op["state"] != "pending":
                line(f"   {op['state']}{': ' + op['reason'] if op['reason'] else ''}\n")
            elif kind == "error":
                line(f"! {op['text']}\n")
            elif kind == "final" and op["step"] not in streamed:
                line(f"Answer: {op['text']}\n")
        sys.stdout.flush()

    view.send = to_stdout  # type: ignore[method-assign]
    try:
        drive(view, source)
    finally:
        if view.timeline.state == "running":
            view.finish(KeyboardInterrupt())
        view.send = original  # type: ignore[method-assign]
        sys.stdout.write(f"\n[{view.timeline.summary()}]\n")
        sys.stdout.flush()
    return view

