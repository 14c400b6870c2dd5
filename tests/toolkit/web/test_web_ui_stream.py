"""The AI SDK UI message stream (v1): encoded by rlm, read by the real ``ai`` package in Node.

The Node side is the SDK's own code (DefaultChatTransport validates every chunk against its
``uiMessageChunkSchema``; readUIMessageStream builds the UIMessage a ``useChat`` page renders), so
these tests fail if a chunk is malformed, a part is missing, or the stream does not end as the SDK
expects. The sans-IO encoder is also checked on its own, without Node.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI, Request  # at module level: FastAPI resolves the string annotations here
from pydantic import BaseModel

from rlm_toolkit import RLM, RateLimitError, ScriptedProvider, ScriptedTurn, web
from rlm_toolkit.agents.react import ReActAgent


class Person(BaseModel):
    name: str
    age: int


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def divide(a: int, b: int) -> float:
    """Divide a by b."""
    return a / b


NATIVE = [
    ScriptedTurn(
        chunks="Let me add.", tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}]
    ),
    "The sum is 3.",
]
TEXT = [
    'Thought: I should add.\nAction: add\nAction Input: {"a": 1, "b": 2}\n',
    "Thought: done.\nFinal Answer: 3",
]


def make_app():
    app = FastAPI()

    @app.post("/text")
    async def text(request: Request):
        messages = web.messages_from_ui(await request.json())
        assert messages == [{"role": "user", "content": "What is 1 + 2?"}]
        return web.ui_message_response(RLM(ScriptedProvider("It is **3**.\n\nDone.")).astream(messages))

    @app.post("/agent-native")
    async def agent_native(request: Request):
        agent = ReActAgent(ScriptedProvider(turns=NATIVE), tools=[add], mode="native")
        return web.ui_message_response(agent.astream(web.messages_from_ui(await request.json())))

    @app.post("/agent-mcp")
    async def agent_mcp(request: Request):  # a tool as MCP tools are: it names its server
        from rlm_toolkit.agents import tool

        served = tool(add)
        served.server = "calc"  # type: ignore[attr-defined]
        agent = ReActAgent(ScriptedProvider(turns=NATIVE), tools=[served], mode="native")
        return web.ui_message_response(agent.astream(web.messages_from_ui(await request.json())))

    @app.post("/agent-text")
    async def agent_text(request: Request):
        agent = ReActAgent(ScriptedProvider(turns=TEXT), tools=[add], mode="text")
        return web.ui_message_response(agent.astream(web.messages_from_ui(await request.json())))

    @app.post("/reasoning")
    async def reasoning(request: Request):
        turn = ScriptedTurn(reasoning="Adding one and two.", chunks="It is 3.")
        return web.ui_message_response(RLM(ScriptedProvider(turns=[turn])).astream_events("q"))

    @app.post("/agent-reasoning")
    async def agent_reasoning(request: Request):
        turns = [ScriptedTurn(reasoning="I need the add tool.", chunks="Let me add.",
                              tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}]),
                 ScriptedTurn(reasoning="It gave 3.", chunks="The sum is 3.")]
        agent = ReActAgent(ScriptedProvider(turns=turns), tools=[add], mode="native")
        return web.ui_message_response(agent.astream(web.messages_from_ui(await request.json())))

    @app.post("/tool-error")
    async def tool_error(request: Request):
        turns = [
            ScriptedTurn(tool_calls=[{"id": "c9", "name": "divide", "arguments": {"a": 1, "b": 0}}]),
            "Cannot divide by zero.",
        ]
        agent = ReActAgent(ScriptedProvider(turns=turns), tools=[divide], mode="native")
        return web.ui_message_response(agent.astream(web.messages_from_ui(await request.json())))

    @app.post("/denied")
    async def denied(request: Request):
        agent = ReActAgent(ScriptedProvider(turns=NATIVE), tools=[add], approve=lambda r: "no adding today")
        return web.ui_message_response(agent.astream(web.messages_from_ui(await request.json())))

    @app.post("/error")
    async def error(request: Request):
        turn = ScriptedTurn(
            chunks="partial answer that",
            error=RateLimitError("slow down, key sk-abcdefghijklmnop1234", status_code=429),
            error_after=2,
        )
        rlm = RLM(ScriptedProvider(turns=[turn]), max_retries=0)
        return web.ui_message_response(rlm.astream("hi"))

    @app.post("/agent-fails")
    async def agent_fails(request: Request):
        turn = ScriptedTurn(
            chunks="Thinking about it", error=RateLimitError("slow down", status_code=429), error_after=2
        )
        agent = ReActAgent(RLM(ScriptedProvider(turns=[turn]), max_retries=0), tools=[add])
        return web.ui_message_response(agent.astream(web.messages_from_ui(await request.json())))

    @app.post("/abort")
    async def abort(request: Request):
        stop = asyncio.Event()
        rlm = RLM(ScriptedProvider("one two three four five six", delay=0.01))

        async def chunks():
            async for chunk in rlm.astream("hi"):
                if chunk.strip() == "three":
                    stop.set()  # the server decides to stop here (a stop button, a budget)
                yield chunk

        return web.ui_message_response(chunks(), stop=stop)

    @app.post("/typed-agent")
    async def typed_agent(request: Request):  # the first answer does not fit, the retry does
        turns = ['{"name": "Ada", "age": "old"}', '{"name": "Ada", "age": 36}']
        agent = ReActAgent(ScriptedProvider(turns=turns), tools=[add], output_type=Person)
        return web.ui_message_response(agent.astream(web.messages_from_ui(await request.json())))

    @app.post("/typed-call")
    async def typed_call(request: Request):
        rlm = RLM(ScriptedProvider(list('{"value": [{"name": "Ada", "age": 36}]}')))
        return web.ui_message_response(rlm.astream(web.messages_from_ui(await request.json()),
                                                   schema=list[Person]))

    @app.post("/typed-call-bad")
    async def typed_call_bad(request: Request):
        rlm = RLM(ScriptedProvider('{"name": "Ada"}'))
        return web.ui_message_response(rlm.astream(web.messages_from_ui(await request.json()), schema=Person))

    return app


@pytest.fixture
def app_url(serve_asgi):
    return serve_asgi(make_app())


def parts(result, kind):
    return [p for p in result["message"]["parts"] if p["type"] == kind]


def test_model_stream_text_arrives_as_one_text_part(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/text")
    assert result["status"] == 200 and result["errors"] == []
    assert result["headers"]["x-vercel-ai-ui-message-stream"] == "v1"
    assert result["headers"]["content-type"].startswith("text/event-stream")
    assert result["raw"].rstrip().endswith("data: [DONE]")
    assert [p["text"] for p in parts(result, "text")] == ["It is **3**.\n\nDone."]
    kinds = [c["type"] for c in result["chunks"]]
    assert kinds[0] == "start" and kinds[1] == "start-step" and kinds[-2:] == ["finish-step", "finish"]
    finish = result["chunks"][-1]
    assert finish["finishReason"] == "stop" and finish["messageMetadata"]["model"] == "scripted:scripted"
    assert result["message"]["metadata"]["usage"] is not None


def test_agent_run_gives_steps_text_and_a_finished_tool_part(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/agent-native")
    assert result["errors"] == []
    [tool] = parts(result, "dynamic-tool")
    assert tool == {
        **tool,
        "toolName": "add",
        "toolCallId": "c1",
        "state": "output-available",
        "input": {"a": 1, "b": 2},
        "output": "3",
    }
    assert [p["text"] for p in parts(result, "text")] == ["Let me add.", "The sum is 3."]
    assert len(parts(result, "step-start")) == 2
    assert result["chunks"][-1]["finishReason"] == "stop"


def test_an_mcp_tool_part_names_its_server_as_the_sdk_keeps_it(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/agent-mcp")
    assert result["errors"] == []
    [tool] = parts(result, "dynamic-tool")
    assert tool["state"] == "output-available" and tool["title"] == "add (calc)"
    assert tool["callProviderMetadata"] == {"mcp": {"server": "calc"}}


def test_text_react_thoughts_arrive_as_reasoning(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/agent-text")
    assert result["errors"] == []
    assert [p["text"] for p in parts(result, "reasoning")] == ["I should add.", "done."]
    assert all(p["state"] == "done" for p in parts(result, "reasoning"))
    assert parts(result, "dynamic-tool")[0]["state"] == "output-available"
    assert [p["text"] for p in parts(result, "text")] == ["3"]


def test_a_denied_call_is_asked_then_denied_as_the_sdk_shows_it(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/denied")
    assert result["errors"] == []
    kinds = [c["type"] for c in result["chunks"]]
    assert kinds.index("tool-input-available") < kinds.index("tool-approval-request") < kinds.index(
        "tool-output-denied")
    [tool] = parts(result, "dynamic-tool")
    assert tool["state"] == "output-denied" and tool["approval"]["id"] == "c1"


def test_model_reasoning_arrives_as_a_reasoning_part_before_the_text(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/reasoning")
    assert result["errors"] == []
    kinds = [p["type"] for p in result["message"]["parts"] if p["type"] in ("reasoning", "text")]
    assert kinds == ["reasoning", "text"]
    [thinking] = parts(result, "reasoning")
    assert thinking["text"] == "Adding one and two." and thinking["state"] == "done"
    assert [p["text"] for p in parts(result, "text")] == ["It is 3."]
    chunks = [c["type"] for c in result["chunks"]]
    assert chunks.index("reasoning-end") < chunks.index("text-start")


def test_agent_reasoning_arrives_per_step(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/agent-reasoning")
    assert result["errors"] == []
    assert [p["text"] for p in parts(result, "reasoning")] == ["I need the add tool.", "It gave 3."]
    assert [p["text"] for p in parts(result, "text")] == ["Let me add.", "The sum is 3."]
    assert parts(result, "dynamic-tool")[0]["state"] == "output-available"


def test_a_failing_tool_is_an_output_error_part(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/tool-error")
    [tool] = parts(result, "dynamic-tool")
    assert tool["state"] == "output-error" and "ZeroDivisionError" in tool["errorText"]
    assert [p["text"] for p in parts(result, "text")] == ["Cannot divide by zero."]


def test_a_provider_failure_arrives_as_an_error_the_sdk_reports(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/error")
    assert len(result["errors"]) == 1 and "RateLimitError" in result["errors"][0]
    assert "sk-abcdefghijklmnop1234" not in result["raw"] and "sk-abcdef" not in result["errors"][0]
    assert [p["text"] for p in parts(result, "text")] == ["partial answer"]  # the partial text is kept
    assert [c["type"] for c in result["chunks"]][-2:] == ["text-end", "error"]
    assert result["raw"].rstrip().endswith("data: [DONE]")


def test_an_agent_whose_model_fails_reports_one_error_and_keeps_its_text(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/agent-fails")
    assert len(result["errors"]) == 1 and "RateLimitError" in result["errors"][0]
    assert [p["text"] for p in parts(result, "text")] == ["Thinking about"]
    assert [c["type"] for c in result["chunks"]].count("error") == 1
    assert result["raw"].rstrip().endswith("data: [DONE]")


def test_a_server_stop_arrives_as_abort(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/abort")
    assert result["errors"] == []
    assert result["chunks"][-1] == {"type": "abort", "reason": "stopped"}
    assert [p["text"] for p in parts(result, "text")] == ["one two three"]


# -- the encoder alone (no Node) --------------------------------------------------------------------


def frames(items, **kwargs):
    async def source():
        for item in items:
            yield item

    async def collect():
        return [f async for f in web.ui_message_stream(source(), **kwargs)]

    return asyncio.run(collect())


PERSON_SCHEMA = {"name": "Person", "json_schema": {
    "properties": {"name": {"title": "Name", "type": "string"}, "age": {"title": "Age", "type": "integer"}},
    "required": ["name", "age"], "title": "Person", "type": "object"}}


def test_a_typed_agent_names_its_schema_shows_its_retry_and_ends_with_the_validated_object(
        app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/typed-agent")
    assert result["errors"] == []
    kinds = [c["type"] for c in result["chunks"]]
    assert kinds[:2] == ["start", "data-schema"] and "error" not in kinds  # a retry is no failure
    assert parts(result, "data-schema")[0]["data"] == PERSON_SCHEMA
    [retry] = parts(result, "data-retry")
    assert retry["data"]["step"] == 1 and "age" in retry["data"]["message"]
    assert [p["data"] for p in parts(result, "data-output")] == [{"value": {"name": "Ada", "age": 36}}]
    assert kinds.index("data-retry") < kinds.index("data-output") < kinds.index("finish")
    assert result["chunks"][-1]["finishReason"] == "stop"


def test_a_typed_call_streams_its_json_as_text_then_the_validated_value(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/typed-call")
    assert result["errors"] == []
    assert parts(result, "data-schema")[0]["data"]["name"] == "list_of_Person"
    assert [p["text"] for p in parts(result, "text")] == ['{"value": [{"name": "Ada", "age": 36}]}']
    assert [p["data"] for p in parts(result, "data-output")] == [{"value": [{"name": "Ada", "age": 36}]}]


def test_a_typed_call_that_does_not_fit_ends_with_an_error_the_sdk_reports(app_url, read_ui_stream):
    result = read_ui_stream(app_url + "/typed-call-bad")
    assert parts(result, "data-output") == [] and result["chunks"][-1]["type"] == "error"
    assert "StructuredOutputError" in result["chunks"][-1]["errorText"]
    assert "does not fit the schema Person: age: Field required" in result["chunks"][-1]["errorText"]
    assert [p["text"] for p in parts(result, "text")] == ['{"name": "Ada"}']  # the text is kept


def test_every_frame_is_one_json_data_line_and_done_is_last():
    out = frames(["a\nb", "\r\nc"], message_id="m1")
    assert out[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(f[len("data: ") :]) for f in out[:-1]]
    assert all(f.startswith("data: ") and f.endswith("\n\n") and "\n" not in f[:-2] for f in out)
    assert chunks[0] == {"type": "start", "messageId": "m1"}
    assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == "a\nb\r\nc"


def test_model_tool_call_deltas_become_tool_input_parts():
    from rlm_toolkit import Finish, ToolCallDelta

    out = frames(
        [
            ToolCallDelta(index=0, call_id="x", name="add", arguments='{"a": 1'),
            ToolCallDelta(index=0, arguments=', "b": 2}'),
            Finish(reason="tool_calls"),
        ]
    )
    chunks = [json.loads(f[len("data: ") :]) for f in out[:-1]]
    kinds = [c["type"] for c in chunks]
    assert kinds == [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-delta",
        "tool-input-available",
        "finish-step",
        "finish",
    ]
    assert chunks[5]["input"] == {"a": 1, "b": 2} and chunks[-1]["finishReason"] == "tool-calls"


def test_the_old_sse_helpers_are_unchanged():
    assert web.sse_event("x", event="token") == "event: token\ndata: x\n\n"
    assert web.SSE_HEADERS == {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
