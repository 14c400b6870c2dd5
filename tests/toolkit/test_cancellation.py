"""Every way of stopping a stream closes the HTTP connection at once and leaves nothing running.

The loopback server streams slowly; each test stops the stream after the first chunk and then
checks that the server saw the client hang up within a short bound, that the response is
``stopped``, and that no thread (besides the long-lived portal) and no task is left behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from rlm_toolkit import RLM, StreamingCallback, _bridge
from tests.fixtures.openai_server import Stream

BOUND = 2.0  # seconds within which the server must see the disconnect (a loaded CI box)
SLOW = Stream("word " * 40, delay=0.2)


def rlm_for(server, **kwargs) -> RLM:
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, **kwargs)


def portal_tasks() -> list[asyncio.Task]:
    async def others():
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    return asyncio.run_coroutine_threadsafe(others(), _bridge.portal_loop()).result(5)


@pytest.fixture
def nothing_left_running(openai_server):
    """Yield, then check: no new thread alive and no task pending on the portal loop."""
    _bridge.portal_loop()
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and (set(threading.enumerate()) - before or portal_tasks()):
        time.sleep(0.02)
    assert set(threading.enumerate()) - before == set()
    assert portal_tasks() == []


def assert_closed_quickly(server, started: float) -> None:
    assert server.wait_disconnect(BOUND), "the server never saw the client hang up"
    assert time.monotonic() - started < BOUND + 0.5
    assert server.completed == 0


def test_break_out_of_a_bare_for_loop(openai_server, nothing_left_running):
    openai_server.script(SLOW)
    rlm = rlm_for(openai_server)
    for _chunk in rlm.stream("hi"):
        break
    started = time.monotonic()
    assert_closed_quickly(openai_server, started)
    assert rlm.last_response.state == "stopped" and rlm.last_response.text == "word"


def test_close(openai_server, nothing_left_running):
    openai_server.script(SLOW)
    rlm = rlm_for(openai_server)
    stream = rlm.stream("hi")
    assert next(stream) == "word"
    started = time.monotonic()
    stream.close()
    assert openai_server.wait_disconnect(0.1)  # close() returns after the response is closed
    assert_closed_quickly(openai_server, started)
    assert stream.response.state == "stopped"
    with pytest.raises(StopIteration):
        next(stream)


def test_with_block(openai_server, nothing_left_running):
    openai_server.script(SLOW)
    rlm = rlm_for(openai_server)
    with rlm.stream("hi") as chunks:
        for _chunk in chunks:
            break
        kept = chunks  # still referenced: only the with block can close it
        started = time.monotonic()
    assert_closed_quickly(openai_server, started)
    assert kept.response.state == "stopped"


def test_keyboard_interrupt_while_waiting_for_a_chunk(openai_server, nothing_left_running):
    openai_server.script(Stream("word " * 40, stall_after=1, stall=10))
    rlm = rlm_for(openai_server)
    chunks = []
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        for chunk in rlm.stream("hi"):
            chunks.append(chunk)
            timer.start()  # the interrupt lands while we block waiting for the second chunk
    started = time.monotonic()
    timer.join()
    assert chunks == ["word"]
    assert_closed_quickly(openai_server, started)
    assert rlm.last_response.state == "stopped"


def test_keyboard_interrupt_raised_in_a_callback(openai_server, nothing_left_running):
    class Interrupt(StreamingCallback):
        def on_llm_new_token(self, token, **kwargs):
            raise KeyboardInterrupt

    openai_server.script(SLOW)
    rlm = rlm_for(openai_server, callbacks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        rlm.run("hi")
    assert_closed_quickly(openai_server, time.monotonic())
    assert rlm.last_response.state == "stopped" and rlm.last_response.text == "word"


def test_task_cancellation_of_astream(openai_server, nothing_left_running):
    openai_server.script(SLOW)
    rlm = rlm_for(openai_server)
    seen: list[str] = []

    async def consume():
        async for chunk in rlm.astream("hi"):
            seen.append(chunk)

    async def main():
        task = asyncio.create_task(consume())
        while not seen:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        started = time.monotonic()
        assert await asyncio.to_thread(openai_server.wait_disconnect, BOUND)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return started, pending

    started, pending = asyncio.run(main())
    assert pending == []
    assert seen == ["word"] and rlm.last_response.state == "stopped"
    assert_closed_quickly(openai_server, started)


def test_async_with_and_break(openai_server, nothing_left_running):
    openai_server.script(SLOW)
    rlm = rlm_for(openai_server)

    async def main():
        async with rlm.astream("hi") as chunks:
            async for _chunk in chunks:
                break
        return time.monotonic()

    assert_closed_quickly(openai_server, asyncio.run(main()))
    assert rlm.last_response.state == "stopped"


def test_sync_stream_inside_a_running_loop_can_be_closed(openai_server, nothing_left_running):
    """A Jupyter cell runs inside a loop: the sync API still works and still closes at once."""
    openai_server.script(SLOW)
    rlm = rlm_for(openai_server)

    async def cell():
        for chunk in rlm.stream("hi"):
            return chunk

    assert asyncio.run(cell()) == "word"
    assert_closed_quickly(openai_server, time.monotonic())


def test_break_out_of_a_bare_async_for(openai_server, nothing_left_running):
    """Without ``async with``: the dropped async generator is closed by the loop's finalizer hook."""
    openai_server.script(SLOW)
    rlm = rlm_for(openai_server)

    async def main():
        async for _chunk in rlm.astream("hi"):
            break
        started = time.monotonic()
        assert await asyncio.to_thread(openai_server.wait_disconnect, BOUND)
        return started

    assert_closed_quickly(openai_server, asyncio.run(main()))
    assert rlm.last_response.state == "stopped"
