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
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["portal_loop", "run_sync", "spawn", "SyncIterator", "iterate_sync", "LazySource",
           "BridgedIterator"]

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


class _Raised:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SyncIterator(Iterator[T]):
    """Iterate an async generator that runs on the portal loop, from any thread.

    Items cross threads through a queue; the consumer takes them one by one in order.
    ``get(timeout)`` lets a consumer wake up on a deadline (the widget flushes on a timer) and
    ``close()`` cancels the producer and waits until it has finished cleaning up.
    """

    def __init__(self, factory: Callable[[], AsyncIterator[T]]) -> None:
        if _in_portal():
            raise RuntimeError("a sync stream cannot be consumed on the rlm portal loop; use astream")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: Any = _NOTHING
        self._done = threading.Event()
        self._finished = False
        loop = portal_loop()
        self._loop = loop
        self._task_future = asyncio.run_coroutine_threadsafe(self._pump(factory), loop)

    async def _pump(self, factory: Callable[[], AsyncIterator[T]]) -> None:
        put = self._queue.put
        agen = factory()
        try:
            async for item in agen:
                put(item)
            put(_END)
        except BaseException as error:  # CancelledError too: the consumer must wake up
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

    def __iter__(self) -> SyncIterator[T]:
        return self

    def __next__(self) -> T:
        return self.get()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the next item without taking it; True if one is there."""
        if self._pending is not _NOTHING or self._finished:
            return True
        try:
            self._pending = self._take(timeout)
        except queue.Empty:
            return False
        return True

    def _take(self, timeout: float | None) -> Any:
        try:
            return self._queue.get(timeout=timeout) if timeout is not None else self._queue.get()
        except queue.Empty:
            raise
        except BaseException:
            # KeyboardInterrupt while waiting: stop the producer before letting it propagate.
            self.close()
            raise

    def get(self, timeout: float | None = None) -> T:
        """The next item; ``queue.Empty`` if none came within ``timeout`` seconds."""
        if self._finished:
            raise StopIteration
        if self._pending is not _NOTHING:
            item, self._pending = self._pending, _NOTHING
        else:
            item = self._take(timeout)
        if item is _END:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Raised):
            self._finished = True
            self._done.wait(CLOSE_TIMEOUT)
            raise item.error
        return item

    def cancel(self) -> None:
        """Ask the producer to stop, from any thread, without waiting (a Stop button's handler).

        The consumer then takes the ``CancelledError`` in order, after the items already queued.
        """
        if not self._done.is_set():
            self._task_future.cancel()

    def close(self) -> None:
        """Cancel the producer and wait until it has closed what it opened (bounded)."""
        self._finished = True
        if not self._done.is_set():
            self._task_future.cancel()
            if not self._done.wait(CLOSE_TIMEOUT):
                raise TimeoutError("the rlm stream did not close within %.0f s" % CLOSE_TIMEOUT)

    def __del__(self) -> None:
        try:
            if not self._done.is_set():
                self._task_future.cancel()
        except Exception:
            pass


def iterate_sync(factory: Callable[[], AsyncIterator[T]]) -> SyncIterator[T]:
    return SyncIterator(factory)


class LazySource:
    """Opens a bridged source on first use; shared by a sync stream and its driver generator."""

    __slots__ = ("_open", "source")

    def __init__(self, open_source: Callable[[], SyncIterator[Any]]) -> None:
        self._open = open_source
        self.source: SyncIterator[Any] | None = None

    def get(self) -> SyncIterator[Any]:
        if self.source is None:
            self.source = self._open()
        return self.source


class BridgedIterator:
    """The sync face shared by ``RLM.stream`` and ``ReActAgent.stream``.

    Subclasses set ``_lazy`` (a :class:`LazySource`) and ``_iterator`` (a driver generator that
    holds no reference back to the stream: then a bare ``for … : break`` drops the stream at
    once by refcount and ``__del__`` closes the connection without waiting for the gc).
    """

    _lazy: LazySource
    _iterator: Iterator[Any]

    @property
    def _source(self) -> SyncIterator[Any] | None:
        return self._lazy.source

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        return next(self._iterator)

    def next(self, timeout: float | None = None) -> Any:
        """Like ``next()``, but raise ``queue.Empty`` if nothing arrives within ``timeout`` s
        (widgets flush on a timer while they wait)."""
        if timeout is not None and not self._lazy.get().wait(timeout):
            raise queue.Empty
        return next(self._iterator)

    def cancel(self) -> None:
        """Ask the stream to stop from any thread, without waiting: the consumer's next ``next()``
        ends it (the HTTP response is closed by then)."""
        if self._lazy.source is not None:
            self._lazy.source.cancel()

    def close(self) -> None:
        """Stop now; the HTTP response is closed before this returns."""
        self._iterator.close()
        if self._lazy.source is not None:
            self._lazy.source.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
