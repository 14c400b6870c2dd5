"""``ReActAgent(..., output_type=…)`` at loopback servers: the final answer validated into the type,
asked for in the provider's structured mode (OpenAI chat), with an answer tool (Anthropic, whose
mode is a forced tool) or in the text format; an answer that does not fit is sent back with its
validation errors, each retry an event and a step, and the retries are bounded (issue 24)."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from rlm_toolkit import RLM, StructuredOutputError, UsageError
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.agents.output import ANSWER_TOOL, MAX_FEEDBACK_CHARS, MAX_FEEDBACK_ERRORS
from rlm_toolkit.providers.anthropic import AnthropicProvider

from ...fixtures.openai_server import Stream
from ...fixtures.vendor_servers import Reply
from ..typed.test_typed_providers import KEY, anthropic_tool_stream


class Person(BaseModel):
    name: str
    age: int


def lookup(name: str) -> str:
    """Look a person up by name."""
    return f"{name} was born in 1815."


def openai_agent(server, **kw) -> ReActAgent:
    return ReActAgent.from_openai("gpt-4o", tools=kw.pop("tools", [lookup]), base_url=server.base_url,
                                  api_key=server.api_key, max_retries=0,
                                  output_type=kw.pop("output_type", Person), **kw)


def test_native_the_schema_rides_beside_the_tools_and_a_bad_answer_is_sent_back(openai_server):
    openai_server.script(
        Stream("", tool_calls=[{"name": "lookup", "arguments": {"name": "Ada"}, "id": "call_1"}]),
        Stream(list('{"name": "Ada", "age": "thirty-six"}')),
        Stream(list('{"name": "Ada", "age": 36}')),
    )
    agent = openai_agent(openai_server)
    events = list(agent.stream("Who is Ada? Her name and age."))
    first, second, third = openai_server.requests
    for body in (first, second, third):  # the structured mode on every step, the tools beside it
        assert body["response_format"]["json_schema"]["name"] == "Person"
        assert body["response_format"]["json_schema"]["strict"] is True
        assert [t["function"]["name"] for t in body["tools"]] == ["lookup"]
    assert third["messages"][-2] == {"role": "assistant", "content": '{"name": "Ada", "age": "thirty-six"}'}
    feedback = third["messages"][-1]
    assert feedback["role"] == "user"
    assert feedback["content"].startswith("Your answer does not fit the schema Person:\n- age: ")
    assert "valid integer" in feedback["content"]
    retry = [e for e in events if e.type == "error"]
    assert len(retry) == 1 and retry[0].outcome == "retry" and retry[0].step == 2
    assert retry[0].content.endswith("(retry 1 of 1)")
    final = events[-1]
    assert final.type == "final" and not final.is_error and final.step == 3
    assert final.output == {"name": "Ada", "age": 36} and json.loads(final.content) == final.output
    assert agent.last_output == Person(name="Ada", age=36)
    assert [r.step for r in agent.history] == [1, 2, 3] and agent.history[1].final is None


def test_run_returns_the_validated_object_and_arun_too(openai_server):
    openai_server.script(Stream('{"name": "Alan", "age": 41}'), Stream('{"name": "Alan", "age": 41}'))
    agent = openai_agent(openai_server, tools=[])
    assert agent.run("Alan, 41") == Person(name="Alan", age=41)
    assert asyncio.run(agent.arun("Alan, 41")) == Person(name="Alan", age=41)
    assert "tools" not in openai_server.requests[0]


def test_retries_are_bounded_then_the_run_fails_typed_with_the_raw_text(openai_server):
    bad = '{"name": "Ada"}'
    openai_server.script(Stream(bad), Stream(bad), Stream(bad), Stream('{"name": "Ada", "age": 36}'))
    agent = openai_agent(openai_server, output_retries=2)
    events = []
    with pytest.raises(StructuredOutputError) as caught:
        for event in agent.stream("Ada"):
            events.append(event)
    assert len(openai_server.requests) == 3  # the first answer and two retries, never a fourth
    assert caught.value.raw_text == bad and caught.value.errors[0]["type"] == "missing"
    assert [e.outcome for e in events if e.type == "error"] == ["retry", "retry", None]
    final = events[-1]
    assert final.type == "final" and final.is_error and final.output is None and final.content == bad
    assert agent.last_output is None


def test_no_retries_fails_at_the_first_answer_that_does_not_fit(openai_server):
    openai_server.script(Stream("not JSON at all"))
    agent = openai_agent(openai_server, output_retries=0)
    with pytest.raises(StructuredOutputError) as caught:
        agent.run("Ada")
    assert caught.value.errors[0]["type"] == "json_invalid" and len(openai_server.requests) == 1


def test_the_errors_sent_back_are_cut_to_a_size(openai_server):
    fields = {f"field_{i}": (int, ...) for i in range(60)}
    from pydantic import create_model

    Wide = create_model("Wide", **fields)  # type: ignore[call-overload]  # fields made at run time
    long_key = "k" * 5000
    bad = json.dumps({long_key: 1, **{f"field_{i}": "x" * 300 for i in range(60)}})
    good = json.dumps({f"field_{i}": i for i in range(60)})
    openai_server.script(Stream(bad), Stream(good))
    agent = ReActAgent.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key,
                                   max_retries=0, output_type=Wide)
    assert agent.run("fill it").field_59 == 59
    feedback = openai_server.requests[1]["messages"][-1]["content"]
    assert len(feedback) <= MAX_FEEDBACK_CHARS
    assert feedback.count("\n- field_") == MAX_FEEDBACK_ERRORS and "(and 52 more)" in feedback
    assert "xxx" not in feedback  # pydantic's messages are sent, not the model's input


def test_anthropic_asks_with_an_answer_tool_beside_the_tools_and_answers_a_bad_call(vendor_server):
    vendor_server.script(*(Reply(200, "text/event-stream", anthropic_tool_stream(text, name=ANSWER_TOOL))
                           for text in ('{"name": "Ada"}', '{"name": "Ada", "age": 36}')))
    provider = AnthropicProvider("claude-sonnet-4-5", api_key=KEY, base_url=vendor_server.base_url)
    agent = ReActAgent(RLM(provider, max_retries=0), tools=[lookup], output_type=Person)
    events = list(agent.stream("Who is Ada?"))
    (_, _, first), (_, _, second) = vendor_server.requests
    assert [t["name"] for t in first["tools"]] == ["lookup", ANSWER_TOOL]
    assert first["tools"][1]["input_schema"] == Person.model_json_schema()
    assert "tool_choice" not in first  # the model may still call lookup
    assert ANSWER_TOOL in first["system"]
    assistant, result = second["messages"][-2:]
    assert assistant["content"][-1] == {"type": "tool_use", "id": "toolu_1", "name": ANSWER_TOOL,
                                        "input": {"name": "Ada"}}
    answered = result["content"][0]
    assert answered["type"] == "tool_result" and answered["tool_use_id"] == "toolu_1"
    assert "- age: Field required" in answered["content"]
    assert f"Call {ANSWER_TOOL} again" in answered["content"]
    assert [e.type for e in events if e.type in ("action", "error", "final")] == ["error", "final"]
    assert events[-1].output == {"name": "Ada", "age": 36} and agent.last_output == Person(name="Ada", age=36)


def test_text_mode_shows_the_schema_and_reads_a_fenced_final_answer(openai_server):
    openai_server.script(
        Stream("Thought: I know her.\nFinal Answer: Ada, 36"),
        Stream('Thought: as JSON.\nFinal Answer: ```json\n{"name": "Ada", "age": 36}\n```'),
    )
    agent = openai_agent(openai_server, mode="text")
    assert agent.run("Ada?") == Person(name="Ada", age=36)
    first, second = openai_server.requests
    assert "response_format" not in first and "tools" not in first
    system = first["messages"][0]["content"]
    assert "Final Answer must be only a JSON object" in system and '"age": {"title": "Age"' in system
    said = "Thought: I know her.\nFinal Answer: Ada, 36"
    assert second["messages"][-2] == {"role": "assistant", "content": said}
    assert second["messages"][-1]["content"].startswith("Your answer does not fit the schema Person:")


def test_a_list_type_is_wrapped_on_the_wire_and_unwrapped_in_the_answer(openai_server):
    openai_server.script(Stream('{"value": [{"name": "Ada", "age": 36}]}'))
    agent = openai_agent(openai_server, tools=[], output_type=list[Person])
    assert agent.run("people") == [Person(name="Ada", age=36)]
    assert agent.last_final is not None and agent.last_final.output == [{"name": "Ada", "age": 36}]


def test_mistakes_are_usage_errors_before_anything_is_sent(openai_server, vendor_server):
    with pytest.raises(UsageError, match="output_retries"):
        openai_agent(openai_server, output_retries=-1)
    with pytest.raises(UsageError, match="output_retries"):
        openai_agent(openai_server, output_retries=11)
    with pytest.raises(UsageError, match="cannot use"):
        openai_agent(openai_server, output_type=object())

    def final_result(x: int) -> int:
        """A tool that takes the answer tool's name."""
        return x

    provider = AnthropicProvider("claude-sonnet-4-5", api_key=KEY, base_url=vendor_server.base_url)
    with pytest.raises(UsageError, match="final_result"):
        ReActAgent(RLM(provider), tools=[final_result], output_type=Person)
    assert openai_server.requests == [] and vendor_server.requests == []
