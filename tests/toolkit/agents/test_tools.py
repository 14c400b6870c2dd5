"""Tools: schema from signatures and docstrings, argument checking, and clear definition errors."""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Annotated, Literal

import pytest

from rlm_toolkit.agents import ReActAgent, Tool, ToolInputError, as_tools, tool
from rlm_toolkit.agents._schema import parse_docstring
from rlm_toolkit.errors import UsageError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def search(query: str, limit: int = 3, tags: list[str] | None = None, exact: bool = False) -> list[str]:
    """Search the documentation.

    A second paragraph that says more.

    Args:
        query: What to look for.
        limit (int): How many results
            to return at most.
        tags: Only pages with these tags.
    """
    return [query] * limit


def numpy_style(x: float, mode: Literal["fast", "slow"] = "fast", color: Color = Color.RED) -> float:
    """Scale a number.

    Parameters
    ----------
    x : float
        The number.
    mode : str
        How to scale it.

    Returns
    -------
    float
    """
    return x


def test_schema_from_google_docstring_and_signature():
    t = tool(search)
    assert (
        t.name == "search"
        and t.description == "Search the documentation.\n\nA second paragraph that says more."
    )
    props = t.parameters["properties"]
    assert props["query"] == {"type": "string", "description": "What to look for."}
    assert props["limit"] == {
        "type": "integer",
        "description": "How many results to return at most.",
        "default": 3,
    }
    assert props["tags"]["anyOf"] == [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
    assert props["exact"] == {"type": "boolean", "default": False}
    assert t.parameters["required"] == ["query"]
    spec = t.spec()
    assert spec["type"] == "function" and spec["function"]["name"] == "search"


def test_schema_from_numpy_docstring_literal_and_enum():
    t = tool(numpy_style)
    assert t.description == "Scale a number."
    props = t.parameters["properties"]
    assert props["x"] == {"type": "number", "description": "The number."}
    assert props["mode"] == {
        "enum": ["fast", "slow"],
        "type": "string",
        "description": "How to scale it.",
        "default": "fast",
    }
    assert props["color"] == {"enum": ["red", "blue"], "default": "red"}


def test_sphinx_docstring_annotated_and_dict():
    def f(a: Annotated[int, "the a"], b: dict[str, int]) -> None:
        """Do f.

        :param b: a mapping
        """

    t = tool(f)
    assert t.parameters["properties"]["a"] == {"type": "integer", "description": "the a"}
    assert t.parameters["properties"]["b"] == {
        "type": "object", "additionalProperties": {"type": "integer"}, "description": "a mapping"}
    assert parse_docstring(None) == ("", {})


def test_decorator_forms_keep_the_function_callable():
    @tool
    def plain(x: int) -> int:
        """Double."""
        return 2 * x

    @tool(name="renamed", description="Custom text.")
    async def fetch(url: str) -> str:
        return url

    assert isinstance(plain, Tool) and plain(4) == 8 and not plain.is_async
    assert fetch.name == "renamed" and fetch.description == "Custom text." and fetch.is_async
    assert asyncio.run(fetch.ainvoke({"url": "u"})) == "u"


def test_arguments_are_checked_and_safely_coerced():
    t = tool(search)
    assert t.validate({"query": "q", "limit": "5", "exact": "true"}) == {
        "query": "q",
        "limit": 5,
        "exact": True,
    }
    assert t.validate({"query": 42, "limit": 2.0, "tags": '["a"]'}) == {
        "query": "42",
        "limit": 2,
        "tags": ["a"],
    }
    assert t.validate({"query": "q", "tags": None}) == {"query": "q", "tags": None}
    for bad, words in [
        ({}, "missing required argument(s): query"),
        ({"query": "q", "limit": "many"}, "argument 'limit': expected integer"),
        ({"query": "q", "nope": 1}, "unknown argument(s): nope"),
        ({"query": "q", "limit": True}, "expected integer"),
        ({"query": "q", "tags": [1, {"x": 1}]}, "fits none"),
        (["q"], "must be a JSON object"),
    ]:
        with pytest.raises(ToolInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
            t.validate(bad)
    n = tool(numpy_style)
    assert n.validate({"x": "1.5", "mode": "slow", "color": "blue"}) == {
        "x": 1.5,
        "mode": "slow",
        "color": "blue",
    }
    with pytest.raises(ToolInputError, match="not one of"):
        n.validate({"x": 1, "mode": "medium"})


def test_the_seed_placeholder_is_a_clear_usage_error():
    for value in ([...], [search, ...], ...):
        with pytest.raises(UsageError, match=r"placeholder.*tools=\[search, calculate\]"):
            as_tools(value)
    # The same error from the seed's own constructor call, before any provider is contacted.
    with pytest.raises(UsageError, match="placeholder"):
        ReActAgent.from_openai("gpt-4o", tools=[...])


@pytest.mark.parametrize(
    "value, words",
    [
        ([42], "not callable"),
        (["search"], "not callable"),
        ("search", "must be a list"),
        ([lambda x: x], "no usable name"),
        ([search, tool(search)], "two tools are named 'search'"),
    ],
)
def test_bad_tool_definitions(value, words):
    with pytest.raises(UsageError, match=words):
        as_tools(value)


def test_bad_signatures():
    def star(*items: int) -> int:
        return 0

    def odd(x: complex) -> None:
        """Odd type."""

    def unresolved(x: NoSuchType) -> None:  # noqa: F821
        """Forward reference that does not resolve."""

    with pytest.raises(UsageError, match=r"\*items cannot be filled"):
        tool(star)
    with pytest.raises(UsageError, match="parameter 'x' of tool 'odd' is annotated"):
        tool(odd)
    with pytest.raises(UsageError, match="do not resolve"):
        tool(unresolved)
    with pytest.raises(UsageError, match="not allowed"):
        tool(search, name="has space")


def test_single_function_and_tool_objects_and_untyped_parameters():
    def untyped(x, y=2):
        return x

    t = as_tools(untyped)[0]
    assert t.parameters["properties"] == {"x": {}, "y": {"default": 2}}
    assert t.validate({"x": [1, "a"]}) == {"x": [1, "a"]}
    custom = Tool(
        name="echo", description="Echo.", parameters={"type": "object", "properties": {}}, fn=lambda: "e"
    )
    assert as_tools([custom]) == [custom]


async def test_sync_tools_run_off_the_loop_and_time_out():
    def slow(seconds: float) -> str:
        """Sleep."""
        time.sleep(seconds)
        return "done"

    t = tool(slow)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    assert await t.ainvoke({"seconds": 0.2}) == "done"
    assert ticks >= 5  # the loop kept running while the tool slept
    with pytest.raises(TimeoutError):
        await t.ainvoke({"seconds": 1.0}, timeout=0.05)
    task.cancel()


def test_agents_public_names_are_pinned():
    import rlm_toolkit.agents as agents

    assert set(agents.__all__) == {
        "ReActAgent", "AgentEvent", "AgentEventType", "EVENT_TYPES", "AgentStream", "AsyncAgentStream",
        "StepRecord", "Tool", "tool", "as_tools", "ToolInputError", "AGENT_OPTIONS",
        "ApprovalRequest", "ask_user", "fork", "afork", "report_progress", "ToolOutput",
    }
    assert all(hasattr(agents, name) for name in agents.__all__)
