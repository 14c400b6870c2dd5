"""OpenTelemetry GenAI in: OTLP/JSON (rlm's own and another tool's) read back into traces that replay."""

from __future__ import annotations

import json

import pytest

from rlm_toolkit import UsageError
from rlm_toolkit.otel_import import missing, read_otlp_json
from rlm_toolkit.trace import Replay, load
from tests.toolkit._runs import failing_tool_run, max_steps_run, native_run, text_run

otel = pytest.importorskip("rlm_toolkit.otel")
pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra: pip install 'rlm[otel]'")


def story(trace):
    """The events as the timeline tells them: tokens of a step merged (OTel records no single token)."""
    out = []
    for event in trace.events:
        row = (
            event.type,
            event.step,
            event.content,
            event.tool_name,
            event.input,
            event.call_id,
            event.is_error,
            event.streamed,
        )
        if out and event.type == "token" and out[-1][0] == "token" and out[-1][1] == event.step:
            out[-1] = (*out[-1][:2], out[-1][2] + event.content, *out[-1][3:])
        else:
            out.append(row)
    return out


def replay_all(trace):
    events = []
    try:
        events.extend(Replay(trace, speed=None))
    except Exception as error:  # noqa: BLE001 (what a failed run raises after its last event)
        events.append(f"{type(error).__name__}: {error}")
    return events


@pytest.mark.parametrize("run", [native_run, text_run, failing_tool_run, max_steps_run])
def test_round_trip_replays_the_same_events(tmp_path, run):
    run(tmp_path / "run.jsonl")
    original = load(tmp_path / "run.jsonl")
    path = tmp_path / "spans.json"
    otel.write_otlp_json(original, path, capture_content=True)
    [back] = read_otlp_json(path)
    assert back.kind == "agent" and back.model == original.model and back.state == original.state
    assert story(back) == story(original)
    assert back.text == original.text
    assert sorted(back.steps) == sorted(original.steps)
    assert all(back.messages(n) == original.messages(n) for n in original.steps)
    assert back.times == sorted(back.times) and back.times[-1] <= back.footer["t"] + 1e-3
    assert abs(back.footer["t"] - original.footer["t"]) < 0.01
    replayed = replay_all(back)
    assert [getattr(e, "type", e) for e in replayed[: len(back.events)]] == [e.type for e in back.events]
    assert (
        replayed[len(back.events) :] == replay_all(original)[len(original.events) :]
    )  # a failed run fails again on replay, the same way
    for a, b in zip(back.steps.values(), original.steps.values()):
        assert a["response"]["usage"] == b["response"]["usage"]


def test_a_stream_trace_round_trips(tmp_path):
    from rlm_toolkit import RLM, ScriptedProvider

    RLM(ScriptedProvider("Hello there, world")).run("hi", record=str(tmp_path / "s.jsonl"))
    original = load(tmp_path / "s.jsonl")
    [back] = read_otlp_json(otel.to_otlp_json(original, capture_content=True))
    assert back.kind == "stream" and back.text == original.text == "Hello there, world"
    assert [e.type for e in back.events] == ["text", "usage", "finish"]
    assert back.footer["state"] == "done"


def test_without_content_the_gaps_show_as_missing(tmp_path):
    native_run(tmp_path / "run.jsonl")
    [back] = read_otlp_json(otel.to_otlp_json(tmp_path / "run.jsonl", capture_content=False))
    kinds = [(e.type, e.content) for e in back.events]
    assert kinds == [
        ("action", ""),
        ("observation", missing("gen_ai.tool.call.result")),
        ("final", missing("gen_ai.output.messages")),
    ]
    assert (
        back.events[0].tool_name == "add" and back.events[0].input is None and back.events[0].call_id == "c1"
    )


def _attr(key, **value):
    return {"key": key, "value": value}


# What another tool following the conventions might export: base64 ids (protobuf's JSON mapping),
# string enums, a non-GenAI HTTP span in between, extra attributes rlm does not know.
FOREIGN = {
    "resourceSpans": [
        {
            "resource": {"attributes": [_attr("service.name", stringValue="other-agent")]},
            "scopeSpans": [
                {
                    "scope": {"name": "someone.else"},
                    "spans": [
                        {
                            "traceId": "AAECAwQFBgcICQoLDA0ODw==",
                            "spanId": "AQEBAQEBAQE=",
                            "name": "invoke_agent Researcher",
                            "kind": "SPAN_KIND_INTERNAL",
                            "startTimeUnixNano": "1000000000000",
                            "endTimeUnixNano": "1005000000000",
                            "attributes": [
                                _attr("gen_ai.operation.name", stringValue="invoke_agent"),
                                _attr("gen_ai.agent.name", stringValue="Researcher"),
                                _attr("gen_ai.provider.name", stringValue="openai"),
                                _attr("gen_ai.request.model", stringValue="gpt-4o"),
                                _attr("vendor.custom", kvlistValue={"values": [_attr("x", intValue="1")]}),
                            ],
                            "status": {"code": "STATUS_CODE_OK"},
                        },
                        {
                            "traceId": "AAECAwQFBgcICQoLDA0ODw==",
                            "spanId": "AgICAgICAgI=",
                            "parentSpanId": "AQEBAQEBAQE=",
                            "name": "POST /v1/chat/completions",
                            "startTimeUnixNano": "1000100000000",
                            "endTimeUnixNano": "1001000000000",
                            "attributes": [_attr("http.method", stringValue="POST")],
                        },
                        {
                            "traceId": "AAECAwQFBgcICQoLDA0ODw==",
                            "spanId": "AwMDAwMDAwM=",
                            "parentSpanId": "AgICAgICAgI=",
                            "name": "chat gpt-4o",
                            "startTimeUnixNano": "1000100000000",
                            "endTimeUnixNano": "1001000000000",
                            "attributes": [
                                _attr("gen_ai.operation.name", stringValue="chat"),
                                _attr("gen_ai.request.model", stringValue="gpt-4o"),
                                _attr("gen_ai.usage.input_tokens", intValue="120"),
                                _attr("gen_ai.usage.output_tokens", intValue="30"),
                                _attr(
                                    "gen_ai.response.finish_reasons",
                                    arrayValue={"values": [{"stringValue": "tool_call"}]},
                                ),
                                _attr(
                                    "gen_ai.output.messages",
                                    stringValue=json.dumps(
                                        [
                                            {
                                                "role": "assistant",
                                                "parts": [
                                                    {
                                                        "type": "reasoning",
                                                        "content": "I need the population.",
                                                    },
                                                    {
                                                        "type": "tool_call",
                                                        "id": "t1",
                                                        "name": "search",
                                                        "arguments": {"q": "Paris"},
                                                    },
                                                ],
                                            }
                                        ]
                                    ),
                                ),
                            ],
                        },
                        {
                            "traceId": "AAECAwQFBgcICQoLDA0ODw==",
                            "spanId": "BAQEBAQEBAQ=",
                            "parentSpanId": "AQEBAQEBAQE=",
                            "name": "execute_tool search",
                            "startTimeUnixNano": "1001500000000",
                            "endTimeUnixNano": "1002000000000",
                            "attributes": [
                                _attr("gen_ai.operation.name", stringValue="execute_tool"),
                                _attr("gen_ai.tool.call.id", stringValue="t1"),
                                _attr("gen_ai.tool.call.result", stringValue="2.1 million"),
                            ],
                        },
                        {
                            "traceId": "AAECAwQFBgcICQoLDA0ODw==",
                            "spanId": "BQUFBQUFBQU=",
                            "parentSpanId": "AQEBAQEBAQE=",
                            "name": "chat gpt-4o",
                            "startTimeUnixNano": "1002500000000",
                            "endTimeUnixNano": "1004500000000",
                            "attributes": [
                                _attr("gen_ai.operation.name", stringValue="chat"),
                                _attr("gen_ai.response.time_to_first_chunk", doubleValue=0.5),
                                _attr(
                                    "gen_ai.output.messages",
                                    stringValue=json.dumps(
                                        [
                                            {
                                                "role": "assistant",
                                                "parts": [
                                                    {"type": "text", "content": "About 2.1 million people."}
                                                ],
                                                "finish_reason": "stop",
                                            }
                                        ]
                                    ),
                                ),
                            ],
                        },
                    ],
                }
            ],
        }
    ]
}


def test_another_tools_export_replays_as_an_agent_run():
    [trace] = read_otlp_json(json.dumps(FOREIGN))
    assert trace.kind == "agent" and trace.model == "openai:gpt-4o" and trace.state == "done"
    assert [(e.type, e.step, e.content, e.tool_name, e.input) for e in trace.events] == [
        ("thought", 1, "I need the population.", None, None),
        ("action", 1, "", "search", {"q": "Paris"}),
        ("observation", 1, "2.1 million", "search", {"q": "Paris"}),
        ("token", 2, "About 2.1 million people.", None, None),
        ("final", 2, "About 2.1 million people.", None, None),
    ]
    assert trace.times == [
        0.1,
        1.5,
        2.0,
        3.0,
        5.0,
    ]  # thought at the chat's start, the answer's first chunk at +0.5 s
    assert trace.steps[1]["response"]["usage"] == {"prompt_tokens": 120, "completion_tokens": 30}
    assert trace.steps[2]["response"]["usage"] == {"prompt_tokens": None, "completion_tokens": None}
    assert trace.events[2].duration == pytest.approx(0.5)


def test_not_otlp_is_a_usage_error(tmp_path):
    (tmp_path / "x.json").write_text("not json at all")
    with pytest.raises(UsageError, match="not OTLP"):
        read_otlp_json(tmp_path / "x.json")
    with pytest.raises(UsageError, match="no GenAI span"):
        read_otlp_json({"resourceSpans": []})
