"""The drive loops: feed a stream source into a live view, frame by frame, until it ends or stops.

One loop per kind of caller, over the same view interface (``feed``, ``due``, ``flush``,
``finish``, ``stopping``, ``on_stop``), shared by the stream widget, its stdout stand-in and the
agent timeline:

- :func:`drive` runs in the calling thread (a foreground cell), takes what has arrived a batch at
  a time (the stream's pump has already run its callbacks) and wakes on frame deadlines;
- :func:`adrive` runs on an event loop (the toolkit's loop thread for ``--bg``) with a loop timer.

A Stop request (any thread) cancels the source without waiting and the loop settles the view as
``stopped``; an interrupt closes the source (and its HTTP response) and propagates; an error ends
the view with one line.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rlm_toolkit import _bridge

from .errors import Stopped

__all__ = ["drive", "adrive", "Stopped", "POLL"]

#: The longest a drive loop waits before it looks at its Stop flag again (a click also cancels the
#: producer, which wakes it at once; this only bounds sources that cannot be cancelled).
POLL = 0.1


Pull = Callable[[float | None], Sequence[Any]]


def _puller(source: Any) -> tuple[Pull, Callable[[], None], Callable[[], None]]:
    """``pull(timeout)`` for a stream source — the items that have arrived, in order (raises
    ``queue.Empty`` / ``StopIteration``) —, a closer (waits until the source has closed what it
    opened) and a canceller (any thread, no waiting).

    RLM and agent streams hand over a batch at a time (``take``: everything decoded since the
    consumer last woke, callbacks run); async iterables go through the toolkit's bridge, which
    batches the same way; trace replays (``next(timeout)``) give an item at a time. All wake on the
    frame deadline; so do plain iterators, which are read in a worker thread (a generator that
    sleeps between tokens must not hold back the last one).
    """
    nothing = (lambda: None)
    take = getattr(source, "take", None)
    if callable(take):
        return take, getattr(source, "close", nothing), getattr(source, "cancel", nothing)
    nxt = getattr(source, "next", None)
    if callable(nxt) and "timeout" in inspect.signature(nxt).parameters:
        one: Pull = lambda timeout: (nxt(timeout),)  # noqa: E731
        return one, getattr(source, "close", nothing), getattr(source, "cancel", nothing)
    if hasattr(source, "__aiter__"):
        bridged = _bridge.iterate_sync(lambda: source)
        return bridged.take, bridged.close, bridged.cancel
    if isinstance(source, str):
        source = [source]
    if isinstance(source, (list, tuple)):  # already in memory: nothing to wait for
        iterator = iter(source)
        return (lambda _timeout: (next(iterator),)), nothing, nothing
    pull, stop = _threaded(iter(source))
    return pull, stop, stop


_END = object()


def _threaded(iterator: Any) -> tuple[Pull, Callable[[], None]]:
    """Read ``iterator`` in a daemon thread; ``pull(timeout)`` takes its items in order, one at a time.

    Its own queue and end/error markers, like the toolkit's two other hand-offs (the bridge's
    ``SyncIterator``: a loop's batches to a thread; the local model's: a thread's events to a loop).
    Only the markers are alike; who waits, and how it is woken, differs in each, so a shared helper
    would hold ten lines and add a dependency on the toolkit's private bridge."""
    items: queue.SimpleQueue[Any] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in iterator:
                items.put(item)
                if stop.is_set():
                    break
            items.put(_END)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises it
            items.put(_Failed(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass

    threading.Thread(target=work, name="rlm-display-stream", daemon=True).start()

    def pull(timeout: float | None) -> Sequence[Any]:
        item = items.get() if timeout is None else items.get(timeout=timeout)
        if item is _END:
            raise StopIteration
        if isinstance(item, _Failed):
            raise item.error
        return (item,)

    return pull, stop.set


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _settle(view: Any, error: BaseException | None) -> Any:
    """End ``view`` however its loop ended: a requested Stop is ``stopped`` (not an error, not an
    interrupt); an interrupt or cancellation is re-raised once the view is settled."""
    if view.stopping and (error is None or isinstance(error, asyncio.CancelledError)):
        error = Stopped("stopped")
    view.finish(error)
    _drop_frames(error, getattr(getattr(view, "response", None), "error", None))
    if error is not None and not isinstance(error, (Exception, Stopped)):
        raise error
    return view


def _drop_frames(*errors: BaseException | None) -> None:
    """Drop the tracebacks of the errors a settled view ended with. The view and its Response keep
    each error (its one line is what is shown), but a traceback holds every frame it crossed and,
    through their callers, this drive's view: an RLM's ``last_response`` would keep the last
    stopped or failed view of each model alive, widget and all. An interrupt that goes on up
    gets a fresh traceback from here."""
    for error in errors:
        if error is not None:
            error.__traceback__ = None


def drive(view: Any, source: Any) -> Any:
    """Feed ``source`` into ``view`` in this thread, waking on frame deadlines; settle it however it ends.

    ``view`` is a :class:`~rlm_jupyter.stream.view.StreamView` (or its stdout stand-in) or the
    agent's :class:`~rlm_jupyter.timeline.view.TimelineView`: anything with ``feed``, ``due``,
    ``flush``, ``finish``, ``stopping`` and ``on_stop`` (:class:`rlm_jupyter.live.view.LiveView`). A Stop
    request (from any thread) cancels the source and ends the loop; an interrupt
    (``KeyboardInterrupt``) closes the source (and its HTTP response), marks the view
    ``stopped`` and propagates; an error ends the view with one line and is kept on it.
    """
    if hasattr(view, "use_response"):
        view.use_response(getattr(source, "response", None))
    pull, close, cancel = _puller(source)
    view.on_stop = cancel
    error: BaseException | None = None
    try:
        while not view.stopping:
            due = view.due()
            try:
                items = pull(POLL if due is None else min(due, POLL))
            except queue.Empty:
                view.flush()
                continue
            except StopIteration:
                wait = view.due()
                if wait:  # the last text leaves at its frame too: ≤ 30 messages a second, always
                    time.sleep(wait)
                break
            now = time.perf_counter()  # one clock reading per batch
            for item in items:
                view.feed(item, now)
    except BaseException as exc:
        error = exc
    if error is not None or view.stopping:
        try:
            close()
        except Exception:
            pass
    return _settle(view, error)


async def adrive(view: Any, source: Any) -> Any:
    """Async twin of :func:`drive` for ``--bg``: runs on the current loop (the toolkit's, see
    :func:`rlm_jupyter.live.show.run_live`), flushes on a loop timer. Stop is the task's cancellation."""
    if hasattr(view, "use_response"):
        view.use_response(getattr(source, "response", None))
    loop = asyncio.get_running_loop()
    timer: asyncio.TimerHandle | None = None
    at = getattr(view, "catch_up_at", None)  # a widget's one unasked snapshot, quiet stream or not
    catch_up = None if at is None else loop.call_later(max(0.0, at - time.perf_counter()),
                                                       view.maybe_catch_up)

    def on_timer() -> None:
        nonlocal timer
        timer = None
        view.flush()
        arm()

    def arm() -> None:
        nonlocal timer
        due = view.due()
        if due is not None and timer is None:
            timer = loop.call_later(due, on_timer)

    error: BaseException | None = None
    iterator = source.__aiter__() if hasattr(source, "__aiter__") else None
    try:
        if iterator is None:
            for item in source:  # a plain iterable: fed as it comes (it must not block)
                if view.stopping:
                    break
                view.feed(item)
                arm()
                await asyncio.sleep(0)
        else:
            async for item in iterator:
                view.feed(item)
                arm()
        wait = view.due()
        if wait:  # the last text leaves at its frame too, as in drive()
            await asyncio.sleep(wait)
    except BaseException as exc:
        error = exc
    finally:
        if timer is not None:
            timer.cancel()
        if catch_up is not None:
            catch_up.cancel()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except BaseException:
                pass
    return _settle(view, error)
