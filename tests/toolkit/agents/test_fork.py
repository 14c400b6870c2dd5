"""Forking a recorded agent run at step N (rlm_toolkit.agents.fork) against the loopback OpenAI server:
steps before N are replayed from the record (no request, no tool call), step N sends the edit exactly,
the fork goes on live, and its trace names its parent. Bad forks are one-line UsageErrors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from rlm_toolkit import RLM
from rlm_toolkit.agents import ReActAgent, afork, fork
from rlm_toolkit.errors import RLMError, UsageError
from rlm_toolkit.trace import diff, load
from tests.fixtures.openai_server import Status, Stream


class Counted:
    """A real tool that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def add(self, a: int, b: int) -> int:
        """Add two integers."""
        self.calls.append((a, b))
        return a + b


def _call(call_id: str, a: int, b: int) -> Stream:
    return Stream("", tool_calls=[{"id": call_id, "name": "add", "arguments": {"a": a, "b": b}}])


def _rlm(server) -> RLM:
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key)


def _four_steps(server, path: Path) -> Counted:
    """A 4-step run: three tool calls (c1, c2, c3), then the answer."""
    counted = Counted()
    server.script(_call("c1", 1, 2), _call("c2", 3, 4), _call("c3", 5, 6), Stream("The sums are 3, 7, 11."))
    agent = ReActAgent(_rlm(server), tools=[counted.add], mode="native")
    agent.run("Add 1+2, 3+4, 5+6.", record=str(path))
    assert len(server.requests) == 4 and len(counted.calls) == 3
    return counted


def test_fork_at_step_3_replays_1_and_2_and_sends_the_edit_exactly(openai_server, tmp_path):
    parent = tmp_path / "run.jsonl"
    _four_steps(openai_server, parent)
    run = load(parent)
    edited = run.messages(3)
    assert edited[-1] == {"role": "tool", "tool_call_id": "c2", "content": "7"}
    edited[-1]["content"] = "70 (edited)"
    before = len(openai_server.requests)
    counted = Counted()
    openai_server.script(Stream("Then the answer is 70."))
    events = list(run.fork(step=3, messages=edited, model=_rlm(openai_server),
                           tools=[counted.add], record=str(tmp_path / "fork.jsonl")))
    # steps 1-2: the recorded events, no request and no tool call
    replayed = [e for e in events if e.step < 3]
    assert [e.type for e in replayed if e.type in ("action", "observation")] == ["action", "observation"] * 2
    assert [e.content for e in replayed if e.type == "observation"] == ["3", "7"]
    assert counted.calls == []
    assert len(openai_server.requests) == before + 1  # step 3 only, then the answer
    sent = openai_server.requests[-1]["messages"]
    assert sent == edited  # the edit, exactly
    final = events[-1]
    assert final.type == "final" and final.content == "Then the answer is 70." and final.step == 3
    forked = load(tmp_path / "fork.jsonl")
    assert forked.parent == {"file": str(parent), "step": 3, "edits": {"messages": edited}}
    assert sorted(forked.steps) == [1, 2, 3] and forked.messages(3) == edited
    assert forked.messages(1) == run.messages(1)
    text = (tmp_path / "fork.jsonl").read_text()
    assert openai_server.api_key not in text


def test_tool_results_edit_by_call_id_and_the_fork_goes_on_live_with_real_tools(openai_server, tmp_path):
    parent = tmp_path / "run.jsonl"
    _four_steps(openai_server, parent)
    counted = Counted()
    openai_server.script(_call("c9", 7, 8), Stream("Done."))
    events = list(fork(parent, 3, tool_results={"c1": "300"}, model=_rlm(openai_server), tools=[counted.add]))
    sent = openai_server.requests[-2]["messages"]
    assert {"role": "tool", "tool_call_id": "c1", "content": "300"} in sent
    assert [e.content for e in events if e.type == "observation"] == ["300", "7", "15"]
    assert counted.calls == [(7, 8)]  # a live call runs the real tool
    assert events[-1].content == "Done." and events[-1].step == 4


def test_approve_is_honoured_for_the_tools_a_fork_calls_live(openai_server, tmp_path):
    """The replayed steps ask nobody (nothing runs); each live call, of a tool the recorded run used or
    of one it never called, is put to approve= first, and a denied call does not run."""
    parent = tmp_path / "run.jsonl"
    _four_steps(openai_server, parent)
    counted = Counted()
    multiplied: list[tuple[int, int]] = []

    def mul(a: int, b: int) -> int:
        """Multiply two integers."""
        multiplied.append((a, b))
        return a * b

    asked = []

    def approve(request):
        asked.append((request.step, request.tool_name, request.arguments))
        return True if request.tool_name == "add" else "no multiplying in this fork"

    openai_server.script(
        Stream("", tool_calls=[{"id": "m1", "name": "mul", "arguments": {"a": 6, "b": 7}},
                               {"id": "a1", "name": "add", "arguments": {"a": 8, "b": 9}}]),
        Stream("Done."))
    events = list(fork(parent, 3, model=_rlm(openai_server), tools=[counted.add, mul], approve=approve))
    assert asked == [(3, "mul", {"a": 6, "b": 7}), (3, "add", {"a": 8, "b": 9})]  # none for steps 1-2
    assert multiplied == [] and counted.calls == [(8, 9)]
    live = {e.call_id: e for e in events if e.type == "observation" and e.step == 3}
    assert live["m1"].outcome == "denied" and "no multiplying in this fork" in live["m1"].content
    assert live["a1"].content == "17" and not live["a1"].is_error
    assert [e.outcome for e in events if e.type == "approval" and e.outcome] == ["denied", "approved"]


def test_recorded_tools_serve_the_recorded_result_and_refuse_others(openai_server, tmp_path):
    parent = tmp_path / "run.jsonl"
    _four_steps(openai_server, parent)
    openai_server.script(_call("x1", 5, 6), _call("x2", 9, 9), Stream("ok"))
    events = list(fork(parent, 3, model=_rlm(openai_server), tools="recorded"))
    observations = [e for e in events if e.type == "observation" and e.step >= 3]
    assert observations[0].content == "11" and not observations[0].is_error  # recorded c3
    assert observations[1].is_error and "was not called with" in observations[1].content
    assert "tools='recorded'" in observations[1].content


def test_afork_streams_the_same_events(openai_server, tmp_path):
    parent = tmp_path / "run.jsonl"
    _four_steps(openai_server, parent)
    openai_server.script(Stream("async answer"))

    async def go():
        return [e async for e in afork(parent, 2, model=_rlm(openai_server), tools="recorded")]

    events = asyncio.run(go())
    assert [e.type for e in events if e.step == 1][-2:] == ["action", "observation"]
    assert events[-1].content == "async answer" and events[-1].step == 2


def _bad(message: str, call, *args, **kwargs) -> None:
    with pytest.raises(UsageError) as caught:
        call(*args, **kwargs)
    text = str(caught.value)
    assert "\n" not in text and message in text, text


def test_bad_forks_are_one_line_usage_errors(openai_server, tmp_path):
    parent = tmp_path / "run.jsonl"
    _four_steps(openai_server, parent)
    requests = len(openai_server.requests)
    rlm = _rlm(openai_server)
    _bad(f"{parent}: step 9 is beyond the run (it has 4 steps", fork, parent, 9, model=rlm, tools="recorded")
    _bad(f"{parent}: no tool call 'nope' before step 3 (call ids: c1, c2)", fork, parent, 3,
         tool_results={"nope": "x"}, model=rlm, tools="recorded")
    _bad("no tool call 'c3' before step 3", fork, parent, 3, tool_results={"c3": "x"}, model=rlm,
         tools="recorded")
    _bad("the run used tools (add); pass tools=", fork, parent, 3, model=rlm)
    _bad("step must be a step number", fork, parent, 0, model=rlm, tools="recorded")
    lines = parent.read_text().splitlines()
    holed = tmp_path / "holed.jsonl"
    holed.write_text("\n".join(line for line in lines if json.loads(line).get("type") != "step"
                               or json.loads(line)["step"] != 2) + "\n")
    assert 2 not in load(holed).steps
    _bad(f"{holed}: step 2 is missing from the trace", fork, holed, 3, model=rlm, tools="recorded")
    newer = tmp_path / "newer.jsonl"
    header = json.loads(lines[0])
    newer.write_text("\n".join([json.dumps({**header, "version": 2}), *lines[1:]]) + "\n")
    _bad(f"{newer}:1: trace format version 2 is newer", fork, newer, 2, model=rlm, tools="recorded")
    stream = tmp_path / "stream.jsonl"
    rlm_plain = _rlm(openai_server)
    openai_server.script(Stream("hi"))
    "".join(c for c in rlm_plain.stream("hi", record=str(stream)))
    _bad("a stream trace, not an agent run", fork, stream, 1, model=rlm, tools="recorded")
    assert len(openai_server.requests) == requests + 1  # only the stream trace's own call


def test_a_failed_run_forks_from_its_last_good_step(openai_server, tmp_path):
    parent = tmp_path / "failed.jsonl"
    openai_server.script(_call("c1", 1, 2), Status(400, {"error": {"message": "bad request"}}))
    agent = ReActAgent(_rlm(openai_server), tools=[Counted().add], mode="native")
    with pytest.raises(RLMError):
        agent.run("Add 1+2.", record=str(parent))
    run = load(parent)
    assert run.state == "error" and max(run.steps) == 2
    _bad("step 3 is beyond the run (it failed at step 2; fork at 1..2)", fork, run, 3,
         model=_rlm(openai_server), tools="recorded")
    openai_server.script(Stream("3"))
    events = list(run.fork(model=_rlm(openai_server), tools="recorded"))  # default: the failed step
    assert events[-1].content == "3" and events[-1].step == 2 and not events[-1].is_error
    assert openai_server.requests[-1]["messages"] == run.messages(2)


def test_an_old_trace_has_no_parent_and_an_odd_parent_is_ignored(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps({"type": "header", "version": 1, "kind": "agent", "parent": "x"}) + "\n")
    assert load(path).parent is None


def test_diff_of_a_parent_and_its_fork_marks_the_fork_point(openai_server, tmp_path):
    parent = tmp_path / "run.jsonl"
    _four_steps(openai_server, parent)
    openai_server.script(_call("c3", 5, 6), Stream("The sums are 3, 70, 11."))
    list(fork(parent, 3, tool_results={"c2": "70"}, model=_rlm(openai_server), tools="recorded",
              record=str(tmp_path / "fork.jsonl")))
    d = diff(str(parent), str(tmp_path / "fork.jsonl"))
    assert d.fork_step == 3
    marked = d.steps[d.divergence]
    assert (marked.step_a, marked.step_b) == (3, 3)
    line = next(x for x in str(d).splitlines() if "◀" in x)
    assert line.startswith("  3/3") and "◀ fork point (step 3, edited)" in line
    assert 'class="rlm-diverge"' in d.to_html()
    # the other way round too; and two unrelated runs mark their first differing pair
    assert diff(str(tmp_path / "fork.jsonl"), str(parent)).fork_step == 3
    other = tmp_path / "other.jsonl"
    openai_server.script(_call("c1", 1, 2), Stream("just 3"))
    ReActAgent(_rlm(openai_server), tools=[Counted().add], mode="native").run("Add 1+2.", record=str(other))
    d = diff(str(parent), str(other))
    assert d.fork_step is None and d.divergence == 1 and "◀ diverges here" in str(d)
