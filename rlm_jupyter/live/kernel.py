"""What keeps a live display useful whatever the kernel and the page do.

Shared by the stream widget and the agent timeline:

- :class:`Snapshots` decides when the display's own ``text/plain`` copy of a live answer is
  refreshed (an ``update_display_data``). That copy is what a notebook saved mid-stream keeps,
  and what a front end that cannot show the widget (no widget manager, nbclient, papermill,
  ``jupyter console``) shows growing. Each refresh re-sends the whole text, so refreshes are
  spaced geometrically (the text must have grown by a factor since the last one): the bytes
  stay linear in the answer, at most ``growth / (growth - 1)`` times its length. While no page
  has said that it rendered the widget, refreshes are denser (the text is all such a front end
  shows); once one has, they only keep a saved copy reasonably fresh.
- :func:`register` / :func:`stop_all`: the live displays of this kernel, for ``%rlm stop``.
- :func:`cell_error`: a failed answer fails its cell with one line, never a traceback through
  the package and never a key.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from rlm_toolkit.errors import RLMError, describe, scrub

__all__ = ["Snapshots", "register", "live_views", "stop_all", "cell_error", "error_line",
           "answer_where_sent", "hook_interrupt", "widget_metadata", "Stoppable"]


def error_line(error: BaseException) -> str:
    """One line for the user: type and scrubbed message, never a traceback."""
    return describe(error).splitlines()[0]


#: While a page shows the widget, the display's text/plain copy (what a notebook saved mid-stream
#: keeps) is refreshed at most this often, in seconds.
SAVE_EVERY = 30.0


class Snapshots:
    """When to refresh the display's ``text/plain`` copy of a live answer (sans-IO: the caller
    owns the clock and the display)::

        s = Snapshots(now=0.0)
        s.due(length=120, now=2.1, seen=False)   # True: the first copy, two seconds in
        s.taken(120, now=2.1)
        s.due(length=150, now=4.2, seen=False)   # False: it has not grown by half yet
    """

    __slots__ = ("blind_growth", "blind_spacing", "seen_growth", "seen_spacing", "last_length",
                 "last_at", "count")

    # A refresh rebuilds the widget's view in JupyterLab (its renderer makes a new view for every
    # display update, with a "Loading widget..." flash), so once a page shows the widget they are
    # rare: doubled text and SAVE_EVERY seconds apart (RLMMagics.save_every; 0: never). The first
    # waits two seconds, by when a page that shows widgets has said so.
    def __init__(self, *, blind_growth: float = 1.5, blind_spacing: float = 2.0, seen_growth: float = 2.0,
                 seen_spacing: float | None = None, now: float | None = None) -> None:
        if seen_spacing is None:
            seen_spacing = SAVE_EVERY
        seen_spacing = float("inf") if seen_spacing <= 0 else seen_spacing
        self.blind_growth, self.blind_spacing = blind_growth, blind_spacing
        self.seen_growth, self.seen_spacing = seen_growth, seen_spacing
        self.last_length = 0
        self.last_at = time.perf_counter() if now is None else now
        self.count = 0

    def due(self, length: int, now: float | None = None, *, seen: bool = False) -> bool:
        """Whether a copy of ``length`` characters should be sent now.

        ``seen``: a page has rendered the widget, so the copy only matters for saving.
        """
        if length <= self.last_length:
            return False
        now = time.perf_counter() if now is None else now
        growth, spacing = (self.seen_growth, self.seen_spacing) if seen else (self.blind_growth,
                                                                               self.blind_spacing)
        if now - self.last_at < spacing:
            return False
        return self.last_length == 0 or length >= growth * self.last_length

    def taken(self, length: int, now: float | None = None) -> None:
        self.last_length = length
        self.last_at = time.perf_counter() if now is None else now
        self.count += 1


def widget_metadata() -> dict[str, Any]:
    """The metadata of a live widget display: in Google Colab, its custom widget manager is
    enabled (third-party widgets need it there) and named, as anywidget's own display does."""
    try:
        from anywidget._util import get_repr_metadata
    except ImportError:  # an anywidget without it: plain metadata
        return {}
    try:
        return dict(get_repr_metadata())
    except Exception:
        return {}


def _as_sent(_data: Any, default: Any) -> Any:
    return default


def answer_where_sent(widget: Any) -> None:
    """Handle this widget's page messages on the thread the front end sent them to.

    ipykernel ≥ 7.4 routes a comm's incoming messages to the shell that last *sent* on it (so an
    async cell awaiting a widget reply gets it). Our widgets send from the cell that runs the
    stream, so a Stop click would be queued behind that very cell. Their handlers only set flags
    and send, safely from any thread, so they take messages on the subshell the page chose.
    """
    comm = getattr(widget, "comm", None)
    if comm is not None and hasattr(comm, "_reply_subshell_for"):
        comm._reply_subshell_for = _as_sent


class Stoppable:
    """Stop from any thread, for a live view: the Stop button's handler (a subshell thread),
    ``%rlm stop`` and the idle interrupt call :meth:`request_stop`; the driver that owns the
    stream sets ``on_stop`` (a canceller that never waits) and reads ``stopping``."""

    _stop: threading.Event
    on_stop: Any

    def _init_stop(self) -> None:
        self._stop = threading.Event()
        self.on_stop = None

    @property
    def stopping(self) -> bool:
        """A Stop was requested: no more text is taken, the driver settles the view as stopped."""
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Stop from any thread, without waiting."""
        if self._stop.is_set() or not self.live():  # type: ignore[attr-defined]
            return
        self._stop.set()
        if self.on_stop is not None:
            self.on_stop()


_views: weakref.WeakSet[Any] = weakref.WeakSet()
_views_lock = threading.Lock()


def register(view: Any) -> None:
    """Remember a live view (anything with ``live()`` and ``request_stop()``) for :func:`stop_all`."""
    with _views_lock:
        _views.add(view)


def live_views() -> list[Any]:
    with _views_lock:
        return [view for view in _views if view.live()]


def stop_all() -> int:
    """Stop every live stream and agent run of this process; returns how many were asked to stop."""
    views = live_views()
    for view in views:
        view.request_stop()
    return len(views)


class _IdleInterrupt:
    """The kernel's SIGINT handler while no cell runs: stop the background streams, then do what
    the kernel did before (ipykernel ignores SIGINT when idle)."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: Any) -> None:
        stop_all()
        if callable(self.previous):
            self.previous(signum, frame)


def hook_interrupt() -> bool:
    """Let the toolbar's ■ (a kernel interrupt) stop background streams while the kernel is idle.

    ipykernel puts ``default_int_handler`` in place while a request runs and restores the handler
    it saved before (``Kernel.saved_sigint_handler``, SIG_IGN) when the request ends: this swaps
    the saved one for :class:`_IdleInterrupt`. While a cell runs, ■ interrupts that cell as
    always. Must be called from a request on the kernel's main thread (a magic); returns whether
    the hook is in place.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        from ipykernel.kernelbase import Kernel
    except ImportError:
        return False
    if not Kernel.initialized():
        return False
    kernel = Kernel.instance()
    saved = getattr(kernel, "saved_sigint_handler", None)
    if isinstance(saved, _IdleInterrupt):
        return True
    if saved is None:
        return False
    kernel.saved_sigint_handler = _IdleInterrupt(saved)
    return True


class _OneLine:
    """Makes IPython show an exception as the given lines instead of a traceback."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __call__(self) -> list[str]:
        return self.lines


class AnswerFailed(Exception):
    """A failed answer that was not an ``rlm_toolkit`` error (e.g. a plain iterator raised)."""


def cell_error(error: BaseException, note: str = "") -> BaseException:
    """The exception a magic raises so that its cell ends with error status and one line.

    Toolkit errors keep their type (``AuthenticationError``, ``IncompleteStreamError`` …), so
    ``nbclient``'s ``CellExecutionError`` and papermill name it; anything else becomes
    :class:`AnswerFailed`. The line is scrubbed of keys; the traceback is dropped.
    """
    line = error_line(error) + note
    if isinstance(error, (RLMError, KeyboardInterrupt)):
        failed = error
    else:
        failed = AnswerFailed(scrub(line))
    failed.__traceback__ = None
    failed.__cause__ = None
    failed.__suppress_context__ = True
    failed._render_traceback_ = _OneLine([line])  # type: ignore[attr-defined]
    return failed
