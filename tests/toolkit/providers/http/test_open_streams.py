"""Streams left open (issue 20): each holds a connection of its client's pool until it is closed or
read to its end. One more than the pool can serve says so at once, as a UsageError, instead of
httpx's PoolTimeout after the whole timeout and every retry."""

from __future__ import annotations

import asyncio
import time

import pytest

from rlm_toolkit import RLM
from rlm_toolkit.errors import UsageError
from rlm_toolkit.providers.http import HTTPClients
from tests.fixtures.openai_server import Stream

LIMIT = 3


@pytest.fixture
def small_pool(monkeypatch):
    monkeypatch.setattr(HTTPClients, "max_streams", LIMIT)


def openai_rlm(server):
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, timeout=20)


def test_one_sync_stream_too_many_says_what_is_wrong_at_once(openai_server, small_pool):
    openai_server.default = Stream(["one ", "two"], stall_after=1, stall=30)  # open until closed
    rlm = openai_rlm(openai_server)
    held = []
    for _ in range(LIMIT):
        it = iter(rlm.stream("hi"))
        next(it)  # started, referenced, not closed: it holds its connection
        held.append(it)
    started = time.perf_counter()
    with pytest.raises(UsageError, match="too many open streams") as caught:
        next(iter(rlm.stream("hi")))
    assert time.perf_counter() - started < 2.0
    assert f"{LIMIT} streams of this model are still open" in str(caught.value)
    assert "close" in str(caught.value) and "read them to the end" in str(caught.value)
    held.pop().close()  # one closed: its place is free again
    openai_server.script(Stream("one two"))
    assert rlm.run("hi").startswith("one")
    for it in held:
        it.close()  # closed: their places are free too
    openai_server.script(Stream("one two"))
    assert rlm.run("hi").startswith("one")


def test_one_async_stream_too_many_says_what_is_wrong_at_once(openai_server, small_pool):
    openai_server.default = Stream(["one ", "two"], stall_after=1, stall=30)  # open until closed
    rlm = openai_rlm(openai_server)

    async def main():
        held = []
        for _ in range(LIMIT):
            it = rlm.astream("hi").__aiter__()
            await it.__anext__()
            held.append(it)
        started = time.perf_counter()
        with pytest.raises(UsageError, match="too many open streams"):
            await rlm.astream("hi").__aiter__().__anext__()
        assert time.perf_counter() - started < 2.0
        for it in held:
            await it.aclose()
        openai_server.script(Stream("one two"))
        assert (await rlm.arun("hi")).startswith("one")
        await rlm.aclose()

    asyncio.run(main())



def test_the_real_limit_is_the_pool_size_and_the_next_stream_is_refused_at_once(openai_server):
    """100 (httpx's pool size) sync streams left open; the 101st used to wait out the timeout and
    fail with a PoolTimeout (``APITimeoutError``), after every retry."""
    openai_server.default = Stream(["one ", "two"], stall_after=1, stall=30)  # open until closed
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key,
                          timeout=3, max_retries=0)
    held = []
    for _ in range(HTTPClients.max_streams):
        it = iter(rlm.stream("hi"))
        next(it)
        held.append(it)
    started = time.perf_counter()
    with pytest.raises(UsageError, match="100 streams of this model are still open"):
        next(iter(rlm.stream("hi")))
    assert time.perf_counter() - started < 1.0
    for it in held:
        it.close()
    openai_server.script(Stream("one two"))
    assert rlm.run("hi").startswith("one")
