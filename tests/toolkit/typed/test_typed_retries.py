"""``rlm.run(..., schema=…, output_retries=N)`` at the loopback server: an answer that does not fit is
sent back with its validation errors and asked again, each try a whole call its callbacks see, at
most N times (issue 24)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from rlm_toolkit import RLM, StreamingCallback, StructuredOutputError, UsageError

from ...fixtures.openai_server import Stream


class Person(BaseModel):
    name: str
    age: int


class Starts(StreamingCallback):
    def __init__(self) -> None:
        self.calls = 0

    def on_llm_start(self, **kwargs) -> None:
        self.calls += 1


def model(server) -> RLM:
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, max_retries=0,
                           system="Be exact.")


def test_a_bad_answer_is_sent_back_with_its_errors_and_the_retry_validates(openai_server):
    openai_server.script(Stream('{"name": "Ada", "age": "old"}'), Stream('{"name": "Ada", "age": 36}'))
    starts = Starts()
    assert model(openai_server).run("Ada?", schema=Person, output_retries=1, callbacks=[starts]) == \
        Person(name="Ada", age=36)
    first, second = openai_server.requests
    assert second["response_format"] == first["response_format"]
    assert second["messages"][:2] == first["messages"] == [
        {"role": "system", "content": "Be exact."}, {"role": "user", "content": "Ada?"}]
    assert second["messages"][2] == {"role": "assistant", "content": '{"name": "Ada", "age": "old"}'}
    assert second["messages"][3]["role"] == "user" and len(second["messages"]) == 4
    assert second["messages"][3]["content"].startswith("Your answer does not fit the schema Person:\n- age: ")
    assert starts.calls == 2  # each try is a call the callbacks see


def test_the_tries_are_bounded_and_the_last_error_is_raised(openai_server):
    openai_server.script(*[Stream('{"name": "Ada"}')] * 4)
    with pytest.raises(StructuredOutputError) as caught:
        asyncio.run(model(openai_server).arun("Ada?", schema=Person, output_retries=2))
    assert len(openai_server.requests) == 3 and caught.value.raw_text == '{"name": "Ada"}'
    third = openai_server.requests[2]["messages"]
    assert [m["role"] for m in third] == ["system", "user", "assistant", "user", "assistant", "user"]


def test_without_retries_the_first_answer_that_does_not_fit_raises(openai_server):
    openai_server.script(Stream('{"name": "Ada"}'), Stream('{"name": "Ada", "age": 36}'))
    with pytest.raises(StructuredOutputError):
        model(openai_server).run("Ada?", schema=Person)
    assert len(openai_server.requests) == 1


def test_retries_without_a_schema_or_out_of_range_are_usage_errors(openai_server):
    rlm = model(openai_server)
    with pytest.raises(UsageError, match="goes with schema="):
        rlm.run("Ada?", output_retries=2)
    for bad in (-1, 11, 1.5, True):
        with pytest.raises(UsageError, match="output_retries must be"):
            rlm.run("Ada?", schema=Person, output_retries=bad)
    assert openai_server.requests == []
