"""Ollama's native chat API (``POST /api/chat``, newline-delimited JSON), over httpx.

Ollama also serves an OpenAI-compatible ``/v1`` (use ``openai:`` with ``base_url`` for that);
this provider speaks the native format so ``done_reason``, token counts and tool calls come as
Ollama reports them. A thinking model streams ``message.thinking`` when asked to
(``extra={"think": True}``): it arrives as :class:`~rlm_toolkit.events.ReasoningDelta` s.
The host is ``host=`` or ``$OLLAMA_HOST`` (default 127.0.0.1:11434).
"""

from __future__ import annotations

import json
import os
from typing import Any

from .. import images
from .._decoders import LineDecoder
from .._json_depth import loads
from ..errors import MalformedResponseError, UsageError
from ..events import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, Usage
from ._shape import expect_object, get
from .base import Request
from .http import DEFAULT_TIMEOUT, Exchange, HTTPProvider

__all__ = ["OllamaProvider", "parse_line", "ollama_messages", "DEFAULT_HOST"]

DEFAULT_HOST = "http://127.0.0.1:11434"
_REASONS = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


class OllamaProvider(HTTPProvider):
    """A model served by Ollama; native tool calls; no key."""

    name = "ollama"
    supports_tools = True

    def __init__(
        self, model: str = "llama3.2", *, host: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        host = (host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).rstrip("/")
        if "://" not in host:
            host = f"http://{host}"
        super().__init__(model, base_url=host, headers={"Accept": "application/x-ndjson"}, timeout=timeout)
        self.host = self.base_url

    def body(self, request: Request) -> dict[str, Any]:
        options = {
            "temperature": request.temperature,
            "num_predict": request.max_tokens,
            "top_p": request.top_p,
            "stop": request.stop,
            "seed": request.seed,
        }
        images.check(request.messages, images.OLLAMA, self.model_id)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": ollama_messages(request.messages),
            "stream": True,
            "options": {k: v for k, v in options.items() if v is not None},
        }
        if request.tools:
            body["tools"] = request.tools
        if request.schema is not None:  # Ollama's structured outputs: the schema as `format`
            body["format"] = request.schema.wire
        body.update(request.extra)
        return body

    def exchange(self, request: Request) -> Exchange:
        ndjson = ("application/x-ndjson", "application/json")
        return "/api/chat", self.body(request), ndjson, NDJSONReader(self)


class NDJSONReader:
    """The sans-IO reader of an ``/api/chat`` body (see :class:`~.http.Reader`): one JSON object
    a line, ``done`` at the finish; tool calls are numbered across lines. Lines are parsed one at
    a time, so the events of the lines before a broken one still go out before the error."""

    complete = False

    def __init__(self, provider: OllamaProvider) -> None:
        self._lines = LineDecoder()
        self._model = provider.model
        self._calls = 0
        self.done = False

    def read(self, data: bytes, batch: list[StreamEvent]) -> None:
        for text in self._lines.feed(data):
            if not text.strip():
                continue
            try:
                line = loads(text)
            except ValueError as error:
                raise MalformedResponseError(
                    f"ollama:{self._model} sent a line that is not JSON ({error})",
                    provider="ollama",
                    model=self._model,
                ) from None
            for event in parse_line(line, first_index=self._calls):
                if event.type == "tool_call" and event.name:
                    self._calls += 1
                batch.append(event)
                if event.type == "finish":
                    self.done = True
                    return


def parse_line(line: Any, *, first_index: int = 0) -> list[StreamEvent]:
    """Turn one NDJSON object of ``/api/chat`` into events (the only place that reads one)."""
    if not isinstance(line, dict):
        raise MalformedResponseError(f"expected a JSON object, got {type(line).__name__}")
    if "error" in line:
        raise MalformedResponseError(f"ollama reported an error mid-stream: {line['error']}")
    events: list[StreamEvent] = []
    message = get(line, "message", dict, line) or {}
    thinking = get(message, "thinking", str, line, "message.thinking")  # with ``"think": true``
    if thinking:
        events.append(ReasoningDelta(text=thinking))
    content = get(message, "content", str, line, "message.content")
    if content:
        events.append(TextDelta(text=content))
    for offset, call in enumerate(get(message, "tool_calls", list, line, "message.tool_calls") or ()):
        function = get(expect_object(call, "tool_calls[]", line), "function", dict, line) or {}
        arguments = get(function, "arguments", (dict, str), line, "function.arguments")
        arguments = {} if arguments is None else arguments
        call_id = get(call, "id", str, line, "tool_calls[].id")
        events.append(
            ToolCallDelta(
                index=first_index + offset,
                call_id=call_id or f"ollama_call_{first_index + offset}",
                name=get(function, "name", str, line, "function.name"),
                arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
            )
        )
    if line.get("done"):
        events.append(Usage(prompt_tokens=get(line, "prompt_eval_count", int, line),
                            completion_tokens=get(line, "eval_count", int, line)))
        done_reason = get(line, "done_reason", str, line) or "stop"
        reason = _REASONS.get(done_reason, done_reason)
        if first_index or any(e.type == "tool_call" for e in events):
            reason = "tool_calls"
        events.append(Finish(reason=reason))
    return events


def _content(content: Any) -> dict[str, Any]:
    """Ollama's message fields for a content: the text, and its images as base64 in ``images``."""
    text, pictures = [], []
    for kind, value in images.content_parts(content):
        if kind == "url":
            raise UsageError(f"Ollama takes images as data, not URLs ({value[:60]}): download it and pass "
                             "the bytes or the file (rlm_toolkit.image)")
        if kind == "other":
            raise UsageError(f"Ollama takes text and images, not {value.get('type')!r} parts")
        if kind == "text":
            text.append(value)
        else:
            pictures.append(value.base64)
    return {"content": "".join(text), **({"images": pictures} if pictures else {})}


def ollama_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style messages → Ollama's: tool calls carry arguments as objects, tool results by name."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for message in messages:
        converted: dict[str, Any] = {"role": message["role"], **_content(message.get("content"))}
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            arguments = function.get("arguments") or "{}"
            try:
                parsed = loads(arguments) if isinstance(arguments, str) else arguments
            except ValueError:
                parsed = {}
            names[call.get("id", "")] = function.get("name", "")
            converted.setdefault("tool_calls", []).append(
                {"function": {"name": function.get("name"), "arguments": parsed}}
            )
        if message["role"] == "tool":
            converted["tool_name"] = names.get(message.get("tool_call_id", ""), message.get("name", ""))
        out.append(converted)
    return out
