"""Hostile MCP configurations and servers: each one a typed error or an error observation, nothing
hangs, and the count of this process's children is the same before and after."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

pytest.importorskip("mcp")

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn  # noqa: E402
from rlm_toolkit.agents import ReActAgent  # noqa: E402
from rlm_toolkit.errors import ConfigurationError, MCPServerError, UsageError  # noqa: E402
from rlm_toolkit.mcp import MCPServers, load_config  # noqa: E402
from rlm_toolkit.mcp.connection import MAX_TOOLS  # noqa: E402
from tests.fixtures.mcp_servers import children  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def run(tool, **arguments):
    return asyncio.run(tool.fn(**arguments))


@pytest.fixture
def no_leftovers():
    before = children()
    yield
    deadline = time.monotonic() + 5
    while children() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children() - before == set()


@pytest.mark.parametrize("config, words", [
    ({"mcpServers": {"a": {}}}, "server 'a' names no 'command' (stdio) and no 'url'"),
    ({"mcpServers": {"a": {"command": "x", "url": "http://h"}}}, "names both"),
    ({"mcpServers": {"a": {"url": "ftp://h"}}}, "'url' must start with http"),
    ({"mcpServers": {"a": {"command": "x", "args": "--flag"}}}, "'args' must be a list"),
    ({"mcpServers": {"a": {"command": "x", "env": {"K": ["v"]}}}}, "'env' must be an object of strings"),
    ({"mcpServers": {"a": {"command": "x", "env": {"K": "${RLM_TEST_SURELY_UNSET}"}}}},
     "'env.K' uses ${RLM_TEST_SURELY_UNSET}, which is not set"),
    ({"mcpServers": ["a"]}, "'mcpServers' must be an object"),
    ({"mcpServers": {"a b": {"command": "x"}}}, "server name 'a b' is not allowed"),
    ({"mcpServers": {"a": {"command": "x", "type": "sse"}}}, "'type' 'sse' needs a 'url'"),
    ({"mcpServers": {"a": {"url": "http://h/mcp", "type": "websocket"}}},
     "'type' 'websocket' is not supported"),
])
def test_bad_configurations_are_one_clear_error_naming_server_and_field(config, words):
    with pytest.raises(ConfigurationError) as caught:
        load_config(config)
    assert words in caught.value.message and "\n" not in caught.value.message


def test_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "servers.json"
    path.write_text("{mcpServers: nope")
    with pytest.raises(ConfigurationError, match="is not JSON"):
        load_config(path)
    path.write_text(json.dumps({"mcpServers": {"t": {"command": "x"}}}))
    assert load_config(str(path))[0].command == "x"


def test_a_command_that_does_not_exist(no_leftovers):
    servers = MCPServers({"mcpServers": {"ghost": {"command": "rlm-no-such-mcp-server-xyz"}}})
    with pytest.raises(MCPServerError) as caught:
        servers.tools()
    assert "server 'ghost': 'command' 'rlm-no-such-mcp-server-xyz' was not found" in caught.value.message
    assert caught.value.server == "ghost" and servers.status()[0]["state"] == "failed"


def test_a_server_that_never_answers_initialize_times_out(mcp_script, no_leftovers):
    servers = MCPServers({"mcpServers": {"mute": mcp_script("silent")}}, start_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(MCPServerError) as caught:
        servers.tools()
    assert time.monotonic() - started < 10
    assert "did not answer 'initialize' and 'tools/list' within 1 s" in caught.value.message
    assert "I read stdin and never answer" in caught.value.message  # its stderr, in the error


def test_a_server_that_exits_mid_call_then_restarts_on_the_next_call(mcp_script, no_leftovers):
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        tools = {t.name: t for t in servers.tools()}
        die = ScriptedTurn(tool_calls=[{"name": "die", "arguments": {}, "id": "1"}])
        provider = ScriptedProvider(turns=[die, "it died"])
        started = time.monotonic()
        events = list(ReActAgent(RLM(provider), tools=list(tools.values())).stream("go"))
        assert time.monotonic() - started < 10
        observation = next(e for e in events if e.type == "observation")
        assert observation.is_error and "exited during the call of 'die'" in observation.content
        assert "dying now" in observation.content  # the server's last stderr lines, in the timeline
        assert events[-1].content == "it died"
        text = run(tools["add"], a=1, b=2)
        assert text == "(MCP server 'demo' had exited; rlm restarted it)\n3"
        assert servers.status()[0]["restarts"] == 1 and "restarted it" in servers.log("demo")


def test_non_protocol_bytes_on_stdout_do_not_stop_the_server(mcp_script, no_leftovers):
    with MCPServers({"mcpServers": {"noisy": mcp_script("garbage")}}, start_timeout=10) as servers:
        add = next(t for t in servers.tools() if t.name == "add")
        assert run(add, a=2, b=2) == "4"


def test_a_server_listing_500_tools_offers_the_first_max_tools(mcp_script, no_leftovers):
    with MCPServers({"mcpServers": {"many": mcp_script("many")}}) as servers:
        tools = servers.tools()
        assert len(tools) == MAX_TOOLS and f"more than {MAX_TOOLS} tools" in servers.log("many")


def test_unknown_server_name_is_a_usage_error(mcp_script):
    servers = MCPServers({"mcpServers": {"demo": mcp_script("demo")}})
    with pytest.raises(UsageError, match="no MCP server named 'nope'; the servers are: demo"):
        servers.log("nope")
