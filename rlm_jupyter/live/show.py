"""How a live view is shown, driven and replaced by its static twin: written once for the stream
widget and the agent timeline.

A view (:class:`~rlm_jupyter.stream.view.StreamView`, :class:`~rlm_jupyter.timeline.view.TimelineView`
and their plain stand-ins) has the drive interface of :mod:`rlm_jupyter.live.drive` (``feed``,
``due``, ``flush``, ``finish``, ``stopping``, ``on_stop``), ``live()``, ``summary()`` and
``final_bundle(widget=…)``. This module owns what happens around it:

- the policy: a widget where a widget front end can show it (:func:`use_widget`; a Jupyter
  kernel), else the view's plain stand-in, which prints as it goes;
- :func:`run_live`: display the widget, drive the source into it in this thread or, for
  ``--bg``, as a task on the toolkit's loop thread, then :func:`settle` — the display becomes the
  static bundle however the run ended;
- :func:`run_plain`: the same for a stand-in (``replace=True``: in a kernel, the printed lines
  are then swapped for the static bundle, so a saved notebook keeps the safe HTML);
- :class:`LiveDisplay`: the widgets' own mimebundle, and a view shown by its cell is not shown twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rlm_toolkit import _bridge

from .drive import adrive, drive
from .stop import hook_interrupt, register

__all__ = ["WIDGET_MIME", "widget_ref", "execution_count", "in_kernel", "has_widget_frontend", "use_widget",
           "LiveDisplay", "show", "settle", "release", "close_settled", "run_live", "run_plain"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def widget_ref(model_id: str) -> dict[str, Any]:
    """The ``application/vnd.jupyter.widget-view+json`` entry of a display of widget ``model_id``."""
    return {"version_major": 2, "version_minor": 1, "model_id": model_id}


def execution_count() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.execution_count


def in_kernel() -> bool:
    """A Jupyter kernel (a front end that shows rich outputs), not a terminal IPython or a script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def has_widget_frontend() -> bool:
    """Whether a live widget can be shown here: in a kernel. A kernel's front end that cannot render
    the widget still gets its ``text/plain`` (see :class:`rlm_jupyter.live.snapshots.Snapshots`)."""
    return in_kernel()


def use_widget(widget: bool | None) -> bool:
    """``widget`` as asked (``True`` / ``False``), or by :func:`has_widget_frontend` when ``None``."""
    return has_widget_frontend() if widget is None else widget


class LiveDisplay:
    """Display rules shared by the stream widget and the agent timeline (a base of the widget
    class, before ``anywidget.AnyWidget``, whose display it extends).

    While live, the display is the widget with a short ``text/plain``; once settled, the static
    ``final_bundle`` (the widget view first while the widget is open; a released one, see
    :func:`settle`, shows the static copy alone). A cell ending in ``display_stream(...)`` or
    ``display_agent(...)`` does not show the result twice (later cells may show it again).
    Subclasses provide ``live()``, ``summary()`` and ``final_bundle(widget=…)``, and the ``kind``
    word of their placeholder.
    """

    kind = "stream"
    _shown_in: int | None = None  # the execution count of the cell that displayed it
    _handle: Any = None  # that display, for updates (the stream's text/plain snapshots)

    if TYPE_CHECKING:  # what the view and anywidget.AnyWidget beside it provide
        model_id: str
        comm: Any

        def live(self) -> bool: ...
        def summary(self) -> str: ...
        def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if not self.live():
            return self.final_bundle(widget=self.comm is not None)  # a released widget: the static copy
        return self.live_bundle()

    #: A page other than the one that ran the cell asked for this widget (a reload, a second tab,
    #: a reopened notebook): it stays open (see :func:`release`).
    seen_late = False

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        """The widget's state; asked for whole once the widget is open, it goes to a page that
        came later (ipywidgets' ``request_state`` and ``request_states`` replies: the page that
        ran the cell got it in the ``comm_open``; trait changes ask for their keys), which marks
        the widget :attr:`seen_late`."""
        if key is None and self.comm is not None:
            self.seen_late = True
        return super().get_state(key, drop_defaults)  # type: ignore[misc]  # ipywidgets.Widget's, next in the MRO

    def close(self) -> None:
        """Close the widget and its ``Layout`` (a widget of its own, with its own comm, that every
        ipywidgets ``DOMWidget`` creates): their comms close (the page drops the models) and
        ipywidgets forgets them, so the kernel no longer holds them. What the view read stays
        readable (``answer``, ``response``, ``state``); displayed again, it shows its static copy."""
        layout = getattr(self, "layout", None)
        super().close()  # type: ignore[misc]  # ipywidgets.Widget's, next in the MRO
        if layout is not None:
            layout.close()
        # ipywidgets.Widget.close sets the instance's _repr_mimebundle_ to None (a closed widget
        # shows nothing); ours shows the static copy, so the class's method is put back.
        self.__dict__.pop("_repr_mimebundle_", None)

    def live_bundle(self, text: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        """The display while live: anywidget's own (the widget view; in Colab, the metadata that
        enables its widget manager), with ``text`` (else a placeholder) as its ``text/plain``."""
        data, metadata = super()._repr_mimebundle_()  # type: ignore[misc]  # anywidget.AnyWidget's, next in the MRO
        data["text/plain"] = text or f"<rlm {self.kind}: {self.summary()}>"
        return data, dict(metadata)

    def with_widget(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the widget view in front (``keep_widget``: the live widget stays shown)."""
        return {WIDGET_MIME: widget_ref(self.model_id), **data}

    def _ipython_display_(self) -> None:
        if self._shown_in is not None and self._shown_in == execution_count():
            return
        from IPython.display import display

        data, metadata = self._repr_mimebundle_() or ({}, {})
        display(data, metadata=metadata, raw=True)


def show(view: Any) -> Any:
    """Display ``view`` live in the cell's output (and, after it, the view's saved copy if it has
    one: ``copy_bundle``), remember it for ``%rlm stop``; the display handle."""
    from IPython.display import display

    data, metadata = view._repr_mimebundle_() or ({}, {})
    handle = view._handle = display(data, metadata=metadata, raw=True, display_id=True)
    copy = getattr(view, "copy_bundle", None)
    if copy is not None:  # the saved copy, right after the widget's output (its style relies on it)
        data, metadata = copy()
        view._copy_handle = display(data, metadata=metadata, raw=True, display_id=True)
    view._shown_in = execution_count()
    register(view)
    _hook_release()
    return handle


def settle(view: Any, handle: Any, keep_widget: bool, unsettled: BaseException,
           on_end: Callable[[Any], None] | None = None) -> None:
    """The end of every live display: a view the driver left live is settled with ``unsettled``,
    ``on_end(view)`` runs, the display becomes the static bundle (the widget first with
    ``keep_widget``), and then, unless ``keep_widget``, the widget is released (:func:`release`:
    closed when the next cell starts). In that order: whoever sees the static display can count
    on what ``on_end`` did (``-o`` is set when a ``--bg`` answer shows as ended), and the page
    has the static copy before its model goes.

    Closing releases the kernel's side of the widget (ipywidgets' registry of open widgets and
    the comm manager hold every widget until it is closed): a long session keeps no finished
    widget, only what its user keeps (``-o``, a returned view's text and Response)."""
    try:
        if view.live():
            view.finish(unsettled)
        if on_end is not None:
            on_end(view)
    finally:
        try:
            end_copy = getattr(view, "end_copy", None)
            if end_copy is not None:  # the saved copy empties first: the display's last word is the answer
                end_copy()
            if handle is not None:
                data, metadata = view.final_bundle(widget=keep_widget)
                handle.update(data, metadata=metadata, raw=True)
        finally:
            if not keep_widget:
                release(view)


_settled: list[Any] = []  # settled widgets waiting for the next cell to be closed
_settled_lock = threading.Lock()  # a --bg view settles on the toolkit's loop thread


def release(view: Any) -> None:
    """Close a settled view's widget (its comm and Layout; ipywidgets forgets them) when the next
    cell starts, or at once outside IPython.

    Not at once: a page reloaded while a cell runs asks for its widgets only when the cell has
    ended (a front end's ``comm_info`` request waits for the main shell), and must still find
    this one. A widget whose whole state a later page asked for (a reload, a second tab:
    ipywidgets' ``request_state`` / ``request_states``; :attr:`LiveDisplay.seen_late`) is never
    closed: the display update that put the static copy in place reached only the page
    that ran the cell, and closing the widget would blank the other page's output (JupyterLab
    hides an output whose widget view is removed)."""
    if not callable(getattr(view, "close", None)):
        return
    shell = _shell()
    if shell is None:
        view.close()
        return
    with _settled_lock:
        _settled.append(view)


def close_settled(*_info: Any) -> int:
    """Close the widgets settled so far (IPython's ``pre_run_cell`` calls it); how many."""
    with _settled_lock:
        views = _settled[:]
        _settled.clear()
    closed = 0
    for view in views:
        if not getattr(view, "seen_late", False) and view.comm is not None:
            try:
                view.close()
            except Exception:  # noqa: BLE001 - a comm that cannot say goodbye (a kernel shutting
                continue  # down) must not print an error into the user's next cell
            closed += 1
    return closed


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _hook_release() -> None:
    """Have the next cell close the widgets settled before it (once per shell; the main thread)."""
    shell = _shell()
    if shell is not None:
        shell.events.register("pre_run_cell", close_settled)  # registered once: IPython dedupes


def run_live(view: Any, source: Any, *, keep_widget: bool = False,
             on_end: Callable[[Any], None] | None = None, background: bool = False) -> Any:
    """Show ``view``, drive ``source`` into it and :func:`settle` the display (``on_end`` there).

    In the foreground, returns the settled view (an interrupt settles it ``stopped`` and
    propagates). ``background=True`` (``source`` an async iterable): the run is a task on the
    toolkit's loop thread, in a copy of this cell's context so its output lands here; returns
    the task's ``concurrent.futures.Future`` at once, which Stop, ``%rlm stop`` and ■ cancel.
    """
    handle = show(view)
    if not background:
        try:
            drive(view, source)
        finally:
            settle(view, handle, keep_widget, KeyboardInterrupt(), on_end)
        return view

    async def run() -> Any:
        try:
            await adrive(view, source)
        finally:
            settle(view, handle, keep_widget, asyncio.CancelledError(), on_end)
        return view

    task = _bridge.spawn(run)
    view.on_stop = task.cancel
    hook_interrupt()  # ■ while no cell runs stops background runs
    return task


def run_plain(view: Any, source: Any, *, on_end: Callable[[Any], None] | None = None,
              replace: bool = False, background: bool = False) -> Any:
    """Drive ``source`` into a plain stand-in (it prints as it goes) and return it, settled.

    ``replace=True`` (a ``--no-widget`` cell in a kernel, whose only output is this run): the
    printed text is then replaced by the static bundle, so the saved notebook keeps the markdown,
    the safe HTML and the provenance. In a terminal the printed text stays as it is.
    ``background=True`` (``--bg --no-widget``; ``source`` an async iterable): as :func:`run_live`'s,
    a task on the toolkit's loop thread printing into this cell's output; returns its future, which
    ``%rlm stop`` and ■ cancel. The printed text stays (the cell has returned: nothing to replace).
    """
    if background:
        async def run() -> Any:
            try:
                await adrive(view, source)
            finally:
                if view.live():
                    view.finish(asyncio.CancelledError())
                if on_end is not None:
                    on_end(view)
            return view

        register(view)
        task = _bridge.spawn(run)
        view.on_stop = task.cancel
        hook_interrupt()
        return task
    try:
        drive(view, source)
    finally:
        if view.live():
            view.finish(KeyboardInterrupt())
        if replace and in_kernel():
            from IPython.display import clear_output, display

            data, metadata = view.final_bundle()
            clear_output(wait=True)
            display(data, metadata=metadata, raw=True)
        if on_end is not None:
            on_end(view)
    return view
