"""The one step function and its pumps: the same hooks in the same order from every face (sync,
async, the agent's model calls with ``step=``), batches that keep order and Stop, and no module
of the core that imports the agent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, StreamingCallback, _bridge
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.events import Finish, ReasoningDelta, TextDelta, Usage
from rlm_toolkit.providers.base import Provider
from tests.fixtures.openai_server import Stream


class Thinker(Provider):
    """Reasoning, then text, usage and finish: every kind of event the LLM hooks react to."""

    name = "thinker"

    async def stream(self, request):
        for event in (ReasoningDelta(text="hm, "), ReasoningDelta(text="yes"),
                      ReasoningDelta(signature="sig"), TextDelta(text="a"), TextDelta(text="b"),
                      Usage(prompt_tokens=3, completion_tokens=2), Finish(reason="stop")):
            await asyncio.sleep(0)
            yield event


class Log(StreamingCallback):
    """Every LLM hook, with its ``step=`` and the thread it ran in."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def _log(self, name, value, kwargs):
        self.calls.append((name, value, kwargs.get("step"), threading.get_ident()))

    def on_llm_start(self, *, model, messages, **kwargs):
        self._log("start", model, kwargs)

    def on_llm_new_token(self, token, **kwargs):
        self._log("token", token, kwargs)

    def on_llm_reasoning(self, text, **kwargs):
        self._log("reasoning", text, kwargs)

    def on_llm_end(self, response, **kwargs):
        self._log("end", response.state, kwargs)

    def on_llm_error(self, error, **kwargs):
        self._log("error", type(error).__name__, kwargs)


def hooks_of(log: Log) -> list[tuple]:
    return [call[:3] for call in log.calls]


EXPECTED = [("start", "thinker:m", None), ("reasoning", "hm, ", None), ("reasoning", "yes", None),
            ("token", "a", None), ("token", "b", None), ("end", "done", None)]


def test_the_same_hooks_in_the_same_order_sync_and_async():
    sync_log, async_log = Log(), Log()
    rlm = RLM(Thinker("m"))
    assert list(rlm.stream("x", callbacks=[sync_log])) == ["a", "b"]

    async def main():
        return [c async for c in rlm.astream("x", callbacks=[async_log])]

    assert asyncio.run(main()) == ["a", "b"]
    assert hooks_of(sync_log) == hooks_of(async_log) == EXPECTED
    assert {call[3] for call in sync_log.calls} == {threading.get_ident()}


def test_agent_model_calls_deliver_the_llm_hooks_with_step_in_the_callers_thread():
    turns = [ScriptedTurn(chunks="Adding.", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]),
             "It is 3."]

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    def run(sync: bool) -> tuple[Log, Log, ReActAgent]:
        on_rlm, on_run = Log(), Log()
        agent = ReActAgent(RLM(ScriptedProvider(turns=turns), callbacks=[on_rlm]), tools=[add])
        if sync:
            agent.run("1 + 2?", callbacks=[on_run])
        else:
            asyncio.run(agent.arun("1 + 2?", callbacks=[on_run]))
        return on_rlm, on_run, agent

    (sync_rlm, sync_run, agent), (async_rlm, async_run, _) = run(True), run(False)
    expected = ([("start", "scripted:scripted", 1), ("token", "Adding.", 1), ("end", "done", 1)]
                + [("start", "scripted:scripted", 2), ("token", "It", 2), ("token", " is", 2),
                   ("token", " 3.", 2), ("end", "done", 2)])
    assert hooks_of(sync_rlm) == hooks_of(sync_run) == hooks_of(async_rlm) == hooks_of(async_run) == expected
    assert {call[3] for call in sync_run.calls + sync_rlm.calls} == {threading.get_ident()}
    assert agent.rlm.last_response.text == "It is 3." and agent.rlm.last_response.state == "done"


def test_an_agent_model_call_that_fails_reports_on_llm_error_with_its_step():
    log = Log()
    turns = [ScriptedTurn(chunks="partial answer", error=RuntimeError("down"), error_after=1)]
    agent = ReActAgent(RLM(ScriptedProvider(turns=turns)), tools=[])
    with pytest.raises(RuntimeError, match="down"):
        agent.run("x", callbacks=[log])
    assert hooks_of(log) == [("start", "scripted:scripted", 1), ("token", "partial", 1),
                             ("error", "RuntimeError", 1)]


async def counted(n: int, every: int):
    """``n`` integers, awaiting the loop after every ``every`` of them (as a read does)."""
    for i in range(n):
        if i % every == 0:
            await asyncio.sleep(0)
        yield i


def batches_of(source: _bridge.SyncIterator) -> list[list[int]]:
    out = []
    while True:
        try:
            out.append(source.take())
        except StopIteration:
            return out


def test_items_cross_threads_in_batches_per_wait_and_in_order():
    batches = batches_of(_bridge.iterate_sync(lambda: counted(1000, every=100)))
    assert [i for batch in batches for i in batch] == list(range(1000))
    assert len(batches) <= 20 and max(map(len, batches)) >= 50  # not one hand-over per item


def test_a_producer_that_never_waits_still_hands_over_in_bounded_batches():
    batches = batches_of(_bridge.iterate_sync(lambda: counted(3 * _bridge.MAX_BATCH, every=10**9)))
    assert [i for batch in batches for i in batch] == list(range(3 * _bridge.MAX_BATCH))
    assert len(batches) >= 3 and max(map(len, batches)) <= _bridge.MAX_BATCH


def test_cancel_from_another_thread_ends_after_the_queued_batches_and_closes_the_producer():
    closed = threading.Event()

    async def endless():
        try:
            i = 0
            while True:
                await asyncio.sleep(0.001)
                yield i
                i += 1
        finally:
            closed.set()

    source = _bridge.iterate_sync(endless)
    first = source.take()
    threading.Timer(0.05, source.cancel).start()
    seen = list(first)
    with pytest.raises(asyncio.CancelledError):
        while True:
            seen.extend(source.take(timeout=5))
    assert seen == list(range(len(seen))) and closed.wait(2)


def test_a_stream_taken_in_batches_runs_its_hooks_in_order_and_stops_cleanly(openai_server):
    # ``fast``: the body written in 64 KB pieces, so one read holds many events (a batch); a server
    # that flushes each event as its own HTTP chunk gives a batch per chunk to a sync reader.
    openai_server.script(Stream([f"w{i} " for i in range(3000)], fast=True), Stream("word " * 40, delay=0.05))
    log = Log()
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    stream = rlm.stream("x", callbacks=[log])
    taken = []
    while True:
        try:
            taken.append(stream.take(timeout=5))
        except StopIteration:
            break
    text = "".join(piece for batch in taken for piece in batch)
    assert text == "".join(f"w{i} " for i in range(3000)) == stream.response.text
    assert max(map(len, taken)) > 1
    assert [c[1] for c in log.calls if c[0] == "token"] == [f"w{i} " for i in range(3000)]
    assert log.calls[-1][:2] == ("end", "done")

    slow = rlm.stream("x")
    assert slow.take(timeout=5) == ["word"]
    threading.Timer(0.1, slow.cancel).start()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        while True:
            slow.take(timeout=5)
    assert time.monotonic() - started < 2
    assert slow.response.state == "stopped" and openai_server.wait_disconnect(2)


def test_traces_and_exporters_do_not_import_the_agent():
    core = "import rlm_toolkit.trace, rlm_toolkit.otel_import, rlm_toolkit.otel.spans"
    check = "import sys; print(sorted(m for m in sys.modules if m.startswith('rlm_toolkit.agents')))"
    out = subprocess.run([sys.executable, "-c", f"{core}; {check}"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
    from rlm_toolkit import agents, events

    assert agents.AgentEvent is events.AgentEvent  # still importable where it was


def test_a_budget_ends_a_stream_taken_in_batches_after_the_event_that_crossed_it():
    words = [f" w{i}" for i in range(200)]
    rlm = RLM(ScriptedProvider(words))
    log = Log()
    stream = rlm.stream("hello", max_tokens_total=20, callbacks=[log])  # 2 prompt tokens (estimated)
    taken = []
    with pytest.raises(StopIteration):
        while True:
            taken.extend(stream.take(timeout=5))
    assert "".join(taken) == stream.response.text == "".join(words[:19])
    assert (stream.response.state, stream.response.stop_reason) == ("stopped", "budget")
    assert [c[1] for c in log.calls if c[0] == "token"] == words[:19]
    assert log.calls[-1][:2] == ("end", "stopped")


def test_take_ready_joins_what_queued_behind_the_next_batch_and_keeps_the_end():
    async def slow_then_many():
        yield b"0"
        await asyncio.sleep(0.05)
        for i in range(1, 4):
            yield b"%d" % i
            await asyncio.sleep(0)  # each its own batch on the queue

    source = _bridge.iterate_sync(slow_then_many)
    assert source.take(5) == [b"0"]
    time.sleep(0.3)  # the rest queues meanwhile, in three batches, and the end behind them
    assert source.take_ready(10, 5) == [b"1", b"2", b"3"]
    with pytest.raises(StopIteration):
        source.take_ready(10, 5)


def test_take_ready_joins_no_more_than_its_limit_at_once():
    """A consumer that lagged far catches up in steps of about ``limit`` bytes, not all at once."""

    async def pieces():
        for _ in range(10):
            yield b"x" * 100
            await asyncio.sleep(0)  # each its own batch on the queue

    source = _bridge.iterate_sync(pieces)
    time.sleep(0.3)  # all ten queue
    steps = []
    while True:
        try:
            steps.append(sum(map(len, source.take_ready(250, 5))))
        except StopIteration:
            break
    assert steps == [300, 300, 300, 100]


def test_finish_lets_the_producer_end_on_its_own_then_closes():
    ended = threading.Event()

    async def tail():
        try:
            yield 0
            await asyncio.sleep(0.05)
            yield 1  # dropped: the consumer has what it needs
        finally:
            ended.set()

    source = _bridge.iterate_sync(tail)
    assert source.take(5) == [0]
    source.finish(2)
    assert ended.is_set()
    with pytest.raises(StopIteration):
        source.take()

