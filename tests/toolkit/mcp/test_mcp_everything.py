"""The MCP reference server ``@modelcontextprotocol/server-everything`` (npm, pinned by
tests/fixtures/node_mcp/package-lock.json) over stdio: every result kind it serves — text,
structured content, image, embedded resources (text and blob), resource links, an error — and its
progress notifications, each through rlm's agent as the model and the timeline get them."""

from __future__ import annotations

import asyncio
import base64

import pytest

pytest.importorskip("mcp")

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn  # noqa: E402
from rlm_toolkit.agents import ReActAgent  # noqa: E402
from rlm_toolkit.errors import MCPToolError  # noqa: E402
from rlm_toolkit.mcp import MCPServers  # noqa: E402
from tests.fixtures.mcp_servers import children  # noqa: E402

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def everything(server_everything):
    before = children()
    with MCPServers({"mcpServers": {"everything": server_everything}}) as servers:
        yield servers
    assert children() - before == set()


def observations(servers, calls):
    """Run a scripted agent making ``calls`` (name, arguments) in turn; its events by type."""
    turns = [ScriptedTurn(tool_calls=[{"name": name, "arguments": arguments, "id": f"c{i}"}])
             for i, (name, arguments) in enumerate(calls)]
    provider = ScriptedProvider(turns=[*turns, "done"])
    events = list(ReActAgent(RLM(provider), tools=servers.tools()).stream("use the tools"))
    return events, {e.call_id: e for e in events if e.type == "observation"}


def test_its_tools_are_listed_with_schemas_and_annotations(everything):
    tools = {t.name: t for t in everything.tools()}
    assert {"echo", "get-sum", "get-tiny-image", "get-resource-reference", "get-resource-links",
            "get-structured-content", "trigger-long-running-operation"} <= set(tools)
    assert tools["echo"].parameters["required"] == ["message"] and tools["echo"].server == "everything"
    assert tools["echo"].annotations.get("read_only_hint") is True
    assert not any(t.requires_approval for t in tools.values())  # none is marked destructive


def test_every_result_kind_becomes_an_observation(everything):
    events, seen = observations(everything, [
        ("echo", {"message": "hello <b>there</b>"}),
        ("get-sum", {"a": 2, "b": 40}),
        ("get-tiny-image", {}),
        ("get-resource-reference", {"resourceType": "Text", "resourceId": 1}),
        ("get-resource-reference", {"resourceType": "Blob", "resourceId": 2}),
        ("get-resource-links", {"count": 2}),
        ("get-structured-content", {"location": "Chicago"}),
    ])
    assert seen["c0"].content == "Echo: hello <b>there</b>" and seen["c0"].server == "everything"
    assert "42" in seen["c1"].content
    image = seen["c2"]
    assert "[image image/png, " in image.content and len(image.images) == 1
    assert image.images[0]["mime_type"] == "image/png"
    assert base64.b64decode(image.images[0]["data"]).startswith(b"\x89PNG")
    assert "Resource 1: This is a plaintext resource" in seen["c3"].content          # embedded text
    assert "[resource demo://resource/dynamic/blob/2 (" in seen["c4"].content         # embedded blob
    assert seen["c5"].content.count("[resource link demo://resource/") == 2            # links
    assert '"temperature"' in seen["c6"].content                                       # structured
    assert not any(o.is_error for o in seen.values())
    assert events[-1].type == "final" and not events[-1].is_error


def test_a_refused_call_is_a_typed_error_and_an_error_observation(everything):
    echo = {t.name: t for t in everything.tools()}["echo"]
    with pytest.raises(MCPToolError, match="Input validation error") as caught:
        asyncio.run(echo.fn())  # no message: the server refuses, as the agent's own check would
    assert caught.value.server == "everything"
    _, seen = observations(everything, [("get-sum", {"a": "two", "b": 1})])  # the agent's check first
    assert seen["c0"].is_error


def test_its_progress_notifications_show_in_the_running_step(everything):
    call = ("trigger-long-running-operation", {"duration": 1.5, "steps": 3})
    events, seen = observations(everything, [call])
    progress = [e for e in events if e.type == "progress"]
    assert len(progress) >= 2 and progress[-1].total == 3.0 and progress[-1].progress == 3.0
    assert all(e.server == "everything" and e.call_id == "c0" for e in progress)
    kinds = [e.type for e in events if e.type in ("action", "progress", "observation")]
    assert kinds[0] == "action" and kinds[-1] == "observation"
    assert "Long running operation completed" in seen["c0"].content
