"""The agent loop with the scripted provider: every branch, the event order, callbacks and history."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, StreamingCallback
from rlm_toolkit.agents import AgentEvent, ReActAgent, tool
from rlm_toolkit.errors import RateLimitError, ServerError, UsageError


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


def boom(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"it broke: {reason}")


def sleepy(seconds: float) -> str:
    """Sleeps."""
    time.sleep(seconds)
    return "awake"


async def lookup(key: str) -> dict:
    """Look a key up (async)."""
    await asyncio.sleep(0.01)
    return {"key": key, "value": key.upper()}


def call(name, arguments=None, id=None):
    out = {"name": name, "arguments": {} if arguments is None else arguments}
    if id:
        out["id"] = id
    return out


def agent_for(*turns, tools=(add,), **kw):
    provider = ScriptedProvider(turns=list(turns))
    return ReActAgent(RLM(provider), tools=list(tools), **kw), provider


def kinds(events):
    return [e.type for e in events]


def check_invariants(events):
    assert [e.type for e in events].count("final") == 1 and events[-1].type == "final"
    assert all(isinstance(e, AgentEvent) and e.step >= 1 and e.timestamp > 0 for e in events)
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    actions = [e for e in events if e.type == "action"]
    observations = [e for e in events if e.type == "observation"]
    assert [a.call_id for a in actions] == [o.call_id for o in observations]
    for a, o in zip(actions, observations):
        assert events.index(a) < events.index(o) and a.tool_name == o.tool_name and o.duration is not None


def test_one_tool_then_answer():
    agent, provider = agent_for(
        ScriptedTurn(chunks="I will add.", tool_calls=[call("add", {"a": 2, "b": 40}, id="c1")]),
        "The sum is 42.",
    )
    events = list(agent.stream("2 + 40?"))
    check_invariants(events)
    assert kinds(events) == ["token"] * 3 + ["thought", "action", "observation"] + ["token"] * 4 + ["final"]
    thought, action, observation = events[3:6]
    assert thought.content == "I will add." and thought.streamed and thought.step == 1
    assert (action.tool_name, action.input, action.call_id) == ("add", {"a": 2, "b": 40}, "c1")
    assert observation.content == "42" and not observation.is_error and observation.step == 1
    assert "".join(e.content for e in events if e.type == "token" and e.step == 2) == "The sum is 42."
    assert events[-1].content == "The sum is 42." and events[-1].step == 2 and not events[-1].is_error
    # The tool result went back to the model as a tool message with the call's id.
    sent = provider.requests[1].messages
    assert sent[-2]["tool_calls"][0]["id"] == "c1" and sent[-2]["tool_calls"][0]["function"]["name"] == "add"
    assert sent[-1] == {"role": "tool", "tool_call_id": "c1", "content": "42"}
    assert provider.requests[0].tools[0]["function"]["name"] == "add"


def test_run_returns_the_answer_and_several_calls_in_one_turn():
    def make():
        calls = [call("add", {"a": 1, "b": 2}), call("lookup", {"key": "x"}), call("add", {"a": 3, "b": 4})]
        return agent_for(ScriptedTurn(tool_calls=calls), "Done.", tools=[add, lookup])

    assert make()[0].run("go") == "Done."
    agent, provider = make()
    events = list(agent.stream("go"))
    check_invariants(events)
    assert kinds(events)[:6] == ["action", "observation"] * 3  # no text: no thought
    assert [e.content for e in events if e.type == "observation"] == ["3", '{"key": "x", "value": "X"}', "7"]
    ids = [e.call_id for e in events if e.type == "action"]
    assert len(set(ids)) == 3
    assert [m.get("tool_call_id") for m in provider.requests[-1].messages[-3:]] == ids


@pytest.mark.parametrize(
    "turn_call, tools, words",
    [
        (call("boom", {"reason": "x"}), [boom], "ValueError: it broke: x"),
        (call("nosuch", {}), [add], "there is no tool named 'nosuch'; the tools are: add"),
        (call("add", {"a": "one", "b": 2}), [add], "argument 'a': expected integer"),
        (call("add", {"a": 1}), [add], "missing required argument(s): b"),
        (call("add", '{"a": 1, "b": '), [add], "not valid JSON"),
        (call("sleepy", {"seconds": 2}), [sleepy], "did not finish within 0.2 s"),
    ],
    ids=["raises", "unknown-tool", "bad-type", "missing-arg", "bad-json", "timeout"],
)
def test_tool_failures_become_error_observations_and_the_agent_goes_on(turn_call, tools, words):
    agent, provider = agent_for(
        ScriptedTurn(tool_calls=[turn_call]), "Recovered.", tools=tools, tool_timeout=0.2
    )
    started = time.perf_counter()
    events = list(agent.stream("go"))
    assert time.perf_counter() - started < 1.5
    check_invariants(events)
    assert kinds(events) == ["action", "observation", "error", "token", "final"]
    observation, error = events[1], events[2]
    assert observation.is_error and words in observation.content
    assert error.is_error and error.content == observation.content and error.call_id == observation.call_id
    assert events[-1].content == "Recovered." and not events[-1].is_error
    assert words in provider.requests[1].messages[-1]["content"]  # the model saw the error


def test_async_tool_and_astream_parity():
    def make():
        turn = ScriptedTurn(tool_calls=[call("lookup", {"key": "k"})])
        return agent_for(turn, "K it is.", tools=[lookup])[0]

    async def collect():
        return [e async for e in make().astream("go")], await make().arun("go")

    events, answer = asyncio.run(collect())
    sync_events = list(make().stream("go"))
    assert kinds(events) == kinds(sync_events) and answer == "K it is."
    assert [e.content for e in events] == [e.content for e in sync_events]


def test_max_steps_ends_with_error_and_failed_final():
    agent, provider = agent_for(ScriptedTurn(tool_calls=[call("add", {"a": 1, "b": 1})]), max_steps=3)
    events = list(agent.stream("loop forever"))
    check_invariants(events)
    assert kinds(events) == ["action", "observation"] * 3 + ["error", "final"]
    assert "max_steps=3" in events[-2].content and events[-1].is_error and "max_steps=3" in events[-1].content
    assert len(provider.requests) == 3 and agent.last_final.is_error
    assert agent.run("again").startswith("No final answer")


def test_provider_error_mid_run_emits_error_and_final_then_raises():
    failure = ServerError("500 from scripted", status_code=500)
    agent, _ = agent_for(
        ScriptedTurn(tool_calls=[call("add", {"a": 1, "b": 1})]),
        ScriptedTurn(chunks="The answer is", error=failure, error_after=2))
    events = []
    with pytest.raises(ServerError) as raised:
        for event in agent.stream("go"):
            events.append(event)
    assert raised.value is failure
    assert kinds(events) == ["action", "observation", "token", "token", "error", "final"]
    assert events[-2].content.startswith("ServerError: 500") and events[-1].is_error
    assert events[-1].content == "The answer"
    assert (
        agent.history[-1].error.startswith("ServerError") and agent.history[-1].response["state"] == "error"
    )


def test_error_before_any_text_and_arun_raises_typed():
    error = RateLimitError("429 slow down", status_code=429, retry_after=99)
    agent, _ = agent_for(ScriptedTurn(error=error))
    with pytest.raises(RateLimitError):
        asyncio.run(agent.arun("go"))
    assert agent.last_final.is_error and agent.last_final.content == ""


def test_a_bad_parameter_still_ends_with_error_and_final():
    agent, _ = agent_for("never")
    events = []
    with pytest.raises(UsageError, match="a prompt is a string"):
        for event in agent.stream(42):
            events.append(event)
    assert [e.type for e in events] == ["error", "final"] and events[-1].is_error


def test_callbacks_fire_in_event_order_in_the_callers_thread():
    seen = []
    me = threading.get_ident()

    class Recorder(StreamingCallback):
        def on_llm_start(self, **kw):
            seen.append(("llm_start", threading.get_ident()))

        def on_llm_new_token(self, token, **kw):
            seen.append(("llm_token", token))

        def on_llm_end(self, response, **kw):
            seen.append(("llm_end", response.finish_reason))

        def on_agent_event(self, event, **kw):
            seen.append(("event", event.type))

        def on_agent_action(self, action, **kw):
            seen.append(("action", action.tool_name))

        def on_tool_start(self, tool_name, input, **kw):
            seen.append(("tool_start", tool_name, input, threading.get_ident()))

        def on_tool_end(self, output, **kw):
            seen.append(("tool_end", output, kw["tool_name"]))

        def on_tool_error(self, error, **kw):
            seen.append(("tool_error", type(error).__name__, kw["call_id"]))

        def on_agent_finish(self, final, **kw):
            seen.append(("finish", final.content))

    def make(**kw):
        calls = [call("add", {"a": 1, "b": 2}), call("boom", {"reason": "r"}, id="b1")]
        return agent_for(ScriptedTurn(tool_calls=calls), ["Ok"], tools=[add, boom], **kw)[0]

    list(make(callbacks=[Recorder()]).stream("go"))
    assert seen == [
        ("llm_start", me), ("llm_end", "tool_calls"),
        ("event", "action"), ("action", "add"), ("tool_start", "add", {"a": 1, "b": 2}, me),
        ("event", "observation"), ("tool_end", "3", "add"),
        ("event", "action"), ("action", "boom"), ("tool_start", "boom", {"reason": "r"}, me),
        ("event", "observation"), ("tool_error", "ValueError", "b1"), ("event", "error"),
        ("llm_start", me), ("llm_token", "Ok"), ("event", "token"), ("llm_end", "stop"),
        ("event", "final"), ("finish", "Ok"),
    ]
    # Per-call callbacks and async runs see the same order.
    seen.clear()
    asyncio.run(make().arun("go", callbacks=[Recorder()]))
    assert [s[0] for s in seen][:5] == ["llm_start", "llm_end", "event", "action", "tool_start"]
    assert seen[-1] == ("finish", "Ok")


def test_the_rlms_own_callbacks_run_once_in_the_callers_thread():
    seen = []

    class OnModel(StreamingCallback):
        def on_llm_new_token(self, token, **kw):
            seen.append((token, threading.get_ident()))

    provider = ScriptedProvider(
        turns=[ScriptedTurn(tool_calls=[call("add", {"a": 1, "b": 1})]), ["Tw", "o."]]
    )
    agent = ReActAgent(RLM(provider, callbacks=[OnModel()]), tools=[add])
    assert agent.run("x") == "Two."
    assert seen == [("Tw", threading.get_ident()), ("o.", threading.get_ident())]
    assert agent.rlm.last_response.text == "Two."


def test_history_keeps_the_exact_messages_of_each_step():
    provider = ScriptedProvider(turns=[
        ScriptedTurn(chunks="Adding.", tool_calls=[call("add", {"a": 5, "b": 6}, id="z")]), "Eleven."])
    agent = ReActAgent(RLM(provider, temperature=0), tools=[add], system_prompt="Be brief.")
    agent.run("5+6")
    first, second = agent.history
    assert first.step == 1 and first.mode == "native" and first.params == {"temperature": 0}
    assert first.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "5+6"}]
    assert (
        first.messages == provider.requests[0].messages
        and first.messages is not provider.requests[0].messages
    )
    assert first.tools[0]["function"]["name"] == "add"
    assert first.text == "Adding." and first.tool_calls[0]["input"] == {"a": 5, "b": 6}
    assert first.observations[0]["content"] == "11" and first.response["finish_reason"] == "tool_calls"
    assert second.messages == provider.requests[1].messages and len(second.messages) == 4
    assert second.final == "Eleven." and second.duration is not None
    data = second.to_dict()
    assert data["messages"][3] == {"role": "tool", "tool_call_id": "z", "content": "11"}
    # A deep copy: changing what the loop sends later does not change the record.
    first.messages[0]["content"] = "edited"
    assert provider.requests[0].messages[0]["content"] == "Be brief."


def test_breaking_out_stops_the_run():
    agent, provider = agent_for(ScriptedTurn(chunks="one two three four five six", delay=0.02), "never")
    with agent.stream("go") as events:
        first = next(events)
    assert first.type == "token"
    time.sleep(0.1)
    assert len(provider.requests) == 1


def test_a_bare_for_break_stops_the_run_at_once():
    called = []

    def record(x: int) -> int:
        """Record a call."""
        called.append(x)
        return x

    agent, provider = agent_for(
        ScriptedTurn(chunks="a b c d e f", tool_calls=[call("record", {"x": 1})], delay=0.05),
        "end",
        tools=[record],
    )
    for event in agent.stream("go"):  # noqa: B007  (the first event is checked below)
        break
    time.sleep(0.5)
    assert event.type == "token" and called == [] and len(provider.requests) == 1


def test_cancelling_astream_cancels_a_running_async_tool():
    state = {}

    async def wait_long(seconds: float) -> str:
        """Wait."""
        state["started"] = True
        try:
            await asyncio.sleep(seconds)
        finally:
            state["cleaned"] = True
        return "late"

    agent, _ = agent_for(
        ScriptedTurn(tool_calls=[call("wait_long", {"seconds": 30})]), "end", tools=[wait_long]
    )

    async def main():
        seen = []

        async def consume():
            async for event in agent.astream("go"):
                seen.append(event.type)

        task = asyncio.ensure_future(consume())
        while not state.get("started"):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    started = time.perf_counter()
    assert asyncio.run(main()) == ["action"]
    assert state["cleaned"] and time.perf_counter() - started < 5


def test_next_with_a_timeout_wakes_while_a_tool_runs():
    import queue

    agent, _ = agent_for(ScriptedTurn(tool_calls=[call("sleepy", {"seconds": 0.3})]), "end", tools=[sleepy])
    with agent.stream("go") as events:
        assert events.next(timeout=5).type == "action"
        with pytest.raises(queue.Empty):
            events.next(timeout=0.05)
        rest = [events.next(timeout=5).type for _ in range(3)]
    assert rest == ["observation", "token", "final"]


def test_works_inside_a_running_loop_and_from_a_thread():
    agent, _ = agent_for(ScriptedTurn(tool_calls=[call("add", {"a": 1, "b": 1})]), "Two.")

    async def in_loop():
        return agent.run("x")

    assert asyncio.run(in_loop()) == "Two."
    out = []
    worker = threading.Thread(target=lambda: out.append(agent.run("x")))
    worker.start()
    worker.join(10)
    assert out == ["Two."]


def test_constructor_checks_and_from_model_splits_options():
    with pytest.raises(UsageError, match="mode must be"):
        ReActAgent(RLM(ScriptedProvider()), mode="magic")
    with pytest.raises(UsageError, match="max_steps"):
        ReActAgent(RLM(ScriptedProvider()), max_steps=0)
    with pytest.raises(UsageError, match="no native tool calls"):
        ReActAgent(RLM(ScriptedProvider(supports_tools_=False)), mode="native")
    agent = ReActAgent.from_model("scripted", tools=[add], max_steps=2, tool_timeout=1.0, temperature=0.5,
                                  turns=["Hi."])
    assert agent.max_steps == 2 and agent.tool_timeout == 1.0 and agent.rlm.params == {"temperature": 0.5}
    assert agent.native and agent.run("x") == "Hi." and "ReActAgent('scripted:scripted'" in repr(agent)


def test_tool_decorated_with_custom_name_is_called_by_that_name():
    @tool(name="plus", description="Adds.")
    def whatever(a: int, b: int) -> int:
        return a + b

    agent, _ = agent_for(ScriptedTurn(tool_calls=[call("plus", {"a": "2", "b": 3})]), "5", tools=[whatever])
    events = list(agent.stream("go"))
    assert [e.content for e in events if e.type == "observation"] == ["5"]
