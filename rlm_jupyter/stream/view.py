"""The live answer widget: text grows in place, only new text crosses the wire.

::

    from rlm_jupyter import display_stream
    view = display_stream(rlm.stream("Tell a story"))      # or rlm.astream(...), or any iterable of str
    view.text, view.response.tokens_per_second

The kernel sends each frame's new text as one custom message (``{"d": …, "o": offset}``; at most
~30 a second, none held longer than a frame, see :mod:`rlm_jupyter._coalesce`); the page appends it
and renders markdown safely (``static/markdown.js``). A reasoning model's thinking travels the same
way (``{"r": …, "ro": offset}``, in the same frames) into a "Thinking" section above the answer,
shown as plain text, that folds when the answer starts; the static copy keeps it in a folded
``<details>``. A view that appears mid-stream (a reload, a second tab) gets the whole text (and
reasoning) so far in the widget's state and continues from the offsets. The
display's ``text/plain`` is refreshed now and then (:class:`rlm_jupyter._live.Snapshots`), so a
notebook saved mid-stream keeps the text so far and a front end without widgets sees it grow. When
the stream ends the display is replaced by a static bundle — safe ``text/html`` with the same
classes, ``text/markdown``, ``text/plain`` and the provenance (``Response.to_dict()``) in the
output's metadata. Errors end the stream with one scrubbed line and the partial text kept; the Stop
button and an interrupt mark it ``stopped``.

``--bg`` streams run on the toolkit's own loop thread (:func:`rlm_toolkit._bridge.spawn`) and send
their frames from there, so they keep going while the kernel's main thread runs other cells. A Stop
click reaches the kernel on a subshell thread (JupyterLab ≥ 4.4 with ipykernel 7) and only sets a
flag and cancels the producer, from that thread: nothing waits for the main thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from rlm_toolkit.errors import scrub
from rlm_toolkit.response import Response

from . import _display, _live, render
from ._coalesce import FRAME
from ._display import WIDGET_MIME, LiveDisplay, widget_ref
from ._drive import adrive, drive
from ._feeds import TextFeed
from ._live import error_line
from ._plain import PlainStream

__all__ = ["StreamView", "PlainStream", "display_stream", "adisplay_stream",
           "start_background", "drive", "adrive", "error_line", "FRAME", "WIDGET_MIME"]

_STATIC = Path(__file__).parent / "static"


def _esm() -> str:
    """markdown.js in front of stream.js: anywidget modules cannot import files beside them.

    anywidget sends ``_esm`` with every widget instance (it is a synced trait), so comment lines
    and indentation are dropped to keep each display's fixed cost small (benchmarks/widget_wire.py).
    """
    source = "\n".join((_STATIC / name).read_text(encoding="utf-8") for name in ("markdown.js", "stream.js"))
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


class StreamView(LiveDisplay, TextFeed, anywidget.AnyWidget):
    """The widget. ``feed(chunk)`` / ``flush()`` / ``finish()`` drive it; :func:`display_stream` does all."""

    _esm = _esm()
    _css = (_STATIC / "stream.css").read_text(encoding="utf-8")
    text = traitlets.Unicode("").tag(sync=True)
    thinking = traitlets.Unicode("").tag(sync=True)  # the reasoning, kept like ``text``
    state = traitlets.Unicode("streaming").tag(sync=True)
    model_name = traitlets.Unicode("").tag(sync=True)  # the language model (model_id is the comm's)
    fmt = traitlets.Unicode("markdown").tag(sync=True)
    info = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    stoppable = traitlets.Bool(False).tag(sync=True)  # a Stop button where a driver can act on it
    # Only ever filled in get_state (never set while streaming, so it costs no message): what a
    # view that appears mid-stream needs to show the right counts and rate.
    progress = traitlets.Dict().tag(sync=True)

    def __init__(self, model: str | None = None, *, fmt: str = "markdown", frame: float = FRAME,
                 response: Response | None = None, stoppable: bool = False,
                 save_every: float | None = None) -> None:
        if fmt not in render.FORMATS:
            raise ValueError(f"fmt must be one of {', '.join(render.FORMATS)}, not {fmt!r}")
        self._start(model, frame, response)
        self._sent = 0  # UTF-16 code units sent in deltas: the offset of the next one
        self._thought_sent = 0  # the same for the reasoning
        super().__init__(model_name=model or "", fmt=fmt, stoppable=stoppable)
        self._sent_first = False
        self._view_ids: set[str] = set()  # views that told the kernel they rendered
        self._snapshots = _live.Snapshots(seen_spacing=save_every)
        self.on_msg(self._on_page_message)
        _live.answer_where_sent(self)

    # -- driving --------------------------------------------------------------------------------

    def _emit(self, delta: str | None, thought: str | None = None) -> None:
        message: dict[str, Any] = {"n": self.response.tokens}
        if thought is not None:
            message["r"], message["ro"] = thought, self._thought_sent
            self._thought_sent += _js_length(thought)
        if delta is not None:
            message["d"], message["o"] = delta, self._sent
            self._sent += _js_length(delta)
        first = self.response.first_token_at
        if first is not None:
            message["e"] = round(time.perf_counter() - first, 4)
        if not self._sent_first:
            self._sent_first = True
            if self.response.ttft is not None:
                message["t"] = round(self.response.ttft, 4)
        self.send(message)
        self._maybe_snapshot()

    def _maybe_snapshot(self) -> None:
        """Refresh the display's text/plain copy when :class:`~rlm_jupyter._live.Snapshots` says so."""
        if self._handle is None:
            return
        length = self.coalescer.chars  # the text sent so far (kept by the coalescer, O(1))
        if self._snapshots.due(length, seen=self.views > 0):
            self._snapshots.taken(length)
            data, metadata = self.live_bundle()
            self._handle.update(data, metadata=metadata, raw=True)

    @property
    def views(self) -> int:
        """How many page views have said they render this widget."""
        return len(self._view_ids)

    def live_bundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The display while streaming: the widget, and the text so far as ``text/plain``."""
        text = scrub("".join(self._parts))
        data = {"text/plain": text or f"<rlm {self.kind}: {self.summary()}>",
                WIDGET_MIME: widget_ref(self.model_id)}
        partial = {"kind": "stream", "state": "streaming", "partial": True}
        return data, {**_live.widget_metadata(), "rlm": partial}

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        """The synced state; while streaming, ``text`` is the whole text so far (the page builds it
        from deltas, the kernel does not sync it per frame), so a view that appears mid-stream
        (reload, second tab) starts complete and continues from the deltas' offsets."""
        state = super().get_state(key, drop_defaults)
        if getattr(self, "_parts", None) is not None and self.state == "streaming":
            with self._lock:
                if "text" in state:
                    state["text"] = "".join(self._parts)
                if "thinking" in state:
                    state["thinking"] = "".join(self._thought)
                if "progress" in state:
                    response = self.response
                    first = response.first_token_at
                    state["progress"] = {
                        "n": response.tokens,
                        "t": None if response.ttft is None else round(response.ttft, 4),
                        "e": None if first is None else round(time.perf_counter() - first, 4),
                    }
        return state

    def finish(self, error: BaseException | None = None) -> None:
        """Send what is left, settle the state (done / stopped / error) and keep the whole text."""
        self.flush(force=True)
        self.response.settle(error)
        text, thought = "".join(self._parts), "".join(self._thought)
        with self.hold_sync():
            self.info = self.provenance()
            if error is not None and self.response.state == "error":
                self.error = error_line(error)
            self.state = self.response.state if self.response.state != "streaming" else "done"
        with self._lock_property(text=text, thinking=thought):  # the page already has them: not re-sent
            self.text, self.thinking = text, thought
        self.send({"end": _js_length(text), **({"thought": _js_length(thought)} if thought else {})})

    # -- page messages --------------------------------------------------------------------------

    def _on_page_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Runs on whichever thread the kernel hands the message to: a subshell's while a cell
        runs (JupyterLab ≥ 4.4, ipykernel 7). It only sets flags and sends; it never waits."""
        if not isinstance(content, dict):
            return
        if content.get("stop"):
            self.request_stop()
        elif "resync" in content:  # a page missed deltas; it may say how much it holds
            held, held_thought = content["resync"], content.get("thinking", 0)
            with self._lock:
                text, thought = "".join(self._parts), "".join(self._thought)
                if (held is True or not isinstance(held, int) or _js_length(text) > held
                        or not isinstance(held_thought, int) or _js_length(thought) > held_thought):
                    self.send({"text": text, **({"thinking": thought} if thought else {})})
        elif content.get("rendered"):
            self._view_ids.add(str(content["rendered"]))

    # -- display --------------------------------------------------------------------------------

    def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the answer, with ``widget=True`` the live view first."""
        data, metadata = super().final_bundle()
        if widget:
            data = {WIDGET_MIME: widget_ref(self.model_id), **data}
        return data, metadata

    def __repr__(self) -> str:
        return f"<StreamView {self.summary()}>"


def _js_length(text: str) -> int:
    """``text.length`` as JavaScript counts it (UTF-16 code units), for the page's end-of-stream check."""
    return len(text.encode("utf-16-le")) // 2


def display_stream(
    source: Any,
    *,
    model: str | None = None,
    fmt: str = "markdown",
    widget: bool | None = None,
    on_end: Callable[[StreamView], None] | None = None,
    keep_widget: bool = False,
    replace: bool = False,
    save_every: float | None = None,
) -> StreamView:
    """Show a stream live in the cell's output and return the finished view.

    ``source``: ``rlm.stream(...)``, ``rlm.astream(...)``, ``rlm.stream_events(...)``, a trace
    replay, or any iterable / async iterable of ``str``. ``widget=False`` (or a front end without
    widgets) streams plain text to stdout instead, through :class:`PlainStream` (``replace=True``:
    then swaps it in a kernel for the static answer; only for cells whose sole output is this
    answer, as ``%%rlm``'s). ``on_end(view)`` runs once the stream has settled. Example::

        view = display_stream(rlm.astream("Explain SSE"), fmt="markdown")
        view.answer, view.state, view.response.to_dict()
    """
    model = model or _model_of(source)
    if not _display.use_widget(widget):
        return _display.run_plain(PlainStream(model, fmt=fmt), source, on_end=on_end, replace=replace)
    view = StreamView(model, fmt=fmt, stoppable=True, save_every=save_every)
    return _display.run_live(view, source, keep_widget=keep_widget, on_end=on_end)


async def adisplay_stream(
    source: Any, *, model: str | None = None, fmt: str = "markdown",
    on_end: Callable[[StreamView], None] | None = None, keep_widget: bool = False,
) -> StreamView:
    """Async twin of :func:`display_stream`, for ``await`` in a cell: the stream runs on the
    toolkit's loop thread, the Stop button works, and the finished view is returned::

        view = await adisplay_stream(rlm.astream("Explain SSE"))
    """
    view, task = start_background(source, model=model, fmt=fmt, on_end=on_end, keep_widget=keep_widget)
    try:
        return await asyncio.wrap_future(task)
    except asyncio.CancelledError:
        task.cancel()  # the awaiting cell was interrupted: stop the stream too
        raise


def start_background(
    source: Any, *, model: str | None = None, fmt: str = "markdown",
    on_end: Callable[[StreamView], None] | None = None, keep_widget: bool = False,
    save_every: float | None = None,
) -> tuple[StreamView, Any]:
    """Show ``source`` (an async iterable) live while the cell returns; the Stop button cancels it.

    Runs as a task on the toolkit's own loop thread, not the kernel's: it keeps streaming while
    other cells run (CPU-bound or sleeping), and its output goes to the cell that started it (the
    task runs in that cell's context). Returns the view and the task's ``concurrent.futures.Future``
    (``.done()``, ``.cancel()`` from any thread).
    """
    view = StreamView(model or _model_of(source), fmt=fmt, stoppable=True, save_every=save_every)
    return view, _display.run_live(view, source, keep_widget=keep_widget, on_end=on_end, background=True)


def _model_of(source: Any) -> str | None:
    response = getattr(source, "response", None)
    if isinstance(response, Response):
        return response.model_id
    trace = getattr(source, "trace", None)
    return getattr(trace, "model", None)
