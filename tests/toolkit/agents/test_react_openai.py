"""The agent against a real HTTP server speaking OpenAI's streaming protocol (loopback), and the
seed's agent snippet run unchanged except for its ``tools=[...]`` placeholder."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.errors import ServerError, UsageError
from tests.fixtures.openai_server import Status, Stream

#: The seed page ships as docs/streaming.md (tests/toolkit/test_seed_snippets.py checks the copy).
SEED = Path(__file__).resolve().parents[3] / "docs" / "streaming.md"


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def search(query: str) -> str:
    """Search the web for a query and return a short summary."""
    return f"Python is a programming language (result for {query!r}). " * 5


def agent_for(server, **kw):
    return ReActAgent.from_openai("gpt-4o", tools=[add, search], base_url=server.base_url,
                                  api_key=server.api_key, **kw)


def test_native_tool_calls_streamed_in_pieces_over_sse(openai_server):
    openai_server.script(
        Stream("Let me compute both.", tool_calls=[
            {"name": "add", "arguments": {"a": 2, "b": 40}, "id": "call_a"},
            {"name": "search", "arguments": {"query": "python"}, "id": "call_b"},
        ], arg_pieces=4),
        Stream("2 + 40 = 42, and Python is a language."),
    )
    agent = agent_for(openai_server)
    events = list(agent.stream("Add 2 and 40, then search python."))
    kinds = [e.type for e in events]
    assert kinds[:5] == ["token"] * 4 + ["thought"]
    assert kinds[5:9] == ["action", "observation", "action", "observation"]
    assert kinds[-1] == "final" and kinds.count("final") == 1
    assert (
        events[5].input == {"a": 2, "b": 40} and events[5].call_id == "call_a" and events[6].content == "42"
    )
    assert events[7].input == {"query": "python"} and events[8].call_id == "call_b"
    assert events[-1].content == "2 + 40 = 42, and Python is a language."
    first, second = openai_server.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["add", "search"]
    assert first["tools"][0]["function"]["parameters"]["properties"]["a"]["type"] == "integer"
    assistant, tool_a, tool_b = second["messages"][-3:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"a": 2, "b": 40}
    assert tool_a == {"role": "tool", "tool_call_id": "call_a", "content": "42"}
    assert tool_b["tool_call_id"] == "call_b" and "Python" in tool_b["content"]
    assert agent.history[1].messages == second["messages"]


def test_server_error_mid_answer_after_a_tool_call(openai_server):
    openai_server.script(
        Stream("", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 1}}]),
        Stream("The answer is two", error_after=2),
    )
    events = []
    with pytest.raises(Exception) as raised:
        for event in agent_for(openai_server).stream("1+1"):
            events.append(event)
    assert type(raised.value).__module__.startswith("rlm_toolkit")
    assert [e.type for e in events] == ["action", "observation", "token", "token", "error", "final"]
    assert events[-1].is_error and events[-1].content == "The answer"


def test_http_500_on_every_retry_ends_with_failed_final(openai_server):
    openai_server.script(Status(500), Status(500), Status(500))
    agent = agent_for(openai_server)
    agent.rlm.retry_backoff = 0.01
    with pytest.raises(ServerError):
        agent.run("x")
    assert agent.last_final.is_error and agent.history[0].response["state"] == "error"


def seed_agent_snippet() -> str:
    text = SEED.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    snippet = next(b for b in blocks if "ReActAgent" in b)
    assert snippet.count("tools=[...]") == 1
    return snippet


def test_the_seed_snippet_with_its_placeholder_is_a_clear_error(openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    with pytest.raises(UsageError, match="placeholder"):
        exec(compile(seed_agent_snippet(), "seed", "exec"), {})
    assert openai_server.requests == []


def test_the_seed_snippet_prints_thoughts_actions_observations_tokens_and_answer(openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    openai_server.script(
        Stream("I will search first.", tool_calls=[{"name": "search", "arguments": {"query": "Python"}}]),
        Stream("Python is a popular programming language."),
    )
    code = seed_agent_snippet().replace("tools=[...]", "tools=[search, add]")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "seed", "exec"), {"search": search, "add": add})
    printed = out.getvalue()
    assert "I will search first." in printed  # tokens
    assert "\n[Думает] I will search first." in printed
    assert "\n[Действие] search({'query': 'Python'})" in printed
    assert f"\n[Результат] {search('Python')[:100]}..." in printed
    assert (
        "Python is a popular programming language.\n[Ответ] Python is a popular programming language."
        in printed
    )
    assert openai_server.requests[0]["model"] == "gpt-4o"
