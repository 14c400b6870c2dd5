"""An MCP tool's images and progress: the images a server returns reach the observation's
``images`` (only real PNG/JPEG/GIF/WebP within limits, whatever the server claims), and its progress
notifications become ``progress`` events of the running step, rate-limited."""

from __future__ import annotations

import asyncio
import base64

import pytest

pytest.importorskip("mcp")

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn  # noqa: E402
from rlm_toolkit.agents import ReActAgent  # noqa: E402
from rlm_toolkit.mcp import MCPServers  # noqa: E402
from tests.fixtures.mcp_servers import children  # noqa: E402

pytestmark = pytest.mark.timeout(120)
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
                       "AAAABJRU5ErkJggg==")


def run_agent(tools, name, arguments):
    provider = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"name": name, "arguments": arguments, "id": "c1"}]), "ok"])
    return list(ReActAgent(RLM(provider), tools=tools).stream("go"))


def test_an_image_result_is_an_observation_image_and_a_placeholder_for_the_model(mcp_script):
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        events = run_agent(servers.tools(), "picture", {})
    observation = next(e for e in events if e.type == "observation")
    assert observation.images == [{"mime_type": "image/png", "data": base64.b64encode(PNG).decode()}]
    assert observation.content.startswith("[image image/png, ") and observation.server == "demo"
    assert observation.to_dict()["images"] == observation.images
    # the model was sent the placeholder text, never the bytes
    assert "iVBOR" not in str(events[-1].content)


def test_hostile_images_are_left_out_and_only_the_real_png_is_kept(mcp_script):
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        events = run_agent(servers.tools(), "hostile_images", {})
    observation = next(e for e in events if e.type == "observation")
    assert not observation.is_error, observation.content
    # svg (script), svg claiming png, "javascript:" text, a 2 MB png: out; a png called text/html: in, as png
    assert observation.images == [{"mime_type": "image/png", "data": base64.b64encode(PNG).decode()}]
    assert observation.content.count("[image ") == 5


def test_progress_notifications_are_progress_events_of_the_running_step(mcp_script):
    before = children()
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        events = run_agent(servers.tools(), "steps", {"count": 4, "pause": 0.2})
    kinds = [e.type for e in events if e.type in ("action", "progress", "observation")]
    assert kinds[0] == "action" and kinds[-1] == "observation" and set(kinds[1:-1]) == {"progress"}
    progress = [e for e in events if e.type == "progress"]
    assert len(progress) >= 2  # 0.2 s apart: more than one reaches the step while it runs
    assert (progress[-1].progress, progress[-1].total, progress[-1].content) == (4.0, 4.0, "step 4 of 4")
    assert all(e.step == 1 and e.call_id == "c1" and e.server == "demo" and e.tool_name == "steps"
               for e in progress)
    assert [e.progress for e in progress] == sorted(e.progress for e in progress)
    assert children() - before == set()


def test_a_flood_of_progress_notifications_costs_a_few_events(mcp_script):
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        events = run_agent(servers.tools(), "steps", {"count": 1, "pause": 0.0, "flood": 3000})
    progress = [e for e in events if e.type == "progress"]
    observation = next(e for e in events if e.type == "observation")
    assert observation.content == "did 1 steps"
    assert 1 <= len(progress) <= 2 + 10 * observation.duration * 1.5  # at most one each 0.1 s, and the last
    assert progress[-1].content == "step 1 of 1"


def test_closing_the_run_mid_call_ends_a_reporting_call_and_the_server_stays_usable(mcp_script):
    import time

    before = children()
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        tools = servers.tools()
        provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[
            {"name": "steps", "arguments": {"count": 100, "pause": 0.2}, "id": "c1"}]), "never"])
        stream = ReActAgent(RLM(provider), tools=tools).stream("go")
        first = next(e for e in stream if e.type == "progress")
        assert first.total == 100.0
        started = time.monotonic()
        stream.close()  # Stop: the call in flight is cancelled (the SDK tells the server)
        assert time.monotonic() - started < 5
        adder = {t.name: t for t in tools}["add"]
        assert asyncio.run(adder.fn(a=1, b=2)) == "3"  # the session is not stuck behind the call
        assert servers.status()[0]["state"] == "ready"
        deadline = time.monotonic() + 10  # the server was told (MCP's cancellation): its tool stopped
        while "steps: cancelled by the client" not in servers.log("demo") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "steps: cancelled by the client" in servers.log("demo")
    assert children() - before == set()


def test_progress_reaches_an_async_run_in_the_callers_own_loop(mcp_script):
    async def main():
        async with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
            provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[
                {"name": "steps", "arguments": {"count": 3, "pause": 0.2}, "id": "c1"}]), "ok"])
            agent = ReActAgent(RLM(provider), tools=await servers.atools())
            return [e async for e in agent.astream("go")]

    events = asyncio.run(main())
    progress = [e for e in events if e.type == "progress"]
    assert progress and progress[-1].content == "step 3 of 3"
    assert next(e for e in events if e.type == "observation").content == "did 3 steps"
