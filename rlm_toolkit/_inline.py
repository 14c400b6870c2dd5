"""The sync face of a stream produced in the consumer's own thread: no worker, no queue, no bridge.

A model run in this process (:attr:`~rlm_toolkit.providers.base.Provider.inline`: the embedded
llama.cpp model) is fastest called directly in the consumer's thread, and it needs to be: llama.cpp
built with OpenMP is fast only while its threads spin, which they stop doing as soon as another
thread holds an idle OpenMP pool. So sync callers of such a provider iterate its batches directly,
and :class:`InlineSource` gives that iterator the face of the bridge's
:class:`~rlm_toolkit._bridge.SyncIterator` (``take``/``wait``/``cancel``/``close``), so
``RLM.stream``'s pump and the widgets need not know which one they read.

Such a producer registers no socket and never blocks long: ``wait`` makes the next item at once (a
token of the embedded model takes ~10 ms, well under a widget frame), a ``cancel`` from another
thread lands between tokens, and a retry's backoff sleeps on the source's :class:`Halt`, which the
cancel wakes. A ``KeyboardInterrupt`` lands between tokens and closes the iterator on the way out.
HTTP providers are not inline: they are read over the bridge (docs/architecture.md, "Sync and async").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

__all__ = ["InlineSource", "Halt"]

T = TypeVar("T")
_NOTHING: Any = object()


class Halt:
    """The stop signal of one inline stream: set from any thread by :meth:`InlineSource.cancel`
    or ``close``; a producer's waits (a retry's backoff) sleep on it and wake at once."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = threading.Event()

    @property
    def halted(self) -> bool:
        return self._set.is_set()

    def halt(self) -> None:
        self._set.set()

    def sleep(self, seconds: float) -> bool:
        """Sleep (a retry's backoff), waking at once on :meth:`halt`; False if halted."""
        return not self._set.wait(seconds)


class InlineSource(Iterator[list[T]]):
    """Iterate ``batches`` (lists of items) in the calling thread, with ``take``/``wait``/``cancel``
    /``close`` as on the bridge; ``halt`` is set on ``cancel``/``close`` (module docstring)."""

    def __init__(self, batches: Iterator[list[T]], halt: Halt | None = None) -> None:
        self._items = batches
        self._halt = halt
        self._pending: Any = _NOTHING
        self._error: BaseException | None = None
        self._finished = False
        self._closed = False
        self._cancelled = False  # stopped by cancel(): the consumer sees CancelledError, not the end
        self._busy = threading.Lock()  # held while a thread is making the next batch

    def _ended(self) -> BaseException:
        return asyncio.CancelledError("stopped") if self._cancelled else StopIteration()

    def _close_items(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    def _make(self) -> list[T]:
        with self._busy:
            if self._closed:
                raise self._ended()
            try:
                batch = next(self._items)
            except BaseException:
                self._finished = True
                if self._closed:  # stopped by cancel() or close() from another thread meanwhile
                    raise self._ended() from None
                raise
            if self._closed:  # closed from another thread while this batch was being made
                self._close_items()
                raise self._ended()
            return batch

    def __iter__(self) -> InlineSource[T]:
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Make the next batch now (an inline producer never makes a consumer wait long); True
        once it is made, or the end or an error is (``take`` hands it out)."""
        if self._pending is not _NOTHING or self._finished:
            return True
        try:
            self._pending = self._make()
        except StopIteration:
            pass
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: BLE001 - raised by take(), where the pump settles the stream
            self._error = error
        return True

    def take(self, timeout: float | None = None) -> list[T]:
        """The next batch (made now if none is waiting); ``StopIteration`` at the end."""
        if self._pending is _NOTHING and not self._finished:  # the usual case
            return self._make()
        if self._pending is not _NOTHING:
            batch, self._pending = self._pending, _NOTHING
            return batch
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        raise self._ended()

    __next__ = take

    def cancel(self) -> None:
        """Stop from any thread without waiting (a Stop button's handler), as :meth:`close`; the
        consumer's next ``take`` raises ``CancelledError``, as the bridge's does, so the stream is
        settled ``stopped`` rather than ``done``."""
        if self._finished:
            return
        self._cancelled = True
        self.close()

    def close(self) -> None:
        """Stop: at once if no thread is making a batch; else that thread stops once the batch is
        made (a model's token) and a backoff it sleeps in wakes (:class:`Halt`)."""
        self._closed = self._finished = True
        if self._halt is not None:
            self._halt.halt()
        if self._busy.acquire(blocking=False):
            try:
                self._close_items()
            finally:
                self._busy.release()
