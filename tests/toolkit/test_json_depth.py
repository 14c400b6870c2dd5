"""Deeply nested JSON (issue 20, item 5): ``[[[[…]]]]`` thousands of levels deep, wherever rlm reads
JSON it did not write, gives the project's typed errors, never a bare RecursionError; values a few
hundred levels deep (which ``json`` accepts) are cut with a marker by every walker."""

from __future__ import annotations

import json

import pytest

from rlm_toolkit import RLM, ScriptedTurn
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.agents.tools import tool
from rlm_toolkit.errors import BadRequestError, MalformedResponseError, scrub_data
from rlm_toolkit.events import AgentEvent
from rlm_toolkit.providers.anthropic import AnthropicProvider
from rlm_toolkit.providers.ollama import OllamaProvider
from rlm_toolkit.trace import TraceRecorder, diff, load

from ..fixtures.vendor_servers import Reply

KEY = "sk-proj-DepthTESTkey0123456789abcdefghijKLMNOP"
DEPTHS = [5_000, 100_000]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_value(depth: int):
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def depth_of(value) -> int:
    level = 0
    while isinstance(value, list) and value:
        value, level = value[0], level + 1
    return level + (1 if isinstance(value, list) else 0)


def _openai(server):
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=KEY, max_retries=0)


def _responses(server):
    return RLM.from_openai("gpt-5", api="responses", base_url=server.base_url + "/v1", api_key=KEY,
                           max_retries=0)


def _anthropic(server):
    return RLM(AnthropicProvider("claude-test", api_key=KEY, base_url=server.base_url), max_retries=0)


def _ollama(server):
    return RLM(OllamaProvider("llama3.2", host=server.base_url), max_retries=0)


def _stream(first: str, deep: str) -> dict[str, Reply]:
    """Per provider: a body with a text piece ``first``, then an event whose JSON holds ``deep``."""
    text = json.dumps(first)
    return {
        "openai": Reply(200, "text/event-stream", [
            f'data: {{"choices":[{{"index":0,"delta":{{"content":{text}}}}}]}}\n\n'.encode(),
            f'data: {{"choices":[{{"index":0,"delta":{{}}}}],"x":{deep}}}\n\n'.encode(),
        ]),
        "openai-responses": Reply(200, "text/event-stream", [
            f'event: response.output_text.delta\ndata: {{"type":"response.output_text.delta",'
            f'"output_index":0,"content_index":0,"delta":{text}}}\n\n'.encode(),
            f'event: response.output_text.delta\ndata: {{"type":"x","x":{deep}}}\n\n'.encode(),
        ]),
        "anthropic": Reply(200, "text/event-stream", [
            b'event: message_start\ndata: {"type":"message_start",'
            b'"message":{"usage":{"input_tokens":1}}}\n\n',
            b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
            b'"content_block":{"type":"text","text":""}}\n\n',
            f'event: content_block_delta\ndata: {{"type":"content_block_delta","index":0,'
            f'"delta":{{"type":"text_delta","text":{text}}}}}\n\n'.encode(),
            f'event: content_block_delta\ndata: {{"type":"x","x":{deep}}}\n\n'.encode(),
        ]),
        "ollama": Reply(200, "application/x-ndjson", [
            f'{{"message":{{"role":"assistant","content":{text}}},"done":false}}\n'.encode(),
            f'{{"message":{{"role":"assistant","content":""}},"x":{deep},"done":false}}\n'.encode(),
        ]),
    }


PROVIDERS = {"openai": _openai, "openai-responses": _responses, "anthropic": _anthropic, "ollama": _ollama}


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_deeply_nested_stream_chunk_is_malformed_for_every_provider(vendor_server, provider, depth):
    vendor_server.script(_stream("Hi ", nested(depth))[provider])
    with pytest.raises(MalformedResponseError, match="nested deeper than 128 levels") as caught:
        list(PROVIDERS[provider](vendor_server).stream("go"))
    assert caught.value.partial_text == "Hi "


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_deeply_nested_error_body_is_the_typed_status_error(vendor_server, provider):
    vendor_server.script(Reply(400, "application/json", [('{"error":' + nested(5_000) + "}").encode()]))
    with pytest.raises(BadRequestError) as caught:
        list(PROVIDERS[provider](vendor_server).stream("go"))
    assert caught.value.status_code == 400 and len(caught.value.message) < 1_000


@tool
def count(items: list) -> str:
    """Count the items."""
    return str(len(items))


@pytest.mark.parametrize("depth", [900, 5_000, 100_000])
def test_too_deep_tool_arguments_are_an_error_observation_and_the_run_goes_on(tmp_path, depth):
    arguments = '{"items": ' + nested(depth) + "}"
    turns = [ScriptedTurn(tool_calls=[{"name": "count", "arguments": arguments}]), "Done."]
    agent = ReActAgent(RLM.from_scripted(turns=turns), tools=[count])
    path = tmp_path / "run.jsonl"
    events = list(agent.stream("go", record=path))
    observation = next(e for e in events if e.type == "observation")
    assert observation.is_error and "nested deeper than 128 levels" in observation.content
    assert events[-1].type == "final" and events[-1].content == "Done."
    trace = load(path)
    assert trace.complete and trace.problems == []


def test_a_trace_line_nested_too_deep_is_a_listed_problem(tmp_path):
    path = tmp_path / "deep.jsonl"
    lines = [
        {"type": "header", "version": 1, "kind": "stream", "model": "m", "created": 1.0},
        {"type": "event", "t": 0.1, "event": {"type": "text", "text": "Hello"}},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    deep = nested(5_000)
    text += '{"type": "event", "t": 0.2, "event": {"type": "text", "text": "x", "extra": ' + deep + "}}\n"
    text += '{"type": "step", "step": 1, "messages": [{"role": "user", "content": ' + nested(900) + "}]}\n"
    text += json.dumps({"type": "footer", "t": 0.3, "state": "done", "response": None, "error": None}) + "\n"
    path.write_text(text)
    trace = load(path)
    assert trace.text == "Hello" and trace.complete and trace.skipped == 2
    assert all("nested deeper than 128 levels" in problem for problem in trace.problems)
    assert diff(path, path).changed == []


@pytest.mark.parametrize("depth", [900, 5_000])
def test_the_recorder_cuts_a_deep_value_and_still_writes_its_footer(tmp_path, depth):
    path = tmp_path / "run.jsonl"
    recorder = TraceRecorder(path, kind="agent")
    recorder.event(AgentEvent(type="action", tool_name="t", input={"x": nested_value(depth)}, step=1))
    recorder.step(1, {"messages": [{"role": "user", "content": nested_value(depth)}]})
    recorder.close()
    trace = load(path)
    assert trace.complete and trace.problems == []
    kept = trace.events[0].input["x"]
    assert depth_of(kept) < 100
    assert "[cut: nested deeper than 100 levels]" in json.dumps(kept)


def test_scrub_data_cuts_deep_values_with_a_marker():
    out = scrub_data({"a": nested_value(100_000), "key": "sk-proj-abcdefghijklmnop"})
    text = json.dumps(out)
    assert "[cut: nested deeper than 100 levels]" in text and "abcdefghijklmnop" not in text


def test_a_diff_of_traces_with_deep_arguments_is_cut_not_a_recursion_error(tmp_path):
    from rlm_toolkit.trace import Trace

    def trace(value):
        header = {"type": "header", "version": 1, "kind": "agent", "model": "m", "created": 1.0}
        action = AgentEvent(type="action", tool_name="t", input={"x": value}, step=1)
        return Trace(header=header, events=[action], times=[0.0])

    result = diff(trace(nested_value(5_000)), trace(nested_value(4_000)))
    assert "[cut: nested deeper than 100 levels]" in str(result) + result.to_html()


def test_the_depth_scan_ignores_brackets_in_strings_and_is_linear_on_hostile_text():
    import time

    from rlm_toolkit._json_depth import TooDeepError, depth, loads

    assert loads(json.dumps({"a": "[" * 10_000})) == {"a": "[" * 10_000}  # brackets in a string
    assert loads(b'[[1], {"b": "]]]"}]') == [[1], {"b": "]]]"}]
    assert depth(nested(128)) == 128 and loads(nested(128)) is not None
    with pytest.raises(TooDeepError, match="nested deeper than 128 levels"):
        loads(nested(129))

    def seconds(size: int) -> float:
        text = '"' + '\\"[' * size  # an unterminated string of escaped quotes: no rescan per quote
        started = time.thread_time()
        depth(text)
        return time.thread_time() - started

    assert seconds(400_000) < 8 * seconds(100_000) + 0.05  # linear: ~4x; a rescan per quote: ~16x
