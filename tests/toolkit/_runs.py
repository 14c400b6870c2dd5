"""Small recorded agent runs shared by the trace-format tests (OTel out/in, diff)."""

from __future__ import annotations

from pathlib import Path

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents.react import ReActAgent

__all__ = ["add", "divide", "native_run", "text_run", "failing_tool_run", "max_steps_run"]


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def divide(a: int, b: int) -> float:
    """Divide a by b."""
    return a / b


def _agent(turns, tools, mode="native", **params) -> ReActAgent:
    return ReActAgent(RLM(ScriptedProvider(turns=turns), **params), tools=tools, mode=mode, max_steps=3)


def native_run(path: Path, b: int = 2, **params) -> ReActAgent:
    turns = [
        ScriptedTurn(
            chunks="Let me add.", tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": b}}]
        ),
        f"The sum is {1 + b}.",
    ]
    agent = _agent(turns, [add], **params)
    agent.run("What is 1 + 2?", record=str(path))
    return agent


def text_run(path: Path) -> ReActAgent:
    turns = [
        'Thought: I should add.\nAction: add\nAction Input: {"a": 1, "b": 2}\n',
        "Thought: done.\nFinal Answer: 3",
    ]
    agent = _agent(turns, [add], mode="text")
    agent.run("What is 1 + 2?", record=str(path))
    return agent


def failing_tool_run(path: Path) -> ReActAgent:
    turns = [
        ScriptedTurn(tool_calls=[{"id": "c9", "name": "divide", "arguments": {"a": 1, "b": 0}}]),
        "Cannot divide by zero.",
    ]
    agent = _agent(turns, [divide])
    agent.run("What is 1 / 0?", record=str(path))
    return agent


def max_steps_run(path: Path) -> ReActAgent:
    turns = [ScriptedTurn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 1}}])]
    agent = _agent(turns, [add])
    agent.run("Loop forever", record=str(path))
    return agent
