"""Ollama's native NDJSON stream, against a loopback server writing the documented lines."""

from __future__ import annotations

import asyncio
import json

import pytest

from rlm_toolkit import RLM, BadRequestError, IncompleteStreamError, MalformedResponseError
from rlm_toolkit.providers.ollama import OllamaProvider

from ...fixtures.vendor_servers import Reply, ndjson


def line(text="", done=False, **extra):
    return {"model": "llama3.2", "message": {"role": "assistant", "content": text}, "done": done, **extra}


def rlm_for(server, **kwargs) -> RLM:
    return RLM(OllamaProvider("llama3.2", host=server.base_url), max_retries=0, **kwargs)


def test_text_usage_finish_and_request_shape(vendor_server):
    vendor_server.script(
        Reply(
            200,
            "application/x-ndjson",
            ndjson(
                line("Hel"),
                line("lo"),
                line("", True, done_reason="stop", prompt_eval_count=12, eval_count=2),
            ),
            delay=0.01,
        )
    )
    rlm = rlm_for(vendor_server, system="Be brief.")
    assert list(rlm.stream("hi", temperature=0, max_tokens=5, seed=3)) == ["Hel", "lo"]
    response = rlm.last_response
    assert (response.finish_reason, response.prompt_tokens, response.completion_tokens) == ("stop", 12, 2)
    path, _, body = vendor_server.requests[0]
    assert path == "/api/chat" and body["stream"] is True and body["model"] == "llama3.2"
    assert body["options"] == {"temperature": 0, "num_predict": 5, "seed": 3}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_length_and_host_from_the_environment(vendor_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", vendor_server.base_url.removeprefix("http://"))
    vendor_server.script(
        Reply(200, "application/x-ndjson", ndjson(line("a"), line("", True, done_reason="length")))
    )
    rlm = RLM("ollama:llama3.2")
    assert rlm.run("x") == "a" and rlm.last_response.finish_reason == "length"


def test_native_tool_calls_and_tool_messages_converted(vendor_server):
    call = {"function": {"name": "add", "arguments": {"a": 1, "b": 2}}}
    vendor_server.script(Reply(200, "application/x-ndjson", ndjson(
        {"message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False},
        line("", True, done_reason="stop"))))
    rlm = rlm_for(vendor_server)
    history = [
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 0}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "0"},
    ]
    with rlm.stream_events(history) as events:
        list(events)
    response = rlm.last_response
    assert response.finish_reason == "tool_calls"
    assert [(c.name, json.loads(c.arguments)) for c in response.tool_calls] == [("add", {"a": 1, "b": 2})]
    sent = vendor_server.requests[0][2]["messages"]
    assert sent[1]["tool_calls"] == [{"function": {"name": "add", "arguments": {"a": 0}}}]
    assert sent[2] == {"role": "tool", "content": "0", "tool_name": "add"}


def test_error_body_is_typed(vendor_server):
    vendor_server.script(Reply(404, "application/json", [b'{"error": "model \'nope\' not found"}']))
    with pytest.raises(BadRequestError, match="not found") as info:
        rlm_for(vendor_server).run("x")
    assert info.value.status_code == 404


def test_error_line_mid_stream_keeps_partial_text(vendor_server):
    vendor_server.script(
        Reply(200, "application/x-ndjson", ndjson(line("par"), line("tial"), {"error": "out of memory"}))
    )
    with pytest.raises(MalformedResponseError, match="out of memory") as info:
        rlm_for(vendor_server).run("x")
    assert info.value.partial_text == "partial"


def test_bad_json_and_cut_stream(vendor_server):
    vendor_server.script(
        Reply(200, "application/x-ndjson", [b'{"message": {"content": "a"}, "done": false}\n', b"{oops\n"])
    )
    with pytest.raises(MalformedResponseError):
        rlm_for(vendor_server).run("x")
    vendor_server.script(Reply(200, "application/x-ndjson", ndjson(line("a"), line("b")), cut=True))
    with pytest.raises(IncompleteStreamError) as info:
        rlm_for(vendor_server).run("x")
    assert info.value.partial_text == "ab"


def test_astream(vendor_server):
    vendor_server.script(Reply(200, "application/x-ndjson", ndjson(line("x"), line("y"), line("", True))))

    async def main():
        return [c async for c in rlm_for(vendor_server).astream("q")]

    assert asyncio.run(main()) == ["x", "y"]
