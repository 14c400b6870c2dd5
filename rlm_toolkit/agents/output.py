"""An agent's typed final answer (``ReActAgent(..., output_type=Person)``): how it is asked for,
checked, and sent back to the model when it does not fit.

Three ways, one per kind of model (docs/typed-answers.md, "Agents"):

- ``native``: the provider's structured mode rides on every step's request beside the tools
  (OpenAI chat's ``response_format``, the Responses API's ``text.format``, Ollama's ``format``):
  a step that calls no tool is the answer, JSON of the schema.
- ``tool``: where the structured mode cannot go with other tools (Anthropic's is a forced tool),
  an answer tool, ``final_result``, whose arguments are the answer (pydantic-ai's default way).
- ``text``: the text ReAct format (the embedded model): the ``Final Answer:`` is JSON of the
  schema, which the system prompt shows.

A final answer that does not fit is sent back with the validation errors, cut to
:data:`MAX_FEEDBACK_CHARS`, at most ``max_retries`` times; each retry is an ``error`` event with
``outcome="retry"`` and a new step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import StructuredOutputError, UsageError
from ..typed.schema import AGAIN, MAX_FEEDBACK_CHARS, MAX_FEEDBACK_ERRORS, MAX_RETRIES, Schema, check_retries

__all__ = ["Output", "ANSWER_TOOL", "MAX_RETRIES", "MAX_FEEDBACK_CHARS", "MAX_FEEDBACK_ERRORS", "as_data"]

#: The answer tool's name (``tool`` way); a tool of the agent's own may not take it.
ANSWER_TOOL = "final_result"
_FENCE = re.compile(r"^```[A-Za-z]*\s*\n?|\n?```\s*$")

Way = Literal["native", "tool", "text"]


@dataclass(frozen=True)
class Output:
    """A run's typed answer: the schema, the way it is asked for, and the retries it may take."""

    schema: Schema
    way: Way
    max_retries: int

    @classmethod
    def of(cls, output_type: Any, *, max_retries: int, native: bool, tools: list[Any],
           provider: Any) -> Output | None:
        """The agent's output, or None for a plain text answer; a :class:`UsageError` for a type
        that cannot be a schema or a bad ``max_retries``, before anything is sent."""
        check_retries(max_retries)
        if output_type is None:
            return None
        schema = Schema.of(output_type)
        if not native:
            way: Way = "text"
        elif tools and not getattr(provider, "schema_with_tools", False):
            if any(t.name == ANSWER_TOOL for t in tools):
                raise UsageError(f"a tool named {ANSWER_TOOL!r} would hide the typed answer's tool: "
                                 "rename it")
            way = "tool"
        else:
            way = "native"
        return cls(schema, way, max_retries)

    # -- asking ----------------------------------------------------------------------------------

    @property
    def request_schema(self) -> Schema | None:
        """What each step's request carries as ``schema`` (the ``native`` way only)."""
        return self.schema if self.way == "native" else None

    def tool_spec(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": ANSWER_TOOL, "description": "Give the final answer with this tool, in this shape.",
            "parameters": self.schema.wire}}

    def system(self, prompt: str) -> str:
        """The system prompt with what the answer must look like (the ``text`` way shows the schema)."""
        if self.way == "text":
            shape = json.dumps(self.schema.wire, ensure_ascii=False)
            return (f"{prompt}\n\nThe Final Answer must be only a JSON object that fits this JSON Schema, "
                    f"nothing else:\n{shape}")
        if self.way == "tool":
            return f"{prompt}\n\nWhen you know the answer, call the tool {ANSWER_TOOL} with it."
        return prompt

    # -- checking --------------------------------------------------------------------------------

    def check(self, text: str, **where: Any) -> tuple[Any, Any]:
        """The answer's value and its JSON data; a :class:`StructuredOutputError` keeping ``text``."""
        raw = _FENCE.sub("", text.strip()) if self.way == "text" else text
        value = self.schema.validate(raw, **where)
        return value, as_data(value)

    def sent_back(self, error: StructuredOutputError, said: str, raw: str,
                  call_id: str | None = None) -> list[dict[str, Any]]:
        """The messages that send an answer that did not fit back: what the model said, then the
        errors (the answer tool's result, ``call_id``, when it called that tool with ``raw``)."""
        if call_id is None:
            return [{"role": "assistant", "content": said}, {"role": "user", "content": self.feedback(error)}]
        call = {"id": call_id, "type": "function", "function": {"name": ANSWER_TOOL, "arguments": raw}}
        return [{"role": "assistant", "content": said or None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call_id, "content": self.feedback(error)}]

    def feedback(self, error: StructuredOutputError) -> str:
        """What the model is told when its answer did not fit (see ``Schema.feedback``)."""
        return self.schema.feedback(error, f"Call {ANSWER_TOOL} again with arguments that fit it."
                                    if self.way == "tool" else AGAIN)


def as_data(value: Any) -> Any:
    """A validated value as JSON data (dicts, lists, strings, numbers): what events and traces hold."""
    import pydantic_core

    return pydantic_core.to_jsonable_python(value)
