"""The live agent timeline: an anywidget that grows in place as an agent thinks and acts.

::

    from rlm_jupyter import display_agent
    view = display_agent(agent.astream("What is 2 + 40?"))   # or agent.stream(...), or replay(...)
    view.messages(2)                                          # what the model was sent at step 2

The kernel folds events with :class:`~rlm_jupyter._timeline_model.TimelineModel` and sends only
the operations that grow the page (text deltas, new rows), joined per frame (at most ~30
messages a second, none held longer than a frame). When the run ends the widget holds every
operation in its ``snapshot`` trait and the display is updated with a ``text/plain`` and a
``text/markdown`` transcript, so a saved notebook shows the run without the widget.
"""

from __future__ import annotations

import inspect
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from rlm_toolkit import _bridge
from rlm_toolkit.errors import UsageError, scrub

from ._timeline_model import TimelineModel, merge_ops

__all__ = ["TimelineView", "display_agent", "FRAME"]

#: Seconds between two messages to the page: ≤ 30 messages a second, no operation waits longer.
FRAME = 1 / 30
_STATIC = Path(__file__).parent / "static"


def _esm() -> str:
    """timeline.js, with the shared safe markdown renderer in front of it when it is there."""
    parts = [p.read_text(encoding="utf-8") for p in (_STATIC / "markdown.js", _STATIC / "timeline.js") if p.exists()]
    return "\n".join(parts)


class TimelineView(anywidget.AnyWidget):
    """The widget. ``apply(event)`` / ``flush()`` / ``finish()`` drive it; :func:`display_agent` does all three."""

    _esm = _esm()
    _css = _STATIC / "timeline.css"
    state = traitlets.Unicode("running").tag(sync=True)
    snapshot = traitlets.List().tag(sync=True)
    seq = traitlets.Int(0).tag(sync=True)

    def __init__(self, model: str | None = None, *, started_at: float | None = None, steps: Any = None) -> None:
        super().__init__()
        self.timeline = TimelineModel(model, started_at=started_at)
        self._steps = steps
        self._ops: list[dict[str, Any]] = []  # every operation sent so far but headers, for the snapshot
        self._pending: list[dict[str, Any]] = []
        self.last_sent = 0.0
        self.sent_messages = 0
        self.error: BaseException | None = None
        self._shown_in: int | None = None
        self.on_msg(self._on_page_message)

    # -- driving --------------------------------------------------------------------------------

    def apply(self, event: Any) -> None:
        """Fold one :class:`~rlm_toolkit.agents.AgentEvent` in; its operations wait for the next flush."""
        self._pending.extend(self.timeline.apply(event))
        if not self.timeline.model and self._steps is not None:
            self.timeline.model = _model_from(self._steps)

    def due(self, now: float | None = None) -> float | None:
        """Seconds until the pending operations must be sent (None: nothing pending)."""
        if not self._pending:
            return None
        now = time.perf_counter() if now is None else now
        return max(0.0, self.last_sent + FRAME - now)

    def flush(self, now: float | None = None) -> None:
        """Send the pending operations as one custom message."""
        if not self._pending:
            return
        ops = merge_ops(self._pending)
        self._pending = []
        self._ops.extend(op for op in ops if op["op"] != "header")
        self.seq += 1
        self.send({"seq": self.seq, "ops": ops})
        self.sent_messages += 1
        self.last_sent = time.perf_counter() if now is None else now

    def finish(self, error: BaseException | None = None) -> None:
        """Settle the state, send what is left, and keep the whole run in the ``snapshot`` trait."""
        self.error = error if isinstance(error, Exception) else None
        self._pending.extend(self.timeline.end(error))
        self.flush()
        with self.hold_sync():
            self.snapshot = [*merge_ops(self._ops), self.timeline.header()]
            self.state = self.timeline.state

    # -- inspecting -----------------------------------------------------------------------------

    def messages(self, step: int) -> list[dict[str, Any]]:
        """The exact messages sent to the model at ``step`` (1-based)."""
        steps = self._steps() if callable(self._steps) else self._steps
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

    def _on_page_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("op") == "messages":
            step = int(content.get("step", 0))
            try:
                reply = {"kind": "messages", "step": step, "messages": _scrubbed(self.messages(step))}
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

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        running = self.timeline.state == "running"
        data["text/plain"] = f"Agent run: {self.timeline.summary()}" if running else self.text
        if not running:
            data["text/markdown"] = self.markdown
        metadata = {**(metadata or {}), "rlm": {"kind": "agent", **{k: v for k, v in
                                                   self.timeline.header().items() if k != "op"}}}
        return data, metadata

    def _ipython_display_(self) -> None:
        """Shown once: a cell ending in ``display_agent(...)`` does not show the timeline twice."""
        if self._shown_in is not None and self._shown_in == _execution_count():
            return
        from IPython.display import display

        data, metadata = self._repr_mimebundle_() or ({}, {})
        display(data, metadata=metadata, raw=True)

    def __repr__(self) -> str:
        return f"<TimelineView {self.timeline.summary()}>"


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {str(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(v) for v in value]
    return value if value is None or isinstance(value, (bool, int, float)) else scrub(repr(value))


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


def _puller(source: Any) -> tuple[Callable[[float | None], Any], Callable[[], None]]:
    """``pull(timeout)`` for any event source (raises ``queue.Empty`` / ``StopIteration``) and a closer.

    Sources with ``next(timeout)`` (agent streams, replays, RLM event streams) are used as they
    are; async iterators run on the toolkit's bridge loop; a plain iterator is pulled without a
    deadline (its pauses delay the frame).
    """
    nxt = getattr(source, "next", None)
    if callable(nxt) and "timeout" in inspect.signature(nxt).parameters:
        return nxt, getattr(source, "close", lambda: None)
    if hasattr(source, "__aiter__"):
        bridged = _bridge.iterate_sync(lambda: source)
        return bridged.get, bridged.close
    iterator = iter(source)
    return (lambda _timeout: next(iterator)), getattr(source, "close", lambda: None)


def drive(view: TimelineView, source: Any) -> TimelineView:
    """Feed ``source``'s events into ``view`` with per-frame flushes; settle it however it ends."""
    pull, close = _puller(source)
    error: BaseException | None = None
    try:
        while True:
            wait = view.due()
            try:
                event = pull(wait)
            except queue.Empty:
                view.flush()
                continue
            except StopIteration:
                break
            view.apply(event)
            if view.due() == 0.0:
                view.flush()
    except BaseException as exc:
        error = exc
        try:
            close()
        except Exception:
            pass
    view.finish(error)
    if error is not None and not isinstance(error, Exception):
        raise error
    return view


def display_agent(
    source: Any, *, model: str | None = None, steps: Any = None, started_at: float | None = None
) -> TimelineView:
    """Show an agent run live in the cell's output and return the finished view.

    ``source``: ``agent.stream(task)``, ``agent.astream(task)``, a ``replay(...)`` or any iterable
    of :class:`~rlm_toolkit.agents.AgentEvent`. Errors end up in the timeline (scrubbed), an
    interrupt stops it and propagates. ``steps`` defaults to ``source.history`` (agent streams)
    or the trace's steps (replays), for :meth:`TimelineView.messages`.
    """
    from IPython.display import display

    if steps is None:
        steps = getattr(source, "history", None)
        trace = getattr(source, "trace", None)
        if steps is None and trace is not None:
            steps = trace.steps
            model = model or trace.model
            started_at = trace.created if started_at is None else started_at
    if steps is not None and not callable(steps) and hasattr(source, "history"):
        steps = (lambda s=source: s.history)
    view = TimelineView(model, started_at=started_at, steps=steps)
    data, metadata = view._repr_mimebundle_() or ({}, {})
    handle = display(data, metadata=metadata, raw=True, display_id=True)
    view._shown_in = _execution_count()
    try:
        drive(view, source)
    finally:
        if handle is not None:
            data, metadata = view._repr_mimebundle_() or ({}, {})
            handle.update(data, metadata=metadata, raw=True)
    return view


def _execution_count() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.execution_count
