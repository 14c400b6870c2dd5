"""Anthropic's Messages API with ``stream: true`` (Server-Sent Events), over httpx.

Requests are built from the toolkit's OpenAI-style messages: system messages move to the
top-level ``system``, assistant ``tool_calls`` become ``tool_use`` blocks and ``tool`` messages
become ``tool_result`` blocks. The key is ``api_key=`` or ``$ANTHROPIC_API_KEY``.

Extended thinking is enabled with the vendor's own parameter, passed through ``extra``:
``RLM("anthropic:claude-sonnet-4-5", max_tokens=4096, extra={"thinking": {"type": "enabled",
"budget_tokens": 2048}})``. ``thinking`` blocks stream as
:class:`~rlm_toolkit.events.ReasoningDelta` s (text, then the block's ``signature``);
``redacted_thinking`` blocks as their encrypted ``data``. Anthropic requires the signed blocks
back, unchanged and before the ``tool_use`` blocks, in the assistant turn of a tool-use exchange:
an assistant message's ``reasoning_blocks`` (:attr:`Response.reasoning_blocks`, which the agent
keeps) are sent that way.

A typed answer (``schema=``) is asked for as a forced tool: one tool named after the schema, whose
``input_schema`` is the schema, and ``tool_choice`` naming it (Anthropic's documented way to get
JSON of a given shape, on every model; its beta structured-output mode is not used). The tool's
input streams as ``input_json_delta`` pieces, which this parser hands on as the answer's text, so
callbacks, the widget and ``Response.text`` see the JSON as for any other provider. A forced tool
cannot be combined with extended thinking (the API refuses it).
"""

from __future__ import annotations

import os
from typing import Any

from .. import images
from .._decoders import ServerSentEvent
from .._json_depth import loads
from ..errors import MalformedResponseError, ProviderError, status_error
from ..events import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, Usage
from ._shape import expect_object, get
from .base import Request
from .http import DEFAULT_TIMEOUT, Exchange, HTTPProvider, SSEEvents

__all__ = ["AnthropicProvider", "AnthropicParser", "anthropic_body", "ANTHROPIC_URL"]

ANTHROPIC_URL = "https://api.anthropic.com"
VERSION = "2023-06-01"
_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
#: Error types of Anthropic's error events and bodies, as the HTTP status they stand for.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicProvider(HTTPProvider):
    """Claude models through the Messages API; native tool use."""

    name = "anthropic"
    supports_tools = True
    schema_with_tools = False  # a typed answer is a forced tool: no other tool could be called

    def __init__(
        self,
        model: str = "claude-sonnet-4-5",
        *,
        api_key: str | None = None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        base_url: str | None = None,
        max_tokens: int = 1024,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        base_url = (base_url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_URL).rstrip("/")
        key = self.find_key(model, api_key, api_key_env, base_url=base_url, home=ANTHROPIC_URL)
        headers = {"anthropic-version": VERSION, "accept": "text/event-stream"}
        if key:
            headers["x-api-key"] = key
        self.max_tokens = max_tokens
        super().__init__(model, base_url=base_url, headers=headers, timeout=timeout)

    def exchange(self, request: Request) -> Exchange:
        payload = anthropic_body(request, self.model, self.max_tokens)
        tool = request.schema.name if request.schema else None
        parser = AnthropicParser(model=self.model, answer_tool=tool)
        return "/v1/messages", payload, ("text/event-stream",), SSEEvents(parser)


class AnthropicParser:
    """Turns the Messages API's SSE events into toolkit events (the only place that reads them)."""

    def __init__(self, model: str = "", answer_tool: str | None = None) -> None:
        self.model = model
        self.answer_tool = answer_tool  # a typed answer's forced tool: its input is the answer's text
        self._answer_blocks: set[int] = set()
        self.stopped = False
        self._blocks: dict[int, int] = {}  # content block index → tool call index
        self._thinking: dict[int, int] = {}  # content block index → reasoning block index
        self._input: dict[str, int | None] = _input_counts({}, None)
        self._reason: str | None = None

    def feed(self, sse: ServerSentEvent) -> list[StreamEvent]:
        try:
            data = loads(sse.data)
        except ValueError as error:
            raise MalformedResponseError(
                f"anthropic:{self.model} sent an event that is not JSON ({error}): {sse.data[:200]!r}",
                provider="anthropic",
                model=self.model,
            ) from None
        data = expect_object(data, "the event", data)
        kind = get(data, "type", str, data) or sse.event
        if kind == "message_start":
            message = get(data, "message", dict, data) or {}
            self._input = _input_counts(get(message, "usage", dict, data, "message.usage") or {}, data)
        elif kind == "content_block_start":
            block = get(data, "content_block", dict, data) or {}
            if block.get("type") == "tool_use" and self.answer_tool and block.get("name") == self.answer_tool:
                self._answer_blocks.add(get(data, "index", int, data) or 0)
                return []
            if block.get("type") == "tool_use":
                index = self._blocks[get(data, "index", int, data) or 0] = len(self._blocks)
                return [ToolCallDelta(index=index, call_id=get(block, "id", str, data, "content_block.id"),
                                      name=get(block, "name", str, data, "content_block.name"))]
            if block.get("type") in ("thinking", "redacted_thinking"):
                return self._thinking_start(data, block)
        elif kind == "content_block_delta":
            delta = get(data, "delta", dict, data) or {}
            piece = delta.get("type")
            if piece == "text_delta":
                text = get(delta, "text", str, data, "delta.text")
                return [TextDelta(text=text)] if text else []
            if piece == "input_json_delta" and (get(data, "index", int, data) or 0) in self._answer_blocks:
                text = get(delta, "partial_json", str, data, "delta.partial_json")
                return [TextDelta(text=text)] if text else []
            if piece == "input_json_delta":
                index = self._blocks.get(get(data, "index", int, data) or 0, 0)
                return [ToolCallDelta(index=index, arguments=get(delta, "partial_json", str, data) or "")]
            if piece == "thinking_delta":
                text = get(delta, "thinking", str, data, "delta.thinking")
                return [ReasoningDelta(text=text, index=self._reasoning_index(data))] if text else []
            if piece == "signature_delta":
                signature = get(delta, "signature", str, data, "delta.signature")
                index = self._reasoning_index(data)
                return [ReasoningDelta(signature=signature, index=index)] if signature else []
        elif kind == "message_delta":
            reason = get(get(data, "delta", dict, data) or {}, "stop_reason", str, data, "delta.stop_reason")
            self._reason = _REASONS.get(reason, reason) if reason else self._reason
            if self._reason == "tool_calls" and self._answer_blocks and not self._blocks:
                self._reason = "stop"  # the forced answer tool: the model answered
            usage = get(data, "usage", dict, data) or {}
            output = get(usage, "output_tokens", int, data, "usage.output_tokens")
            # Newer streams repeat the (cumulative) input counts here: they win over message_start's.
            later = _input_counts(usage, data)
            self._input = {k: v if v is not None else self._input[k] for k, v in later.items()}
            return [_usage(self._input, output)]
        elif kind == "message_stop":
            self.stopped = True
            return [Finish(reason=self._reason or "stop")]
        elif kind == "error":
            raise stream_error(data, self.model)
        return []  # ping, content_block_stop, and event types added later

    def _reasoning_index(self, data: dict[str, Any]) -> int:
        """The reasoning block (0, 1, … in stream order) a content block index stands for."""
        block = get(data, "index", int, data) or 0
        if block not in self._thinking:
            self._thinking[block] = len(self._thinking)
        return self._thinking[block]

    def _thinking_start(self, data: dict[str, Any], block: dict[str, Any]) -> list[StreamEvent]:
        """A ``thinking`` block opens (usually empty: its text and signature follow as deltas) or a
        ``redacted_thinking`` block arrives whole (its ``data`` is encrypted, never shown)."""
        index = self._reasoning_index(data)
        if block["type"] == "redacted_thinking":
            redacted = get(block, "data", str, data, "content_block.data") or ""
            return [ReasoningDelta(redacted=redacted, index=index)]
        text = get(block, "thinking", str, data, "content_block.thinking") or ""
        signature = get(block, "signature", str, data, "content_block.signature")
        return [ReasoningDelta(text=text, signature=signature, index=index)] if text or signature else []


_INPUT_COUNTS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _input_counts(usage: dict[str, Any], data: Any) -> dict[str, int | None]:
    return {name: get(usage, name, int, data, f"usage.{name}") for name in _INPUT_COUNTS}


def _usage(counts: dict[str, int | None], output: int | None) -> Usage:
    """Anthropic's counts as a :class:`Usage`. Its ``input_tokens`` excludes the tokens read from
    and written to the prompt cache; ``prompt_tokens`` is the whole input, so the three are added
    (None when none is reported), and the cache reads and writes are also given on their own."""
    parts = [n for n in counts.values() if n is not None]
    return Usage(prompt_tokens=sum(parts) if parts else None, completion_tokens=output,
                 cached_input_tokens=counts["cache_read_input_tokens"],
                 cache_write_tokens=counts["cache_creation_input_tokens"])


def stream_error(data: dict[str, Any], model: str) -> ProviderError:
    """An ``error`` event or body as the toolkit error its type stands for."""
    error = data.get("error") or {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    kind = error.get("type")
    if not isinstance(kind, str):
        kind = "api_error"
    return status_error(
        ERROR_STATUS.get(kind, 500), f"{kind}: {error.get('message', '')}", provider="anthropic", model=model
    )


def _blocks(content: Any) -> list[dict[str, Any]]:
    """A message's content as text and ``image`` blocks (empty text is dropped: the API refuses it)."""
    blocks: list[dict[str, Any]] = []
    for kind, value in images.content_parts(content):
        if kind == "text" and value.strip():
            blocks.append({"type": "text", "text": value})
        elif kind == "image":
            blocks.append({"type": "image", "source": {"type": "base64", "media_type": value.media_type,
                                                       "data": value.base64}})
        elif kind == "url":
            blocks.append({"type": "image", "source": {"type": "url", "url": value}})
        elif kind == "other":  # a block in Anthropic's own shape (a document, …) goes as it is
            blocks.append(value)
    return blocks


def _thinking_blocks(blocks: Any) -> list[dict[str, Any]]:
    """An assistant message's reasoning blocks as Anthropic takes them back: signed ``thinking``
    (text and signature exactly as streamed) and ``redacted_thinking``. A block without a
    signature (reasoning another provider streamed) cannot be verified and is left out."""
    out: list[dict[str, Any]] = []
    for block in blocks or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "redacted_thinking" and block.get("data"):
            out.append({"type": "redacted_thinking", "data": block["data"]})
        elif block.get("type") == "thinking" and block.get("signature"):
            out.append({"type": "thinking", "thinking": block.get("thinking") or "",
                        "signature": block["signature"]})
    return out


def anthropic_body(request: Request, model: str, max_tokens: int) -> dict[str, Any]:
    """The Messages API request for a toolkit :class:`Request`."""
    images.check(request.messages, images.ANTHROPIC, f"anthropic:{model}")
    system = [m.get("content") or "" for m in request.messages if m["role"] == "system"]
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        role = message["role"]
        if role == "system":
            continue
        blocks: list[dict[str, Any]] = []
        if role == "tool":
            role = "user"
            blocks.append({"type": "tool_result", "tool_use_id": message.get("tool_call_id"),
                           "content": str(message.get("content") or "")})
        elif message.get("content"):
            blocks.extend(_blocks(message["content"]))
        if role == "assistant":  # signed thinking first: the API checks it comes back unchanged, in order
            blocks[:0] = _thinking_blocks(message.get("reasoning_blocks"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            try:
                arguments = loads(function.get("arguments") or "{}")
            except ValueError:
                arguments = {}
            blocks.append(
                {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments}
            )
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)  # the API wants roles to alternate
        else:
            messages.append({"role": role, "content": blocks})
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": request.max_tokens or max_tokens,
        "stream": True,
    }
    if system:
        body["system"] = "\n\n".join(system)
    for name, value in (("temperature", request.temperature), ("top_p", request.top_p)):
        if value is not None:
            body[name] = value
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.tools:
        body["tools"] = [
            {"name": t["function"]["name"], "description": t["function"].get("description", ""),
             "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
            for t in request.tools
        ]
    if request.schema is not None:  # a typed answer: one forced tool whose input is the answer
        body["tools"] = [*body.get("tools", ()), {
            "name": request.schema.name, "description": "Give the answer, in this shape.",
            "input_schema": request.schema.wire}]
        body["tool_choice"] = {"type": "tool", "name": request.schema.name}
    body.update(request.extra)
    return body
