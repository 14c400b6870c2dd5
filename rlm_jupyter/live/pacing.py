"""Per-frame pacing of what a live view sends, without I/O (the caller owns the clock and the wire).

A widget must not send one message per token (thousands a second from a fast model), nor hold
a token back for long (the user sees a stall). :class:`Pacer` gives both for anything that waits
to be sent: at most one message per ``frame`` seconds, and what arrives after a quiet spell goes
out at once. It only knows *that* something waits, not what: the agent timeline keeps its own
page operations and asks the pacer when they must leave::

    p = Pacer(frame=1 / 30)
    p.arm(now=0.000)         # something waits to be sent
    p.fire(now=0.000)        # True: nothing was sent in the last frame, send it now
    p.arm(now=0.010)
    p.fire(now=0.010)        # False: too soon after the last message
    p.due(now=0.010)         # 0.0233… seconds until the frame deadline
    p.fire(now=0.034)        # True

:class:`Coalescer` is a pacer that also holds text deltas and joins them::

    c = Coalescer(frame=1 / 30)
    c.push("Hel", now=0.000)
    c.take(now=0.000)        # 'Hel'
    c.push("lo", now=0.010)
    c.take(now=0.010)        # None (too soon)
    c.take(now=0.034)        # 'lo'

The driver loop (:mod:`rlm_jupyter.live.drive`) is: feed what arrives; send when ``due() == 0``;
otherwise wait for the next item with ``timeout=due()`` (``EventStream.next(timeout)``, the
bridge's ``wait`` or a loop timer), so the last token before a pause leaves on time too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["FRAME", "CATCH_UP", "Pacer", "Coalescer"]

#: One frame: ≤ 30 messages a second, and nothing waits longer than this (< 50 ms).
FRAME = 1 / 30
#: Seconds after a live widget opens when the kernel sends everything so far once, unasked: a page
#: binds the widget's module a moment after the model exists and loses the frames in between (the
#: page asking instead would be handled on a subshell, whose busy/idle the page would take for the
#: kernel's while a cell runs).
CATCH_UP = 1.0


class Pacer:
    """Frame deadlines for pending work: :meth:`arm` when something waits, :meth:`fire` to send it
    when its frame is due (or ``force``), :meth:`due` for how long a driver may sleep."""

    __slots__ = ("frame", "clock", "_since", "last_sent", "messages")

    def __init__(self, frame: float = FRAME, clock: Callable[[], float] = time.perf_counter) -> None:
        self.frame = frame
        self.clock = clock
        self._since: float | None = None  # when the oldest pending item arrived
        self.last_sent = float("-inf")
        self.messages = 0  # messages sent so far

    @property
    def pending(self) -> bool:
        return self._since is not None

    def arm(self, now: float | None = None) -> None:
        """Something waits to be sent; it must leave by the next frame deadline."""
        if self._since is None:
            self._since = self.clock() if now is None else now

    def due(self, now: float | None = None) -> float | None:
        """Seconds until the pending work must be sent: 0.0 = now, None = nothing pending."""
        if self._since is None:
            return None
        now = self.clock() if now is None else now
        return max(0.0, self.last_sent + self.frame - now)

    def fire(self, now: float | None = None, *, force: bool = False) -> bool:
        """Whether the pending work may be sent now (its frame is due, or ``force``); if so, it
        counts as sent and the pacer is disarmed."""
        if self._since is None:
            return False
        now = self.clock() if now is None else now
        if not force and now < self.last_sent + self.frame:
            return False
        self._since = None
        self.last_sent = now
        self.messages += 1
        return True

    def waited(self, now: float | None = None) -> float:
        """How long the oldest pending item has waited (0.0 when nothing is pending)."""
        if self._since is None:
            return 0.0
        return (self.clock() if now is None else now) - self._since


class Coalescer(Pacer):
    """Joins text pushed within one frame into one delta; ``take`` returns it when it is due."""

    __slots__ = ("_parts", "chars")

    def __init__(self, frame: float = FRAME, clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(frame, clock)
        self._parts: list[str] = []
        self.chars = 0  # characters handed out so far

    def push(self, text: str, now: float | None = None) -> None:
        """Queue ``text``; empty strings are ignored."""
        if text:
            self._parts.append(text)
            self.arm(now)

    def take(self, now: float | None = None, *, force: bool = False) -> str | None:
        """The pending text joined, if it is due (or ``force``); marks a message as sent."""
        if not self.fire(now, force=force):
            return None
        text = "".join(self._parts)
        self._parts.clear()
        self.chars += len(text)
        return text
