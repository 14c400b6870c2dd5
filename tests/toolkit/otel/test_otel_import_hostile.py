"""OTel import of hostile exports (issue 20, items 10 and 5): wrong types anywhere give the one typed
error (a skipped span listed in ``problems``, or a UsageError), never a raw TypeError; matching tools
to steps is O(n log n); attributes nested thousands of levels deep are cut, not a RecursionError."""

from __future__ import annotations

import copy
import json
import time

import pytest

from rlm_toolkit import UsageError
from rlm_toolkit.events import AgentEvent
from rlm_toolkit.otel_import import read_otlp_json
from rlm_toolkit.trace import Trace


def _attr(key, **value):
    return {"key": key, "value": value}


def _span(span_id, name, start, end, *attributes, parent=None):
    out = {"spanId": span_id, "name": name, "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
           "attributes": list(attributes)}
    if parent:
        out["parentSpanId"] = parent
    return out


def _output(*parts):
    messages = [{"role": "assistant", "parts": list(parts)}]
    return _attr("gen_ai.output.messages", stringValue=json.dumps(messages))


def export(spans):
    return {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}


AGENT = "a" * 16


def small_run():
    """An agent run: a chat that calls a tool, the tool, a chat with the answer."""
    return export([
        _span(AGENT, "invoke_agent A", 1_000_000_000, 9_000_000_000,
              _attr("gen_ai.operation.name", stringValue="invoke_agent"),
              _attr("gen_ai.request.model", stringValue="gpt-4o"),
              _attr("gen_ai.usage.input_tokens", intValue="12")),
        _span("b" * 16, "chat gpt-4o", 1_100_000_000, 2_000_000_000,
              _attr("gen_ai.operation.name", stringValue="chat"),
              _attr("gen_ai.response.finish_reasons", arrayValue={"values": [{"stringValue": "tool_call"}]}),
              _attr("gen_ai.response.time_to_first_chunk", doubleValue=0.25),
              _output({"type": "tool_call", "id": "t1", "name": "search", "arguments": {"q": "x"}}),
              parent=AGENT),
        _span("c" * 16, "execute_tool search", 2_100_000_000, 2_500_000_000,
              _attr("gen_ai.operation.name", stringValue="execute_tool"),
              _attr("gen_ai.tool.call.id", stringValue="t1"),
              _attr("gen_ai.tool.call.result", stringValue="found"),
              parent=AGENT),
        _span("d" * 16, "chat gpt-4o", 3_000_000_000, 4_000_000_000,
              _attr("gen_ai.operation.name", stringValue="chat"),
              _output({"type": "text", "content": "The answer."}),
              parent=AGENT),
    ])


WRONG = [None, [], {}, "abc", "", -1, 1e400, float("nan"), 10**400, True, [1, [2]], {"x": {"y": 1}},
         "1e400", "9" * 30, {"values": "abc"}, {"values": [1, "x", None]}]


def _paths(value, path=()):
    """Every place in a JSON value (dict keys and list items), parents first."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _replaced(document, path, new):
    out = copy.deepcopy(document)
    if not path:
        return new
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


def test_the_small_run_reads():
    [trace] = read_otlp_json(small_run())
    assert [e.type for e in trace.events] == ["thought", "action", "observation", "token", "final"] or [
        e.type for e in trace.events
    ] == ["action", "observation", "token", "final"]
    assert trace.events[-1].content == "The answer." and trace.problems == []


def test_every_wrong_type_anywhere_is_the_typed_error():
    """Fuzz: each place of a valid export, replaced by each wrong value; the only outcomes allowed
    are traces (the bad span skipped and listed) or a UsageError. Each is read as a dict and as text."""
    document = small_run()
    tried = 0
    for path in list(_paths(document)):
        for wrong in WRONG:
            bad = _replaced(document, path, wrong)
            if not isinstance(bad, dict):  # the whole export replaced: a str would be a file name
                if not isinstance(bad, str):
                    with pytest.raises(UsageError):
                        read_otlp_json(bad)
                continue
            tried += 1
            try:
                traces = read_otlp_json(bad) + read_otlp_json(json.dumps(bad))
            except UsageError:
                continue
            assert all(isinstance(t, Trace) for t in traces), (path, wrong)
            for trace in traces:  # what was read is usable: every event has its documented types
                for event in trace.events:
                    json.dumps(event.to_dict())
                    if not isinstance(event, AgentEvent):
                        continue
                    assert isinstance(event.content, str) and isinstance(event.step, int), (path, wrong)
                    assert event.tool_name is None or isinstance(event.tool_name, str), (path, wrong)
                    assert event.call_id is None or isinstance(event.call_id, str), (path, wrong)
                    assert event.input is None or isinstance(event.input, dict), (path, wrong)
                json.dumps(trace.steps, default=str)
    assert tried > 1_000


@pytest.mark.parametrize(
    "span",
    [
        ["not", "a", "span"],
        "a string",
        {"spanId": "e" * 16, "name": "chat x", "startTimeUnixNano": "abc"},
        {"spanId": "e" * 16, "name": "chat x", "startTimeUnixNano": 1e300},
        {"spanId": "e" * 16, "name": "chat x", "startTimeUnixNano": 10**400},
        {"spanId": "e" * 16, "name": "chat x", "attributes": {"key": "x"}},
        {"spanId": "e" * 16, "name": "chat x",
         "attributes": [_attr("gen_ai.usage.input_tokens", intValue={})]},
        {"spanId": "e" * 16, "name": "chat x", "attributes": [_attr("gen_ai.tool.call.id", intValue="3")]},
        {"spanId": ["e"], "name": "chat x"},
        {"spanId": "e" * 16, "name": 5},
        {"spanId": "e" * 16, "name": "chat x", "status": "failed"},
    ],
    ids=["list", "string", "time-abc", "time-1e300", "time-huge-int", "attributes-dict", "int-a-dict",
         "call-id-an-int", "id-a-list", "name-an-int", "status-a-string"],
)
def test_a_bad_span_is_skipped_and_named_and_the_rest_reads(span):
    document = small_run()
    document["resourceSpans"][0]["scopeSpans"][0]["spans"].insert(1, span)
    [trace] = read_otlp_json(document)
    assert trace.events[-1].content == "The answer."
    assert trace.skipped == 1 and trace.problems[0].startswith("resourceSpans[0].scopeSpans[0].spans[1]")


def test_only_bad_spans_is_a_usage_error_naming_the_first():
    with pytest.raises(UsageError, match=r"spans\[0\].*must be a JSON object"):
        read_otlp_json(export([["a list"]]))
    with pytest.raises(UsageError, match="resourceSpans: must be a list"):
        read_otlp_json({"resourceSpans": "abc"})
    with pytest.raises(UsageError, match="takes a path"):
        read_otlp_json(42)  # type: ignore[arg-type]


def _nested_kvlist(depth):
    value = {"stringValue": "bottom"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def test_attributes_nested_thousands_deep_are_cut_in_a_dict_and_refused_in_text():
    document = small_run()
    tool = document["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    tool["attributes"].append(_attr("gen_ai.tool.call.arguments", **_nested_kvlist(5_000)))
    [trace] = read_otlp_json(document)
    action = next(e for e in trace.events if e.type == "action")
    assert "[cut: nested deeper than 100 levels]" in json.dumps(action.input)
    for depth in (5_000, 100_000):
        text = json.dumps(small_run())[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
        with pytest.raises(UsageError, match="nested deeper than 128 levels"):
            read_otlp_json(text)


def _agent_span():
    operation = _attr("gen_ai.operation.name", stringValue="invoke_agent")
    return _span(AGENT, "invoke_agent A", 1, 10**15, operation)


def _many(steps):
    """An agent run of ``steps`` steps, each a chat and a tool span whose call id no chat names
    (so each tool is matched to the latest chat that started before it)."""
    spans = [_agent_span()]
    for i in range(steps):
        at = 1_000_000 * (i + 1)
        spans.append(_span(f"{2 * i + 1:016x}", "chat m", at, at + 100, parent=AGENT))
        spans.append(_span(f"{2 * i + 2:016x}", "execute_tool t", at + 200, at + 300,
                           _attr("gen_ai.tool.call.id", stringValue=f"x{i}"), parent=AGENT))
    return export(spans)


def _read_cpu_seconds(document) -> float:
    best = float("inf")
    for _ in range(2):
        started = time.thread_time()
        read_otlp_json(document)
        best = min(best, time.thread_time() - started)
    return best


def test_matching_tools_to_steps_scales_linearly():
    small, big = _many(1_000), _many(4_000)
    [trace] = read_otlp_json(big)
    assert len([e for e in trace.events if e.type == "observation"]) == 4_000
    t_small, t_big = _read_cpu_seconds(small), _read_cpu_seconds(big)
    # n log n: ~4-5x the small case; the old matching scanned every chat per tool: ~16x.
    assert t_big < 9 * t_small + 0.05, f"{t_big:.3f} s for 8,000 spans vs {t_small:.3f} s for 2,000"


def _chain(count):
    """``count`` chat spans, each the child of the one before, under one agent."""
    spans = [_agent_span()]
    parent = AGENT
    for i in range(count):
        span_id = f"{i + 1:016x}"
        spans.append(_span(span_id, "chat m", 1_000_000 * (i + 1), 1_000_000 * (i + 1) + 100, parent=parent))
        parent = span_id
    return export(spans)


def test_finding_each_spans_agent_scales_linearly_on_a_deep_chain_of_spans():
    t_small, t_big = _read_cpu_seconds(_chain(1_000)), _read_cpu_seconds(_chain(4_000))
    assert t_big < 9 * t_small + 0.05, f"{t_big:.3f} s for 4,000 nested spans vs {t_small:.3f} s for 1,000"
