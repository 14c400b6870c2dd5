"""Anthropic's Messages SSE, against a loopback server writing the documented events."""

from __future__ import annotations

import asyncio
import json

import pytest

from rlm_toolkit import (
    RLM,
    AuthenticationError,
    BadRequestError,
    IncompleteStreamError,
    MissingCredentialsError,
    RateLimitError,
    ServerError,
)
from rlm_toolkit.providers.anthropic import AnthropicProvider

from ...fixtures.vendor_servers import Reply, sse

KEY = "sk-ant-api03-TESTKEY0123456789abcdefghijkl"


def start(input_tokens=10):
    return (
        "message_start",
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": input_tokens}}},
    )


def text_block(index=0):
    return ("content_block_start", {"type": "content_block_start", "index": index,
                                    "content_block": {"type": "text", "text": ""}})


def text(piece, index=0):
    return ("content_block_delta", {"type": "content_block_delta", "index": index,
                                    "delta": {"type": "text_delta", "text": piece}})


def stop_block(index=0):
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def end(reason="end_turn", output=3):
    return [("message_delta", {"type": "message_delta", "delta": {"stop_reason": reason},
                               "usage": {"output_tokens": output}}),
            ("message_stop", {"type": "message_stop"})]


def error(kind, message="boom"):
    return ("error", {"type": "error", "error": {"type": kind, "message": message}})


def rlm_for(server, **kwargs) -> RLM:
    return RLM(
        AnthropicProvider("claude-test", api_key=KEY, base_url=server.base_url), max_retries=0, **kwargs
    )


def test_text_stream_usage_and_request(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream; charset=utf-8", sse(
        start(), text_block(), ("ping", {"type": "ping"}), text("Hel"), text("lo"), stop_block(), *end())))
    rlm = rlm_for(vendor_server, system="Be brief.")
    assert list(rlm.stream("hi", temperature=0.5, stop="END")) == ["Hel", "lo"]
    response = rlm.last_response
    assert (response.finish_reason, response.prompt_tokens, response.completion_tokens) == ("stop", 10, 3)
    path, headers, body = vendor_server.requests[0]
    assert path == "/v1/messages" and headers["x-api-key"] == KEY and headers["anthropic-version"]
    assert body["system"] == "Be brief." and body["max_tokens"] == 1024 and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["stop_sequences"] == ["END"] and body["temperature"] == 0.5


def test_max_tokens_maps_to_length(vendor_server):
    vendor_server.script(
        Reply(200, "text/event-stream", sse(start(), text_block(), text("a"), *end("max_tokens", 1)))
    )
    rlm = rlm_for(vendor_server)
    assert rlm.run("x", max_tokens=1) == "a" and rlm.last_response.finish_reason == "length"
    assert vendor_server.requests[0][2]["max_tokens"] == 1


def test_tool_use_blocks_stream_as_tool_calls_and_history_converts(vendor_server):
    tool_start = (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {}},
        },
    )
    pieces = [("content_block_delta", {"type": "content_block_delta", "index": 1,
                                       "delta": {"type": "input_json_delta", "partial_json": p}})
              for p in ('{"a": 1', ', "b": 2}')]
    vendor_server.script(
        Reply(
            200,
            "text/event-stream",
            sse(
                start(),
                text_block(),
                text("Let me add."),
                stop_block(),
                tool_start,
                *pieces,
                stop_block(1),
                *end("tool_use"),
            ),
        )
    )
    rlm = rlm_for(vendor_server)
    tools = [{"type": "function", "function": {"name": "add", "description": "Add.",
                                               "parameters": {"type": "object", "properties": {}}}}]
    history = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "toolu_0", "type": "function", "function": {"name": "add", "arguments": '{"a": 0}'}}]},
        {"role": "tool", "tool_call_id": "toolu_0", "content": "0"},
        {"role": "user", "content": "again"},
    ]
    with rlm.stream_events(history, tools=tools) as events:
        list(events)
    response = rlm.last_response
    assert response.text == "Let me add." and response.finish_reason == "tool_calls"
    call = response.tool_calls[0]
    assert (call.call_id, call.name, json.loads(call.arguments)) == ("toolu_1", "add", {"a": 1, "b": 2})
    body = vendor_server.requests[0][2]
    assert body["tools"] == [
        {"name": "add", "description": "Add.", "input_schema": {"type": "object", "properties": {}}}
    ]
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_0", "name": "add", "input": {"a": 0}}]}
    # The tool result and the next user turn merge into one user message: roles must alternate.
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_0", "content": "0"}, {"type": "text", "text": "again"}]}


@pytest.mark.parametrize("kind, cls, status", [
    ("overloaded_error", ServerError, 529),
    ("rate_limit_error", RateLimitError, 429),
    ("api_error", ServerError, 500),
    ("authentication_error", AuthenticationError, 401),
    ("invalid_request_error", BadRequestError, 400),
])
def test_error_events_mid_stream_are_typed_and_keep_partial_text(vendor_server, kind, cls, status):
    vendor_server.script(Reply(200, "text/event-stream", sse(start(), text_block(), text("par"), text("tial"),
                                                            error(kind, f"it failed, key {KEY}"))))
    with pytest.raises(cls) as info:
        rlm_for(vendor_server).run("x")
    assert info.value.status_code == status and info.value.partial_text == "partial"
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_error_bodies_are_typed(vendor_server):
    body = json.dumps(
        {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    )
    vendor_server.script(Reply(401, "application/json", [body.encode()]))
    with pytest.raises(AuthenticationError, match="invalid x-api-key"):
        rlm_for(vendor_server).run("x")


def test_cut_stream_is_incomplete(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream", sse(start(), text_block(), text("a")), cut=True))
    with pytest.raises(IncompleteStreamError) as info:
        rlm_for(vendor_server).run("x")
    assert info.value.partial_text == "a"


def test_missing_key_names_the_variable():
    with pytest.raises(MissingCredentialsError, match="ANTHROPIC_API_KEY") as info:
        RLM.from_anthropic("claude-sonnet-4-5")
    assert info.value.env_var == "ANTHROPIC_API_KEY"


def test_astream(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream", sse(start(), text_block(), text("x"), *end())))

    async def main():
        return [c async for c in rlm_for(vendor_server).astream("q")]

    assert asyncio.run(main()) == ["x"]
