"""A tool the server marks ``destructiveHint`` (and not ``readOnlyHint``) waits for approval by default,
against the demo server (the SDK's MCPServer) over stdio; the user opts out with
``trust_destructive=True`` or ``"trustDestructive": true``."""

from __future__ import annotations

import io
import sys
import time

import pytest

pytest.importorskip("mcp")

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn  # noqa: E402
from rlm_toolkit.agents import ReActAgent  # noqa: E402
from rlm_toolkit.errors import ConfigurationError  # noqa: E402
from rlm_toolkit.mcp import MCPServers  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def erase_then_add():
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"name": "erase", "arguments": {"path": "notes.txt"}, "id": "c1"},
                                 {"name": "add", "arguments": {"a": 2, "b": 40}, "id": "c2"}]),
        "done",
    ]))


def logged(servers, name, text, seconds=10.0):
    """Whether the server's stderr came to hold ``text`` (rlm's pipe reader is a thread of its own,
    so a line written during a call may land just after it)."""
    deadline = time.monotonic() + seconds
    while text not in servers.log(name) and time.monotonic() < deadline:
        time.sleep(0.02)
    return text in servers.log(name)


def decisions(events):
    return [(e.tool_name, e.outcome, e.content) for e in events if e.type == "approval" and e.outcome]


def test_destructive_tools_require_approval_unless_trusted(mcp_script):
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        tools = {t.name: t for t in servers.tools()}
        assert tools["erase"].requires_approval and tools["erase"].annotations["destructive_hint"] is True
        assert not tools["peek"].requires_approval  # read-only wins over destructive
        assert not tools["add"].requires_approval  # no annotation: not asked (only an explicit mark asks)
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}, trust_destructive=True) as servers:
        assert not any(t.requires_approval for t in servers.tools())
    with MCPServers({"mcpServers": {"demo": mcp_script("demo", trustDestructive=True)}}) as servers:
        assert not any(t.requires_approval for t in servers.tools())


def test_trust_destructive_must_be_a_boolean(mcp_script):
    with pytest.raises(ConfigurationError, match="server 'demo': 'trustDestructive' must be true or false"):
        MCPServers({"mcpServers": {"demo": mcp_script("demo", trustDestructive="yes")}})


def test_with_no_approver_a_destructive_call_is_denied_where_nobody_can_answer(mcp_script, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # standard input closed: nobody can be asked
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        events = list(ReActAgent(erase_then_add(), tools=servers.tools()).stream("go"))
        assert decisions(events) == [("erase", "denied", "nobody could be asked: standard input is closed")]
        observations = {e.tool_name: e for e in events if e.type == "observation"}
        assert observations["erase"].outcome == "denied" and "did not run" in observations["erase"].content
        assert observations["add"].content == "42"  # not destructive: ran without asking
        assert "erased" not in servers.log("demo")  # the server never got the call


def test_with_no_approver_a_destructive_call_asks_as_approve_true_does(mcp_script, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        events = list(ReActAgent(erase_then_add(), tools=servers.tools()).stream("go"))
        assert decisions(events) == [("erase", "approved", "")]
        assert logged(servers, "demo", "erased notes.txt")


def test_an_approver_decides_and_trusted_servers_do_not_ask(mcp_script, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    asked = []

    def approver(request):
        asked.append(request.tool_name)
        return request.tool_name != "erase" or "no erasing"

    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        events = list(ReActAgent(erase_then_add(), tools=servers.tools(), approve=approver).stream("go"))
        assert asked == ["erase", "add"]  # approve= asks about every call, as before
        assert decisions(events)[0] == ("erase", "denied", "no erasing")
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}, trust_destructive=True) as servers:
        events = list(ReActAgent(erase_then_add(), tools=servers.tools()).stream("go"))
        assert decisions(events) == [] and logged(servers, "demo", "erased notes.txt")


def test_a_front_end_asker_is_used_for_tools_that_require_approval():
    from rlm_toolkit.agents import Tool

    def wipe() -> str:
        return "wiped"

    tool = Tool(name="wipe", description="Wipes.", parameters={"type": "object", "properties": {}}, fn=wipe,
                requires_approval=True)
    provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[{"name": "wipe", "arguments": {}}]), "ok"])
    stream = ReActAgent(RLM(provider), tools=[tool]).stream("go")
    stream.state.asker = lambda request: f"the page said no to {request.tool_name}"
    events = list(stream)
    assert decisions(events) == [("wipe", "denied", "the page said no to wipe")]
