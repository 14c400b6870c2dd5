"""The one bridge from sync callers to the async core.

rlm_toolkit is async inside. Sync entry points (``RLM.stream``, ``RLM.run``, ``ReActAgent.stream``)
run their coroutine or async generator on a single long-lived event loop in a daemon thread
(the design of anyio's blocking portal and IPython's script magics). This works the same in a
plain script, in a Jupyter cell whose own loop is already running, and from worker threads, and
it never patches asyncio. Waiting is interruptible: a ``KeyboardInterrupt`` in the caller cancels
the work on the loop and waits (briefly) until it has closed its connections, then propagates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["portal_loop", "started_portal", "run_sync", "spawn", "SyncIterator", "iterate_sync", "MAX_BATCH"]

T = TypeVar("T")
CLOSE_TIMEOUT = 5.0

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid: int | None = None


def portal_loop() -> asyncio.AbstractEventLoop:
    """The bridge's event loop, started on first use (and again in a forked child)."""
    global _loop, _pid
    with _lock:
        if _loop is None or _pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                while True:
                    try:
                        loop.run_forever()
                        return
                    except BaseException:  # noqa: BLE001
                        # A task or callback raised SystemExit / KeyboardInterrupt, which asyncio
                        # lets out of run_forever. Whoever awaited it has it already; the loop
                        # must go on serving every later sync call, so it is run again.
                        continue

            threading.Thread(target=main, name="rlm-portal", daemon=True).start()
            ready.wait()
            _loop, _pid = loop, os.getpid()
        return _loop


def started_portal() -> asyncio.AbstractEventLoop | None:
    """The bridge's event loop if it has been started (none is started to ask)."""
    return _loop


def _in_portal() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``factory()`` on the portal loop and wait for its result in the calling thread."""
    if _in_portal():
        raise RuntimeError("run_sync was called from the rlm portal loop itself; await instead")
    future = asyncio.run_coroutine_threadsafe(factory(), portal_loop())
    try:
        return future.result()
    except BaseException:
        if not future.done():
            future.cancel()
            try:
                future.result(timeout=CLOSE_TIMEOUT)
            except BaseException:
                pass
        raise


def spawn(factory: Callable[[], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
    """Run ``factory()`` on the portal loop in the background; return its future.

    Work spawned here keeps going while the calling thread (a kernel's main thread running the
    next cell) is busy. It is scheduled from this thread, so the task runs in a copy of this
    thread's context: a kernel's contextvars (the cell's parent header) come along. The future
    stays pending until the task ends, so ``future.cancel()`` cancels the task, from any thread,
    without waiting.
    """
    return asyncio.run_coroutine_threadsafe(factory(), portal_loop())


_END = object()
_NOTHING = object()
#: The most items one batch holds: a producer that never waits still hands them over in steps.
MAX_BATCH = 512


class _Raised:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SyncIterator:
    """Iterate an async generator that runs on the portal loop, from any thread, in batches.

    The producer appends items to a batch and hands the batch over (one queue put, one wake-up)
    when it next yields to the loop — typically when it waits for the network, so everything
    decoded from one read crosses threads at once — or when it holds ``MAX_BATCH`` items or more.
    With ``batches`` the producer yields lists (a network read's events) and their items join the batch.
    ``take(timeout)`` returns the next batch; ``wait(timeout)`` lets a consumer wake up on a
    deadline (the widget flushes on a timer); ``close()`` cancels the producer and waits until it
    has finished cleaning up.
    """

    def __init__(self, factory: Callable[[], AsyncIterator[Any]], *, batches: bool = False) -> None:
        if _in_portal():
            raise RuntimeError("a sync stream cannot be consumed on the rlm portal loop; use astream")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: Any = _NOTHING
        self._done = threading.Event()
        self._finished = False
        loop = portal_loop()
        self._loop = loop
        self._task_future = asyncio.run_coroutine_threadsafe(self._pump(factory, batches), loop)

    async def _pump(self, factory: Callable[[], AsyncIterator[Any]], batches: bool) -> None:
        put, call_soon = self._queue.put, self._loop.call_soon
        batch: list[Any] = []

        def hand_over() -> None:
            nonlocal batch
            if batch:
                put(batch)
                batch = []

        agen = factory()
        try:
            async for item in agen:
                if not batch:
                    call_soon(hand_over)  # runs once this task yields to the loop
                if batches:
                    batch += item
                else:
                    batch.append(item)
                if len(batch) >= MAX_BATCH:
                    hand_over()
            hand_over()
            put(_END)
        except BaseException as error:  # CancelledError too: the consumer must wake up
            hand_over()
            put(_Raised(error))
            if isinstance(error, asyncio.CancelledError):
                raise  # SystemExit and KeyboardInterrupt are the consumer's now, not the loop's
        finally:
            aclose = getattr(agen, "aclose", None)
            try:
                if aclose is not None:
                    await aclose()
            finally:
                self._done.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the next batch without taking it; True if one is there."""
        if self._pending is not _NOTHING or self._finished:
            return True
        try:
            self._pending = self._get(timeout)
        except queue.Empty:
            return False
        return True

    def _get(self, timeout: float | None) -> Any:
        try:
            return self._queue.get(timeout=timeout) if timeout is not None else self._queue.get()
        except queue.Empty:
            raise
        except BaseException:
            # KeyboardInterrupt while waiting: stop the producer before letting it propagate.
            self.close()
            raise

    def take(self, timeout: float | None = None) -> list[Any]:
        """The next batch (a list, in order); ``queue.Empty`` if none came within ``timeout`` s,
        ``StopIteration`` at the end, the producer's exception once its batches are taken."""
        if self._finished:
            raise StopIteration
        if self._pending is not _NOTHING:
            item, self._pending = self._pending, _NOTHING
        else:
            item = self._get(timeout)
        if item is _END:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Raised):
            self._finished = True
            self._done.wait(CLOSE_TIMEOUT)
            raise item.error
        return item

    def take_ready(self, limit: int, timeout: float | None = None) -> list[Any]:
        """:meth:`take`, joined with the batches already queued behind it while their items'
        lengths add up to less than ``limit`` (a consumer that lagged catches up in few steps,
        each small enough to stay in the CPU's cache)."""
        items = self.take(timeout)
        size = sum(map(len, items))
        while self._pending is _NOTHING and size < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _END or isinstance(item, _Raised):
                self._pending = item  # the next take ends or raises
                break
            items += item
            size += sum(map(len, item))
        return items

    def finish(self, timeout: float) -> None:
        """Let the producer run to its end on its own, for up to ``timeout`` s (what it still makes
        is dropped: a body's last bytes, read so its connection is kept alive), then close."""
        self._finished = True
        self._done.wait(timeout)
        self.close()

    def cancel(self) -> None:
        """Ask the producer to stop, from any thread, without waiting (a Stop button's handler).

        The consumer then takes the ``CancelledError`` in order, after the batches already queued.
        """
        if not self._done.is_set():
            self._task_future.cancel()

    def close(self) -> None:
        """Cancel the producer and wait until it has closed what it opened (bounded)."""
        self._finished = True
        if not self._done.is_set():
            self._task_future.cancel()
            if not self._done.wait(CLOSE_TIMEOUT):
                raise TimeoutError(f"the rlm stream did not close within {CLOSE_TIMEOUT:.0f} s")

    def __del__(self) -> None:
        try:
            if not self._done.is_set():
                self._task_future.cancel()
        except Exception:
            pass


def iterate_sync(factory: Callable[[], AsyncIterator[Any]], *, batches: bool = False) -> SyncIterator:
    return SyncIterator(factory, batches=batches)
