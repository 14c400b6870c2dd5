"""The drive interface of a live view, over the parts it has (composed, not mixed in).

Every live view — the stream widget, the timeline, and their plain stand-ins — *has* a feed
(``frames``: what comes in, paced into frames that go to the view's sink) and a
:class:`~rlm_jupyter.live.stop.StopSwitch` (``stop``), both built before the view and handed to
it. :class:`LiveView` gives the drive loops (:mod:`rlm_jupyter.live.drive`) their interface over
them; it has no initializer and no state of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from .stop import StopSwitch

__all__ = ["Frames", "LiveView"]


class Frames(Protocol):
    """A feed: items in (``push``), frames out to its sink when due (``flush``)."""

    def push(self, item: Any, now: float | None = None) -> None: ...
    def due(self, now: float | None = None) -> float | None: ...
    def flush(self, now: float | None = None, *, force: bool = False) -> None: ...


class LiveView:
    """``feed``, ``due``, ``flush``, ``stopping``, ``on_stop`` and ``request_stop`` over
    ``self.frames`` and ``self.stop``; subclasses add ``live()`` and ``finish(error)``."""

    frames: Frames
    stop: StopSwitch
    #: ``time.perf_counter()`` when a widget sends everything so far once, unasked (None: not, or no
    #: more). A page binds a widget's module a moment after the model exists and loses the frames
    #: sent in between; the page asking instead would be a message on a subshell, whose busy/idle
    #: the page takes for the kernel's while a cell runs.
    catch_up_at: float | None = None

    def live(self) -> bool:
        raise NotImplementedError

    def feed(self, item: Any, now: float | None = None) -> None:
        """Take one item (a chunk, a stream or agent event); it goes out when its frame is due."""
        if not self.stop.requested:
            self.frames.push(item, now)

    def due(self, now: float | None = None) -> float | None:
        """Seconds until what waits must be sent (None: nothing waits)."""
        return self.frames.due(now)

    def flush(self, now: float | None = None, *, force: bool = False) -> None:
        """Send what waits as one frame, if it is due (or ``force``)."""
        self.frames.flush(now, force=force)
        self.maybe_catch_up()

    def maybe_catch_up(self) -> None:
        """Send everything so far once its time (``catch_up_at``) has come; the drive loops call
        it on their frame deadlines and idle wake-ups, a widget's sink after each frame."""
        at = self.catch_up_at
        if at is not None and time.perf_counter() >= at:
            self.catch_up_at = None
            self.catch_up()

    def catch_up(self) -> None:
        """Everything so far to the page (widgets); nothing for a view without a page."""

    @property
    def stopping(self) -> bool:
        """A Stop was requested: no more is taken, the driver settles the view as stopped."""
        return self.stop.requested

    @property
    def on_stop(self) -> Callable[[], Any] | None:
        """The canceller the driver that owns the stream puts here (it never waits)."""
        return self.stop.on_stop

    @on_stop.setter
    def on_stop(self, cancel: Callable[[], Any] | None) -> None:
        self.stop.on_stop = cancel

    def request_stop(self) -> bool:
        """Stop from any thread, without waiting; whether this call stopped a live view."""
        return self.live() and self.stop.request()
