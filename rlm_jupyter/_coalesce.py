"""Per-frame coalescing of text deltas, without I/O (the caller owns the clock and the wire).

A widget must not send one message per token (thousands a second from a fast model), nor hold
a token back for long (the user sees a stall). :class:`Coalescer` gives both: at most one
message per ``frame`` seconds, and a delta that arrives after a quiet spell goes out at once::

    c = Coalescer(frame=1 / 30)
    c.push("Hel", now=0.000)
    c.take(now=0.000)        # 'Hel'   (nothing was sent in the last frame: send at once)
    c.push("lo", now=0.010)
    c.take(now=0.010)        # None    (too soon after the last message)
    c.due(now=0.010)         # 0.0233… seconds until "lo" must go out
    c.take(now=0.034)        # 'lo'

The driver loop is: push what arrives; ``take`` when ``due() == 0``; otherwise wait for the
next delta no longer than ``due()``, so the last token before a pause leaves on time too
(``_drive.drive`` and ``_drive.adrive`` are that loop, for the stream widget and the timeline).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["FRAME", "Coalescer"]

#: One frame: ≤ 30 messages a second, and no delta waits longer than this (< 50 ms).
FRAME = 1 / 30


class Coalescer:
    """Joins text pushed within one frame into one delta; ``take`` returns it when it is due."""

    __slots__ = ("frame", "clock", "_parts", "_first_at", "last_sent", "messages", "chars")

    def __init__(self, frame: float = FRAME, clock: Callable[[], float] = time.perf_counter) -> None:
        self.frame = frame
        self.clock = clock
        self._parts: list[str] = []
        self._first_at: float | None = None  # when the oldest pending delta arrived
        self.last_sent = float("-inf")
        self.messages = 0  # deltas handed out so far
        self.chars = 0  # characters handed out so far

    @property
    def pending(self) -> bool:
        return bool(self._parts)

    def push(self, text: str, now: float | None = None) -> None:
        """Queue ``text``; empty strings are ignored."""
        if not text:
            return
        if not self._parts:
            self._first_at = self.clock() if now is None else now
        self._parts.append(text)

    def due(self, now: float | None = None) -> float | None:
        """Seconds until the pending text must be sent: 0.0 = now, None = nothing pending."""
        if not self._parts:
            return None
        now = self.clock() if now is None else now
        return max(0.0, self.last_sent + self.frame - now)

    def take(self, now: float | None = None, *, force: bool = False) -> str | None:
        """The pending text joined, if it is due (or ``force``); marks a message as sent."""
        if not self._parts:
            return None
        now = self.clock() if now is None else now
        if not force and now < self.last_sent + self.frame:
            return None
        text = "".join(self._parts)
        self._parts.clear()
        self._first_at = None
        self.last_sent = now
        self.messages += 1
        self.chars += len(text)
        return text

    def waited(self, now: float | None = None) -> float:
        """How long the oldest pending delta has waited (0.0 when nothing is pending)."""
        if self._first_at is None:
            return 0.0
        return (self.clock() if now is None else now) - self._first_at
