"""A running tool call's progress, reported from any thread, read by the agent's loop.

A tool reports with :func:`~rlm_toolkit.agents.tools.report_progress` (an MCP tool forwards its
server's progress notifications there); the agent starts each call under a :class:`ProgressFeed`
and yields a ``progress`` event for what :meth:`ProgressFeed.until` hands it. Only the latest report
is kept, and at most one is handed out every :data:`MIN_INTERVAL` seconds: a server that sends a
million notifications costs a few events, never a queue of them.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from .tools import PROGRESS

__all__ = ["ProgressFeed", "MIN_INTERVAL", "MESSAGE_LIMIT"]

T = TypeVar("T")
#: Seconds between two progress events of one call, at least.
MIN_INTERVAL = 0.1
#: A progress message is cut to this many characters.
MESSAGE_LIMIT = 500
#: Seconds a cancelled call gets to end before the agent moves on (the tool's own grace is inside).
_SETTLE = 5.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


class ProgressFeed:
    """The latest progress of one call: ``report`` from any thread, ``until`` on the agent's loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._latest: tuple[float, float | None, str] | None = None
        self._armed = False
        self._changed = asyncio.Event()

    def start(self, call: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``call`` as a task whose context (and the tool thread's, copied from it) reports here."""
        token = PROGRESS.set(self.report)
        try:
            return asyncio.ensure_future(call)
        finally:
            PROGRESS.reset(token)

    def report(self, progress: Any, total: Any = None, message: Any = None) -> None:
        """Keep the latest report (numbers that are not finite are dropped) and wake the loop once."""
        done = _number(progress)
        if done is None:
            return
        text = str.__getitem__(message, slice(MESSAGE_LIMIT)) if isinstance(message, str) else ""  # plain str
        with self._lock:
            self._latest = (done, _number(total), text)
            if self._armed:
                return
            self._armed = True
        try:
            self._loop.call_soon_threadsafe(self._changed.set)
        except RuntimeError:  # the agent's loop has closed: nobody is reading
            pass

    def _take(self) -> tuple[float, float | None, str] | None:
        with self._lock:
            latest, self._latest, self._armed = self._latest, None, False
        self._changed.clear()
        return latest

    async def until(self, task: asyncio.Future[Any]) -> AsyncIterator[tuple[float, float | None, str]]:
        """``(progress, total, message)`` as reports come until ``task`` is done, then the last one
        not yet handed out (so a report is never lost to a fast tool)."""
        last = -math.inf
        while not task.done():
            waiter = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            wait = last + MIN_INTERVAL - self._loop.time()
            if not task.done() and wait > 0:
                await asyncio.wait({task}, timeout=wait)
            latest = self._take()
            if latest is not None:
                last = self._loop.time()
                yield latest

    @staticmethod
    async def settle(task: asyncio.Future[Any]) -> None:
        """Cancel ``task`` if it still runs (the run was stopped) and give it a moment to end."""
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=_SETTLE)
