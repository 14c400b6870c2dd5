"""The embedded SmolLM2 under llama.cpp's JSON-schema grammar: every answer is valid JSON of the
schema (issue 24). Validity only, never content: what a 135M model knows is not rlm's to assert."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from rlm_toolkit import RLM
from rlm_toolkit.providers.local import load_model, schema_grammar

pytestmark = pytest.mark.model

PROMPTS = [f"Describe a person called {name}." for name in (
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken",
    "Dennis", "Radia", "Tim", "Sophie", "Linus", "Guido", "Hedy", "Katherine", "Niklaus", "Leslie")]


class Person(BaseModel):
    """Bounded strings: the grammar then also bounds the answer's length, so it ends within
    max_tokens (an unbounded string can run until the model is cut, and cut JSON is not valid)."""

    name: str = Field(max_length=24)
    age: int
    likes_tea: bool


def test_twenty_prompts_give_twenty_valid_objects_under_the_grammar():
    """Failed before llama-cpp-python's string rule was tightened: a raw newline inside a string."""
    rlm = RLM("local:smollm2", max_tokens=96, temperature=0.7, seed=1)
    people = [rlm.run(prompt, schema=Person) for prompt in PROMPTS]
    assert len(people) == 20 and all(isinstance(p, Person) for p in people)


def test_the_grammar_is_what_llama_cpp_is_asked_for(monkeypatch):
    rlm = RLM("local:smollm2")
    llama, _ = load_model(rlm.provider.path, rlm.provider.n_ctx)
    seen = {}
    real = llama.create_chat_completion

    def spy(**options):
        seen.update(options)
        return real(**options)

    monkeypatch.setattr(llama, "create_chat_completion", spy)
    rlm.run("A person.", schema=Person, max_tokens=64)
    assert seen["grammar"] is schema_grammar(Person.model_json_schema())  # built once per schema
    assert "response_format" not in seen
