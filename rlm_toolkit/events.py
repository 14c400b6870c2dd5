"""The typed events a provider's stream is made of.

A provider turns one request into an async iterator of these; everything else (``stream``,
``run``, callbacks, the agent, the widgets, traces) consumes that one iterator. Each event is a
small frozen dataclass with a ``type`` discriminator and a ``to_dict`` for JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Union

__all__ = [
    "TextDelta",
    "ReasoningDelta",
    "ToolCallDelta",
    "Usage",
    "Finish",
    "StreamEvent",
    "ToolCall",
    "event_from_dict",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    """A piece of the answer's text, exactly as the provider delivered it."""

    text: str
    type: Literal["text"] = "text"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningDelta:
    """A piece of the model's reasoning ("thinking"), streamed before or between answer text.

    ``text`` is what the provider shows of the reasoning (raw reasoning from open models, a
    summary from OpenAI's Responses API, Anthropic's ``thinking_delta``). ``signature`` carries
    Anthropic's ``signature_delta`` (an opaque token, no text) for the block being streamed;
    ``redacted`` Anthropic's encrypted ``redacted_thinking`` data. Both must be sent back with the
    history of a tool-use turn. ``index`` says which reasoning block a piece belongs to.
    """

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    index: int = 0
    type: Literal["reasoning"] = "reasoning"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "text": self.text}
        if self.signature is not None:
            out["signature"] = self.signature
        if self.redacted is not None:
            out["redacted"] = self.redacted
        if self.index:
            out["index"] = self.index
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallDelta:
    """A piece of a native tool call: ``index`` says which call, ``arguments`` is a JSON fragment."""

    index: int
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: Literal["tool_call"] = "tool_call"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "index": self.index,
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts for the request, when the provider reports them (None, never 0, when not).

    ``prompt_tokens`` is the whole input, however the provider splits it (Anthropic reports
    cache reads and writes beside ``input_tokens``; they are added in). ``cached_input_tokens``
    are prompt tokens read from the provider's cache and ``cache_write_tokens`` prompt tokens
    written to it (both part of ``prompt_tokens``, priced differently); ``reasoning_tokens`` are
    completion tokens spent on reasoning (part of ``completion_tokens``).
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_tokens: int | None = None
    type: Literal["usage"] = "usage"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }
        if self.cached_input_tokens is not None:
            out["cached_input_tokens"] = self.cached_input_tokens
        if self.reasoning_tokens is not None:
            out["reasoning_tokens"] = self.reasoning_tokens
        if self.cache_write_tokens is not None:
            out["cache_write_tokens"] = self.cache_write_tokens
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    """The model finished: ``reason`` is ``stop``, ``length``, ``tool_calls`` or the provider's word."""

    reason: str
    type: Literal["finish"] = "finish"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "reason": self.reason}


StreamEvent = Union[TextDelta, ReasoningDelta, ToolCallDelta, Usage, Finish]

_BY_TYPE: dict[str, type] = {
    "text": TextDelta, "reasoning": ReasoningDelta, "tool_call": ToolCallDelta, "usage": Usage, "finish": Finish,
}


def event_from_dict(data: dict[str, Any]) -> StreamEvent:
    """Rebuild an event from :meth:`to_dict` output (used by traces)."""
    cls = _BY_TYPE[data["type"]]
    names = {f.name for f in dataclasses.fields(cls)} - {"type"}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True, kw_only=True)
class ToolCall:
    """A whole tool call, assembled from its :class:`ToolCallDelta` pieces."""

    index: int
    call_id: str | None = None
    name: str = ""
    arguments: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def apply(self, delta: ToolCallDelta) -> None:
        """Add one delta: ids and names arrive once, arguments arrive in pieces."""
        if delta.call_id:
            self.call_id = delta.call_id
        if delta.name and not self.name:
            self.name = delta.name
        self.arguments += delta.arguments
