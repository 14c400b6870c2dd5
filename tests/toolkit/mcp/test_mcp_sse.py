"""The legacy HTTP+SSE transport (the SDK's ``sse_client``) against a real server (the demo server,
the SDK's MCPServer run with ``transport="sse"``) started on 127.0.0.1 by the test."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("mcp")

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn  # noqa: E402
from rlm_toolkit.agents import ReActAgent  # noqa: E402
from rlm_toolkit.errors import MCPServerError, MCPToolError  # noqa: E402
from rlm_toolkit.mcp import MCPServers, load_config  # noqa: E402
from tests.fixtures.mcp_servers import _free_port, children  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def run(tool, **arguments):
    return asyncio.run(tool.fn(**arguments))


def test_which_urls_are_sse():
    specs = {s.name: s for s in load_config({"mcpServers": {
        "typed": {"type": "sse", "url": "http://127.0.0.1:1/events"},
        "by_path": {"url": "http://127.0.0.1:1/sse"},       # pydantic-ai's reading: a path ending in /sse
        "by_path_slash": {"url": "http://127.0.0.1:1/sse/"},
        "streamable": {"url": "http://127.0.0.1:1/mcp"},
        "told_http": {"type": "http", "url": "http://127.0.0.1:1/sse"},  # an explicit type wins
    }})}
    assert {n: s.transport for n, s in specs.items()} == {
        "typed": "sse", "by_path": "sse", "by_path_slash": "sse", "streamable": "http", "told_http": "http"}


def test_sse_server_tools_calls_errors_and_an_agent(mcp_sse):
    before = children()
    # "type": "sse" is what tells rlm: a streamable-HTTP client posting to /sse would be refused there
    config = {"mcpServers": {"old": {"type": "sse", "url": mcp_sse, "headers": {"X-Test": "abc"}}}}
    with MCPServers(config) as servers:
        tools = {t.name: t for t in servers.tools()}
        assert tools["add"].server == "old" and servers.status()[0]["transport"] == "sse"
        assert run(tools["add"], a=20, b=22) == "42"
        with pytest.raises(MCPToolError, match="Error executing tool fail"):
            run(tools["fail"], reason="sse")
        provider = ScriptedProvider(turns=[
            ScriptedTurn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}, "id": "c1"}]), "3"])
        events = list(ReActAgent(RLM(provider), tools=list(tools.values())).stream("1 + 2?"))
        observation = next(e for e in events if e.type == "observation")
        assert (observation.content, observation.server, observation.is_error) == ("3", "old", False)
        assert servers.status()[0]["state"] == "ready"
    assert servers.status()[0]["state"] == "stopped"
    assert children() - before == set()


def test_a_call_the_tool_timeout_ends_over_sse(mcp_sse):
    with MCPServers({"mcpServers": {"old": {"type": "sse", "url": mcp_sse}}}, tool_timeout=0.5) as servers:
        slow = {t.name: t for t in servers.tools()}["slow"]
        started = time.monotonic()
        with pytest.raises(MCPToolError, match="Timed out|timed out|timeout"):
            run(slow, seconds=30)
        assert time.monotonic() - started < 10


def test_an_sse_url_nobody_listens_on_is_a_clear_error():
    port = _free_port()
    servers = MCPServers({"mcpServers": {"gone": {"url": f"http://127.0.0.1:{port}/sse"}}}, start_timeout=5)
    started = time.monotonic()
    with pytest.raises(MCPServerError) as caught:
        servers.tools()
    assert time.monotonic() - started < 15
    assert "MCP server 'gone' failed to start" in caught.value.message and caught.value.server == "gone"
    assert servers.status()[0]["state"] == "failed"
