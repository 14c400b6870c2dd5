"""``RLM.close()`` / ``await RLM.aclose()`` close every connection the provider opened, on every loop.

The HTTP providers keep one ``httpx.AsyncClient`` per event loop (sync calls: the bridge loop's;
``arun``: the caller's), against loopback servers that speak each vendor's wire format. (A finished
stream gives its connection back to the client's pool, see test_connection_reuse.py; closing the
client closes the pool, so ``client.is_closed`` is what is checked here.)
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rlm_toolkit import RLM, ScriptedProvider
from rlm_toolkit.providers.anthropic import AnthropicProvider
from rlm_toolkit.providers.ollama import OllamaProvider
from rlm_toolkit.providers.openai_responses import OpenAIResponsesProvider

from ....fixtures.responses_events import ResponsesStream
from ....fixtures.vendor_servers import Reply, ndjson, sse

ANTHROPIC_ANSWER = [
    ("message_start", {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Hello"}}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                       "usage": {"output_tokens": 1}}),
    ("message_stop", {"type": "message_stop"}),
]
OLLAMA_ANSWER = [{"model": "m", "message": {"role": "assistant", "content": "Hello"}, "done": False},
                 {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True}]


class Served:
    """One HTTP provider against its loopback server: ``answer()`` queues one reply."""

    def __init__(self, name, openai_server, vendor_server) -> None:
        self.name = name
        if name == "openai":
            self.server = openai_server
            self.answer = lambda: None  # the server's default reply is a complete stream
            self.rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url,
                                       api_key=openai_server.api_key)
            return
        self.server = vendor_server
        if name == "anthropic":
            provider = AnthropicProvider("claude-test", api_key="sk-ant-TESTKEY-0123456789",
                                         base_url=vendor_server.base_url)
            reply = Reply(200, "text/event-stream", sse(*ANTHROPIC_ANSWER))
        elif name == "ollama":
            provider = OllamaProvider("llama3.2", host=vendor_server.base_url)
            reply = Reply(200, "application/x-ndjson", ndjson(*OLLAMA_ANSWER))
        else:
            provider = OpenAIResponsesProvider("gpt-5", api_key="sk-TESTKEY-responses-0123456789",
                                               base_url=vendor_server.base_url)
            reply = ResponsesStream().message("Hello").completed().reply()
        self.answer = lambda: vendor_server.script(reply)
        self.rlm = RLM(provider, max_retries=0)

    def run(self) -> str:
        self.answer()
        return self.rlm.run("hi")

    async def arun(self) -> str:
        self.answer()
        return await self.rlm.arun("hi")

    def clients(self) -> list:
        """The clients the provider holds now: one per loop it was used on (sync calls: the bridge's)."""
        return held(self.rlm)


def held(rlm) -> list:
    clients = rlm.provider._clients
    return list(clients._clients.values())


def closed(clients: list, timeout: float = 5.0) -> bool:
    """Whether every client is closed, once they are (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    while not all(c.is_closed for c in clients) and time.monotonic() < deadline:
        time.sleep(0.01)
    return all(c.is_closed for c in clients)


@pytest.fixture(params=["openai", "anthropic", "ollama", "openai-responses"])
def served(request, openai_server, vendor_server):
    return Served(request.param, openai_server, vendor_server)


def test_close_closes_the_bridge_loops_client_and_a_later_call_opens_another(served):
    assert served.run()
    (first,) = served.clients()
    assert not first.is_closed
    served.rlm.close()
    assert first.is_closed and served.clients() == []
    assert served.run()
    (second,) = served.clients()
    assert second is not first and not second.is_closed
    served.rlm.close()
    assert second.is_closed


def test_aclose_closes_the_bridge_loops_client_and_the_client_of_its_own_loop(served):
    served.run()  # the bridge loop's client

    async def main() -> list:
        await served.arun()  # and one on this loop
        clients = served.clients()
        assert len(clients) == 2 and not any(c.is_closed for c in clients)
        await served.rlm.aclose()
        return clients

    clients = asyncio.run(main())
    assert all(c.is_closed for c in clients) and served.clients() == []


def test_close_reaches_a_client_on_a_loop_running_in_another_thread(served):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(served.arun(), loop).result(10)
        clients = served.clients()
        assert len(clients) == 1
        served.rlm.close()  # scheduled on that loop, which closes it as soon as it runs
        assert closed(clients)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_a_client_whose_loop_has_closed_is_let_go(served):
    """``asyncio.run`` closes its loop; the client left on it cannot be closed there any more, and
    must not keep that loop alive (a client holds its loop: the weak key alone never let go)."""
    for _ in range(3):
        asyncio.run(served.arun())
    assert len(served.clients()) == 1  # each new loop's client replaced the dead loops' ones
    served.rlm.close()
    assert served.clients() == []


def test_scripted_close_and_aclose_leave_it_usable():
    rlm = RLM(ScriptedProvider("one two"))
    assert rlm.run("hi") == "one two"
    rlm.close()
    asyncio.run(rlm.aclose())
    assert rlm.run("hi") == "one two" and len(rlm.provider.requests) == 2


@pytest.mark.model
def test_local_close_leaves_no_worker_and_the_model_free():
    pytest.importorskip("llama_cpp")
    from rlm_toolkit.providers.local import LocalProvider

    rlm = RLM(LocalProvider("smollm2"))

    async def main() -> None:
        async for _ in rlm.astream("Count to ten.", max_tokens=20):
            break  # a worker thread was generating
        await rlm.aclose()

    asyncio.run(main())
    rlm.close()
    deadline = time.monotonic() + 10
    while any(t.name.startswith("rlm-local") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name.startswith("rlm-local") for t in threading.enumerate())
    assert rlm.run("Say hi.", max_tokens=3, temperature=0)  # the model's lock was given back


def test_a_forked_child_forgets_its_parents_clients_instead_of_waiting_on_their_loops(served):
    """The parent's loops have no thread in a forked child, and its sockets are the parent's:
    closing must neither wait on those loops nor close those sockets."""
    import multiprocessing

    served.run()  # the parent's client, on its bridge loop
    (parent_client,) = served.clients()

    def child(rlm, queue) -> None:
        asyncio.run(rlm.aclose())
        queue.put(len(held(rlm)))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(served.rlm, queue))
    process.start()
    process.join(20)
    if process.is_alive():
        process.kill()
    assert process.exitcode == 0 and queue.get(timeout=5) == 0
    assert not parent_client.is_closed  # the parent's own client is the parent's to close
    served.rlm.close()
    assert parent_client.is_closed
