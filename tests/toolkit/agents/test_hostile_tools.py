"""Hostile tools and approvers (issue 20): a tool that holds the GIL past its timeout, a result that
cannot be shown, an approver that edits the call it approves. docs/hostile-inputs.md lists them."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from rlm_toolkit import RLM, ScriptedTurn, StreamingCallback
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.agents.tools import tool
from tests.toolkit.test_hostile import bounded, bridge_still_works


def agent_for(*turns, tools, **kw):
    return ReActAgent(RLM.from_scripted(turns=list(turns)), tools=tools, **kw)


def one_call(name, **arguments):
    return ScriptedTurn(tool_calls=[{"name": name, "arguments": arguments}])


class Ends(StreamingCallback):
    """What the callbacks were told about tool calls."""

    def __init__(self):
        self.ended, self.failed = [], []

    def on_tool_end(self, output, **kwargs):
        self.ended.append(output)

    def on_tool_error(self, error, **kwargs):
        self.failed.append(error)


# -- a tool that holds the GIL past tool_timeout ---------------------------------------------------


def greedy(seconds: float) -> str:
    """Busy-loops for ``seconds`` holding the GIL (as a long C call does: no other thread runs)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)  # no forced switch: the event loop cannot fire the timeout meanwhile
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    finally:
        sys.setswitchinterval(interval)
    return "late but proud"


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_result_that_comes_after_tool_timeout_is_dropped_not_accepted(face):
    ends = Ends()
    agent = agent_for(one_call("greedy", seconds=0.8), "Recovered.", tools=[greedy], tool_timeout=0.2,
                      callbacks=[ends])
    if face == "sync":
        events = bounded(lambda: list(agent.stream("go")))
    else:
        async def collect():
            return [event async for event in agent.astream("go")]

        events = bounded(lambda: asyncio.run(collect()))
    observation = next(e for e in events if e.type == "observation")
    assert observation.is_error and "did not finish within 0.2 s" in observation.content
    assert "late but proud" not in observation.content
    assert any(e.type == "error" and "did not finish" in e.content for e in events)
    assert ends.ended == [] and len(ends.failed) == 1
    step_two = agent.history[1].messages[-1]
    assert step_two["role"] == "tool" and "late but proud" not in step_two["content"]
    assert events[-1].content == "Recovered."


async def test_call_in_thread_drops_a_late_result_even_when_the_loop_saw_it_late():
    with pytest.raises(TimeoutError):
        await tool(greedy).ainvoke({"seconds": 0.6}, timeout=0.1)


async def test_a_late_error_is_a_timeout_too():
    def greedy_then_fails(seconds: float) -> str:
        """Holds the GIL, then raises."""
        greedy(seconds)
        raise ValueError("too late to matter")

    with pytest.raises(TimeoutError):
        await tool(greedy_then_fails).ainvoke({"seconds": 0.6}, timeout=0.1)


# -- a result that cannot be shown -----------------------------------------------------------------


class Exits:
    """Its first conversion to text raises (later ones work, so that pytest can still report it)."""

    def __init__(self, how):
        self.how, self.spent = how, False

    def _fail(self):
        if self.spent:
            return "spent"
        self.spent = True
        if self.how == "exit":
            raise SystemExit(7)
        if self.how == "interrupt":
            raise KeyboardInterrupt("from __str__")
        raise RuntimeError("no text for you")

    def __str__(self):
        return self._fail()

    def __format__(self, spec):
        return self._fail()


class ReprExits(Exits):
    """Only its ``__repr__`` raises (``str()`` falls back to it)."""

    __str__ = object.__str__

    def __repr__(self):
        return self._fail()


class HostileText(str):
    """A str whose own conversions fail (the first time): what the model is shown is its plain text."""

    spent = False

    def __str__(self):
        if not type(self).spent:
            type(self).spent = True
            raise SystemExit(8)
        return "spent"

    def __format__(self, spec):
        return self.__str__()


def _hostile(how: str):
    """Returns a result that cannot be turned into text (directly, or inside a list)."""
    if how == "nested":
        return {"rows": [Exits("exit")]}
    if how == "repr":
        return ReprExits("exit")
    return Exits(how)


@pytest.mark.parametrize("how", ["exit", "interrupt", "error", "nested", "repr"])
@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_result_whose_str_raises_is_an_error_observation_and_the_run_goes_on(how, face):
    def unshowable(kind: str):
        """Returns something that cannot be shown."""
        return _hostile(kind)

    async def unshowable_async(kind: str):
        """Returns something that cannot be shown (async)."""
        return _hostile(kind)

    fn = unshowable if face == "sync" else unshowable_async
    ends = Ends()
    agent = agent_for(one_call("show", kind=how), "Recovered.", tools=[tool(fn, name="show")],
                      callbacks=[ends])
    events = bounded(lambda: list(agent.stream("go")))
    observation = next(e for e in events if e.type == "observation")
    assert observation.is_error
    assert "the result of tool 'show' could not be shown" in observation.content
    kind = {"exit": "SystemExit", "interrupt": "KeyboardInterrupt", "error": "RuntimeError",
            "nested": "SystemExit", "repr": "SystemExit"}[how]
    assert kind in observation.content
    assert events[-1].type == "final" and events[-1].content == "Recovered." and not events[-1].is_error
    assert ends.ended == [] and len(ends.failed) == 1
    bridge_still_works()


async def test_a_result_that_cannot_be_shown_in_an_async_run():
    def unshowable() -> object:
        """Returns something that cannot be shown."""
        return Exits("exit")

    agent = agent_for(one_call("unshowable"), "Recovered.", tools=[unshowable])
    events = [event async for event in agent.astream("go")]
    observation = next(e for e in events if e.type == "observation")
    assert observation.is_error and "could not be shown" in observation.content
    assert "SystemExit" in observation.content
    assert events[-1].content == "Recovered."


def test_a_str_subclass_result_is_shown_as_its_plain_text_in_both_modes():
    def sly() -> str:
        """Returns text whose own __str__ and __format__ exit."""
        return HostileText("plain words")

    native = agent_for(one_call("sly"), "Done.", tools=[sly])
    events = bounded(lambda: list(native.stream("go")))
    observation = next(e for e in events if e.type == "observation")
    assert not observation.is_error and observation.content == "plain words"
    assert type(observation.content) is str
    # the text format puts it into an f-string (``Observation: …``): its __format__ must never run
    text = agent_for('Action: sly\nAction Input: {}', "Final Answer: Done.", tools=[sly], mode="text")
    events = bounded(lambda: list(text.stream("go")))
    assert next(e for e in events if e.type == "observation").content == "plain words"
    assert events[-1].content == "Done."


class _Unspeakable(Exception):
    """An error whose own text cannot be had: ``str()`` of it raises."""

    def __init__(self, exc: type[BaseException]):
        super().__init__()
        self.exc = exc

    def __str__(self):
        raise self.exc("no words")


@pytest.mark.parametrize("exc", [SystemExit, KeyboardInterrupt, RuntimeError])
def test_a_tool_error_whose_str_raises_is_an_error_observation_and_the_run_goes_on(exc):
    def fails() -> str:
        """Raises an error that cannot be described."""
        raise _Unspeakable(exc)

    agent = agent_for(one_call("fails"), "Recovered.", tools=[fails])
    events = bounded(lambda: list(agent.stream("go")))
    observation = next(e for e in events if e.type == "observation")
    assert observation.is_error and "_Unspeakable" in observation.content
    assert f"str() of it raised {exc.__name__}" in observation.content
    assert events[-1].type == "final" and events[-1].content == "Recovered."
    bridge_still_works()
