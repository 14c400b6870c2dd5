"""Replaying a trace with its recorded timing: :class:`Replay`, an iterator of the recorded events.

Sync and async (``for`` / ``async for``), and ``next(timeout)`` for a widget that flushes on a
timer; a stream trace also fills a :class:`~rlm_toolkit.response.Response` as it goes.
"""

from __future__ import annotations

import asyncio
import queue
import time

from ..cost import Cost, Recorded
from ..errors import ProviderError, UsageError
from ..response import Response
from .format import Event, PathLike
from .reader import Trace, is_number, load

__all__ = ["Replay", "replay", "check_speed", "MIN_SPEED", "MAX_SPEED"]

#: ``replay(speed=…)`` / ``%rlm replay --speed``: slower or faster than this is a mistake, not a wish.
MIN_SPEED, MAX_SPEED = 0.001, 1000.0
_LONGEST_WAIT = 3600.0  # one sleep at most (time.sleep overflows near 1e10 s); a longer pause is several


def check_speed(speed: float | None) -> float | None:
    """``speed`` if a replay can run at it (None: at once); else a UsageError saying the range."""
    if speed is None:
        return None
    if not is_number(speed) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise UsageError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g} times the recorded pace, "
                         f"not {speed!r} (or None / --instant to replay at once)")
    return float(speed)


class Replay:
    """Iterate a trace's events again, sync or async, at ``speed`` × the original pace (None: at once).

    ``next(timeout)`` returns the next event if it is due within ``timeout`` seconds, else waits
    ``timeout`` and raises ``queue.Empty`` (what the widgets use to flush on a timer). A trace
    whose run failed raises a :class:`~rlm_toolkit.errors.ProviderError` after its last event.
    ``clock()`` is the recorded run's time now (Unix seconds), for showing elapsed times.
    ``response``: for a stream trace, a Response filled in as the events are replayed, with the
    recorded cost and stop reason (what a footer shows); None for an agent trace.
    """

    def __init__(self, trace: Trace, speed: float | None = 1.0) -> None:
        self.trace = trace
        self.speed = check_speed(speed)
        self.response = _recorded_response(trace) if trace.kind == "stream" else None
        self._index = 0
        self._start: float | None = None

    def position(self) -> float:
        """Seconds into the recorded run the replay has reached (by the trace's clock, not this one's)."""
        if self._start is None:
            return 0.0
        count, taken = len(self.trace.times), min(self._index, len(self.trace.times))
        reached = self.trace.times[taken - 1] if taken else 0.0
        if self._index >= count:
            return max(reached, self.trace.duration)
        if self.speed is None:
            return reached
        return max(reached, min((time.perf_counter() - self._start) * self.speed, self.trace.duration))

    def clock(self) -> float:
        """The recorded run's wall-clock time at the point replayed (``trace.created`` + position)."""
        return self.trace.created + self.position()

    def _due_in(self) -> float:
        if self._start is None:
            self._start = time.perf_counter()
        if self.speed is None or self._index >= len(self.trace.events):
            return 0.0
        due = self._start + self.trace.times[self._index] / self.speed
        return max(0.0, due - time.perf_counter())

    def _take(self) -> Event:
        if self._index >= len(self.trace.events):
            self._index += 1
            footer = self.trace.footer or {}
            if footer.get("state") == "error" and self._index == len(self.trace.events) + 1:
                raise ProviderError(str(footer.get("error") or "the recorded run failed"),
                                    partial_text=self.trace.text)
            raise StopIteration
        event = self.trace.events[self._index]
        self._index += 1
        if self.response is not None:
            self.response.feed(event)  # type: ignore[arg-type]  # a stream trace's events are stream events
        return event

    def __iter__(self) -> Replay:
        return self

    def __next__(self) -> Event:
        while wait := self._due_in():
            time.sleep(min(wait, _LONGEST_WAIT))
        return self._take()

    def next(self, timeout: float | None = None) -> Event:
        wait = self._due_in()
        if timeout is not None and wait > timeout:
            time.sleep(timeout)
            raise queue.Empty
        while wait:
            time.sleep(min(wait, _LONGEST_WAIT))
            wait = self._due_in()
        return self._take()

    def __aiter__(self) -> Replay:
        return self

    async def __anext__(self) -> Event:
        while wait := self._due_in():
            await asyncio.sleep(min(wait, _LONGEST_WAIT))
        try:
            return self._take()
        except StopIteration:
            raise StopAsyncIteration from None


def _recorded_response(trace: Trace) -> Response:
    footer = (trace.footer or {}).get("response")
    footer = footer if isinstance(footer, dict) else {}
    provider, _, model = (trace.model or "stream").partition(":")
    response = Response(model=model or provider, provider=provider if model else "")
    if isinstance(footer.get("cost"), dict):
        response.cost_basis = Recorded(Cost.from_dict(footer["cost"]))
    if isinstance(footer.get("stop_reason"), str):
        response.stop_reason = footer["stop_reason"]
    return response


def replay(path: PathLike | Trace, speed: float | None = 1.0) -> Replay:
    """The recorded events again, with their original timing (``speed=None``: instantly).

    Lines of the file that could not be read are left out (``replay(...).trace.problems``).
    """
    check_speed(speed)
    return Replay(path if isinstance(path, Trace) else load(path), speed)
