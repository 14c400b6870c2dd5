"""The sync face of a stream produced in the consumer's own thread: no worker, no queue, no bridge.

A model run in this process (``local:``) blocks while it computes a token, and its fastest caller
is the plain loop ``for chunk in llama(...)`` in the caller's thread. So sync callers of such a
provider (:attr:`~rlm_toolkit.providers.base.Provider.blocking`) iterate its events directly, and
:class:`InlineSource` gives that iterator the face of the bridge's
:class:`~rlm_toolkit._bridge.SyncIterator` (``take`` returns a batch of one), so ``RLM.stream``'s
pump and the widgets need not know which one they read:

- ``get(timeout)`` / ``wait(timeout)`` cannot return before the next item exists: the item is
  made now, in this thread, so a deadline is met at the next token (a token of the embedded model
  takes ~10 ms, well under a widget frame).
- ``close()`` works from any thread. Called while another thread is making a token, it lets that
  token finish and the making thread closes the iterator (the model stops there); otherwise it
  closes it at once. A ``KeyboardInterrupt`` lands between tokens and closes it on the way out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

__all__ = ["InlineSource"]

T = TypeVar("T")
_NOTHING = object()


class _Raised:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class InlineSource(Iterator[T]):
    """Iterate ``items`` in the calling thread, with ``get``/``wait``/``close`` as on the bridge."""

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items
        self._pending: Any = _NOTHING
        self._finished = False
        self._closed = False
        self._cancelled = False  # stopped by cancel(): the consumer sees CancelledError, not the end
        self._busy = threading.Lock()  # held while a thread is making the next item

    def _ended(self) -> BaseException:
        return asyncio.CancelledError("stopped") if self._cancelled else StopIteration()

    def _make(self) -> Any:
        with self._busy:
            if self._closed:
                raise self._ended()
            try:
                item = next(self._items)
            except BaseException:
                self._finished = True
                raise
            if self._closed:  # closed from another thread while this item was being made
                self._items.close()  # type: ignore[attr-defined]
                raise self._ended()
            return item

    def __iter__(self) -> InlineSource[T]:
        return self

    def __next__(self) -> T:
        return self.get()

    def wait(self, timeout: float | None = None) -> bool:
        """Make the next item now (the timeout cannot be kept below one item); always True."""
        if self._pending is not _NOTHING or self._finished:
            return True
        try:
            self._pending = self._make()
        except StopIteration:
            pass
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: BLE001 - raised by get(), where the driver settles the stream
            self._pending = _Raised(error)
        return True

    def get(self, timeout: float | None = None) -> T:
        """The next item (made now if none is waiting); ``StopIteration`` at the end."""
        if self._pending is not _NOTHING:
            item, self._pending = self._pending, _NOTHING
            if isinstance(item, _Raised):
                raise item.error
            return item
        if self._finished:
            raise self._ended()
        return self._make()

    def take(self, timeout: float | None = None) -> list[T]:
        """The next item as a batch of one (the bridge hands out batches; here each item is made
        on demand, so there is never more than one waiting)."""
        return [self.get(timeout)]

    def cancel(self) -> None:
        """Stop from any thread without waiting (a Stop button's handler), as :meth:`close`; the
        consumer's next ``get`` raises ``CancelledError``, as the bridge's does, so the stream is
        settled ``stopped`` rather than ``done``."""
        self._cancelled = True
        self.close()

    def close(self) -> None:
        """Stop: at once if no thread is making an item, else when that item is made."""
        self._closed = self._finished = True
        if self._busy.acquire(blocking=False):
            try:
                self._items.close()  # type: ignore[attr-defined]
            finally:
                self._busy.release()
