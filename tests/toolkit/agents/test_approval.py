"""Approval of tool calls (``ReActAgent(approve=...)``) with the scripted provider: approve, deny,
approvers that raise or never answer, sync and async, native tool calls and the text ReAct format."""

from __future__ import annotations

import asyncio
import builtins
import threading
import time

import pytest

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, StreamingCallback
from rlm_toolkit.agents import ApprovalRequest, ReActAgent, ask_user
from rlm_toolkit.errors import UsageError
from rlm_toolkit.trace import load, replay

RAN: list[tuple[int, int]] = []


def add(a: int, b: int) -> int:
    """Add two integers."""
    RAN.append((a, b))
    return a + b


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()


def two_calls_then_answer():
    """One step asking for two calls (2+40 and 1+1), then an answer."""
    return ScriptedProvider(turns=[
        ScriptedTurn(chunks="Adding.", tool_calls=[
            {"id": "c1", "name": "add", "arguments": {"a": 2, "b": 40}},
            {"id": "c2", "name": "add", "arguments": {"a": 1, "b": "1"}}]),
        "Done."])


def text_mode_provider():
    return ScriptedProvider(supports_tools_=False, turns=[
        'Thought: I need the sum.\nAction: add\nAction Input: {"a": 2, "b": 3}\n',
        "Thought: it was refused.\nFinal Answer: I may not add."])


def only_first(request: ApprovalRequest) -> bool | str:
    return True if request.call_id == "c1" else "not this one"


def check_approved_then_denied(events, provider):
    kinds = [e.type for e in events if e.type != "token"]
    assert kinds == ["thought", "action", "approval", "approval", "observation",
                     "action", "approval", "approval", "observation", "final"]
    waiting, granted = events[[e.type for e in events].index("approval")], None
    approvals = [e for e in events if e.type == "approval"]
    waiting, granted, waiting2, denied = approvals
    assert (waiting.tool_name, waiting.input, waiting.call_id, waiting.outcome) == ("add", {"a": 2, "b": 40},
                                                                                   "c1", None)
    assert granted.outcome == "approved" and granted.content == ""
    assert waiting2.input == {"a": 1, "b": 1}  # the validated arguments: what the tool would get
    assert denied.outcome == "denied" and denied.content == "not this one"
    first, second = [e for e in events if e.type == "observation"]
    assert first.content == "42" and first.outcome is None
    assert second.outcome == "denied" and not second.is_error
    assert second.content == "The call to 'add' was denied and did not run: not this one."
    assert RAN == [(2, 40)]  # the denied call never ran
    # The model is told: the tool message of the denied call carries the denial.
    sent = provider.requests[1].messages
    assert sent[-1] == {"role": "tool", "tool_call_id": "c2", "content": second.content}
    assert events[-1].content == "Done." and not events[-1].is_error


class Seen(StreamingCallback):
    def __init__(self):
        self.started, self.events = [], []

    def on_tool_start(self, tool_name, input, **kw):
        self.started.append(kw["call_id"])

    def on_agent_event(self, event, **kw):
        self.events.append((event.type, event.outcome))


def test_sync_native_one_call_approved_one_denied_and_callbacks_see_it():
    provider = two_calls_then_answer()
    seen = Seen()
    agent = ReActAgent(RLM(provider), tools=[add], approve=only_first)
    events = list(agent.stream("2+40 and 1+1", callbacks=[seen]))
    check_approved_then_denied(events, provider)
    assert seen.started == ["c1"]  # a tool starts only once approved
    assert ("approval", "denied") in seen.events and ("observation", "denied") in seen.events


def test_async_approver_in_arun():
    async def approve(request):
        await asyncio.sleep(0.01)
        return only_first(request)

    async def main():
        provider = two_calls_then_answer()
        agent = ReActAgent(RLM(provider), tools=[add], approve=approve)
        events = [e async for e in agent.astream("2+40 and 1+1")]
        check_approved_then_denied(events, provider)

    asyncio.run(main())


@pytest.mark.parametrize("approved", [True, False])
@pytest.mark.parametrize("driver", ["sync", "async"])
def test_text_mode(approved, driver):
    provider = text_mode_provider()
    agent = ReActAgent(RLM(provider), tools=[add], mode="text", approve=lambda request: approved)
    if driver == "sync":
        events = list(agent.stream("2+3"))
    else:
        async def collect():
            return [e async for e in agent.astream("2+3")]

        events = asyncio.run(collect())
    observation = next(e for e in events if e.type == "observation")
    sent = provider.requests[1].messages[-1]
    if approved:
        assert observation.content == "5" and RAN == [(2, 3)] and sent["content"] == "Observation: 5"
    else:
        assert observation.outcome == "denied" and RAN == []
        told = "Observation: The call to 'add' was denied and did not run: denied by the approver."
        assert sent == {"role": "user", "content": told}
    assert events[-1].type == "final" and not events[-1].is_error


class Odd(Exception):
    pass


@pytest.mark.parametrize("raised, named", [
    (Odd("no reason"), "the approver failed (Odd: no reason)"),
    (SystemExit(3), "the approver failed (SystemExit: 3)"),
    (KeyboardInterrupt(), "the approver failed (KeyboardInterrupt)"),
])
def test_an_approver_that_raises_denies_and_the_run_goes_on(raised, named):
    def approve(request):
        raise raised

    provider = text_mode_provider()
    agent = ReActAgent(RLM(provider), tools=[add], mode="text", approve=approve)
    events = list(agent.stream("2+3"))
    denied = [e for e in events if e.outcome == "denied"]
    assert [e.type for e in denied] == ["approval", "observation"] and denied[0].content == named
    assert RAN == [] and events[-1].type == "final" and events[-1].content == "I may not add."


def test_a_non_decision_is_a_denial_that_says_so():
    agent = ReActAgent(RLM(text_mode_provider()), tools=[add], mode="text", approve=lambda r: 1)
    denied = next(e for e in agent.stream("2+3") if e.type == "approval" and e.outcome)
    assert denied.outcome == "denied"
    assert denied.content == "the approver returned int, not True, False or a reason"


def test_a_call_that_cannot_run_is_not_put_to_the_approver():
    asked = []
    provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[{"name": "nope", "arguments": {}}]), "Ok."])
    agent = ReActAgent(RLM(provider), tools=[add], approve=lambda r: asked.append(r) or True)
    events = list(agent.stream("x"))
    assert asked == [] and "approval" not in [e.type for e in events]
    assert next(e for e in events if e.type == "observation").is_error


def test_closing_the_stream_while_the_approver_waits_ends_the_run_at_once():
    release = threading.Event()
    asked = threading.Event()

    def approve(request):
        asked.set()
        release.wait(30)
        return True

    agent = ReActAgent(RLM(two_calls_then_answer()), tools=[add], approve=approve)
    stream = agent.stream("x")
    for event in stream:
        if event.type == "approval":
            break
    assert asked.wait(5)
    began = time.perf_counter()
    stream.close()
    assert time.perf_counter() - began < 2 and RAN == []
    release.set()


def test_approve_true_asks_on_the_console(monkeypatch):
    prompts = []
    answers = iter(["y", "no thanks"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": prompts.append(prompt) or next(answers))
    events = list(ReActAgent(RLM(two_calls_then_answer()), tools=[add], approve=True).stream("x"))
    assert prompts[0] == 'rlm: step 1 wants to run add({"a": 2, "b": 40}) — approve? [y/N] '
    assert [e.content for e in events if e.outcome == "denied"][0] == "the user answered 'no thanks'"
    assert RAN == [(2, 40)]


def test_ask_user_where_nothing_can_be_typed_denies_with_a_reason():
    from IPython.core.error import StdinNotImplementedError

    request = ApprovalRequest(tool_name="add", arguments={}, call_id="c", step=1)

    def closed(prompt):
        raise EOFError

    def no_stdin(prompt):
        raise StdinNotImplementedError("raw_input was called, but this frontend does not support input")

    assert ask_user(request, prompt=closed) == "nobody could be asked: standard input is closed"
    assert ask_user(request, prompt=no_stdin).startswith("nobody could be asked: this front end takes no")
    assert ask_user(request, prompt=lambda p: " YES ") is True
    assert ask_user(request, prompt=lambda p: "") == "the user said no"


def test_approve_must_be_a_function_or_true():
    with pytest.raises(UsageError, match="approve must be a function"):
        ReActAgent(RLM(ScriptedProvider()), approve="yes")
    assert ReActAgent.from_model("scripted:x", approve=True).approve is True


def test_traces_keep_the_decisions(tmp_path):
    path = tmp_path / "run.jsonl"
    agent = ReActAgent(RLM(two_calls_then_answer()), tools=[add], approve=only_first)
    agent.run("x", record=path)
    replayed = [e for e in replay(load(path), None) if getattr(e, "type", None) == "approval"]
    assert [(e.call_id, e.outcome, e.content) for e in replayed] == [
        ("c1", None, ""), ("c1", "approved", ""), ("c2", None, ""), ("c2", "denied", "not this one")]


def test_each_tool_start_fires_once_with_or_without_an_error():
    def broken(x: int) -> int:
        """Fails."""
        raise ValueError("broken")

    class Hooks(StreamingCallback):
        def __init__(self):
            self.calls = []

        def on_tool_start(self, tool_name, input, **kw):
            self.calls.append(("start", kw["call_id"]))

        def on_tool_error(self, error, **kw):
            self.calls.append(("error", kw["call_id"]))

    provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[
        {"id": "ok", "name": "broken", "arguments": {"x": 1}},        # approved, raises
        {"id": "bad", "name": "broken", "arguments": {"x": "one"}}]),  # invalid: never asked
        "Done."])
    hooks = Hooks()
    ReActAgent(RLM(provider), tools=[broken], approve=lambda r: True).run("x", callbacks=[hooks])
    assert hooks.calls == [("start", "ok"), ("error", "ok"), ("start", "bad"), ("error", "bad")]


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_an_approver_that_changes_the_arguments_changes_nothing(tmp_path, driver):
    """Approved with one value, run with the same: the approver gets a copy to read (mutating it,
    nested lists included, reaches neither the tool nor the record of what was approved)."""
    ran = []

    def total(values: list[int], label: str) -> str:
        """Sum the values."""
        ran.append((list(values), label))
        return f"{label}: {sum(values)}"

    def sly(request: ApprovalRequest) -> bool:
        request.arguments["label"] = "evil"
        request.arguments["values"].append(1000)
        request.arguments["extra"] = True
        return True

    async def sly_async(request: ApprovalRequest) -> bool:
        return sly(request)

    provider = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"id": "c1", "name": "total",
                                  "arguments": {"values": [1, 2], "label": "sum"}}]),
        "Done."])
    path = tmp_path / "run.jsonl"
    if driver == "sync":
        agent = ReActAgent(RLM(provider), tools=[total], approve=sly)
        events = list(agent.stream("add them", record=path))
    else:
        agent = ReActAgent(RLM(provider), tools=[total], approve=sly_async)

        async def main():
            async with agent.astream("add them", record=path) as stream:
                return [e async for e in stream]

        events = asyncio.run(main())
    assert ran == [([1, 2], "sum")]
    approved = {"values": [1, 2], "label": "sum"}
    assert [e.input for e in events if e.type == "approval"] == [approved, approved]
    assert next(e for e in events if e.type == "observation").content == "sum: 3"
    replayed = [e for e in replay(load(path), None) if getattr(e, "type", None) in ("approval", "action")]
    assert [e.input for e in replayed] == [approved] * 3
    assert agent.history[0].tool_calls[0]["input"] == approved
