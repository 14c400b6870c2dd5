"""InlineSource: a sync stream made in the consumer's thread, with the bridge's take/wait/cancel face;
and the Wire that lets another thread wake a read it blocks on, and a deadline wait for its bytes.

The wire is tested here on a socket pair; tests/toolkit/providers/test_sync_path.py drives it
through the real sync HTTP client against a loopback server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from rlm_toolkit._inline import InlineSource, Wire, current_wire


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


class Stream:
    """The face of an httpcore network stream the wire uses, over one end of a socket pair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, info: str):
        return self.sock if info == "socket" else None

    def read(self, wire: Wire) -> bytes:
        if not wire.reading(self):
            raise OSError("stopped")
        return self.sock.recv(100)


def test_iterates_in_the_calling_thread_and_sets_its_wire_while_making():
    threads, wires = [], []
    wire = Wire()

    def batches():
        for i in range(3):
            threads.append(threading.current_thread())
            wires.append(current_wire())
            yield [i]

    assert list(InlineSource(batches(), wire)) == [[0], [1], [2]]
    assert threads == [threading.current_thread()] * 3
    assert wires == [wire] * 3 and current_wire() is None


def test_wait_makes_the_next_batch_and_take_returns_it():
    source = InlineSource(iter([["a"], ["b", "c"]]))
    assert source.wait(0.001) is True and source.wait(0.001) is True  # made once, kept
    assert source.take() == ["a"] and source.take(timeout=0.001) == ["b", "c"]
    assert source.wait(0.001) is True
    with pytest.raises(StopIteration):
        source.take()


def test_an_error_met_in_wait_is_raised_by_take():
    items = Items(fail_at=1)
    source = InlineSource(items())
    assert source.take() == [0]
    assert source.wait(0.001) is True
    with pytest.raises(ValueError, match="boom"):
        source.take()
    assert items.closed
    with pytest.raises(StopIteration):
        source.take()


def test_close_when_idle_closes_the_generator_at_once():
    items = Items()
    source = InlineSource(items())
    assert next(source) == [0]
    source.close()
    assert items.closed and items.made == 1
    with pytest.raises(StopIteration):
        next(source)


def test_close_from_another_thread_stops_at_the_next_item():
    """A model's token (no wire): the item being made finishes, then the generator is closed."""
    items = Items(n=50, delay=0.05)
    source = InlineSource(items())
    assert next(source) == [0]
    items.making.clear()
    closer = threading.Thread(target=lambda: (items.making.wait(2), source.close()))
    closer.start()
    got = list(source)  # blocks in this thread while item 1 is made; close lands meanwhile
    closer.join()
    assert got == [] and items.closed and items.made == 2


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


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def reads(stream: Stream):
    """Batches of what each read of ``stream`` gives, until it ends."""
    wire = current_wire()
    while data := stream.read(wire):
        yield [data]


def test_wait_gives_up_on_its_deadline_while_nothing_comes_and_wakes_when_bytes_do(pair):
    ours, theirs = pair
    wire = Wire()
    source = InlineSource(reads(Stream(ours)), wire)
    held = []
    wire.buffered = lambda: bool(held)  # what the HTTP layer would hold (here: nothing)
    theirs.send(b"one")
    assert source.take() == [b"one"]  # the first read registers the socket with the wire
    started = time.monotonic()
    assert source.wait(0.05) is False  # nothing to read: the caller gets its frame back
    assert source.wait(0.05) is False
    assert 0.09 < time.monotonic() - started < 1.0
    threading.Timer(0.1, theirs.send, (b"two",)).start()
    assert source.wait(5) is True  # woke when the bytes came, and read them
    assert source.take() == [b"two"]
    held.append(b"x")
    theirs.send(b"three")
    assert wire.ready(0) is True  # buffered above the socket: no need to wait for it
    assert source.take() == [b"three"]
    wire.buffered = None  # a layout whose buffer cannot be seen: never gate, just read
    threading.Timer(0.1, theirs.send, (b"four",)).start()
    started = time.monotonic()
    assert source.wait(0.01) is True and time.monotonic() - started > 0.09
    assert source.take() == [b"four"]


def test_cancel_from_another_thread_wakes_a_blocked_read_and_ends_stopped(pair):
    ours, _theirs = pair
    wire = Wire()
    items_closed = threading.Event()

    def batches():
        try:
            yield from reads(Stream(ours))
        finally:
            items_closed.set()

    source = InlineSource(batches(), wire)
    threading.Timer(0.2, source.cancel).start()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        source.take()  # blocked in recv until the cancel shut the socket down
    assert time.monotonic() - started < 2.0 and wire.aborted and items_closed.is_set()


def test_cancel_wakes_a_consumer_waiting_for_bytes_on_its_deadline(pair):
    """A widget waits for bytes (``wait(timeout)``), not in a read: the Stop still wakes it at once."""
    ours, theirs = pair
    wire = Wire()
    source = InlineSource(reads(Stream(ours)), wire)
    theirs.send(b"one")
    assert source.take() == [b"one"]
    wire.buffered = lambda: False
    threading.Timer(0.2, source.cancel).start()
    started = time.monotonic()
    assert source.wait(10) is True
    assert time.monotonic() - started < 2.0
    with pytest.raises(asyncio.CancelledError):
        source.take()


def test_a_cancel_before_the_read_starts_refuses_it(pair):
    ours, theirs = pair
    wire = Wire()
    stream = Stream(ours)
    wire.abort()
    with pytest.raises(OSError):
        stream.read(wire)
    theirs.send(b"late")  # the socket was never shut down: nothing was registered yet
    assert ours.recv(10) == b"late"


def test_a_released_socket_is_not_touched_by_a_late_abort(pair):
    ours, theirs = pair
    wire = Wire()
    wire.reading(Stream(ours))
    wire.released()  # the response closed: the connection may serve another call now
    wire.abort()
    theirs.send(b"still open")
    assert ours.recv(20) == b"still open"


def test_cancel_after_the_end_changes_nothing():
    source = InlineSource(iter([[1]]), Wire())
    assert list(source) == [[1]]
    source.cancel()
    with pytest.raises(StopIteration):
        source.take()


def test_the_wires_sleep_wakes_on_abort():
    wire = Wire()
    threading.Timer(0.05, wire.abort).start()
    started = time.monotonic()
    assert wire.sleep(5) is False
    assert time.monotonic() - started < 2.0
    assert Wire().sleep(0.001) is True


def test_the_gate_works_on_a_descriptor_past_1023():
    """A long-lived kernel may hold a thousand files; ``select`` cannot watch such a socket."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = []
    try:
        ours, theirs = socket.socketpair()
        while ours.fileno() < 1030:
            held.append(ours)
            ours, theirs_next = socket.socketpair()
            held.append(theirs)
            theirs = theirs_next
        wire = Wire()
        wire.reading(Stream(ours))
        wire.buffered = lambda: False
        assert wire.ready(0.01) is False
        theirs.send(b"x")
        assert wire.ready(1.0) is True
        ours.close()
        theirs.close()
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
