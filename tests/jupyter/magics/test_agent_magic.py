"""The handlers behind ``%%rlm --agent`` and ``%rlm replay``, without a kernel.

test_agent_magic_kernel runs them in one."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError as MagicUsageError

from rlm_jupyter.magics import agent as agent_magic
from rlm_jupyter.magics import trace as trace_magic
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.errors import UsageError
from rlm_toolkit.trace import load


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def scripted() -> RLM:
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(chunks="Adding.", tool_calls=[{"name": "add", "arguments": {"a": 20, "b": 22}}]),
        "It is 42.",
    ]))


def test_tools_come_from_the_namespace_and_unknown_names_are_named():
    namespace = {"add": add, "x": 3}
    assert agent_magic.resolve_tools("add", namespace) == [add]
    assert agent_magic.resolve_tools(" add , ", namespace) == [add]
    assert agent_magic.resolve_tools(None, namespace) == []
    with pytest.raises(UsageError, match="no function named 'search'"):
        agent_magic.resolve_tools("add,search", namespace)
    with pytest.raises(UsageError, match="'x' is a int, not a function"):
        agent_magic.resolve_tools("x", namespace)


def test_run_agent_shows_the_run_and_records_it(tmp_path):
    path = tmp_path / "run.jsonl"
    view = agent_magic.run_agent("What is 20 + 22?\n", scripted(), [add], record=str(path))
    assert view.state == "done" and view.timeline.final == "It is 42."
    assert view.timeline.model == "scripted:scripted"
    assert view.messages(1)[-1] == {"role": "user", "content": "What is 20 + 22?"}
    trace = load(path)
    assert trace.text == "It is 42." and trace.messages(2)[-1]["content"] == "42"
    with pytest.raises(UsageError, match="empty"):
        agent_magic.run_agent("  \n", scripted(), [add])


def test_replay_shows_an_agent_trace_again_without_a_model(tmp_path, monkeypatch):
    monkeypatch.setattr("rlm_jupyter.live.show.has_widget_frontend", lambda: True)  # compare the widgets' ops
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    path = tmp_path / "run.jsonl"
    live = agent_magic.run_agent("What is 20 + 22?", scripted(), [add], record=str(path))
    view = trace_magic.replay(path, speed=None)
    def without_timings(ops):
        return [{k: v for k, v in op.items() if k not in ("duration", "elapsed")} for op in ops]

    assert without_timings(view.snapshot) == without_timings(live.snapshot)
    for a, b in zip(view.snapshot, live.snapshot):  # durations agree (the run's start is the recording's)
        assert abs((a.get("duration") or 0) - (b.get("duration") or 0)) < 0.05
    assert view.timeline.model == "scripted:scripted" and view.state == "done"
    assert view.messages(2) == live.messages(2)
    assert [r.text for s in view.timeline.steps.values() for r in s.rows] == \
        [r.text for s in live.timeline.steps.values() for r in s.rows]


@pytest.mark.parametrize("line, message", [
    ("", "required: FILE; usage: %rlm replay"),
    ("a.jsonl b.jsonl", "unrecognized arguments: b.jsonl; usage: %rlm replay"),
    ("a.jsonl --fast", "unrecognized arguments: --fast"),
    ("a.jsonl --speed", "--speed: expected one argument"),
    ("a.jsonl --speed x", "--speed: needs a number"),
    ("a.jsonl --speed 0", "positive"),
    ("missing.jsonl", "no trace file 'missing.jsonl'"),
])
def test_replay_line_mistakes_are_usage_errors(shell, line, message):
    with pytest.raises(MagicUsageError, match=message):
        shell.run_line_magic("rlm", f"replay {line}")
