"""The sync face of a stream produced in the consumer's own thread: no worker, no queue, no bridge.

A sync caller's fastest stream is a plain loop in its own thread: ``for chunk in llama(...)`` for
a model run in this process, ``for piece in response.iter_bytes()`` over a sync HTTP client. A
second thread would cost more than it saves: under one GIL the two threads take turns, ~1.5 µs a
chunk however the items are handed over. So sync callers of a provider that can stream that way
(:attr:`~rlm_toolkit.providers.base.Provider.inline`) iterate its batches directly, and
:class:`InlineSource` gives that iterator the face of the bridge's
:class:`~rlm_toolkit._bridge.SyncIterator` (``take``/``wait``/``cancel``/``close``), so
``RLM.stream``'s pump and the widgets need not know which one they read.

What a thread gives up by making items itself is that it cannot wait on a deadline while a read
blocks, nor be woken by another thread. The :class:`Wire` gives those back for network reads:

- the HTTP client's connections register, on each read, the socket this thread is about to block
  on (``providers/_http.py`` wraps httpcore's network streams; a thread finds its wire with
  :func:`current_wire` while :class:`InlineSource` is making an item);
- ``wait(timeout)`` first waits for that socket to be readable (``poll``), so a widget whose
  frame is due flushes while the server is silent, then makes the item;
- ``cancel()`` from another thread (a Stop button's handler) shuts that socket down: the blocked
  read wakes at once and the stream settles ``stopped``, whether it was waiting for the response
  headers or for the next token.

A model run in this process registers no socket: ``wait`` makes the next item at once (a token of
the embedded model takes ~10 ms, well under a widget frame), and a ``cancel`` lands between tokens.
A ``KeyboardInterrupt`` lands in the blocked read or between tokens and closes the iterator on the
way out.
"""

from __future__ import annotations

import asyncio
import math
import select
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["InlineSource", "Wire", "current_wire", "serving"]

T = TypeVar("T")
_NOTHING = object()


class _Local(threading.local):
    wire: Wire | None = None  # read per network read: an attribute that is always there


_local = _Local()


def current_wire() -> Wire | None:
    """The wire of the stream this thread is making an item of, if any."""
    return _local.wire


def _readable(sock: Any, timeout: float) -> bool:
    """Whether ``sock`` has bytes (or an end) to read within ``timeout`` s: ``poll`` where there is
    one (``select`` cannot watch a descriptor past 1023, which a long-lived kernel may reach)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(max(0, math.ceil(timeout * 1000))))
    return bool(select.select([sock], [], [], max(0.0, timeout))[0])


@contextmanager
def serving(wire: Wire) -> Iterator[Wire]:
    """Make ``wire`` this thread's wire for the block (what :class:`InlineSource` does per batch)."""
    outer, _local.wire = _local.wire, wire
    try:
        yield wire
    finally:
        _local.wire = outer


class Wire:
    """What a sync stream's thread is blocked on: the network stream it reads now, a gate that
    waits for it to be readable, and a way for another thread to wake it.

    ``stream`` is an httpcore network stream (``get_extra_info("socket" / "ssl_object")``), set
    by the stream itself on every read and cleared when the response closes; ``buffered`` says
    whether the HTTP layer holds received bytes it has not handed out yet (set once the response
    has begun; None when that cannot be told, and then :meth:`ready` cannot gate); ``deadline``
    (``time.monotonic()``), when set, bounds every read (the keep-alive drain of a finished body).
    """

    __slots__ = ("stream", "buffered", "aborted", "deadline", "_lock", "_woken")

    def __init__(self) -> None:
        self.stream: Any = None
        self.buffered: Callable[[], bool] | None = None
        self.aborted = False
        self.deadline: float | None = None
        self._lock = threading.Lock()
        self._woken = threading.Event()

    def reading(self, stream: Any) -> bool:
        """A read of ``stream`` is about to block this thread: False if the wire was aborted
        (the read must not start), else True and ``stream`` is what :meth:`abort` shuts down
        (called by the watched network streams of ``providers/_http.py``, per socket read)."""
        self.stream = stream  # set before aborted is read; abort() sets aborted before reading stream
        return not self.aborted

    def released(self) -> None:
        """The response is closed and its connection may go back to the pool: forget its socket."""
        with self._lock:
            self.stream = self.buffered = None

    def ready(self, timeout: float) -> bool:
        """Whether a read would find bytes within ``timeout`` s: the HTTP layer or TLS holds some,
        or the socket becomes readable. True when there is nothing to wait on (no response yet:
        the read is what connects and sends; or its buffer cannot be seen)."""
        stream, buffered = self.stream, self.buffered
        if stream is None or buffered is None or self.aborted or buffered():
            return True
        try:
            ssl = stream.get_extra_info("ssl_object")
            if ssl is not None and ssl.pending():
                return True
            return _readable(stream.get_extra_info("socket"), timeout)
        except (OSError, ValueError):  # closed under us: the read will say how
            return True

    def abort(self) -> None:
        """From any thread: fail the read this wire's thread is blocked on, and every later one."""
        self.aborted = True
        self._woken.set()
        with self._lock:
            stream = self.stream
            if stream is None:
                return
            try:
                sock = stream.get_extra_info("socket")
                # The plain socket's shutdown, even for TLS: ssl.SSLSocket.shutdown would drop the
                # SSL object under the reading thread's feet.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, AttributeError, TypeError, ValueError):
                pass  # already closed: the read has ended or will end on its own

    def sleep(self, seconds: float) -> bool:
        """Sleep (a retry's backoff), waking at once on :meth:`abort`; False if aborted."""
        return not self._woken.wait(seconds) and not self.aborted


class InlineSource(Iterator[list[T]]):
    """Iterate ``batches`` (lists of items) in the calling thread, with ``take``/``wait``/``cancel``
    /``close`` as on the bridge; ``wire`` lets a network read be gated and woken (module docstring)."""

    def __init__(self, batches: Iterator[list[T]], wire: Wire | None = None) -> None:
        self._items = batches
        self._wire = wire
        self._pending: Any = _NOTHING
        self._error: BaseException | None = None
        self._finished = False
        self._closed = False
        self._cancelled = False  # stopped by cancel(): the consumer sees CancelledError, not the end
        self._busy = threading.Lock()  # held while a thread is making the next batch

    def _ended(self) -> BaseException:
        return asyncio.CancelledError("stopped") if self._cancelled else StopIteration()

    def _make(self) -> Any:
        with self._busy:
            if self._closed:
                raise self._ended()
            local = _local
            outer, local.wire = local.wire, self._wire
            try:
                batch = next(self._items)
            except BaseException:
                self._finished = True
                if self._closed:  # woken by cancel() or close() from another thread
                    raise self._ended() from None
                raise
            finally:
                local.wire = outer
            if self._closed:  # closed from another thread while this batch was being made
                self._items.close()  # type: ignore[attr-defined]
                raise self._ended()
            return batch

    def __iter__(self) -> InlineSource[T]:
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` s for bytes to read (see :class:`Wire`), then make the next batch
        now; True once it is made (or the end or an error is), False if no byte came in time.
        (Bytes that are only part of an event make the read block until the rest comes.)"""
        if self._pending is not _NOTHING or self._finished:
            return True
        wire = self._wire
        if wire is not None and timeout is not None and not wire.ready(timeout):
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
        if self._pending is _NOTHING and not self._finished:  # the usual case, per network read
            return self._make()  # type: ignore[no-any-return]
        if self._pending is not _NOTHING:
            batch, self._pending = self._pending, _NOTHING
            return batch  # type: ignore[no-any-return]
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
        """Stop: at once if no thread is making a batch; else that thread's blocked read is
        woken (the wire), or it stops when the batch is made (a model's token). The socket is
        shut down first either way: the consumer may be waiting on it in :meth:`wait`, and
        closing a descriptor does not wake a ``poll`` on it in another thread (a response that
        has ended has no socket on the wire any more, so a late close touches nothing)."""
        self._closed = self._finished = True
        if self._wire is not None:
            self._wire.abort()
        if self._busy.acquire(blocking=False):
            try:
                self._items.close()  # type: ignore[attr-defined]
            finally:
                self._busy.release()
