"""The sync face of a stream whose events are made in the consumer's own thread.

Two providers are ``inline`` (:attr:`~rlm_toolkit.providers.base.Provider.inline`):

- the embedded llama.cpp model, fastest called directly in the consumer's thread, which it needs
  to be: llama.cpp built with OpenMP is fast only while its threads spin, and they stop doing so
  as soon as another thread holds an idle OpenMP pool. A token takes ~10 ms, well under a widget
  frame: ``wait`` makes the next one at once, a ``cancel`` lands between tokens;
- the HTTP providers, whose async client reads on the bridge loop and hands over *bytes*
  (:meth:`~rlm_toolkit.providers.http.HTTPProvider.stream_sync`): the consumer's thread decodes
  them, so every event is made and used on one thread, and what came while it lagged is joined
  into one read. That byte source is attached to the stream's :class:`Halt`: ``wait(timeout)``
  waits on it (a widget's frame deadline while the server is silent), and ``cancel`` cancels it
  (a Stop wakes a read blocked on the headers or on the next token at once).

:class:`InlineSource` gives the stream the face of the bridge's
:class:`~rlm_toolkit._bridge.SyncIterator` (``take``/``wait``/``cancel``/``close``), so
``RLM.stream``'s pump and the widgets need not know which one they read. A retry's backoff sleeps
on the :class:`Halt`, which a Stop wakes. A ``KeyboardInterrupt`` closes the iterator on the way out.
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
    """The stop signal of one inline stream, set from any thread by :meth:`InlineSource.cancel`
    or ``close``. A producer's waits (a retry's backoff) sleep on it; a producer that reads from
    a source of its own (the HTTP providers' bridged bytes: ``wait(timeout)``, ``cancel()``)
    :meth:`attach` es it, so the consumer's deadline waits on it and a Stop cancels it."""

    __slots__ = ("_set", "_lock", "source")

    def __init__(self) -> None:
        self._set = threading.Event()
        self._lock = threading.Lock()
        self.source: Any = None

    @property
    def halted(self) -> bool:
        return self._set.is_set()

    def halt(self) -> None:
        with self._lock:
            self._set.set()
            source = self.source
        if source is not None:
            source.cancel()

    def attach(self, source: Any) -> bool:
        """Make ``source`` what a deadline waits on and a Stop cancels (None: nothing any more);
        False, attaching nothing, if the stream is halted already."""
        with self._lock:
            if self._set.is_set():
                return False
            self.source = source
            return True

    def ready(self, timeout: float) -> bool:
        """Whether the attached source has something within ``timeout`` s (True: none attached)."""
        source = self.source
        return source is None or source.wait(timeout)

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
        """Wait up to ``timeout`` s for what the producer reads (its :class:`Halt`'s source), then
        make the next batch now; True once it is made (or the end or an error is: ``take`` hands
        it out), False if nothing came in time. (Bytes that are only part of an event make the
        producer wait until the rest comes.)"""
        if self._pending is not _NOTHING or self._finished:
            return True
        if self._halt is not None and timeout is not None and not self._halt.ready(timeout):
            return False
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
        """Stop: at once if no thread is making a batch; else that thread's wait is woken (the
        :class:`Halt`: a backoff, a bridged read) or it stops once the batch is made (a token)."""
        self._closed = self._finished = True
        if self._halt is not None:
            self._halt.halt()
        if self._busy.acquire(blocking=False):
            try:
                self._close_items()
            finally:
                self._busy.release()
