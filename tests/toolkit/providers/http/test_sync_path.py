"""Sync calls of an HTTP provider read over the bridge (rlm_toolkit._bridge): the async client on
the bridge loop, the callbacks in the caller's thread.

Checked against the loopback OpenAI-compatible server: a widget's frame deadline is kept while the
server is silent, a Stop wakes a read blocked before the headers or mid-body (and a retry's
backoff), and what arrived while the reader lagged comes over in few batches.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time

import pytest

from rlm_toolkit import RLM, StreamingCallback, _bridge
from rlm_toolkit.providers.anthropic import AnthropicProvider

from ....fixtures.openai_server import RateLimited, Stall, Stream
from ....fixtures.vendor_servers import Reply, sse


def _rlm(server, **kwargs) -> RLM:
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, **kwargs)


class Threads(StreamingCallback):
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def on_llm_new_token(self, token, **kwargs):
        self.seen.add(threading.current_thread().name)


def test_a_sync_call_reads_on_the_bridge_loop_and_calls_back_in_the_callers_thread(openai_server):
    rlm = _rlm(openai_server)
    threads = Threads()
    assert rlm.run("hi", callbacks=[threads]) == "Hello from the loopback server."
    assert threads.seen == {threading.current_thread().name}
    assert list(rlm.provider._clients._clients) == [_bridge.portal_loop()]  # the one client: the bridge's
    rlm.close()


def test_take_with_a_deadline_gives_up_while_the_server_is_silent_and_wakes_when_it_speaks(openai_server):
    openai_server.script(Stream(["a ", "b ", "c"], stall_after=1, stall=0.6))
    stream = _rlm(openai_server).stream("x")
    assert stream.take(timeout=5) == ["a "]
    gave_up = 0
    started = time.monotonic()
    while True:
        try:
            got = stream.take(timeout=0.05)
        except queue.Empty:
            gave_up += 1  # a frame's deadline passed with nothing to read: the widget flushes here
            continue
        if got:
            break
    waited = time.monotonic() - started
    assert got[0] == "b " and 0.5 < waited < 3.0
    assert gave_up >= 5  # ~0.6 s of silence, in 0.05 s frames (fewer on a loaded machine)
    assert "".join(got + list(stream)) == "b c"
    assert stream.response.state == "done"


def test_a_body_already_received_is_never_waited_for(openai_server):
    """A whole fast body, read at once, is handed out without waiting for the socket again."""
    openai_server.script(Stream([f"w{i} " for i in range(2000)], fast=True))
    stream = _rlm(openai_server).stream("x")
    text = []
    while True:
        try:
            text += stream.take(timeout=2)
        except StopIteration:
            break
    assert "".join(text) == "".join(f"w{i} " for i in range(2000))


def test_stop_wakes_a_read_waiting_for_the_response_headers(openai_server):
    openai_server.script(Stall(10))
    stream = _rlm(openai_server, max_retries=0).stream("x")
    threading.Timer(0.2, stream.cancel).start()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        while True:
            try:
                stream.take(timeout=0.05)
            except queue.Empty:
                continue
    assert time.monotonic() - started < 2.0
    assert stream.response.state == "stopped"
    assert openai_server.wait_disconnect(2.0)


def test_stop_wakes_a_read_blocked_mid_body_and_keeps_the_partial_text(openai_server):
    openai_server.script(Stream(["one ", "two ", "three"], stall_after=2, stall=10))
    stream = _rlm(openai_server).stream("x")
    assert [next(stream), next(stream)] == ["one ", "two "]
    threading.Timer(0.2, stream.cancel).start()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        next(stream)  # blocks, no deadline: only the Stop can wake it
    assert time.monotonic() - started < 2.0
    assert stream.response.state == "stopped" and stream.response.text == "one two "
    assert openai_server.wait_disconnect(2.0)


def test_stop_wakes_a_retrys_backoff(openai_server):
    openai_server.script(RateLimited(retry_after=20))
    stream = _rlm(openai_server, max_retries=2).stream("x")
    threading.Timer(0.3, stream.cancel).start()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        next(stream)
    assert time.monotonic() - started < 2.0 and stream.response.state == "stopped"
    assert len(openai_server.requests) == 1


def test_a_stream_left_early_then_a_new_call_on_the_same_thread_reads_normally(openai_server):
    """A Stop belongs to its stream only: the next call on this thread is not refused."""
    openai_server.script(Stream(["w "] * 200, delay=0.01), Stream("after"))
    rlm = _rlm(openai_server)
    stream = rlm.stream("long")
    next(stream)
    stream.cancel()
    with pytest.raises(asyncio.CancelledError):
        list(stream)
    assert rlm.run("again") == "after"
    rlm.close()


def test_the_other_sse_providers_read_over_the_bridge_too(vendor_server):
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hi"}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    vendor_server.script(Reply(200, "text/event-stream", sse(*events)))
    provider = AnthropicProvider("claude-test", api_key="sk-ant-TESTKEY-0123456789",
                                 base_url=vendor_server.base_url)
    rlm = RLM(provider, max_retries=0)
    threads = Threads()
    assert rlm.run("hi", callbacks=[threads]) == "Hi"
    assert threads.seen == {threading.current_thread().name}
    assert rlm.last_response.finish_reason == "stop"
    assert list(provider._clients._clients) == [_bridge.portal_loop()]
    rlm.close()


def test_tokens_a_server_flushed_one_by_one_and_already_received_come_over_as_one_batch(openai_server):
    """One socket read brings up to 64 KB, which a chunked body splits into a piece per chunk
    (per token, for a server that flushes each event): a reader that lags takes them together."""
    words = [f"w{i} " for i in range(3000)]
    openai_server.script(Stream(words))  # one write, one HTTP chunk, per token
    stream = _rlm(openai_server).stream("x")
    taken = [stream.take(timeout=5)]
    time.sleep(0.3)  # the rest arrives meanwhile
    while True:
        try:
            taken.append(stream.take(timeout=5))
        except StopIteration:
            break
    assert "".join(piece for batch in taken for piece in batch) == "".join(words)
    assert len(taken) < 100 and max(map(len, taken)) > 100
