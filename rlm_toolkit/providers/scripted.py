"""A deterministic provider for tests and offline teaching notebooks.

It streams what it is told, in the pieces it is told, with optional delays, tool calls and
failures, and records every request it was sent::

    rlm = RLM(ScriptedProvider(["Hel", "lo", "!"], delay=0.05))
    rlm.run("hi")                                     # 'Hello!'

    agent_model = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]),
        "The sum is 3.",
    ])

A plain string is split into word-sized chunks (spaces kept), like a real model's tokens.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from ..errors import ProviderError
from ..events import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, Usage
from .base import Provider, Request

__all__ = ["ScriptedProvider", "ScriptedTurn", "split_words"]

_WORDS = re.compile(r"\s*\S+|\s+")


def split_words(text: str) -> list[str]:
    """Split text into chunks that each carry one word and the white space before it."""
    return _WORDS.findall(text)


@dataclass(kw_only=True)
class ScriptedTurn:
    """One scripted answer.

    ``chunks``: the text, as a string (split into words) or a list of exact chunks.
    ``tool_calls``: dicts with ``name``, ``arguments`` (dict or JSON text) and optional ``id``;
    arguments are streamed in several pieces, like a real server does.
    ``error``: raised after ``error_after`` chunks (0 = before any).
    ``finish``: the finish reason; ``None`` ends the stream without one (a cut connection).
    ``reasoning``: the model's reasoning, streamed before the text (a string is split into words).
    """

    chunks: Union[str, Sequence[str]] = ""
    reasoning: Union[str, Sequence[str]] = ""
    tool_calls: Sequence[dict[str, Any]] = ()
    error: BaseException | None = None
    error_after: int = 0
    finish: str | None = "stop"
    delay: float | None = None

    def pieces(self) -> list[str]:
        return split_words(self.chunks) if isinstance(self.chunks, str) else list(self.chunks)

    def cut_by(self, request: Request) -> bool:
        """Whether ``max_tokens`` stops this turn early (one chunk counts as one token)."""
        return request.max_tokens is not None and len(self.pieces()) > request.max_tokens


TurnLike = Union[str, Sequence[str], ScriptedTurn]


@dataclass
class ScriptedProvider(Provider):
    """Streams scripted turns in order, one per request, repeating the last one when they run out.

    ``fn`` instead of turns computes each turn from the request (like pydantic-ai's FunctionModel).
    ``requests`` records every :class:`Request` received. ``priced_as="openai:gpt-4o"`` prices its
    calls as that model's (see :mod:`rlm_toolkit.cost`; otherwise they are free).
    """

    script: TurnLike | None = None
    turns: Sequence[TurnLike] = ()
    delay: float = 0.0
    model: str = "scripted"
    fn: Callable[[Request], TurnLike] | None = None
    supports_tools_: bool = True
    requests: list[Request] = field(default_factory=list)
    priced_as: str | None = None
    name = "scripted"

    def __post_init__(self) -> None:
        if self.script is not None:
            self.turns = [self.script, *self.turns]
        if not self.turns and self.fn is None:
            self.turns = ["Hello from the scripted model."]
        self._served = 0

    @property
    def supports_tools(self) -> bool:  # type: ignore[override]  # a property here, a class attribute on the base
        return self.supports_tools_

    def _next_turn(self, request: Request) -> ScriptedTurn:
        if self.fn is not None:
            turn = self.fn(request)
        else:
            turn = self.turns[min(self._served, len(self.turns) - 1)]
        self._served += 1
        if isinstance(turn, ScriptedTurn):
            return turn
        return ScriptedTurn(chunks=turn if isinstance(turn, str) else list(turn))

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        turn = self._next_turn(request)
        delay = self.delay if turn.delay is None else turn.delay
        pieces = turn.pieces()
        cut = turn.cut_by(request)
        if cut:
            pieces = pieces[: request.max_tokens]
        sent = 0

        async def pause() -> None:
            await asyncio.sleep(delay) if delay else await asyncio.sleep(0)

        for thought in split_words(turn.reasoning) if isinstance(turn.reasoning, str) else turn.reasoning:
            await pause()
            yield ReasoningDelta(text=thought)
        for piece in pieces:
            if turn.error is not None and sent == turn.error_after:
                raise _with_model(turn.error, self)
            await pause()
            yield TextDelta(text=piece)
            sent += 1
        if turn.error is not None and sent <= turn.error_after:
            raise _with_model(turn.error, self)
        for index, call in enumerate(turn.tool_calls):
            args = call.get("arguments", {})
            text = args if isinstance(args, str) else json.dumps(args)
            call_id = call.get("id") or f"call_{self._served}_{index}"
            await pause()
            yield ToolCallDelta(index=index, call_id=call_id, name=call["name"], arguments="")
            half = len(text) // 2
            for part in (text[:half], text[half:]):
                if part:
                    yield ToolCallDelta(index=index, arguments=part)
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in request.messages)
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=len(pieces))
        if turn.finish is not None:
            reason = "tool_calls" if turn.tool_calls and turn.finish == "stop" else turn.finish
            if cut:
                reason = "length"
            yield Finish(reason=reason)


def _with_model(error: BaseException, provider: ScriptedProvider) -> BaseException:
    if isinstance(error, ProviderError):
        error.provider = error.provider or provider.name
        error.model = error.model or provider.model
    return error
