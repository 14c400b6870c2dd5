"""OpenAI's Responses API (``openai-responses:``), against a loopback server writing the documented
event stream (tests/fixtures/responses_events.py): text, reasoning summaries, function calls, the
terminal events, errors in the stream and over HTTP, and a native-tool agent run."""

from __future__ import annotations

import json

import pytest

from rlm_toolkit import (
    RLM,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    IncompleteStreamError,
    MalformedResponseError,
    MissingCredentialsError,
    RateLimitError,
    ServerError,
)
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.events import ReasoningDelta, ToolCallDelta
from rlm_toolkit.providers.openai_responses import OpenAIResponsesProvider

from ...fixtures.responses_events import ResponsesStream
from ...fixtures.vendor_servers import Reply
from ..test_cli import rlm_cli

KEY = "sk-proj-Resp0nsesTESTkey0123456789abcdefghijKLMN"
#: A 1×1 PNG, base64 (images are checked against OpenAI's limits before sending, so it must be one).
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="


def rlm_for(server, **kwargs) -> RLM:
    return RLM.from_openai(
        "gpt-5", api="responses", base_url=server.base_url + "/v1", api_key=KEY, max_retries=0, **kwargs
    )


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_text_stream_request_and_usage(vendor_server):
    vendor_server.script(ResponsesStream().message("Hello from responses").completed(12, 7, cached=4).reply())
    rlm = rlm_for(vendor_server, system="Be brief.")
    chunks = list(rlm.stream("hi", max_tokens=50, temperature=0.3, top_p=0.9))
    assert chunks == ["Hello", " from", " responses"]
    response = rlm.last_response
    assert (response.finish_reason, response.prompt_tokens, response.completion_tokens) == ("stop", 12, 7)
    assert (response.cached_input_tokens, response.reasoning_tokens) == (4, 0)
    assert rlm.model_id == "openai-responses:gpt-5"
    path, headers, body = vendor_server.requests[0]
    assert path == "/v1/responses" and headers["authorization"] == f"Bearer {KEY}"
    assert body == {
        "model": "gpt-5",
        "input": [{"type": "message", "role": "user", "content": "hi"}],
        "stream": True,
        "store": False,
        "instructions": "Be brief.",
        "max_output_tokens": 50,
        "temperature": 0.3,
        "top_p": 0.9,
    }


def test_byte_at_a_time_with_multibyte_text(vendor_server):
    stream = ResponsesStream().message("Grüße ✓ 日本", pieces=["Grü", "ße ✓", " 日本"]).completed()
    vendor_server.script(stream.reply(byte_at_a_time=True))
    rlm = rlm_for(vendor_server)
    assert list(rlm.stream("x")) == ["Grü", "ße ✓", " 日本"]
    assert rlm.last_response.finish_reason == "stop" and rlm.last_response.prompt_tokens == 12


def test_reasoning_summary_streams_as_reasoning_not_answer(vendor_server):
    stream = ResponsesStream().reasoning("**Plan** Add the numbers.", "**Check** It is 5.").message("5")
    vendor_server.script(stream.completed(output_tokens=40, reasoning=32).reply())
    rlm = rlm_for(vendor_server)
    seen = []

    class Hook:
        def on_llm_reasoning(self, text, **kwargs):
            seen.append(text)

    events = list(
        rlm.stream_events(
            "2+3?", extra={"reasoning": {"effort": "low", "summary": "auto"}}, callbacks=[Hook()]
        )
    )
    reasoning = [e for e in events if isinstance(e, ReasoningDelta)]
    assert {e.index for e in reasoning} == {0}  # one reasoning item, two summary parts
    response = rlm.last_response
    assert response.text == "5" and response.reasoning_tokens == 32
    assert response.reasoning == "**Plan** Add the numbers.\n\n**Check** It is 5."
    assert "".join(seen) == response.reasoning
    assert vendor_server.requests[0][2]["reasoning"] == {"effort": "low", "summary": "auto"}


def test_raw_reasoning_text(vendor_server):
    vendor_server.script(
        ResponsesStream("gpt-oss").reasoning(raw="thinking hard").message("ok").completed().reply()
    )
    rlm = rlm_for(vendor_server)
    assert rlm.run("x") == "ok" and rlm.last_response.reasoning == "thinking hard"


def test_function_calls_after_reasoning_have_stable_indexes(vendor_server):
    stream = (
        ResponsesStream()
        .reasoning("Two sums.")
        .function_call("add", {"a": 2, "b": 3}, "call_A")
        .function_call("add", '{"a": 10, "b": 20}', "call_B", deltas=False)
        .completed()
    )
    vendor_server.script(stream.reply())
    rlm = rlm_for(vendor_server)
    tool = {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add.",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
    }
    events = list(
        rlm.stream_events("sums", tools=[tool], tool_choice={"type": "function", "function": {"name": "add"}})
    )
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {e.index for e in deltas} == {0, 1}  # output_index 1 and 2, numbered in order
    calls = rlm.last_response.tool_calls
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_A", "add", {"a": 2, "b": 3}),
        ("call_B", "add", {"a": 10, "b": 20}),
    ]
    assert rlm.last_response.finish_reason == "tool_calls"
    body = vendor_server.requests[0][2]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "add",
            "description": "Add.",
            "strict": False,
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
        }
    ]
    assert body["tool_choice"] == {"type": "function", "name": "add"}


def test_encrypted_reasoning_goes_back_with_the_tool_turn(vendor_server):
    """Stateless tool turns keep a reasoning model's reasoning: with ``include`` asking for it, the
    item's ``encrypted_content`` comes back on the reasoning block and goes out before the call."""
    first = (
        ResponsesStream().reasoning("Use add.", encrypted="gAAAA-opaque").function_call("add", {"a": 1}, "c1")
    )
    vendor_server.script(first.completed().reply(), ResponsesStream().message("1").completed().reply())
    rlm, include = rlm_for(vendor_server), {"include": ["reasoning.encrypted_content"]}
    list(rlm.stream_events("go", extra=include))
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    history = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_blocks": rlm.last_response.reasoning_blocks,
            "tool_calls": [call],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
    ]
    assert rlm.run(history, extra=include) == "1"
    sent = vendor_server.requests[1][2]
    assert sent["include"] == ["reasoning.encrypted_content"]
    assert sent["input"][1:3] == [
        {
            "type": "reasoning",
            "id": "re_0000",
            "encrypted_content": "gAAAA-opaque",
            "summary": [{"type": "summary_text", "text": "Use add."}],
        },
        {"type": "function_call", "call_id": "c1", "name": "add", "arguments": '{"a": 1}'},
    ]
    history[1]["reasoning_blocks"] = [{"type": "thinking", "thinking": "x", "signature": "EqQBCkgIAR"}]
    assert [i["type"] for i in rlm.provider.body(rlm.request(history))["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]  # another vendor's signed block stays out


@pytest.mark.parametrize(
    "reason, finish", [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
def test_incomplete_is_a_finish_with_the_text_kept(vendor_server, reason, finish):
    vendor_server.script(ResponsesStream().message("Once upon a").incomplete(reason).reply())
    rlm = rlm_for(vendor_server)
    assert rlm.run("story", max_tokens=16) == "Once upon a"
    assert rlm.last_response.finish_reason == finish and rlm.last_response.completion_tokens == 16


@pytest.mark.parametrize(
    "code, error_class",
    [
        ("server_error", ServerError),
        ("rate_limit_exceeded", RateLimitError),
        ("invalid_prompt", BadRequestError),
        ("image_too_large", BadRequestError),
    ],
)
def test_response_failed_maps_onto_the_hierarchy_and_keeps_the_partial_text(vendor_server, code, error_class):
    vendor_server.script(ResponsesStream().message("Partial answer").failed(code, "went wrong").reply())
    rlm = rlm_for(vendor_server)
    got = []
    with pytest.raises(error_class, match=f"{code}.*went wrong") as raised:
        for chunk in rlm.stream("x"):
            got.append(chunk)
    assert "".join(got) == "Partial answer" and raised.value.partial_text == "Partial answer"
    assert rlm.last_response.state == "error"


@pytest.mark.parametrize("nested", [False, True])
def test_error_event_flat_or_nested(vendor_server, nested):
    stream = (
        ResponsesStream().message("Half").error("rate_limit_exceeded", "Rate limit reached", nested=nested)
    )
    vendor_server.script(stream.reply())
    with pytest.raises(RateLimitError, match="Rate limit reached") as raised:
        rlm_for(vendor_server).run("x")
    assert raised.value.partial_text == "Half"


def test_error_event_without_a_code_is_a_server_error(vendor_server):
    vendor_server.script(ResponsesStream().error(None, "Unable to verify model access", nested=True).reply())
    with pytest.raises(ServerError, match="Unable to verify model access"):
        rlm_for(vendor_server).run("x")


@pytest.mark.parametrize(
    "bad", [b"data: {not json\n\n", b'data: {"type": "response.output_text.delta", "delta": 5}\n\n']
)
def test_a_malformed_event_is_a_typed_error_with_the_text_kept(vendor_server, bad):
    reply = ResponsesStream().message("Kept").completed().reply(end_before_last=True)
    reply.pieces.append(bad)
    vendor_server.script(reply)
    with pytest.raises(MalformedResponseError) as raised:
        rlm_for(vendor_server).run("x")
    assert raised.value.partial_text == "Kept" and raised.value.provider == "openai-responses"


def test_a_cut_after_the_terminal_event_loses_nothing(vendor_server):
    vendor_server.script(ResponsesStream().message("All here").completed().reply(cut=True))
    rlm = rlm_for(vendor_server)
    assert rlm.run("x") == "All here" and rlm.last_response.state == "done"


@pytest.mark.parametrize("cut", [True, False])
def test_a_stream_without_its_terminal_event_is_incomplete(vendor_server, cut):
    """Cut (the connection aborted mid-body) or ended cleanly before ``response.completed``."""
    vendor_server.script(
        ResponsesStream().message("Cut here").completed().reply(cut=cut, end_before_last=True)
    )
    with pytest.raises(IncompleteStreamError) as raised:
        rlm_for(vendor_server).run("x")
    assert raised.value.partial_text == "Cut here"


def test_http_401_and_429_mapped_without_the_key(vendor_server):
    masked = f"{KEY[:8]}{'*' * 20}{KEY[-4:]}"
    body = {
        "error": {
            "message": f"Incorrect API key provided: {masked}.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    vendor_server.script(
        Reply(401, "application/json", [json.dumps(body).encode()]),
        Reply(429, "application/json", [b'{"error": {"message": "Rate limit reached"}}']),
    )
    rlm = rlm_for(vendor_server)
    with pytest.raises(AuthenticationError) as raised:
        rlm.run("x")
    error = raised.value
    assert error.status_code == 401 and "Incorrect API key" in error.message
    for text in (str(error), repr(error), error.body, json.dumps(rlm.last_response.to_dict())):
        assert KEY not in text and KEY[:8] not in text and KEY[-12:] not in text
    with pytest.raises(RateLimitError) as raised:
        rlm.run("x")
    assert raised.value.status_code == 429


def test_history_becomes_input_items_and_images_input_image_parts():
    provider = OpenAIResponsesProvider("gpt-5", base_url="http://127.0.0.1:9/v1")
    messages = [
        {"role": "system", "content": "Sys."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
            ],
        },
        {
            "role": "assistant",
            "content": "Adding.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "2"},
    ]
    body = provider.body(RLM(provider).request(messages))
    assert body["instructions"] == "Sys."
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look:"},
                {"type": "input_image", "image_url": "data:image/png;base64," + PNG, "detail": "auto"},
            ],
        },
        {"type": "message", "role": "assistant", "content": "Adding."},
        {"type": "function_call", "call_id": "call_1", "name": "add", "arguments": '{"a": 1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "2"},
    ]


def test_stop_is_refused_before_any_request(vendor_server):
    rlm = rlm_for(vendor_server)
    with pytest.raises(ConfigurationError, match="takes no 'stop'"):
        rlm.run("x", stop="END")
    assert vendor_server.requests == []


def test_ids_aliases_and_api_switch():
    assert RLM("gpt-5", base_url="http://127.0.0.1:9/v1").model_id == "openai-responses:gpt-5"
    assert RLM.from_openai("gpt-4o", base_url="http://127.0.0.1:9/v1").model_id == "openai:gpt-4o"
    with pytest.raises(ConfigurationError, match="api must be one of 'chat', 'responses'"):
        RLM.from_openai("gpt-5", api="assistants")
    with pytest.raises(MissingCredentialsError, match="OPENAI_API_KEY is not set .* openai-responses:gpt-5"):
        RLM.from_openai("gpt-5", api="responses")  # api.openai.com without a key: refused before sending


def test_agent_native_tool_call_then_answer(vendor_server):
    vendor_server.script(
        ResponsesStream()
        .reasoning("Use add.")
        .function_call("add", {"a": 2, "b": 3}, "call_sum")
        .completed()
        .reply(),
        ResponsesStream().message("The sum is 5.").completed().reply(),
    )
    agent = ReActAgent.from_openai(
        "gpt-5", tools=[add], api="responses", base_url=vendor_server.base_url + "/v1", api_key=KEY
    )
    assert agent.native
    events = list(agent.stream("What is 2+3?"))
    assert [e.type for e in events if e.type in ("action", "observation", "final")] == [
        "action",
        "observation",
        "final",
    ]
    action = next(e for e in events if e.type == "action")
    assert action.input == {"a": 2, "b": 3} and action.call_id == "call_sum"
    assert events[-1].content == "The sum is 5."
    first, second = (body for _, _, body in vendor_server.requests)
    assert first["tools"][0]["name"] == "add" and first["input"][0]["content"] == "What is 2+3?"
    assert second["input"][-2:] == [
        {"type": "function_call", "call_id": "call_sum", "name": "add", "arguments": '{"a": 2, "b": 3}'},
        {"type": "function_call_output", "call_id": "call_sum", "output": "5"},
    ]


def test_the_cli_reaches_it_by_id_with_the_env_key_and_url(openai_server):
    """``$OPENAI_BASE_URL`` / ``$OPENAI_API_KEY`` as for the chat provider, from a fresh process."""
    openai_server.script(ResponsesStream().reasoning("Short.").message("Hi there.").completed())
    done = rlm_cli(openai_server, "hello", "-m", "openai-responses:gpt-5")
    assert done.returncode == 0 and done.stdout == "Hi there.\n", done.stderr
    assert openai_server.requests[0]["input"] == [{"type": "message", "role": "user", "content": "hello"}]
    assert openai_server.headers[0]["authorization"] == f"Bearer {openai_server.api_key}"


def test_an_agent_sends_encrypted_reasoning_back_with_its_tool_turn(vendor_server):
    """Through the agent, not a hand-built history: the step's reasoning item (asked for with
    ``include``) goes back, encrypted content unchanged, right before the step's function call."""
    vendor_server.script(
        ResponsesStream()
        .reasoning("Use add.", encrypted="gAAAA-opaque")
        .function_call("add", {"a": 2, "b": 3}, "call_sum")
        .completed()
        .reply(),
        ResponsesStream().message("The sum is 5.").completed().reply(),
    )
    agent = ReActAgent.from_openai(
        "gpt-5", tools=[add], api="responses", base_url=vendor_server.base_url + "/v1", api_key=KEY,
        extra={"include": ["reasoning.encrypted_content"]},
    )
    assert agent.run("What is 2+3?") == "The sum is 5."
    second = vendor_server.requests[1][2]
    reasoning, call, output = second["input"][-3:]
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"] == "gAAAA-opaque"
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Use add."}]
    assert (call["type"], call["call_id"]) == ("function_call", "call_sum")
    assert output["type"] == "function_call_output"
