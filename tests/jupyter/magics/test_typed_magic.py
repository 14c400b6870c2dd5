"""``%%rlm --schema`` in an in-process IPython shell: a class or llm's concise fields, the request
asks for the schema, ``-o`` holds the validated object, and each mistake is one UsageError."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError
from pydantic import BaseModel

from rlm_toolkit import RLM, ScriptedProvider, StructuredOutputError


class Person(BaseModel):
    name: str
    age: int


def scripted(shell, text: str) -> ScriptedProvider:
    provider = ScriptedProvider(list(text))
    shell.user_ns["m"] = RLM(provider)
    return provider


def test_a_class_in_the_notebook_gives_a_validated_object_in_out(shell):
    provider = scripted(shell, '{"name": "Ada", "age": 36}')
    shell.user_ns["Person"] = Person
    shell.run_cell_magic("rlm", "-m m --schema Person -o who", "Who wrote the first program?")
    assert shell.user_ns["who"] == Person(name="Ada", age=36)
    assert provider.requests[-1].schema.name == "Person"


def test_a_list_of_a_class_and_a_dotted_name(shell):
    scripted(shell, json.dumps({"value": [{"name": "Ada", "age": 36}]}))
    shell.user_ns["Person"] = Person
    shell.run_cell_magic("rlm", "-m m --schema 'list[Person]' -o people", "Extract the people")
    assert shell.user_ns["people"] == [Person(name="Ada", age=36)]
    import types

    scripted(shell, '{"name": "Ada", "age": 36}')
    shell.user_ns["models"] = types.SimpleNamespace(Person=Person)
    shell.run_cell_magic("rlm", "-m m --schema models.Person -o who", "Who?")
    assert shell.user_ns["who"] == Person(name="Ada", age=36)


def test_llms_concise_form_gives_a_dict(shell):
    provider = scripted(shell, '{"name": "Ada", "age": 36, "bio": "wrote programs"}')
    shell.run_cell_magic("rlm", "-m m --schema 'name, age int, bio: a short biography' -o who", "Who?")
    assert shell.user_ns["who"] == {"name": "Ada", "age": 36, "bio": "wrote programs"}
    sent = provider.requests[-1].schema.wire
    assert sent["properties"]["bio"] == {"type": "string", "description": "a short biography"}


@pytest.mark.parametrize(("option", "says"), [
    ("--schema Nobody", "--schema Nobody: no such class in the notebook"),
    ("--schema 'name, age integer'", "--schema: cannot read the schema field 'age integer'"),
    ("--schema 'list[Nobody]'", "no such class"),
])
def test_a_bad_schema_is_one_usage_error_before_anything_is_sent(shell, option, says):
    provider = scripted(shell, "{}")
    shell.user_ns["Person"] = Person
    with pytest.raises(UsageError, match=says.replace("[", r"\[")):
        shell.run_cell_magic("rlm", f"-m m {option}", "Who?")
    assert provider.requests == []


def test_with_agent_the_schema_is_the_runs_output_type_and_out_holds_its_answer(shell):
    provider = ScriptedProvider(turns=['{"name": "Ada", "age": "old"}', '{"name": "Ada", "age": 36}'])
    shell.user_ns["m"] = RLM(provider)
    shell.user_ns["Person"] = Person
    shell.run_cell_magic("rlm", "-m m --agent --schema Person -o who", "Who wrote the first program?")
    assert shell.user_ns["who"] == Person(name="Ada", age=36)
    first, retry = provider.requests  # the first answer did not fit: sent back once
    assert first.schema is not None and first.schema.name == "Person"
    assert retry.messages[-1]["content"].startswith("Your answer does not fit the schema Person:")


def test_with_agent_an_answer_that_never_fits_fails_the_cell_and_out_is_none(shell):
    shell.user_ns["m"] = RLM(ScriptedProvider(turns=['{"name": "Ada"}', '{"name": "Ada"}']))
    shell.user_ns["Person"] = Person
    with pytest.raises(StructuredOutputError, match="age: Field required"):
        shell.run_cell_magic("rlm", "-m m --agent --schema Person -o who", "Who?")
    assert shell.user_ns["who"] is None


def test_an_answer_that_does_not_fit_fails_the_cell_with_one_line_and_out_is_none(shell):
    scripted(shell, '{"name": "Ada"}')
    shell.user_ns["Person"] = Person
    with pytest.raises(StructuredOutputError, match="age: Field required"):
        shell.run_cell_magic("rlm", "-m m --schema Person -o who", "Who?")
    assert shell.user_ns["who"] is None


def test_a_recorded_typed_call_replays_as_the_tree_it_was_shown_as(tmp_path, monkeypatch):
    from rlm_jupyter.magics import trace as trace_magic
    from rlm_jupyter.stream.view import ObjectStreamView

    monkeypatch.setattr("rlm_jupyter.live.show.has_widget_frontend", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    text = json.dumps({"value": [{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}]})
    RLM(ScriptedProvider(list(text))).run("people", schema=list[Person], record=tmp_path / "call.jsonl")
    view = trace_magic.replay(tmp_path / "call.jsonl", speed=None)
    assert isinstance(view, ObjectStreamView) and view.fmt == "object" and view.unwrap is True
    html = view.final_bundle()[0]["text/html"]
    assert html.count('<li class="rlm-obj-item">') == 2 and ">Alan</span>" in html
    plain = RLM(ScriptedProvider("Hello")).run("hi", record=tmp_path / "plain.jsonl")
    assert plain == "Hello" and trace_magic.replay(tmp_path / "plain.jsonl", speed=None).fmt == "markdown"
