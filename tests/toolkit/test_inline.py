"""InlineSource: a sync stream made in the consumer's thread, with the bridge's get/wait/close face."""

from __future__ import annotations

import threading
import time

import pytest

from rlm_toolkit._inline import InlineSource


class Items:
    """A generator of ``n`` items, each taking ``delay`` seconds, that records how it ended."""

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
                yield i
        finally:
            self.closed = True


def test_iterates_in_the_calling_thread():
    threads = []

    def items():
        for i in range(3):
            threads.append(threading.current_thread())
            yield i

    assert list(InlineSource(items())) == [0, 1, 2]
    assert threads == [threading.current_thread()] * 3


def test_wait_makes_the_next_item_and_get_returns_it():
    source = InlineSource(iter(["a", "b"]))
    assert source.wait(0.001) is True and source.wait(0.001) is True  # made once, kept
    assert source.get() == "a" and source.get(timeout=0.001) == "b"
    assert source.wait(0.001) is True
    with pytest.raises(StopIteration):
        source.get()


def test_an_error_met_in_wait_is_raised_by_get():
    items = Items(fail_at=1)
    source = InlineSource(items())
    assert source.get() == 0
    assert source.wait(0.001) is True
    with pytest.raises(ValueError, match="boom"):
        source.get()
    assert items.closed
    with pytest.raises(StopIteration):
        source.get()


def test_close_when_idle_closes_the_generator_at_once():
    items = Items()
    source = InlineSource(items())
    assert next(source) == 0
    source.close()
    assert items.closed and items.made == 1
    with pytest.raises(StopIteration):
        next(source)


def test_close_from_another_thread_stops_at_the_next_item():
    """A Stop handler on another thread: the item being made finishes, then the generator is closed."""
    items = Items(n=50, delay=0.05)
    source = InlineSource(items())
    assert next(source) == 0
    items.making.clear()
    closer = threading.Thread(target=lambda: (items.making.wait(2), source.close()))
    closer.start()
    got = list(source)  # blocks in this thread while item 1 is made; close lands meanwhile
    closer.join()
    assert got == [] and items.closed and items.made == 2


def test_keyboard_interrupt_while_making_an_item_propagates_and_closes():
    def items():
        yield 0
        raise KeyboardInterrupt

    source = InlineSource(items())
    assert next(source) == 0
    with pytest.raises(KeyboardInterrupt):
        source.wait(1)
    with pytest.raises(StopIteration):
        next(source)
