"""Stop from any thread: the switch a live view has, and every live view of this kernel.

The Stop button's handler (a subshell thread), ``%rlm stop`` and the idle interrupt (■ while no
cell runs) all end in :meth:`StopSwitch.request`, which sets a flag and calls the canceller the
driver put there (never waiting); the driver reads the flag and settles the view as stopped.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import _ipykernel

__all__ = ["StopSwitch", "register", "live_views", "stop_all", "hook_interrupt"]


class StopSwitch:
    """A Stop flag any thread may set once; ``on_stop`` (set by the driver that owns the stream)
    is the canceller it then calls, without waiting."""

    __slots__ = ("_event", "on_stop")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.on_stop: Callable[[], Any] | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> bool:
        """Stop (any thread); whether this call was the one that stopped it."""
        if self._event.is_set():
            return False
        self._event.set()
        if self.on_stop is not None:
            self.on_stop()
        return True


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
    """Let the toolbar's ■ (a kernel interrupt) stop background streams while the kernel is idle;
    while a cell runs, ■ interrupts that cell as always. Call it from a magic (the kernel's main
    thread); returns whether the hook is in place (see :func:`._ipykernel.hook_idle_interrupt`)."""
    return _ipykernel.hook_idle_interrupt(_IdleInterrupt, _IdleInterrupt)
