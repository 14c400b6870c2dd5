"""Reasoning on every wire format that streams it, against loopback servers writing the bytes each
vendor documents — one byte at a time, so a field split anywhere still arrives whole:

- OpenAI-compatible chunks: ``delta.reasoning_content`` (DeepSeek, vLLM, llama.cpp's server) and
  ``delta.reasoning`` (OpenRouter, Ollama's ``/v1``);
- Anthropic's ``thinking`` blocks (``thinking_delta``, ``signature_delta``, ``redacted_thinking``),
  signed blocks sent back unchanged before ``tool_use`` in the next request of a tool turn;
- Ollama's native ``message.thinking``.

``stream()`` yields answer text only; reasoning is on ``stream_events``, ``on_llm_reasoning``,
``Response.reasoning`` and the agent's ``reasoning`` events.
"""

from __future__ import annotations

import json

from rlm_toolkit import RLM, ReasoningDelta, StreamingCallback
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.providers.anthropic import AnthropicProvider
from rlm_toolkit.providers.ollama import OllamaProvider
from rlm_toolkit.providers.openai import OpenAIProvider

from ...fixtures.vendor_servers import Reply, ndjson, sse


def bytewise(pieces: list[bytes]) -> list[bytes]:
    body = b"".join(pieces)
    return [body[i:i + 1] for i in range(len(body))]


class Heard(StreamingCallback):
    def __init__(self) -> None:
        self.reasoning: list[str] = []
        self.tokens: list[str] = []

    def on_llm_reasoning(self, text, **kwargs):
        self.reasoning.append(text)

    def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)


# -- OpenAI-compatible chat chunks ------------------------------------------------------------------

def chat_chunk(delta, finish=None):
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def chat_sse(*chunks) -> list[bytes]:
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def openai_rlm(server, **kwargs) -> RLM:
    return RLM(OpenAIProvider("m", api_key="sk-test-0123456789abcdefghij", base_url=server.base_url + "/v1",
                              include_usage=False), max_retries=0, **kwargs)


def test_deepseek_reasoning_content_is_reasoning_not_answer(vendor_server):
    body = chat_sse(
        chat_chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
        chat_chunk({"content": None, "reasoning_content": "Nine is "}),
        chat_chunk({"content": None, "reasoning_content": "3 squared — ünïcode."}),
        chat_chunk({"content": "3", "reasoning_content": None}),
        chat_chunk({"content": ""}, finish="stop"),
    )
    vendor_server.script(Reply(200, "text/event-stream", bytewise(body)),
                         Reply(200, "text/event-stream", bytewise(body)))
    heard = Heard()
    rlm = openai_rlm(vendor_server, callbacks=[heard])
    assert list(rlm.stream("sqrt 9?")) == ["3"]  # stream() is answer text only
    response = rlm.last_response
    assert response.text == "3" and response.reasoning == "Nine is 3 squared — ünïcode."
    assert heard.reasoning == ["Nine is ", "3 squared — ünïcode."] and heard.tokens == ["3"]
    with rlm.stream_events("sqrt 9?") as events:
        kinds = [(e.type, getattr(e, "text", None)) for e in events]
    assert kinds[:3] == [("reasoning", "Nine is "), ("reasoning", "3 squared — ünïcode."), ("text", "3")]


def test_openrouter_and_ollama_v1_reasoning_field(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream", bytewise(chat_sse(
        chat_chunk({"role": "assistant", "content": "", "reasoning": "Think"}),
        chat_chunk({"content": "", "reasoning": "ing."}),
        # a server that sends both names in one delta (vLLM while renaming) sends the text once
        chat_chunk({"content": "", "reasoning_content": " Both.", "reasoning": " Both."}),
        chat_chunk({"content": "Done.", "reasoning": None}, finish="stop"),
    ))))
    rlm = openai_rlm(vendor_server)
    assert rlm.run("x", extra={"reasoning": {"effort": "low"}}) == "Done."
    assert rlm.last_response.reasoning == "Thinking. Both."
    assert vendor_server.requests[0][2]["reasoning"] == {"effort": "low"}  # vendor parameters pass through


# -- Anthropic thinking ---------------------------------------------------------------------------

SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/=="
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
THINKING = {"type": "enabled", "budget_tokens": 2048}


def anthropic(server) -> AnthropicProvider:
    return AnthropicProvider("claude-test", api_key="sk-ant-test-0123456789abcdef", base_url=server.base_url)


def block_start(index, block):
    return ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def block_delta(index, delta):
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def block_stop(index):
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def message(*events, reason="end_turn"):
    started = {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 9}}}
    return [("message_start", started),
            *events,
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": reason},
                               "usage": {"output_tokens": 30}}),
            ("message_stop", {"type": "message_stop"})]


def test_anthropic_thinking_signed_blocks_go_back_before_tool_use(vendor_server):
    """A tool turn with extended thinking, as Anthropic documents it: thinking (deltas, then its
    signature), a redacted block, then tool_use. The agent's next request must carry both blocks
    unchanged, first in the assistant content, before the tool_use block."""
    first = sse(*message(
        block_start(0, {"type": "thinking", "thinking": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "The user wants 2 + 40; "}),
        block_delta(0, {"type": "thinking_delta", "thinking": "I'll use the add tool."}),
        block_delta(0, {"type": "signature_delta", "signature": SIGNATURE}),
        block_stop(0),
        block_start(1, {"type": "redacted_thinking", "data": REDACTED}),
        block_stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_01", "name": "add", "input": {}}),
        block_delta(2, {"type": "input_json_delta", "partial_json": '{"a": 2, "b": 40}'}),
        block_stop(2),
        reason="tool_use"))
    second = sse(*message(
        block_start(0, {"type": "thinking", "thinking": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "It returned 42."}),
        block_delta(0, {"type": "signature_delta", "signature": "second-signature"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        block_delta(1, {"type": "text_delta", "text": "42"}),
        block_stop(1)))
    vendor_server.script(Reply(200, "text/event-stream", bytewise(first)),
                         Reply(200, "text/event-stream", bytewise(second)))

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    rlm = RLM(anthropic(vendor_server), max_retries=0, max_tokens=4096, extra={"thinking": THINKING})
    agent = ReActAgent(rlm, tools=[add])
    with agent.stream("What is 2 + 40?") as run:
        events = list(run)
    assert run.final.content == "42"
    reasoning = [(e.step, e.content) for e in events if e.type == "reasoning"]
    assert reasoning == [(1, "The user wants 2 + 40; "), (1, "I'll use the add tool."),
                         (2, "It returned 42.")]
    assert not any(e.type == "token" and "add tool" in e.content for e in events)

    (_, _, body1), (_, _, body2) = vendor_server.requests
    assert body1["thinking"] == THINKING and body2["thinking"] == THINKING
    assert body2["messages"][1] == {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "The user wants 2 + 40; I'll use the add tool.",
         "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "tool_use", "id": "toolu_01", "name": "add", "input": {"a": 2, "b": 40}},
    ]}
    assert body2["messages"][2]["content"][0]["type"] == "tool_result"


def test_anthropic_thinking_events_and_response_blocks(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream", bytewise(sse(*message(
        block_start(0, {"type": "thinking", "thinking": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "Hmm."}),
        block_delta(0, {"type": "signature_delta", "signature": SIGNATURE}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        block_delta(1, {"type": "text_delta", "text": "Yes."}),
        block_stop(1))))))
    rlm = RLM(anthropic(vendor_server), max_retries=0)
    with rlm.stream_events("?") as stream:
        events = [e for e in stream if e.type in ("reasoning", "text")]
    assert events == [ReasoningDelta(text="Hmm."), ReasoningDelta(signature=SIGNATURE),
                      type(events[2])(text="Yes.")]
    response = rlm.last_response
    assert (response.text, response.reasoning) == ("Yes.", "Hmm.")
    assert response.reasoning_blocks == [{"type": "thinking", "thinking": "Hmm.", "signature": SIGNATURE}]


def test_unsigned_reasoning_is_not_sent_back_to_anthropic(vendor_server):
    """Reasoning another provider streamed has no signature: Anthropic could not verify it."""
    from rlm_toolkit.providers.anthropic import anthropic_body
    from rlm_toolkit.providers.base import Request

    history = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": "", "reasoning_blocks": [
                   {"type": "thinking", "thinking": "unsigned", "signature": None}],
                "tool_calls": [{"id": "t", "type": "function",
                                "function": {"name": "f", "arguments": "{}"}}]}]
    body = anthropic_body(Request(messages=history), "claude-test", 100)
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]


# -- Ollama native thinking -----------------------------------------------------------------------

def test_ollama_native_thinking(vendor_server):
    def line(content, thinking=None, **done):
        message = {"role": "assistant", "content": content, **({"thinking": thinking} if thinking else {})}
        return {"model": "qwen3", "message": message, "done": bool(done), **done}

    lines = ndjson(line("", "Count "), line("", "the r's."), line("Three."),
                   line("", done=True, done_reason="stop", prompt_eval_count=5, eval_count=12))
    vendor_server.script(Reply(200, "application/x-ndjson", bytewise(lines)))
    heard = Heard()
    rlm = RLM(OllamaProvider("qwen3", host=vendor_server.base_url), max_retries=0, callbacks=[heard])
    assert list(rlm.stream("r's in strawberry?", extra={"think": True})) == ["Three."]
    assert rlm.last_response.reasoning == "Count the r's." and heard.reasoning == ["Count ", "the r's."]
    assert vendor_server.requests[0][2]["think"] is True


# -- traces ---------------------------------------------------------------------------------------

def test_traces_record_and_replay_reasoning_with_its_signature(vendor_server, tmp_path):
    from rlm_toolkit.trace import load, replay

    vendor_server.script(Reply(200, "text/event-stream", sse(*message(
        block_start(0, {"type": "thinking", "thinking": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "Think "}),
        block_delta(0, {"type": "thinking_delta", "thinking": "twice."}),
        block_delta(0, {"type": "signature_delta", "signature": SIGNATURE}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        block_delta(1, {"type": "text_delta", "text": "Once."}),
        block_stop(1)))))
    path = tmp_path / "thinking.jsonl"
    assert list(RLM(anthropic(vendor_server), max_retries=0).stream("?", record=path)) == ["Once."]
    trace = load(path)
    assert (trace.text, trace.reasoning) == ("Once.", "Think twice.")
    replayed = list(replay(path))
    assert [e for e in replayed if e.type == "reasoning"] == [
        ReasoningDelta(text="Think "), ReasoningDelta(text="twice."), ReasoningDelta(signature=SIGNATURE)]
    from rlm_toolkit.response import Response

    again = Response(model="claude-test", provider="anthropic")
    for event in replayed:
        again.feed(event)
    assert again.reasoning_blocks == [
        {"type": "thinking", "thinking": "Think twice.", "signature": SIGNATURE}]


def test_agent_traces_keep_reasoning_events(tmp_path):
    from rlm_toolkit import ScriptedProvider, ScriptedTurn
    from rlm_toolkit.trace import load

    agent = ReActAgent(ScriptedProvider(turns=[ScriptedTurn(reasoning="Easy one.", chunks="Four.")]))
    path = tmp_path / "run.jsonl"
    assert agent.run("2 + 2?", record=path) == "Four."
    trace = load(path)
    assert trace.reasoning == "Easy one." and trace.text == "Four."
    assert [e.step for e in trace.events if e.type == "reasoning"] == [1, 1]


def test_a_long_reasoning_is_kept_in_linear_time():
    """200,000 reasoning pieces (a long think) cost about ten times 20,000, not a hundred."""
    import time

    from rlm_toolkit.response import Response

    def feed(n: int) -> float:
        events = [ReasoningDelta(text=f"tok{i:06d} ") for i in range(n)] + [ReasoningDelta(signature="s")]
        response = Response(model="m", provider="p")
        began = time.perf_counter()
        for event in events:
            response.feed(event)
        assert len(response.reasoning_blocks[0]["thinking"]) == 10 * n
        return time.perf_counter() - began

    small = min(feed(20_000) for _ in range(3))
    assert feed(200_000) < 40 * small


def test_reasoning_of_the_wrong_shape_is_a_malformed_response():
    """Valid JSON, wrong types in the reasoning fields: a typed error naming the field, as for text."""
    import pytest

    from rlm_toolkit import MalformedResponseError
    from rlm_toolkit._decoders import ServerSentEvent
    from rlm_toolkit.providers.anthropic import AnthropicParser
    from rlm_toolkit.providers.ollama import parse_line
    from rlm_toolkit.providers.openai import parse_chunk

    with pytest.raises(MalformedResponseError, match="delta.reasoning_content"):
        parse_chunk(chat_chunk({"reasoning_content": 5}))
    with pytest.raises(MalformedResponseError, match="delta.reasoning"):
        parse_chunk(chat_chunk({"reasoning": ["a"]}))
    for delta, field in (({"type": "thinking_delta", "thinking": 5}, "delta.thinking"),
                         ({"type": "signature_delta", "signature": {}}, "delta.signature")):
        event = ServerSentEvent(event="content_block_delta", data=json.dumps(block_delta(0, delta)[1]))
        with pytest.raises(MalformedResponseError, match=field):
            AnthropicParser().feed(event)
    start = block_start(0, {"type": "redacted_thinking", "data": 7})[1]
    with pytest.raises(MalformedResponseError, match="content_block.data"):
        AnthropicParser().feed(ServerSentEvent(event="content_block_start", data=json.dumps(start)))
    with pytest.raises(MalformedResponseError, match="message.thinking"):
        parse_line({"message": {"role": "assistant", "content": "", "thinking": 5}, "done": False})


def test_tokens_and_their_rate_count_reasoning_until_usage_is_reported():
    """A thinking model's tokens/s is measured from its first reasoning piece, so the count must
    include reasoning too (as a provider's completion count does), or the rate reads low."""
    from rlm_toolkit.events import TextDelta, Usage
    from rlm_toolkit.response import Response

    response = Response(model="m", provider="p")
    for piece in ("Let ", "me ", "think."):
        response.feed(ReasoningDelta(text=piece))
    for piece in ("It ", "is."):
        response.feed(TextDelta(text=piece))
    response.settle()
    assert response.tokens == 5
    info = response.to_dict()
    assert (info["chunks"], info["reasoning_chunks"]) == (2, 3)
    response.feed(Usage(completion_tokens=9, reasoning_tokens=6))
    assert response.tokens == 9
