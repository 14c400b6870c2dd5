"""What one model call produced: the text, tool calls, usage, finish reason and timings.

A :class:`Response` is filled in as the stream's events arrive (``feed``) and settled once
(``settle``) whether the stream finished, was stopped or failed, so the partial text and the
state are always there to show.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ProviderError, describe
from .events import StreamEvent, ToolCall

__all__ = ["Response", "State"]

State = Literal["streaming", "done", "stopped", "error"]


@dataclass(eq=False)
class Response:
    """The result of one call; ``text`` is complete once ``state`` is no longer ``streaming``."""

    model: str
    provider: str
    params: dict[str, Any] = field(default_factory=dict)
    state: State = "streaming"
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_tokens: int | None = None
    #: Why a ``stopped`` response stopped when something other than its consumer stopped it:
    #: ``"budget"`` (a ``max_cost`` / ``max_tokens_total`` was exceeded, see :mod:`rlm_toolkit.budget`).
    stop_reason: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    chunks: int = 0
    error: BaseException | None = None
    started_at: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    ended_at: float | None = None
    created: float = field(default_factory=time.time)
    _parts: list[str] = field(default_factory=list, repr=False)
    _text: str | None = field(default="", repr=False)
    _calls: dict[int, ToolCall] = field(default_factory=dict, repr=False)
    _reasoning: list[str] = field(default_factory=list, repr=False)
    # Per reasoning block: its text and signature as pieces (joined when read: appending to a
    # growing string would make a long reasoning quadratic), or its redacted data.
    _blocks: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: What prices this call (set by the RLM; see :mod:`rlm_toolkit.cost`); None: no cost known.
    cost_basis: Any = field(default=None, repr=False)

    @property
    def model_id(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(self._parts)
        return self._text

    @property
    def reasoning(self) -> str:
        """The reasoning text streamed so far ("" when the model streamed none)."""
        return "".join(self._reasoning)

    def feed(self, event: StreamEvent) -> str | None:
        """Apply one event; return its answer text if it carried any (reasoning is not answer)."""
        # Dispatched on its type read once (per token): mypy cannot narrow `event` through `kind`,
        # so the branches read it as Any; each branch reads only its own class's fields.
        e: Any = event
        kind = e.type
        if kind == "text":
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self._parts.append(e.text)
            self._text = None
            self.chunks += 1
            return e.text
        if kind == "tool_call":
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self._tool_call(e.index).apply(e)
        elif kind == "reasoning":
            self._reasoning_piece(e)
        elif kind == "usage":
            self.prompt_tokens = e.prompt_tokens
            self.completion_tokens = e.completion_tokens
            self.cached_input_tokens = e.cached_input_tokens
            self.reasoning_tokens = e.reasoning_tokens
            self.cache_write_tokens = e.cache_write_tokens
        elif kind == "finish":
            self.finish_reason = e.reason
        return None

    def _reasoning_piece(self, event: Any) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        if event.text:
            self._reasoning.append(event.text)
        # Keep the blocks as a provider may need them back (Anthropic): per index, text + signature.
        while len(self._blocks) <= event.index:
            self._blocks.append({"type": "thinking", "thinking": [], "signature": []})
        block = self._blocks[event.index]
        if event.redacted is not None:
            self._blocks[event.index] = {"type": "redacted_thinking", "data": event.redacted}
        elif block["type"] == "thinking":
            if event.text:
                block["thinking"].append(event.text)
            if event.signature is not None:
                block["signature"].append(event.signature)

    @property
    def reasoning_blocks(self) -> list[dict[str, Any]]:
        """Reasoning blocks, in order, as a provider may need them back in a tool-use turn's history
        (Anthropic's signed ``thinking`` and ``redacted_thinking`` blocks); others ignore them.
        ``signature`` is None for a block that came without one."""
        return [dict(block) if block["type"] == "redacted_thinking" else
                {"type": "thinking", "thinking": "".join(block["thinking"]),
                 "signature": "".join(block["signature"]) if block["signature"] else None}
                for block in self._blocks]

    def _tool_call(self, index: int) -> ToolCall:
        """The call an index names. Indexes are keys, not list sizes: ``index=100000000`` makes
        one call, not a hundred million; ``tool_calls`` stays ordered by index."""
        call = self._calls.get(index)
        if call is not None:
            return call
        call = self._calls[index] = ToolCall(index=index)
        bisect.insort(self.tool_calls, call, key=_by_index)
        return call

    def settle(self, error: BaseException | None = None) -> None:
        """End the response: done, stopped (interrupt, cancel, early close) or error."""
        if self.state != "streaming":
            return
        self.ended_at = time.perf_counter()
        if error is None:
            self.state = "stopped" if self.stop_reason else "done"
            return
        if isinstance(error, Exception) and not isinstance(error, _stop_errors()):
            self.state = "error"
            self.error = error
            if isinstance(error, ProviderError) and not error.partial_text:
                error.partial_text = self.text
        else:
            self.state = "stopped"
            self.error = error if not isinstance(error, GeneratorExit) else None

    @property
    def tokens(self) -> int:
        """Completion tokens as reported, else the chunks received: answer text and reasoning alike,
        as a provider's completion count includes its reasoning tokens (and tokens/s is measured from
        the first of either)."""
        if self.completion_tokens is not None:
            return self.completion_tokens
        return self.chunks + len(self._reasoning)

    @property
    def reasoning_chunks(self) -> int:
        """Pieces of reasoning text received (a budget counts them as tokens until usage arrives)."""
        return len(self._reasoning)

    @property
    def cost(self) -> Any:
        """What this call cost (a :class:`rlm_toolkit.cost.Cost`: total, input/output, currency, and
        a note when it is unknown, free or estimated); None for a response no RLM priced."""
        return None if self.cost_basis is None else self.cost_basis.cost(self)

    @property
    def ttft(self) -> float | None:
        """Seconds from sending the request to the first piece of the answer."""
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    @property
    def elapsed(self) -> float:
        end = self.ended_at if self.ended_at is not None else time.perf_counter()
        return end - self.started_at

    @property
    def tokens_per_second(self) -> float | None:
        if self.first_token_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else time.perf_counter()
        span = end - self.first_token_at
        return self.tokens / span if span > 0 and self.tokens > 1 else None

    def to_dict(self) -> dict[str, Any]:
        """Provenance: model, parameters, usage, cost (once settled), timings and state (no text, no key)."""
        return {
            "model": self.model_id,
            "params": dict(self.params),
            "state": self.state,
            **({"stop_reason": self.stop_reason} if self.stop_reason else {}),
            "finish_reason": self.finish_reason,
            "usage": self._usage_dict(),
            # once settled: pricing loads the price table, which a live footer must not wait for
            **({"cost": cost.to_dict()} if self.state != "streaming" and (cost := self.cost) else {}),
            "chunks": self.chunks,
            **({"reasoning_chunks": n} if (n := len(self._reasoning)) else {}),
            "ttft_s": _round(self.ttft),
            "elapsed_s": _round(self.elapsed),
            "tokens_per_s": _round(self.tokens_per_second),
            "error": describe(self.error) if self.error else None,
            "created": self.created,
        }

    def _usage_dict(self) -> dict[str, int | None]:
        usage = {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}
        if self.cached_input_tokens is not None:
            usage["cached_input_tokens"] = self.cached_input_tokens
        if self.reasoning_tokens is not None:
            usage["reasoning_tokens"] = self.reasoning_tokens
        if self.cache_write_tokens is not None:
            usage["cache_write_tokens"] = self.cache_write_tokens
        return usage

    def __repr__(self) -> str:
        return (
            f"Response(model={self.model_id!r}, state={self.state!r}, chunks={self.chunks}, "
            f"finish_reason={self.finish_reason!r}, text={_preview(self.text)!r})"
        )


def _stop_errors() -> tuple[type[BaseException], ...]:
    import asyncio

    return (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit)


def _by_index(call: ToolCall) -> int:
    return call.index


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _preview(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
