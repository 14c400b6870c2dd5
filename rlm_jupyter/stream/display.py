"""Show an answer stream: the widget where a front end can show one, else printed; in the
foreground, from ``await``, or in the background (``--bg``).

::

    from rlm_jupyter import display_stream
    view = display_stream(rlm.stream("Tell a story"))      # or rlm.astream(...), or any iterable of str
    view.answer, view.response.tokens_per_second

``--bg`` streams run on the toolkit's own loop thread (:func:`rlm_toolkit._bridge.spawn`, through
:func:`rlm_jupyter.live.show.run_live`) and send their frames from there, so they keep going while
the kernel's main thread runs other cells.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rlm_toolkit.response import Response

from ..live import show
from .object import OBJECT
from .plain import PlainStream
from .view import ObjectStreamView, StreamView

__all__ = ["display_stream", "adisplay_stream", "start_background"]


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
    show_error: bool = True,
    prompt: str = "",
    unwrap: bool | None = None,
) -> StreamView:
    """Show a stream live in the cell's output and return the finished view.

    ``source``: ``rlm.stream(...)``, ``rlm.astream(...)``, ``rlm.stream_events(...)``, a trace
    replay, or any iterable / async iterable of ``str``. ``widget=False`` (or a front end without
    widgets) streams plain text to stdout instead, through :class:`PlainStream` (``replace=True``:
    then swaps it in a kernel for the static answer; only for cells whose sole output is this
    answer, as ``%%rlm``'s). ``on_end(view)`` runs once the stream has settled. The widget is
    then replaced by the static copy and closed when the next cell starts, so the kernel does not
    hold it (``keep_widget=True`` keeps it open, in front of the copy; see
    :func:`rlm_jupyter.live.show.release`); the returned view keeps ``answer`` and ``response``.
    ``show_error=False``: a failure's line is left to the caller, which reports it (``%%rlm``
    fails its cell with it), so it is shown once; the footer still says ``error``. ``fmt="object"``: a
    typed answer's JSON as a tree; ``unwrap``: it is ``{"value": …}`` (None: as the source's request
    says). ``prompt``: what
    was sent, as text (:func:`~rlm_jupyter.stream.feed.prompt_text`), shown in a folded "Prompt".
    Example::

        view = display_stream(rlm.astream("Explain SSE"), fmt="markdown")
        view.answer, view.state, view.response.to_dict()
    """
    model = model or _model_of(source)
    unwrap = _unwraps(source) if unwrap is None else unwrap
    view: StreamView | PlainStream
    if not show.use_widget(widget):
        view = _plain(model, fmt, source, prompt)
        view.unwrap = unwrap
        view.error_shown = show_error
        return show.run_plain(view, source, on_end=on_end, replace=replace)
    view = _view_class(fmt)(model, fmt=fmt, stoppable=True, save_every=save_every, prompt=prompt,
                            unwrap=unwrap)
    view.error_shown = show_error
    return show.run_live(view, source, keep_widget=keep_widget, on_end=on_end)


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
    on_end: Callable[[Any], None] | None = None, keep_widget: bool = False,
    save_every: float | None = None, widget: bool | None = True, prompt: str = "",
) -> tuple[StreamView | PlainStream, Any]:
    """Show ``source`` (an async iterable) live while the cell returns; the Stop button cancels it.

    Runs as a task on the toolkit's own loop thread, not the kernel's: it keeps streaming while
    other cells run (CPU-bound or sleeping), and its output goes to the cell that started it (the
    task runs in that cell's context). Returns the view and the task's ``concurrent.futures.Future``
    (``.done()``, ``.cancel()`` from any thread). ``widget=False`` (``None``: where no front end can
    show a widget) prints the text instead, through :class:`PlainStream`; ``%rlm stop`` stops it too.
    """
    model = model or _model_of(source)
    if not show.use_widget(widget):
        plain = _plain(model, fmt, source, prompt)
        return plain, show.run_plain(plain, source, on_end=on_end, background=True)
    view = _view_class(fmt)(model, fmt=fmt, stoppable=True, save_every=save_every, prompt=prompt,
                            unwrap=_unwraps(source))
    return view, show.run_live(view, source, keep_widget=keep_widget, on_end=on_end, background=True)


def _view_class(fmt: str) -> type[StreamView]:
    """The widget for ``fmt``: a typed answer's (``"object"``) carries the tree's code too."""
    return ObjectStreamView if fmt == OBJECT else StreamView


def _unwraps(source: Any) -> bool:
    """Whether a typed call's JSON comes wrapped as ``{"value": …}`` (its request's schema says):
    the tree of ``fmt="object"`` then shows the value (stream/object.py)."""
    schema = getattr(getattr(source, "request", None), "schema", None)
    return bool(getattr(schema, "wrapped", False))


def _plain(model: str | None, fmt: str, source: Any, prompt: str = "") -> PlainStream:
    plain = PlainStream(model, fmt=fmt, prompt=prompt)
    plain.unwrap = _unwraps(source)  # for its static twin, as the widget's trait
    return plain


def _model_of(source: Any) -> str | None:
    response = getattr(source, "response", None)
    if isinstance(response, Response):
        return response.model_id
    trace = getattr(source, "trace", None)
    return getattr(trace, "model", None)
