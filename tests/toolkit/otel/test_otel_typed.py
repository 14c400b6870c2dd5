"""Typed answers in OpenTelemetry spans: ``gen_ai.output.type`` "json" and the schema
(``rlm.output.schema``) on the chat spans whose request carried it and on the agent's span, live
and from the recorded trace alike; a retried answer does not mark the agent failed (issue 24)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra: pip install 'rlm[otel]'")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GA  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from rlm_toolkit import RLM, otel  # noqa: E402
from rlm_toolkit.agents import ReActAgent  # noqa: E402

from ...fixtures.openai_server import Stream  # noqa: E402


class Person(BaseModel):
    name: str
    age: int


PERSON = {"name": "Person", "json_schema": Person.model_json_schema()}


@pytest.fixture
def memory():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def lookup(name: str) -> str:
    """Look a person up."""
    return f"{name}: 36 years old."


def test_a_typed_agent_run_live_and_recorded_says_json_and_names_the_schema(tmp_path, memory, openai_server):
    provider, _ = memory
    openai_server.script(
        Stream("", tool_calls=[{"name": "lookup", "arguments": {"name": "Ada"}, "id": "c1"}]),
        Stream('{"name": "Ada", "age": "old"}'),
        Stream('{"name": "Ada", "age": 36}'),
    )
    live = otel.OTelCallback(provider, capture_content=True)
    agent = ReActAgent.from_openai("gpt-4o", tools=[lookup], base_url=openai_server.base_url,
                                   api_key=openai_server.api_key, max_retries=0, output_type=Person)
    agent.run("Ada?", callbacks=[live], record=tmp_path / "run.jsonl")
    exported = otel.export_trace(tmp_path / "run.jsonl", tracer_provider=provider, capture_content=True)
    for spans in (live.spans, exported):
        names = [s.name for s in spans]
        assert names == ["chat gpt-4o", "execute_tool lookup", "chat gpt-4o", "chat gpt-4o",
                         "invoke_agent ReActAgent"]
        for span in (spans[0], spans[2], spans[3], spans[4]):
            assert span.attributes[GA.GEN_AI_OUTPUT_TYPE] == "json"
            assert json.loads(span.attributes["rlm.output.schema"]) == PERSON
        assert GA.GEN_AI_OUTPUT_TYPE not in spans[1].attributes
        agent_span = spans[-1]
        assert agent_span.status.status_code != StatusCode.ERROR  # the retry is not a failure
        [message] = json.loads(agent_span.attributes[GA.GEN_AI_OUTPUT_MESSAGES])
        assert json.loads(message["parts"][0]["content"]) == {"name": "Ada", "age": 36}
    for a, b in zip(live.spans, exported):
        skip = {GA.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}
        assert {k: v for k, v in a.attributes.items() if k not in skip} == {
            k: v for k, v in b.attributes.items() if k not in skip}, a.name


def test_a_text_mode_agent_names_the_schema_on_its_agent_span_only(memory, openai_server):
    provider, _ = memory
    openai_server.script(Stream('Final Answer: {"name": "Ada", "age": 36}'))
    live = otel.OTelCallback(provider)
    agent = ReActAgent.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key,
                                   mode="text", output_type=Person)
    agent.run("Ada?", callbacks=[live])
    chat, agent_span = live.spans
    assert GA.GEN_AI_OUTPUT_TYPE not in chat.attributes  # the request asked in text, not JSON mode
    assert agent_span.attributes[GA.GEN_AI_OUTPUT_TYPE] == "json"


def test_a_typed_call_is_a_json_chat_span_and_a_plain_one_is_not(memory, openai_server):
    provider, exporter = memory
    openai_server.script(Stream('{"name": "Ada", "age": 36}'), Stream("Ada is 36."))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    rlm.run("Ada?", schema=Person, callbacks=[otel.OTelCallback(provider)])
    rlm.run("Ada?", callbacks=[otel.OTelCallback(provider)])
    typed, plain = exporter.get_finished_spans()
    assert typed.attributes[GA.GEN_AI_OUTPUT_TYPE] == "json"
    assert json.loads(typed.attributes["rlm.output.schema"]) == PERSON
    assert GA.GEN_AI_OUTPUT_TYPE not in plain.attributes and "rlm.output.schema" not in plain.attributes


def test_the_schema_and_the_answer_come_back_from_otlp_json(tmp_path, openai_server):
    from rlm_toolkit.otel_import import read_otlp_json

    openai_server.script(Stream('{"name": "Ada", "age": "old"}'), Stream('{"name": "Ada", "age": 36}'),
                         Stream('{"value": [{"name": "Ada", "age": 36}]}'))
    agent = ReActAgent.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key,
                                   max_retries=0, output_type=Person)
    agent.run("Ada?", record=tmp_path / "run.jsonl")
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    rlm.run("people", schema=list[Person], record=tmp_path / "call.jsonl")
    [run] = read_otlp_json(otel.to_otlp_json(tmp_path / "run.jsonl", capture_content=True))
    assert run.schema == PERSON and run.output == {"name": "Ada", "age": 36}
    assert [s.get("schema") for s in run.steps.values()] == ["Person", "Person"]
    [call] = read_otlp_json(otel.to_otlp_json(tmp_path / "call.jsonl", capture_content=True))
    assert call.schema is not None and call.schema["name"] == "list_of_Person"
    assert call.output == [{"name": "Ada", "age": 36}]
    [plain] = read_otlp_json(otel.to_otlp_json(tmp_path / "run.jsonl", capture_content=False))
    assert plain.schema == PERSON and plain.output is None  # no content: the schema, not the answer


def test_a_schema_attribute_of_another_shape_is_ignored(tmp_path, openai_server):
    from rlm_toolkit.otel_import import read_otlp_json

    openai_server.script(Stream('{"name": "Ada", "age": 36}'))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    rlm.run("Ada?", schema=Person, record=tmp_path / "call.jsonl")
    exported = otel.to_otlp_json(tmp_path / "call.jsonl", capture_content=True)
    for bad in ("not json", '"Person"', '{"name": 1, "json_schema": {}}', "[" * 5000):
        for attribute in exported["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]:
            if attribute["key"] == "rlm.output.schema":
                attribute["value"] = {"stringValue": bad}
        [back] = read_otlp_json(json.dumps(exported))
        assert back.schema is None and back.output is None and back.text == '{"name": "Ada", "age": 36}'
