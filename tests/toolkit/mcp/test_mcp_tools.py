"""MCP tools against real servers the tests start: stdio (a script on the SDK's MCPServer, and the
published ``mcp-server-time``), streamable HTTP on 127.0.0.1, and an agent calling them."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time

import pytest

pytest.importorskip("mcp")

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn  # noqa: E402
from rlm_toolkit.agents import ReActAgent  # noqa: E402
from rlm_toolkit.errors import MCPToolError, scrub  # noqa: E402
from rlm_toolkit.mcp import MAX_RESULT_CHARS, MCPServers, mcp_tools, stop_all  # noqa: E402
from tests.fixtures.mcp_servers import children  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def call(name, arguments=None, id="c1"):
    return {"name": name, "arguments": arguments or {}, "id": id}


def run(tool, **arguments):
    return asyncio.run(tool.fn(**arguments))


def test_stdio_server_tools_become_agent_tools_with_schema_and_server(mcp_script):
    before = children()
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        tools = {t.name: t for t in servers.tools()}
        add = tools["add"]
        assert add.server == "demo" and add.remote_name == "add"
        assert add.parameters["properties"]["a"]["type"] == "integer"
        assert add.parameters["required"] == ["a", "b"]
        assert "Add two integers." in add.description and "'demo'" in add.description
        # a name no vendor accepts is made safe, the server still gets its own name
        assert tools["dotted_name"].remote_name == "dotted.name" and run(tools["dotted_name"]) == "dotted"
        assert run(add, a=2, b=40) == "42"
        # its stderr, read from rlm's pipe by a thread of its own: the line may land just after the call
        deadline = time.monotonic() + 10
        while "adding 2 and 40" not in servers.log("demo") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "adding 2 and 40" in servers.log("demo")
        assert servers.status()[0]["state"] == "ready"
        assert len(children() - before) == 1
    assert servers.status()[0]["state"] == "stopped"
    assert children() - before == set()


def test_an_agent_calls_an_mcp_tool_and_the_server_is_reused(mcp_script):
    before = children()
    servers = MCPServers({"mcpServers": {"demo": mcp_script("demo")}})
    try:
        tools = servers.tools()
        provider = ScriptedProvider(turns=[
            ScriptedTurn(chunks="Adding.", tool_calls=[call("add", {"a": 2, "b": 40})]), "It is 42.",
            ScriptedTurn(chunks="Again.", tool_calls=[call("add", {"a": 1, "b": 1})]), "It is 2.",
        ])
        agent = ReActAgent(RLM(provider), tools=tools)
        events = list(agent.stream("2 + 40?"))
        observation = next(e for e in events if e.type == "observation")
        assert observation.content == "42" and not observation.is_error
        assert provider.requests[0].tools[0]["function"]["name"] == "add"
        pid = children() - before
        assert agent.run("1 + 1?") == "It is 2."
        assert children() - before == pid  # no restart per run
    finally:
        servers.close()
    assert children() - before == set()


def test_results_text_structured_image_and_iserror(mcp_script):
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        tools = {t.name: t for t in servers.tools()}
        picture = run(tools["picture"])  # text for the model, the image beside it for the timeline
        assert picture.text.startswith("[image image/png, ") and picture.images[0]["mime_type"] == "image/png"
        with pytest.raises(MCPToolError, match="failed: Error executing tool fail") as caught:
            run(tools["fail"], reason="nope")
        assert caught.value.server == "demo" and caught.value.tool == "fail"
        # as an agent's observation: an error observation and the run goes on
        provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[call("fail", {"reason": "x"})]), "done"])
        events = list(ReActAgent(RLM(provider), tools=list(tools.values())).stream("go"))
        observation = next(e for e in events if e.type == "observation")
        assert observation.is_error and "Error executing tool fail" in observation.content
        assert events[-1].content == "done"


def test_a_10_mb_result_is_cut(mcp_script):
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        big = next(t for t in servers.tools() if t.name == "big")
        text = run(big, megabytes=10)
        assert len(text) < MAX_RESULT_CHARS + 200 and "more characters cut (MAX_RESULT_CHARS)" in text


def test_tool_timeout_ends_the_call_and_the_server_stays_usable(mcp_script):
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        tools = {t.name: t for t in servers.tools()}
        provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[call("slow", {"seconds": 30})]), "ok"])
        started = time.monotonic()
        events = list(ReActAgent(RLM(provider), tools=list(tools.values()), tool_timeout=0.5).stream("go"))
        assert time.monotonic() - started < 5
        observation = next(e for e in events if e.type == "observation")
        assert observation.is_error and "tool_timeout" in observation.content
        assert run(tools["add"], a=1, b=2) == "3"


def test_env_and_header_values_are_secrets_with_var_expansion(mcp_script, monkeypatch):
    monkeypatch.setenv("RLM_TEST_MCP_TOKEN", "tok-0123456789-secret")
    entry = mcp_script("demo", env={"DEMO_TOKEN": "${RLM_TEST_MCP_TOKEN}"})
    with MCPServers({"mcpServers": {"demo": entry}}) as servers:
        tool = next(t for t in servers.tools() if t.name == "secret_env")
        assert run(tool) == "tok-0123456789-secret"  # the server got the expanded value
    assert "tok-0123456789-secret" not in scrub("key tok-0123456789-secret here")


def test_streamable_http_server(mcp_http):
    before = children()
    with MCPServers({"mcpServers": {"web": {"url": mcp_http, "headers": {"X-Test": "abc"}}}}) as servers:
        tools = {t.name: t for t in servers.tools()}
        assert run(tools["add"], a=20, b=22) == "42"
        with pytest.raises(MCPToolError, match="Error executing tool fail"):
            run(tools["fail"], reason="http")
        assert servers.status()[0]["transport"] == "http"
    assert children() - before == set()


@pytest.mark.skipif(shutil.which("mcp-server-time", path=f"{sys.prefix}/bin") is None,
                    reason="mcp-server-time is not installed")
def test_published_mcp_server_time_via_mcp_tools():
    before = children()
    command = shutil.which("mcp-server-time", path=f"{sys.prefix}/bin")
    try:
        tools = {t.name: t for t in mcp_tools({"mcpServers": {"time": {
            "command": command, "args": ["--local-timezone", "UTC"]}}})}
        assert {"get_current_time", "convert_time"} <= set(tools)
        assert tools["get_current_time"].annotations.get("read_only_hint") is True
        assert '"timezone": "UTC"' in run(tools["get_current_time"], timezone="UTC")
    finally:
        stop_all()
    assert children() - before == set()
