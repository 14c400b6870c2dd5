"""The server's name travels with each MCP tool call: on the agent's events, in the trace (a replay needs
no server; old traces still load), in the timeline's rows, on OTel spans (recorded and live, and back
through OTLP/JSON import) and on the AI SDK stream's tool parts. A Python function's calls carry none."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("mcp")

from rlm_jupyter.timeline.html import timeline_html  # noqa: E402
from rlm_jupyter.timeline.model import TimelineModel  # noqa: E402
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn  # noqa: E402
from rlm_toolkit.agents import AgentEvent, ReActAgent  # noqa: E402
from rlm_toolkit.mcp import MCPServers  # noqa: E402
from rlm_toolkit.trace import load, replay  # noqa: E402
from rlm_toolkit.web import UIMessageStreamEncoder  # noqa: E402
from tests.fixtures.mcp_servers import children  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def double(x: int) -> int:
    """Double an integer."""
    return 2 * x


def model():
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 40}, "id": "c1"},
                                 {"name": "double", "arguments": {"x": 21}, "id": "c2"}]),
        "42 both ways.",
    ]))


@pytest.fixture
def recorded(mcp_script, tmp_path):
    """A run calling the demo server's ``add`` and a Python ``double``, recorded; the server stopped."""
    before = children()
    path = tmp_path / "run.jsonl"
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        events = list(ReActAgent(model(), tools=[double, *servers.tools()]).stream("go", record=str(path)))
    assert children() - before == set()  # from here on, no server runs
    return events, path


def of_call(events, call_id):
    return {e.type: e for e in events if e.call_id == call_id}


def test_the_events_of_an_mcp_call_name_its_server_and_a_functions_do_not(recorded):
    events, _ = recorded
    mcp, local = of_call(events, "c1"), of_call(events, "c2")
    assert mcp["action"].server == "demo" and mcp["observation"].server == "demo"
    assert mcp["observation"].content == "42"
    assert local["action"].server is None and local["observation"].server is None


def test_the_trace_records_the_server_and_a_replay_needs_none(recorded):
    _, path = recorded
    assert json.loads(next(line for line in path.read_text().splitlines() if '"action"' in line))
    trace = load(path)
    actions = [e for e in trace.events if isinstance(e, AgentEvent) and e.type == "action"]
    assert [e.server for e in actions] == ["demo", None]
    replayed = [e for e in replay(path, speed=None) if isinstance(e, AgentEvent) and e.type == "observation"]
    assert [(e.tool_name, e.server, e.content) for e in replayed] == [
        ("add", "demo", "42"), ("double", None, "42")]


def test_old_traces_without_the_field_still_load_and_old_readers_ignore_it(recorded, tmp_path):
    _, path = recorded
    old = tmp_path / "old.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        if isinstance(line.get("event"), dict):
            line["event"].pop("server", None)
    old.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert {e.server for e in load(old).events if isinstance(e, AgentEvent)} == {None}
    # an old reader builds events with AgentEvent.from_dict, which drops fields it does not know
    later = {"type": "action", "tool_name": "add", "server": "demo", "a_later_field": 1}
    assert AgentEvent.from_dict(later).server == "demo"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(re.sub(r'"server": ?"demo"', '"server": 3', path.read_text(), count=1))
    damaged = load(bad)  # a server that is not a string: that line is skipped and said why
    assert damaged.skipped == 1 and "'server' cannot be 3" in damaged.problems[0]


def test_the_timeline_row_shows_tool_and_server(recorded):
    events, _ = recorded
    timeline = TimelineModel("scripted")
    ops = [op for e in events for op in timeline.apply(e)]
    actions = [op for op in ops if op["op"] == "action"]
    assert [(op["tool"], op["server"]) for op in actions] == [("add (demo)", "demo"), ("double", None)]
    assert "Action: add({a: 2, b: 40})" not in timeline.text()
    assert "[MCP server demo]" in timeline.text() and "add (demo)" in timeline_html(timeline)
    assert r"add \(demo\)" in timeline.markdown()


def test_otel_spans_carry_tool_name_and_server_recorded_live_and_imported(recorded, mcp_script, tmp_path):
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from rlm_toolkit import otel
    from rlm_toolkit.otel_import import read_otlp_json

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _, path = recorded
    exported = otel.export_trace(path, tracer_provider=provider)
    tools = {s.attributes["gen_ai.tool.name"]: s for s in exported if s.name.startswith("execute_tool")}
    assert tools["add"].attributes["mcp.server.name"] == "demo"
    assert "mcp.server.name" not in tools["double"].attributes

    live = otel.OTelCallback(provider)
    with MCPServers({"mcpServers": {"demo": mcp_script("demo")}}) as servers:
        ReActAgent(model(), tools=[double, *servers.tools()]).run("go", callbacks=[live])
    live_tools = {s.attributes["gen_ai.tool.name"]: s for s in live.spans
                  if s.name.startswith("execute_tool")}
    assert live_tools["add"].attributes["mcp.server.name"] == "demo"

    back = read_otlp_json(otel.otlp_json_from_spans(exported))[0]
    imported = [e for e in back.events if isinstance(e, AgentEvent) and e.type == "action"]
    assert [e.server for e in imported] == ["demo", None]


def test_the_ai_sdk_stream_tool_part_names_the_server(recorded):
    events, _ = recorded
    encoder = UIMessageStreamEncoder("m1")
    chunks = [c for e in events for c in encoder.feed(e)]
    parts = {c["toolName"]: c for c in chunks if c["type"] == "tool-input-available"}
    assert parts["add"]["providerMetadata"] == {"mcp": {"server": "demo"}}
    assert parts["add"]["title"] == "add (demo)"
    assert "providerMetadata" not in parts["double"] and "title" not in parts["double"]
