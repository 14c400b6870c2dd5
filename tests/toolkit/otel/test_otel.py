"""OpenTelemetry GenAI spans out: from recorded traces and live runs, to memory and over OTLP/HTTP.

Spans are read back with the SDK's in-memory exporter and, over the wire, by a loopback OTLP/HTTP
endpoint that decodes the protobuf payload with ``opentelemetry-proto``.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra: pip install 'rlm[otel]'")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GA  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402

from rlm_toolkit import RLM, RateLimitError, ScriptedProvider, ScriptedTurn, UsageError, otel  # noqa: E402
from rlm_toolkit.otel.genai import CAPTURE_ENV, names  # noqa: E402
from rlm_toolkit.trace import load  # noqa: E402
from tests.toolkit._runs import add, failing_tool_run, max_steps_run, native_run, text_run  # noqa: E402


@pytest.fixture
def memory():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def tree(spans):
    """``[(name, parent name or None)]`` in end order."""
    by_id = {s.context.span_id: s.name for s in spans}
    return [(s.name, by_id.get(s.parent.span_id) if s.parent else None) for s in spans]


def test_an_agent_trace_becomes_invoke_agent_with_chat_and_tool_children(tmp_path, memory):
    provider, exporter = memory
    native_run(tmp_path / "run.jsonl", temperature=0.2, max_tokens=64)
    trace = load(tmp_path / "run.jsonl")
    usage = [trace.steps[n]["response"]["usage"] for n in (1, 2)]
    spans = otel.export_trace(trace, tracer_provider=provider)
    assert (
        tree(exporter.get_finished_spans())
        == tree(spans)
        == [
            ("chat scripted", "invoke_agent ReActAgent"),
            ("execute_tool add", "invoke_agent ReActAgent"),
            ("chat scripted", "invoke_agent ReActAgent"),
            ("invoke_agent ReActAgent", None),
        ]
    )
    chat, tool, chat2, agent = spans
    assert len({s.context.trace_id for s in spans}) == 1
    assert dict(chat.attributes) == {
        GA.GEN_AI_OPERATION_NAME: "chat",
        GA.GEN_AI_PROVIDER_NAME: "scripted",
        GA.GEN_AI_REQUEST_MODEL: "scripted",
        GA.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        GA.GEN_AI_REQUEST_MAX_TOKENS: 64,
        GA.GEN_AI_RESPONSE_MODEL: "scripted",
        GA.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_call",),
        GA.GEN_AI_USAGE_INPUT_TOKENS: usage[0]["prompt_tokens"],
        GA.GEN_AI_USAGE_OUTPUT_TOKENS: usage[0]["completion_tokens"],
        GA.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: chat.attributes[GA.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK],
    }
    assert chat2.attributes[GA.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert dict(tool.attributes) == {
        GA.GEN_AI_OPERATION_NAME: "execute_tool",
        GA.GEN_AI_TOOL_NAME: "add",
        GA.GEN_AI_TOOL_CALL_ID: "c1",
        GA.GEN_AI_TOOL_TYPE: "function",
    }
    assert agent.attributes[GA.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert (
        agent.attributes[GA.GEN_AI_USAGE_INPUT_TOKENS]
        == usage[0]["prompt_tokens"] + usage[1]["prompt_tokens"]
    )
    assert (
        agent.attributes[GA.GEN_AI_USAGE_OUTPUT_TOKENS] == 3 + 4
    )  # "Let me add." and "The sum is 3." in words
    assert (
        agent.start_time
        <= chat.start_time
        <= chat.end_time
        <= tool.start_time
        <= tool.end_time
        <= chat2.start_time
        <= chat2.end_time
        <= agent.end_time
    )
    assert all(s.status.status_code == StatusCode.UNSET for s in spans)


def test_content_only_on_opt_in(tmp_path, memory, monkeypatch):
    provider, _ = memory
    native_run(tmp_path / "run.jsonl")
    content_keys = {
        GA.GEN_AI_INPUT_MESSAGES,
        GA.GEN_AI_OUTPUT_MESSAGES,
        GA.GEN_AI_TOOL_CALL_ARGUMENTS,
        GA.GEN_AI_TOOL_CALL_RESULT,
    }
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    plain = otel.export_trace(tmp_path / "run.jsonl", tracer_provider=provider)
    assert not content_keys & {k for s in plain for k in s.attributes}
    monkeypatch.setenv(CAPTURE_ENV, "true")
    chat, tool, chat2, agent = otel.export_trace(tmp_path / "run.jsonl", tracer_provider=provider)
    assert json.loads(tool.attributes[GA.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"a": 1, "b": 2}
    assert tool.attributes[GA.GEN_AI_TOOL_CALL_RESULT] == "3"
    assert json.loads(chat.attributes[GA.GEN_AI_INPUT_MESSAGES])[-1] == {
        "role": "user",
        "parts": [{"type": "text", "content": "What is 1 + 2?"}],
    }
    assert json.loads(chat.attributes[GA.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me add."},
                {"type": "tool_call", "id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}},
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert (
        json.loads(agent.attributes[GA.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "The sum is 3."
    )
    off = otel.export_trace(tmp_path / "run.jsonl", tracer_provider=provider, capture_content=False)
    assert not content_keys & {k for s in off for k in s.attributes}


def test_text_react_thoughts_are_reasoning_parts(tmp_path, memory):
    text_run(tmp_path / "run.jsonl")
    chat, _, chat2, _ = otel.export_trace(
        tmp_path / "run.jsonl", tracer_provider=memory[0], capture_content=True
    )
    assert json.loads(chat.attributes[GA.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0] == {
        "type": "reasoning",
        "content": "I should add.",
    }
    assert [p["type"] for p in json.loads(chat2.attributes[GA.GEN_AI_OUTPUT_MESSAGES])[0]["parts"]] == [
        "reasoning",
        "text",
    ]


def test_failures_carry_error_type_and_status(tmp_path, memory):
    failing_tool_run(tmp_path / "tool.jsonl")
    spans = otel.export_trace(tmp_path / "tool.jsonl", tracer_provider=memory[0])
    [tool] = [s for s in spans if s.name == "execute_tool divide"]
    assert tool.attributes[names().ERROR_TYPE] == "ZeroDivisionError"
    assert tool.status.status_code == StatusCode.ERROR
    assert spans[-1].status.status_code == StatusCode.UNSET  # the agent went on and answered
    max_steps_run(tmp_path / "loop.jsonl")
    agent = otel.export_trace(tmp_path / "loop.jsonl", tracer_provider=memory[0])[-1]
    assert agent.status.status_code == StatusCode.ERROR and "no final answer" in agent.status.description


def test_a_provider_error_marks_the_chat_span(memory):
    provider, exporter = memory
    turn = ScriptedTurn(
        chunks="partial text here", error=RateLimitError("slow down", status_code=429), error_after=1
    )
    rlm = RLM(ScriptedProvider(turns=[turn]), max_retries=0, callbacks=[otel.OTelCallback(provider)])
    with pytest.raises(RateLimitError):
        rlm.run("hi")
    [chat] = exporter.get_finished_spans()
    assert chat.name == "chat scripted" and chat.parent is None
    assert (
        chat.attributes[names().ERROR_TYPE] == "RateLimitError"
        and chat.status.status_code == StatusCode.ERROR
    )


def test_no_key_reaches_a_span(tmp_path, memory, monkeypatch):
    key = "sk-proj-abcdefghijklmnopqrstuvwx1234"
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789-secret")

    def lookup(query: str) -> str:
        """Look something up."""
        return f"found {key} and tok-0123456789-secret"

    turns = [
        ScriptedTurn(
            chunks=f"I will use {key}", tool_calls=[{"name": "lookup", "arguments": {"query": key}}]
        ),
        f"Done, the key was {key}",
    ]
    from rlm_toolkit.agents.react import ReActAgent

    agent = ReActAgent(ScriptedProvider(turns=turns), tools=[lookup])
    live = otel.OTelCallback(memory[0], capture_content=True)
    agent.run(f"use the key {key}", record=str(tmp_path / "run.jsonl"), callbacks=[live])
    exported = otel.export_trace(tmp_path / "run.jsonl", tracer_provider=memory[0], capture_content=True)
    dumped = json.dumps(otel.otlp_json_from_spans([*live.spans, *exported]))
    assert "sk-***" in dumped  # the content is there, the key is not
    assert "abcdefghijklmnop" not in dumped and "0123456789-secret" not in dumped


def test_live_callback_spans_match_the_recorded_trace(tmp_path, memory):
    provider, _ = memory
    live = otel.OTelCallback(provider, capture_content=True)
    agent = native_run(tmp_path / "run.jsonl")
    agent.run("What is 1 + 2?", record=str(tmp_path / "again.jsonl"), callbacks=[live])
    exported = otel.export_trace(tmp_path / "again.jsonl", tracer_provider=provider, capture_content=True)
    assert tree(live.spans) == tree(exported)
    for a, b in zip(live.spans, exported):
        skip = {GA.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}
        assert {k: v for k, v in a.attributes.items() if k not in skip} == {
            k: v for k, v in b.attributes.items() if k not in skip
        }, a.name


def test_a_plain_stream_is_one_chat_span(memory):
    provider, exporter = memory
    rlm = RLM(ScriptedProvider("Hello there"), temperature=0.5)
    assert "".join(rlm.stream("hi", callbacks=[otel.OTelCallback(provider)])) == "Hello there"
    [chat] = exporter.get_finished_spans()
    assert chat.parent is None and chat.attributes[GA.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert chat.attributes[GA.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_attribute_names_come_from_the_semconv_package(tmp_path, memory, monkeypatch):
    assert names().source == "opentelemetry.semconv"
    monkeypatch.setattr(GA, "GEN_AI_TOOL_NAME", "gen_ai.tool.renamed_upstream")
    names.cache_clear()
    try:
        native_run(tmp_path / "run.jsonl")
        spans = otel.export_trace(tmp_path / "run.jsonl", tracer_provider=memory[0])
        tool = next(s for s in spans if s.name.startswith("execute_tool"))
        assert (
            tool.attributes["gen_ai.tool.renamed_upstream"] == "add"
            and "gen_ai.tool.name" not in tool.attributes
        )
    finally:
        monkeypatch.undo()
        names.cache_clear()


def test_spans_reach_an_otlp_http_receiver(tmp_path, otlp_receiver):
    native_run(tmp_path / "run.jsonl")
    sent = otel.export_trace(load(tmp_path / "run.jsonl"), endpoint=otlp_receiver.url, capture_content=True)
    received = otlp_receiver.spans()
    assert otlp_receiver.content_types == ["application/x-protobuf"] * len(otlp_receiver.requests)
    assert [s.name for s in received] == [s.name for s in sent]
    by_id = {s.span_id: s for s in received}
    agent = received[-1]
    assert agent.name == "invoke_agent ReActAgent" and not agent.parent_span_id
    assert all(by_id[s.parent_span_id] is agent for s in received[:-1])
    tool = received[1]
    attrs = {a.key: a.value for a in tool.attributes}
    assert attrs[GA.GEN_AI_TOOL_NAME].string_value == "add"
    assert attrs[GA.GEN_AI_TOOL_CALL_RESULT].string_value == "3"
    resource = {
        a.key: a.value.string_value for a in otlp_receiver.requests[0].resource_spans[0].resource.attributes
    }
    assert resource["service.name"] == "rlm"


def test_a_refusing_endpoint_is_a_usage_error(tmp_path, otlp_receiver):
    native_run(tmp_path / "run.jsonl")
    otlp_receiver.status = 400  # not retried by the exporter
    with pytest.raises(UsageError, match="did not accept"):
        otel.export_trace(tmp_path / "run.jsonl", endpoint=otlp_receiver.url)
    with pytest.raises(UsageError, match="http"):
        otel.export_trace(tmp_path / "run.jsonl", endpoint="127.0.0.1:4318")


def test_otlp_json_follows_the_spec_encoding(tmp_path):
    native_run(tmp_path / "run.jsonl")
    data = otel.to_otlp_json(tmp_path / "run.jsonl")
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert all(len(s["traceId"]) == 32 and len(s["spanId"]) == 16 for s in spans)
    int(spans[0]["traceId"], 16)
    assert {s["kind"] for s in spans} == {1, 3}  # INTERNAL, CLIENT: enums as integers
    assert isinstance(spans[0]["startTimeUnixNano"], str)
    assert add(1, 2) == 3


def test_an_agents_model_calls_tell_callbacks_their_step():
    from rlm_toolkit import StreamingCallback
    from rlm_toolkit.agents.react import ReActAgent

    class Seen(StreamingCallback):
        def __init__(self):
            self.starts, self.ends = [], []

        def on_llm_start(self, *, model, messages, **kwargs):
            self.starts.append(kwargs.get("step"))

        def on_llm_end(self, response, **kwargs):
            self.ends.append(kwargs.get("step"))

    seen = Seen()
    turns = [ScriptedTurn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]), "3"]
    ReActAgent(ScriptedProvider(turns=turns), tools=[add]).run("1 + 2?", callbacks=[seen])
    assert seen.starts == seen.ends == [1, 2]
    plain = Seen()
    RLM(ScriptedProvider("hi")).run("hi", callbacks=[plain])
    assert plain.starts == plain.ends == [None]


def test_a_crashed_stream_trace_still_gives_usage_and_finish(tmp_path, memory):
    RLM(ScriptedProvider("Hello there")).run("hi", record=str(tmp_path / "s.jsonl"))
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    (tmp_path / "crashed.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # no footer
    trace = load(tmp_path / "crashed.jsonl")
    assert not trace.complete
    [chat] = otel.export_trace(trace, tracer_provider=memory[0])
    assert chat.attributes[GA.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert chat.attributes[GA.GEN_AI_USAGE_OUTPUT_TOKENS] == 2


def test_without_the_extra_the_error_names_it(monkeypatch):
    import sys

    from rlm_toolkit import MissingDependencyError

    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"rlm\[otel\]"):
        otel.OTelCallback()


def test_a_denied_tool_call_is_an_execute_tool_span_with_error_type_denied(tmp_path, memory):
    from rlm_toolkit.agents import ReActAgent

    provider, exporter = memory
    model = RLM(ScriptedProvider(turns=[ScriptedTurn(tool_calls=[{"id": "c1", "name": "add",
                                                                  "arguments": {"a": 1, "b": 2}}]), "No."]))
    agent = ReActAgent(model, tools=[add], approve=lambda request: "not today")
    agent.run("1+2", record=tmp_path / "run.jsonl", callbacks=[otel.OTelCallback(provider)])
    replayed = otel.export_trace(load(tmp_path / "run.jsonl"), tracer_provider=provider)
    live = [s for s in exporter.get_finished_spans() if s.name == "execute_tool add"]
    for span in (live[0], next(s for s in replayed if s.name == "execute_tool add")):
        assert span.attributes[names().ERROR_TYPE] == "denied"
        assert span.status.description == "denied: The call to 'add' was denied and did not run: not today."


def test_a_thinking_models_reasoning_is_a_reasoning_part(tmp_path, memory):
    """Live and from the trace alike: a step's reasoning events are one ``reasoning`` part, first."""
    from rlm_toolkit.agents import ReActAgent

    turns = [ScriptedTurn(reasoning="Add them with the tool.", chunks="Adding.",
                          tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}]),
             ScriptedTurn(reasoning="Got 3.", chunks="It is 3.")]
    provider, _ = memory
    live = otel.OTelCallback(provider, capture_content=True)
    agent = ReActAgent(ScriptedProvider(turns=turns), tools=[add])
    agent.run("1 + 2?", record=str(tmp_path / "run.jsonl"), callbacks=[live])
    exported = otel.export_trace(tmp_path / "run.jsonl", tracer_provider=provider, capture_content=True)
    for spans in (live.spans, exported):
        chats = [s for s in spans if s.name.startswith("chat")]
        parts = [json.loads(c.attributes[GA.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] for c in chats]
        assert parts[0][0] == {"type": "reasoning", "content": "Add them with the tool."}
        assert parts[1][:2] == [{"type": "reasoning", "content": "Got 3."},
                                {"type": "text", "content": "It is 3."}]
