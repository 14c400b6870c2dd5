"""InlineSource: a sync stream made in the consumer's thread (the embedded model's), with the
bridge's take/wait/cancel face; and the Halt that wakes a retry's backoff on a Stop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rlm_toolkit._inline import Halt, InlineSource


class Items:
    """A generator of ``n`` one-item batches, each taking ``delay`` seconds, that records how it ended."""

    def __init__(self, n: int = 5, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.n, self.delay, self.fail_at = n, delay, fail_at
        self.made = 0
        self.closed = False
        self.making = threading.Event()

    def __call__(self):
        try:
            for i in range(self.n):
                self.making.set()
                time.sleep(self.delay)
                if i == self.fail_at:
                    raise ValueError("boom")
                self.made += 1
                yield [i]
        finally:
            self.closed = True


def test_iterates_in_the_calling_thread():
    threads = []

    def batches():
        for i in range(3):
            threads.append(threading.current_thread())
            yield [i]

    assert list(InlineSource(batches())) == [[0], [1], [2]]
    assert threads == [threading.current_thread()] * 3


def test_wait_makes_the_next_batch_and_take_returns_it():
    items = Items(n=2)
    source = InlineSource(items())
    assert source.wait(0.01) is True and items.made == 1
    assert source.take() == [0] and source.take() == [1]
    with pytest.raises(StopIteration):
        source.take()


def test_an_error_met_in_wait_is_raised_by_take():
    items = Items(n=3, fail_at=1)
    source = InlineSource(items())
    assert source.take() == [0]
    assert source.wait(1) is True
    with pytest.raises(ValueError, match="boom"):
        source.take()
    with pytest.raises(StopIteration):
        source.take()


def test_close_when_idle_closes_the_generator_at_once():
    items = Items()
    source = InlineSource(items())
    assert next(source) == [0]
    source.close()
    assert items.closed
    with pytest.raises(StopIteration):
        next(source)


def test_close_from_another_thread_stops_at_the_next_item():
    """A model's token: the item being made finishes, then the generator is closed."""
    items = Items(n=50, delay=0.05)
    source = InlineSource(items())
    assert next(source) == [0]
    items.making.clear()
    closer = threading.Thread(target=lambda: (items.making.wait(2), source.close()))
    closer.start()
    got = list(source)  # blocks in this thread while item 1 is made; close lands meanwhile
    closer.join()
    assert got == [] and items.closed and items.made == 2


def test_cancel_ends_stopped_not_done():
    items = Items(n=50, delay=0.02)
    source = InlineSource(items(), Halt())
    assert next(source) == [0]
    source.cancel()
    with pytest.raises(asyncio.CancelledError):
        source.take()
    assert items.closed


def test_keyboard_interrupt_while_making_an_item_propagates_and_closes():
    def batches():
        yield [0]
        raise KeyboardInterrupt

    source = InlineSource(batches())
    assert next(source) == [0]
    with pytest.raises(KeyboardInterrupt):
        source.wait(1)
    with pytest.raises(StopIteration):
        next(source)


def test_cancel_after_the_end_changes_nothing():
    source = InlineSource(iter([[1]]), Halt())
    assert list(source) == [[1]]
    source.cancel()
    with pytest.raises(StopIteration):
        source.take()


def test_a_backoff_sleeping_on_the_halt_wakes_on_cancel():
    halt = Halt()

    def batches():
        halt.sleep(5)
        yield [0]

    source = InlineSource(batches(), halt)
    threading.Timer(0.05, source.cancel).start()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        source.take()
    assert time.monotonic() - started < 2.0 and halt.halted
    assert Halt().sleep(0.001) is True


class Source:
    """What a Halt may hold: a bridged source's wait and cancel."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.cancelled = False

    def wait(self, timeout: float) -> bool:
        return self.arrived.wait(timeout)

    def cancel(self) -> None:
        self.cancelled = True


def test_a_deadline_waits_on_the_attached_source_and_a_stop_cancels_it():
    halt, source = Halt(), Source()
    made = []

    def batches():
        halt.attach(source)
        made.append(0)
        yield [0]
        made.append(1)
        yield [1]

    inline = InlineSource(batches(), halt)
    assert inline.take() == [0]
    assert inline.wait(0.01) is False and made == [0]  # nothing arrived: the producer is not run
    source.arrived.set()
    assert inline.wait(0.01) is True and inline.take() == [1]
    inline.cancel()
    assert source.cancelled and halt.attach(Source()) is False  # halted: nothing attaches any more
