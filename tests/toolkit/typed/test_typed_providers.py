"""Each provider's native structured mode, at a loopback server: the exact request body for the
schema, the object streamed one character (or byte) at a time, partials only growing, the end
validated (issue 24)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from rlm_toolkit import RLM, StructuredOutputError
from rlm_toolkit.providers.anthropic import AnthropicProvider
from rlm_toolkit.providers.ollama import OllamaProvider

from ...fixtures.openai_server import Stream
from ...fixtures.responses_events import ResponsesStream
from ...fixtures.vendor_servers import Reply, ndjson, sse


class Person(BaseModel):
    name: str
    age: int


PEOPLE = [{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}]
TEXT = json.dumps({"value": PEOPLE})
WIRE = {
    "$defs": {"Person": {"properties": {"name": {"title": "Name", "type": "string"},
                                        "age": {"title": "Age", "type": "integer"}},
                         "required": ["name", "age"], "title": "Person", "type": "object"}},
    "properties": {"value": {"items": {"$ref": "#/$defs/Person"}, "title": "Value", "type": "array"}},
    "required": ["value"], "title": "Answer", "type": "object",
}
STRICT = {**WIRE, "additionalProperties": False,
          "$defs": {"Person": {**WIRE["$defs"]["Person"], "additionalProperties": False}}}
KEY = "sk-ant-api03-TESTKEY0123456789abcdefghijkl"


def check_values(values: list) -> None:
    """Partials only grow, one element at a time, and the last is the validated list."""
    lengths = [len(v) for v in values]
    assert lengths == [1, 2, 2], lengths
    assert list(values[0]) == list(values[1])[:1]
    assert values[-1] == [Person(**p) for p in PEOPLE]


def test_openai_chat_sends_a_strict_json_schema_response_format(openai_server):
    openai_server.script(Stream(list(TEXT)))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key,
                          max_retries=0)
    check_values(list(rlm.stream_object("Extract the people", schema=list[Person])))
    body = openai_server.requests[0]
    assert body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "list_of_Person", "schema": STRICT, "strict": True}}


def test_openai_chat_sends_a_schema_that_cannot_be_strict_as_not_strict(openai_server):
    class Loose(BaseModel):
        name: str
        nick: str = ""

    openai_server.script(Stream(['{"name": "Ada"}']))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    assert rlm.run("x", schema=Loose) == Loose(name="Ada")
    sent = openai_server.requests[0]["response_format"]["json_schema"]
    assert sent["strict"] is False and "additionalProperties" not in sent["schema"]


def test_responses_api_sends_text_format_and_reads_the_object_byte_at_a_time(vendor_server):
    stream = ResponsesStream().message(TEXT, pieces=list(TEXT)).completed()
    vendor_server.script(stream.reply(byte_at_a_time=True))
    rlm = RLM.from_openai("gpt-5", api="responses", base_url=vendor_server.base_url + "/v1", api_key=KEY,
                          max_retries=0)
    check_values(list(rlm.stream_object("Extract the people", schema=list[Person])))
    _, _, body = vendor_server.requests[0]
    assert body["text"] == {"format": {"type": "json_schema", "name": "list_of_Person", "schema": STRICT,
                                       "strict": True}}


def anthropic_tool_stream(text: str, name: str = "list_of_Person") -> list[bytes]:
    start = {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 9}}}
    events = [("message_start", start),
              ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                  "type": "tool_use", "id": "toolu_1", "name": name, "input": {}}})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
        "type": "input_json_delta", "partial_json": c}}) for c in text]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                                  "usage": {"output_tokens": 30}}),
               ("message_stop", {"type": "message_stop"})]
    body = b"".join(sse(*events))
    return [body[i : i + 1] for i in range(len(body))]


def test_anthropic_forces_one_answer_tool_and_its_input_is_the_answers_text(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream", anthropic_tool_stream(TEXT)))
    rlm = RLM(AnthropicProvider("claude-sonnet-4-5", api_key=KEY, base_url=vendor_server.base_url),
              max_retries=0)
    with rlm.stream_object("Extract the people", schema=list[Person]) as objects:
        check_values(list(objects))
    assert objects.response.text == TEXT and objects.response.finish_reason == "stop"
    assert objects.response.tool_calls == []
    _, _, body = vendor_server.requests[0]
    assert body["tools"] == [{"name": "list_of_Person", "description": "Give the answer, in this shape.",
                              "input_schema": WIRE}]
    assert body["tool_choice"] == {"type": "tool", "name": "list_of_Person"}


def test_ollama_sends_the_schema_as_format(vendor_server):
    lines = [{"model": "m", "message": {"role": "assistant", "content": c}, "done": False} for c in TEXT]
    lines.append({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                  "done_reason": "stop"})
    vendor_server.script(Reply(200, "application/x-ndjson", ndjson(*lines)))
    rlm = RLM(OllamaProvider("llama3.2", host=vendor_server.base_url), max_retries=0)
    check_values(list(rlm.stream_object("Extract the people", schema=list[Person])))
    _, _, body = vendor_server.requests[0]
    assert body["format"] == WIRE


@pytest.mark.parametrize("api", ["chat", "anthropic", "ollama"])
def test_a_schema_violation_at_the_end_is_a_structured_output_error_at_every_vendor(api, openai_server,
                                                                                      vendor_server):
    bad = '{"value": [{"name": "Ada"}]}'
    if api == "chat":
        openai_server.script(Stream(list(bad)))
        rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key,
                              max_retries=0)
    elif api == "anthropic":
        vendor_server.script(Reply(200, "text/event-stream", anthropic_tool_stream(bad)))
        rlm = RLM(AnthropicProvider("claude-sonnet-4-5", api_key=KEY, base_url=vendor_server.base_url),
                  max_retries=0)
    else:
        vendor_server.script(Reply(200, "application/x-ndjson", ndjson(
            {"message": {"role": "assistant", "content": bad}, "done": False},
            {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})))
        rlm = RLM(OllamaProvider("llama3.2", host=vendor_server.base_url), max_retries=0)
    with pytest.raises(StructuredOutputError) as caught:
        rlm.run("x", schema=list[Person])
    assert caught.value.raw_text == bad and caught.value.errors[0]["type"] == "missing"
    assert caught.value.provider == rlm.provider.name
