"""A finished stream gives its connection back to the pool; a stream left early closes it.

Providers return at their final event, before the body's last bytes (``[DONE]``, the chunked
terminator) arrive. Without reading those, httpx closes the connection, and every call — each step
of an agent — pays for a new TCP (and, against a real API, TLS) handshake. Against the loopback
OpenAI-compatible server, which keeps connections alive, counted by the connections it accepted.
"""

from __future__ import annotations

import asyncio
import gc
import time
import warnings

from rlm_toolkit import RLM
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.providers.openai_responses import OpenAIResponsesProvider

from ....fixtures.openai_server import Stream
from ....fixtures.responses_events import ResponsesStream


def _chat(server) -> RLM:
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, max_retries=0)


def test_sequential_sync_calls_share_one_connection(openai_server):
    rlm = _chat(openai_server)
    openai_server.script(Stream("one two"), Stream("three"), Stream("four"), Stream("five"))
    assert rlm.run("a") == "one two"
    assert rlm.run("b") == "three"
    assert openai_server.accepted == 1
    # A caller's own loop (here asyncio.run's, which closes behind our back) keeps nothing open.
    assert asyncio.run(rlm.arun("c")) == "four"
    assert asyncio.run(rlm.arun("d")) == "five"
    assert openai_server.accepted == 3
    assert openai_server.disconnects == 0
    deadline = time.monotonic() + 5
    while openai_server.open_connections > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert openai_server.open_connections == 1  # the sync calls' pooled one; those loops' are closed
    rlm.close()


def test_a_provider_dropped_without_close_closes_its_pooled_connection(openai_server):
    rlm = _chat(openai_server)
    assert rlm.run("a")
    assert openai_server.open_connections == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del rlm
        gc.collect()
        deadline = time.monotonic() + 5
        while openai_server.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        gc.collect()
    assert openai_server.open_connections == 0
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks


def test_a_stream_left_early_closes_its_connection_and_the_next_call_opens_one(openai_server):
    rlm = _chat(openai_server)
    openai_server.script(Stream(["w "] * 200, delay=0.01), Stream("next"))
    with rlm.stream("long") as chunks:
        for _ in chunks:
            break
    assert openai_server.wait_disconnect(5.0)  # the server saw the hang-up: it stops generating
    assert rlm.run("again") == "next"
    assert openai_server.accepted == 2
    rlm.close()


def test_an_agent_runs_all_its_steps_on_one_connection(openai_server):
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    openai_server.script(Stream("", tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 40}}]),
                         Stream("42"))
    agent = ReActAgent(_chat(openai_server), tools=[add])
    assert agent.run("2 + 40?") == "42"
    assert len(openai_server.requests) == 2
    assert openai_server.accepted == 1


def test_the_responses_api_reuses_its_connection_too(openai_server):
    provider = OpenAIResponsesProvider(
        "gpt-5", api_key=openai_server.api_key, base_url=openai_server.base_url
    )
    rlm = RLM(provider, max_retries=0)
    openai_server.script(ResponsesStream().message("Hello").completed(),
                         ResponsesStream().message("again").completed())
    assert rlm.run("hi") == "Hello"
    assert rlm.run("hi") == "again"
    assert openai_server.accepted == 1
    rlm.close()
