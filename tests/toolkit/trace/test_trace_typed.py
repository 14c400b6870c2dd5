"""Typed answers in traces: the header names the schema, an agent's final event holds the validated
answer and its retries their errors, a call's step names its schema; traces written before typed
answers (and headers of another shape) still load (issue 24). Runs against the loopback server."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from rlm_toolkit import RLM, StructuredOutputError
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.trace import VERSION, load

from ...fixtures.openai_server import Stream


class Person(BaseModel):
    name: str
    age: int


PERSON = {"name": "Person", "json_schema": Person.model_json_schema()}


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_typed_agent_run_records_its_schema_its_retry_and_the_validated_answer(tmp_path,
                                                                                 openai_server):
    openai_server.script(Stream('{"name": "Ada", "age": "old"}'), Stream('{"name": "Ada", "age": 36}'))
    agent = ReActAgent.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key,
                                   max_retries=0, output_type=Person)
    agent.run("Ada?", record=tmp_path / "run.jsonl")
    header, *rest = lines(tmp_path / "run.jsonl")
    assert header["version"] == VERSION == 1 and header["schema"] == PERSON
    events = [line["event"] for line in rest if line["type"] == "event"]
    [retry] = [e for e in events if e["type"] == "error"]
    assert retry["outcome"] == "retry" and "age" in retry["content"]
    assert events[-1]["type"] == "final" and events[-1]["output"] == {"name": "Ada", "age": 36}
    assert "output" not in events[0]  # only a typed final holds one
    steps = [line for line in rest if line["type"] == "step"]
    assert [s["schema"] for s in steps] == ["Person", "Person"]  # both requests carried it
    trace = load(tmp_path / "run.jsonl")
    assert trace.schema == PERSON and trace.output == {"name": "Ada", "age": 36} and trace.state == "done"
    assert json.loads(trace.text) == trace.output


def test_a_typed_call_records_its_schema_and_its_text_reads_back_as_the_answer(tmp_path,
                                                                                openai_server):
    openai_server.script(Stream(list('{"value": [{"name": "Ada", "age": 36}]}')))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    people = rlm.run("people", schema=list[Person], record=tmp_path / "call.jsonl")
    assert people == [Person(name="Ada", age=36)]
    trace = load(tmp_path / "call.jsonl")
    assert trace.schema is not None and trace.schema["name"] == "list_of_Person"
    assert trace.schema["json_schema"]["type"] == "array"  # the value's own schema, not the wrapper
    assert trace.steps[1]["schema"] == "list_of_Person"
    assert trace.output == [{"name": "Ada", "age": 36}]  # unwrapped, as the call returned it


def test_a_failed_typed_call_has_no_output_but_keeps_its_text(tmp_path, openai_server):
    openai_server.script(Stream('{"name": "Ada"'))  # cut JSON
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    with pytest.raises(StructuredOutputError):
        rlm.run("x", schema=Person, record=tmp_path / "bad.jsonl")
    trace = load(tmp_path / "bad.jsonl")
    assert trace.schema == PERSON and trace.output is None and trace.text == '{"name": "Ada"'


def test_traces_from_before_typed_answers_and_odd_schema_fields_still_load(tmp_path):
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join(json.dumps(line) for line in [
        {"type": "header", "version": 1, "kind": "agent", "model": "openai:gpt-4o", "created": 1795518343.1},
        {"type": "event", "t": 0.1, "event": {"type": "final", "content": "42", "step": 1}},
        {"type": "footer", "t": 0.2, "state": "done", "response": None, "error": None},
    ]) + "\n")
    trace = load(old)
    assert trace.text == "42" and trace.schema is None and trace.output is None and trace.skipped == 0
    for odd in ("Person", {"name": 3, "json_schema": {}}, {"name": "P", "json_schema": "no"}):
        odd_file = tmp_path / "odd.jsonl"
        odd_file.write_text(json.dumps({"type": "header", "version": 1, "kind": "stream", "model": None,
                                        "created": 1.0, "schema": odd}) + "\n")
        assert load(odd_file).schema is None and load(odd_file).output is None
