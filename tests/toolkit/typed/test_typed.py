"""Typed answers through the scripted provider: every kind of schema, partial values, the end
validated strictly, and each bad input a typed error (issue 24)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from rlm_toolkit import RLM, IncompleteStreamError, StreamingCallback, StructuredOutputError, UsageError
from rlm_toolkit.providers.scripted import ScriptedProvider, ScriptedTurn
from rlm_toolkit.typed import Prefix, Schema, concise_schema


class Person(BaseModel):
    name: str
    age: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


PEOPLE = [{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}, {"name": "Grace", "age": 85}]


def chars(value: Any) -> list[str]:
    """The JSON of ``value``, one character per chunk (the hardest split there is)."""
    return list(json.dumps(value))


def scripted(*turns: Any) -> RLM:
    return RLM(ScriptedProvider(turns=list(turns)))


@pytest.mark.parametrize(("schema", "value", "expected"), [
    (Person, {"name": "Ada", "age": 36}, Person(name="Ada", age=36)),
    (Point, {"x": 1, "y": 2}, Point(1, 2)),
    (Movie, {"title": "Alien", "year": 1979}, {"title": "Alien", "year": 1979}),
    (list[Person], {"value": PEOPLE}, [Person(**p) for p in PEOPLE]),
    ({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}, {"n": 3}, {"n": 3}),
    ({"type": "array", "items": {"type": "integer"}}, {"value": [1, 2, 3]}, [1, 2, 3]),
    ("name, age int: in years", {"name": "Ada", "age": 36}, {"name": "Ada", "age": 36}),
])
def test_run_returns_the_validated_value_of_every_kind_of_schema(schema, value, expected):
    rlm = scripted(ScriptedTurn(chunks=chars(value)))
    assert rlm.run("extract", schema=schema) == expected
    request = rlm.provider.requests[0]
    assert request.schema is not None and request.schema.wire["type"] == "object"


def test_a_list_element_is_handed_out_the_moment_it_is_complete_and_partials_only_grow():
    text = json.dumps({"value": PEOPLE})
    rlm = scripted(ScriptedTurn(chunks=list(text)))
    seen: list[tuple[int, list[Person]]] = []
    with rlm.stream_object("extract", schema=list[Person]) as objects:
        for value in objects:
            seen.append((len(objects.response.text), list(value)))
    ends = [text.index("}", text.index(p["name"])) + 1 for p in PEOPLE]  # where each element closes
    # each element is handed out at the character that closes it (the , or ] after its })
    assert [at for at, _ in seen[:-1]] == [ends[0] + 1, ends[1] + 1, ends[2] + 1]
    for (_, before), (_, after) in zip(seen, seen[1:]):
        assert after[: len(before)] == before and len(after) >= len(before)
    assert seen[-1][1] == [Person(**p) for p in PEOPLE] and objects.result == seen[-1][1]
    assert isinstance(seen[0][1], list) and type(objects.partial) is Prefix


def test_object_partials_grow_fieldwise_and_a_number_is_never_handed_out_half_written():
    class Bio(BaseModel):
        name: str
        age: int = 0
        bio: str = ""

    value = {"name": "Ada Lovelace", "age": 3600, "bio": "wrote the first program"}
    rlm = scripted(ScriptedTurn(chunks=chars(value)))
    partials = list(rlm.stream_object("who", schema=Bio))
    ages = [p.age for p in partials]
    assert set(ages) <= {0, 3600}, ages  # never 3, 36, 360
    dumps = [p.model_dump() for p in partials]
    for before, after in zip(dumps, dumps[1:]):
        for key, was in before.items():
            now = after[key]
            assert now == was or (isinstance(was, str) and now.startswith(was)) or was == 0
    assert partials[-1] == Bio(**value)
    assert len(partials) > 10  # the name and the bio grew live


def test_callbacks_see_the_text_tokens_of_a_typed_answer():
    tokens: list[str] = []

    class Tokens(StreamingCallback):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            tokens.append(token)

    rlm = scripted(ScriptedTurn(chunks=chars({"name": "Ada", "age": 36})))
    rlm.run("who", schema=Person, callbacks=[Tokens()])
    assert "".join(tokens) == json.dumps({"name": "Ada", "age": 36}) and len(tokens) > 20


def test_the_async_face_yields_the_same_values():
    async def main() -> list[Any]:
        rlm = scripted(ScriptedTurn(chunks=chars({"value": PEOPLE})))
        async with rlm.astream_object("x", schema=list[Person]) as objects:
            return [list(v) async for v in objects]

    values = asyncio.run(main())
    assert [len(v) for v in values] == [1, 2, 3, 3]
    rlm = scripted(ScriptedTurn(chunks=chars({"name": "Ada", "age": 36})))
    assert asyncio.run(rlm.arun("x", schema=Person)) == Person(name="Ada", age=36)


def test_json_that_breaks_the_schema_is_a_structured_output_error_keeping_text_and_errors():
    rlm = scripted(ScriptedTurn(chunks='{"name": "Ada", "age": "old"}'))
    with pytest.raises(StructuredOutputError) as caught:
        rlm.run("who", schema=Person)
    error = caught.value
    assert error.raw_text == '{"name": "Ada", "age": "old"}' == error.partial_text
    assert error.errors[0]["loc"] == ("age",) and error.errors[0]["type"] == "int_parsing"
    assert "age" in error.message and error.provider == "scripted"


def test_text_that_is_not_json_is_a_structured_output_error():
    for schema in (Person, {"type": "object", "properties": {}}):
        rlm = scripted(ScriptedTurn(chunks="Sure! Here is the person: Ada, 36."))
        with pytest.raises(StructuredOutputError) as caught:
            rlm.run("who", schema=schema)
        assert caught.value.raw_text.startswith("Sure!") and caught.value.errors[0]["type"] == "json_invalid"


def test_a_json_schema_dict_is_checked_by_jsonschema_at_the_end():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 10}}, "required": ["n"]}
    rlm = scripted(ScriptedTurn(chunks='{"n": 3}'))
    with pytest.raises(StructuredOutputError) as caught:
        rlm.run("x", schema=schema)
    assert caught.value.errors[0]["loc"] == ("n",) and caught.value.errors[0]["type"] == "minimum"


def test_a_stream_cut_in_the_middle_keeps_the_partial_object_on_the_error():
    rlm = scripted(ScriptedTurn(chunks=chars({"value": PEOPLE})[:40], finish=None))
    rlm.max_retries = 0
    with pytest.raises(IncompleteStreamError) as caught:
        rlm.run("x", schema=list[Person])
    assert list(caught.value.partial_object) == [Person(**PEOPLE[0])]
    assert caught.value.partial_text == json.dumps({"value": PEOPLE})[:40]


def test_json_nested_too_deep_is_a_structured_output_error_not_a_recursion_error():
    rlm = scripted(ScriptedTurn(chunks=['{"value": '] + ["["] * 5000 + ["]"] * 5000 + ["}"]))
    with pytest.raises(StructuredOutputError):
        rlm.run("x", schema=list[Any])


def test_an_element_that_breaks_the_schema_stops_the_handing_out_and_the_end_says_why():
    bad = {"value": [PEOPLE[0], {"name": "Bob", "age": "x"}, PEOPLE[1]]}
    rlm = scripted(ScriptedTurn(chunks=chars(bad)))
    seen = []
    with pytest.raises(StructuredOutputError) as caught:
        for value in rlm.stream_object("x", schema=list[Person]):
            seen.append(list(value))
    assert seen == [[Person(**PEOPLE[0])]]
    assert caught.value.errors[0]["loc"] == ("value", 1, "age")
    assert "value.1.age" not in caught.value.message and "1.age" in caught.value.message


@pytest.mark.parametrize(("schema", "says"), [
    (object(), "cannot use"),
    ({"type": "no-such-type"}, "not a JSON Schema"),
    ("name, age integer", "cannot read the schema field"),
    ("", "an empty schema"),
    ("a, a", "twice"),
    (", ".join(f"f{i}" for i in range(201)), "the limit is 200"),
    ({"type": "object", "description": "x" * 300_000}, "the limit is 256,000"),
])
def test_a_schema_that_cannot_be_used_is_a_usage_error_before_anything_is_sent(schema, says):
    rlm = scripted("never sent")
    with pytest.raises(UsageError, match=says):
        rlm.run("x", schema=schema)
    assert rlm.provider.requests == []


def test_strict_form_where_the_schema_allows_it():
    class Open(BaseModel):
        name: str
        nick: str | None = None

    strict = Schema.of(Person).strict()
    assert strict is not None and strict["additionalProperties"] is False
    assert Schema.of(Open).strict() is None  # an optional property: sent non-strict
    wrapped = Schema.of(list[Person]).strict()
    assert wrapped is not None and wrapped["properties"]["value"]["type"] == "array"
    assert wrapped["$defs"]["Person"]["additionalProperties"] is False


def test_concise_schema_reads_llms_syntax():
    assert concise_schema("name, age int, bio: a short biography") == {
        "type": "object", "additionalProperties": False, "required": ["name", "age", "bio"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                       "bio": {"type": "string", "description": "a short biography"}}}
    multi = concise_schema("name\nbio: born in London, 1815")
    assert multi["properties"]["bio"]["description"] == "born in London, 1815"


def test_the_docs_page_snippets_print_what_it_shows():
    from ..test_docs_pages import run_page

    for code, expected, actual in run_page("typed-answers.md", {}):
        if expected is not None:
            assert actual == expected, code
