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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rlm_toolkit import _bridge

from .drive import adrive, drive
from .stop import hook_interrupt, register

__all__ = ["WIDGET_MIME", "widget_ref", "execution_count", "in_kernel", "has_widget_frontend", "use_widget",
           "LiveDisplay", "show", "settle", "run_live", "run_plain"]

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
    ``final_bundle`` (the widget view first). A cell ending in ``display_stream(...)`` or
    ``display_agent(...)`` does not show the result twice (later cells may show it again).
    Subclasses provide ``live()``, ``summary()`` and ``final_bundle(widget=…)``, and the ``kind``
    word of their placeholder.
    """

    kind = "stream"
    _shown_in: int | None = None  # the execution count of the cell that displayed it
    _handle: Any = None  # that display, for updates (the stream's text/plain snapshots)

    if TYPE_CHECKING:  # what the view and anywidget.AnyWidget beside it provide
        model_id: str

        def live(self) -> bool: ...
        def summary(self) -> str: ...
        def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if not self.live():
            return self.final_bundle(widget=True)
        return self.live_bundle()

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
    return handle


def settle(view: Any, handle: Any, keep_widget: bool, unsettled: BaseException,
           on_end: Callable[[Any], None] | None = None) -> None:
    """The end of every live display: a view the driver left live is settled with ``unsettled``,
    ``on_end(view)`` runs, and the display becomes the static bundle (the widget first with
    ``keep_widget``). In that order: whoever sees the static display can count on what ``on_end``
    did (``-o`` is set when a ``--bg`` answer shows as ended)."""
    try:
        if view.live():
            view.finish(unsettled)
        if on_end is not None:
            on_end(view)
    finally:
        end_copy = getattr(view, "end_copy", None)
        if end_copy is not None:  # the saved copy empties first: the display's last word is the answer
            end_copy()
        if handle is not None:
            data, metadata = view.final_bundle(widget=keep_widget)
            handle.update(data, metadata=metadata, raw=True)


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
