"""The typed events of the toolkit: what a provider's stream is made of, and what an agent run is.

A provider turns one request into an async iterator of stream events (``TextDelta`` …
``Finish``); everything else (``stream``, ``run``, callbacks, the agent, the widgets, traces)
consumes that one iterator. Each is a small frozen dataclass with a ``type`` discriminator and a
``to_dict`` for JSON.

An agent run is a sequence of :class:`AgentEvent` s, in order: one step is the model's text
(``token`` events stream it live), then either tool calls — a ``thought`` with the step's
reasoning, an ``action`` and an ``observation`` per call — or the end of the run. The run ends
with exactly one ``final`` event, always last; ``error`` events report what went wrong on the way
(a tool that raised, max_steps reached, a provider failure). When a step turns out to call tools,
its text was reasoning, and the ``thought`` that follows repeats it whole (``streamed=True``).
``reasoning`` events carry a reasoning model's own thinking as it streams (before the step's text);
it belongs to the step's thought and is never part of an answer. With ``approve=`` (see
:mod:`rlm_toolkit.agents.approval`) each call's ``action`` is followed by an ``approval`` event
(waiting for the decision) and a second one with ``outcome`` ``"approved"`` or ``"denied"``
(``content``: the reason); a denied call's ``observation`` says so (``outcome="denied"``).
They live here, beside the stream events, so traces and exporters read them without importing
the agent.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union

from ._json_depth import cut_deep

__all__ = [
    "TextDelta",
    "ReasoningDelta",
    "ToolCallDelta",
    "Usage",
    "Finish",
    "StreamEvent",
    "ToolCall",
    "event_from_dict",
    "AgentEvent",
    "AgentEventType",
    "EVENT_TYPES",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    """A piece of the answer's text, exactly as the provider delivered it.

    The one event made per token: its ``type`` is a class attribute, not a field, and providers
    build it with :func:`text_delta` (a third of the time of ``TextDelta(text=…)``, same object).
    """

    text: str
    type: ClassVar[Literal["text"]] = "text"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text}


_new_event, _set_text = object.__new__, TextDelta.__dict__["text"].__set__  # the slot's own setter


def text_delta(text: str) -> TextDelta:
    """``TextDelta(text=text)`` without the frozen dataclass's keyword ``__init__`` (per token)."""
    event = _new_event(TextDelta)
    _set_text(event, text)
    return event


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
    "text": TextDelta, "reasoning": ReasoningDelta, "tool_call": ToolCallDelta, "usage": Usage,
    "finish": Finish,
}


def event_from_dict(data: dict[str, Any]) -> StreamEvent:
    """Rebuild an event from :meth:`to_dict` output (used by traces)."""
    cls = _BY_TYPE[data["type"]]
    names = {f.name for f in dataclasses.fields(cls)} - {"type"}
    return cls(**{k: v for k, v in data.items() if k in names})


class _Pieces:
    """A ``str`` field kept as the list of its pieces, joined when it is read: ``+=`` on a growing
    string copies it whole per piece, quadratic in the pieces (1 MB of arguments in small deltas
    took 20 s). Reads and writes look like a plain ``str`` attribute; :meth:`add` appends."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._key = f"_{name}_pieces"

    def __get__(self, obj: Any, owner: Any = None) -> str:
        if obj is None:
            return ""  # the dataclass field's default
        pieces: list[str] = obj.__dict__[self._key]
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0]

    def __set__(self, obj: Any, value: str) -> None:
        obj.__dict__[self._key] = [value]

    def add(self, obj: Any, piece: str) -> None:
        if piece:
            obj.__dict__[self._key].append(piece)


@dataclass(kw_only=True)
class ToolCall:
    """A whole tool call, assembled from its :class:`ToolCallDelta` pieces."""

    index: int
    call_id: str | None = None
    name: str = ""
    arguments: _Pieces = _Pieces()  # a str (see _Pieces)
    extra: dict[str, Any] = field(default_factory=dict)

    def apply(self, delta: ToolCallDelta) -> None:
        """Add one delta: ids and names arrive once, arguments arrive in pieces."""
        if delta.call_id:
            self.call_id = delta.call_id
        if delta.name and not self.name:
            self.name = delta.name
        _ARGUMENTS.add(self, delta.arguments)


_ARGUMENTS: _Pieces = vars(ToolCall)["arguments"]


AgentEventType = Literal[
    "thought", "action", "approval", "progress", "observation", "token", "reasoning", "final", "error"
]
EVENT_TYPES: tuple[str, ...] = (
    "thought", "action", "approval", "progress", "observation", "token", "reasoning", "final", "error",
)
#: Fields an event has only when they are set: left out of ``to_dict()`` when None, so the JSON of
#: every other event (traces, web streams) is what it was before they existed.
_SOMETIMES = ("images", "progress", "total", "output")


@dataclass(kw_only=True, slots=True)
class AgentEvent:
    """One typed, timestamped agent event.

    ``content``: the text (thought, observation, token, reasoning, final answer, error message).
    ``tool_name`` / ``input`` (a dict) / ``call_id``: set on ``action`` and ``observation``.
    ``step``: 1-based step number. ``duration``: seconds the tool took (observations) or the
    whole run took (final). ``is_error``: an observation from a tool that raised or timed out,
    or a final that ends a failed run. ``streamed``: a thought whose text came as tokens first.
    ``stop_reason``: on a ``final`` that ends a run stopped early — ``"budget"`` (its ``content`` is
    the text the last step got to). ``outcome``: on ``approval`` events None while waiting, then
    ``"approved"`` or ``"denied"``; ``"denied"`` on the observation of a call that was not allowed to run.
    ``server``: on the events of a call to an MCP server's tool, that server's name (None for a
    Python function); traces record it, so a replay shows it with no server running.
    ``progress`` events come while a tool runs and reports how far it is (an MCP server's progress
    notifications, or :func:`~rlm_toolkit.agents.report_progress`): ``progress`` and ``total``
    (None when unknown) are numbers, ``content`` the message. ``images``: on an observation, the
    images the tool returned beside its text (``[{"mime_type": "image/png", "data": base64}]``), each
    checked to be a PNG, JPEG, GIF or WebP within limits (:func:`rlm_toolkit.images.shown_images`);
    the model sees only the text, and traces leave them out.
    ``output``: on the ``final`` of a typed run (``output_type=``), the validated answer as JSON
    data (``content`` is the same as JSON text); ``outcome`` is ``"retry"`` on the ``error`` of an
    answer that did not fit and was sent back.
    """

    type: AgentEventType
    content: str = ""
    tool_name: str | None = None
    input: dict[str, Any] | None = None
    step: int = 0
    call_id: str | None = None
    timestamp: float = field(default_factory=time.time)
    duration: float | None = None
    is_error: bool = False
    streamed: bool = False
    stop_reason: str | None = None
    outcome: str | None = None
    server: str | None = None
    images: list[dict[str, str]] | None = None
    progress: float | None = None
    total: float | None = None
    output: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy; ``input`` nested deeper than ``CUT_DEPTH`` levels is cut to a marker
        (``dataclasses.asdict`` would recurse once per level, so arguments a thousand levels deep
        broke every consumer: the trace, the widgets, the web streams)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["input"] = cut_deep(self.input) if self.input is not None else None
        if self.output is not None:
            data["output"] = cut_deep(self.output)  # a typed run's answer: JSON data, depth-cut too
        for name in _SOMETIMES:
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentEvent:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def __str__(self) -> str:
        head = f"[{self.step}] {self.type}"
        if self.tool_name:
            head += f" {self.tool_name}({self.input or {}})"
        return f"{head}: {self.content}" if self.content else head
