"""OpenAI's Chat Completions API, and any server that speaks it (llama.cpp, vLLM, LM Studio,
Ollama's ``/v1``, OpenRouter, …) through ``base_url``.

We talk to it with httpx and parse the SSE body ourselves rather than through the ``openai``
SDK: the SDK ends a cut stream silently, surfaces mid-stream transport errors untyped, and
builds a pydantic object per chunk (slower than the answer needs). Sending, status and error
mapping for this API live here and nowhere else.
"""

from __future__ import annotations

import json
import json.scanner
import os
from typing import Any

from .. import images
from .._decoders import SSEDecoder
from .._json_depth import MAX_DEPTH, loads
from ..errors import MalformedResponseError
from ..events import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, Usage, text_delta
from ._shape import expect_object, get
from .base import Request
from .http import DEFAULT_TIMEOUT, Exchange, HTTPProvider, error_message

__all__ = ["OpenAIProvider", "parse_chunk", "OPENAI_URL", "MAX_TOOL_CALLS"]

OPENAI_URL = "https://api.openai.com/v1"


class OpenAIProvider(HTTPProvider):
    """Chat Completions with ``stream=True``; native tool calls; usage from ``include_usage``.

    The key comes from ``api_key`` or the environment variable ``api_key_env`` (default
    ``OPENAI_API_KEY``); the URL from ``base_url`` or ``OPENAI_BASE_URL``. A server other than
    api.openai.com may need no key at all.
    """

    name = "openai"
    supports_tools = True

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        organization: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        include_usage: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
        key = self.find_key(model, api_key, api_key_env, base_url=base_url, home=OPENAI_URL)
        all_headers = {"Accept": "text/event-stream", **(headers or {})}
        if key:
            all_headers["Authorization"] = f"Bearer {key}"
        if organization:
            all_headers["OpenAI-Organization"] = organization
        self.include_usage = include_usage
        super().__init__(model, base_url=base_url, headers=all_headers, timeout=timeout)

    def body(self, request: Request) -> dict[str, Any]:
        images.check(request.messages, images.OPENAI, self.model_id)  # image parts go as they are
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "stream": True,
            **request.sampling(),
        }
        if self.include_usage:
            body["stream_options"] = {"include_usage": True}
        if request.tools:
            body["tools"] = request.tools
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
        if request.schema is not None:  # structured outputs: strict where the schema allows it
            strict = request.schema.strict()
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": request.schema.name, "schema": strict or request.schema.wire,
                "strict": strict is not None}}
        body.update(request.extra)
        return body

    def exchange(self, request: Request) -> Exchange:
        return "/chat/completions", self.body(request), ("text/event-stream",), ChatReader(self)


class ChatReader:
    """The sans-IO reader of a Chat Completions body (see :class:`~.http.Reader`): the events of
    each network read, ``done`` at ``[DONE]``, ``complete`` once the finish came (a cut after it
    loses only the usage and ``[DONE]`` trailer). Nearly every event is a plain text chunk, read
    in one go (:func:`_plain_text`); this loop runs per token, so it is kept flat."""

    __slots__ = ("done", "complete", "_messages", "_name", "_model")

    def __init__(self, provider: OpenAIProvider) -> None:
        self.done = self.complete = False
        self._messages = SSEDecoder().messages
        self._name, self._model = provider.name, provider.model

    def read(self, data: bytes, batch: list[StreamEvent]) -> None:
        scan = _scan
        for sse in self._messages(data):
            text, kind = (sse, "message") if isinstance(sse, str) else sse[:2]
            if text[:1] == "{" and kind == "message":  # a plain ``data: {…}``
                try:  # the C scanner (no json.loads layers), when the value is all there is
                    if text.count("{") + text.count("[") > MAX_DEPTH:
                        raise ValueError  # perhaps nested too deep: _loads counts the depth first
                    chunk, end = scan(text, 0)
                    if end != len(text):
                        raise ValueError
                except (StopIteration, ValueError):  # space after it; not JSON
                    chunk = self._loads(text)
                plain = _plain_text(chunk)
                if plain is not None:
                    if plain:
                        batch.append(text_delta(plain))
                    continue
                events = self._chunk(chunk)
            elif text.lstrip().startswith("[DONE]"):  # "[DONE] " too, as openai-python
                if not self.complete:
                    batch.append(Finish(reason="stop"))
                self.done = self.complete = True
                return
            elif kind == "ping" or not text.strip():
                continue  # keep-alives: an empty ``data:``, an ``event: ping``
            elif kind == "error":
                raise MalformedResponseError(
                    f"the server reported an error mid-stream: {error_message(text)}",
                    provider=self._name,
                    model=self._model,
                )
            else:
                events = self._chunk(self._loads(text))
            for event in events:
                if event.type == "finish":
                    self.complete = True
            batch += events

    def _loads(self, data: str) -> Any:
        try:
            return loads(data)
        except ValueError as error:
            raise MalformedResponseError(
                f"openai:{self._model} sent an event that is not JSON ({error}): {data[:200]!r}",
                provider=self._name,
                model=self._model,
            ) from None

    def _chunk(self, chunk: Any) -> list[StreamEvent]:
        try:
            return parse_chunk(chunk)
        except MalformedResponseError as error:
            error.provider, error.model = self._name, self._model
            raise


#: ``json.loads``' own C scanner, called directly for a chunk that is one JSON value and nothing
#: else (every well-formed chunk): two Python frames and two regex matches less, ~0.7 µs of ~2.
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed types the C scanner's argument as the scanner class; it is the decoder (its context)


def parse_chunk(chunk: Any) -> list[StreamEvent]:
    """Turn one ``chat.completion.chunk`` object into events (the only place that reads one).

    A delta's reasoning (``reasoning_content`` or ``reasoning``) comes before its answer text.

    Every field is read through :func:`~rlm_toolkit.providers._shape.get`: valid JSON of the wrong
    shape (``{"choices": [null]}``, ``"content": 5``, a tool call ``"index": "a"`` or
    ``100000000``) is a :class:`MalformedResponseError`. An empty object or a ``{"type": "ping"}``
    is a keep-alive and gives no events.
    """
    text = _plain_text(chunk)
    if text is not None:
        return [text_delta(text)] if text else []
    if not isinstance(chunk, dict):
        raise MalformedResponseError(f"expected a JSON object in the stream, got {type(chunk).__name__}")
    if chunk.get("error"):  # ``"error": null`` is no error (openai-python reads it the same way)
        raise MalformedResponseError(
            f"the server reported an error mid-stream: {error_message(json.dumps(chunk))}"
        )
    choices = get(chunk, "choices", list, chunk)
    usage = get(chunk, "usage", dict, chunk)
    if choices is None and usage is None and "choices" not in chunk:
        if not chunk or chunk.get("type") in _KEEPALIVE_TYPES:
            return []
        raise MalformedResponseError(f"unexpected event in the stream: {json.dumps(chunk)[:200]}")
    events: list[StreamEvent] = []
    for choice in choices or ():
        choice = expect_object(choice, "choices[]", chunk)
        if get(choice, "index", int, chunk, "choices[].index") not in (None, 0):
            continue
        delta = get(choice, "delta", dict, chunk, "choices[].delta") or {}
        if "reasoning_content" in delta or "reasoning" in delta:
            reasoning = _reasoning(delta, chunk)
            if reasoning:
                events.append(ReasoningDelta(text=reasoning))
        content = get(delta, "content", str, chunk, "delta.content")
        if content:
            events.append(TextDelta(text=content))
        for call in get(delta, "tool_calls", list, chunk, "delta.tool_calls") or ():
            call = expect_object(call, "delta.tool_calls[]", chunk)
            index = get(call, "index", int, chunk, "tool_calls[].index") or 0
            if not 0 <= index < MAX_TOOL_CALLS:
                raise MalformedResponseError(
                    f"tool call index {index} is out of range (0 to {MAX_TOOL_CALLS - 1}): "
                    f"{json.dumps(chunk)[:200]}"
                )
            function = get(call, "function", dict, chunk, "tool_calls[].function") or {}
            events.append(
                ToolCallDelta(
                    index=index,
                    call_id=get(call, "id", str, chunk, "tool_calls[].id"),
                    name=get(function, "name", str, chunk, "function.name"),
                    arguments=get(function, "arguments", str, chunk, "function.arguments") or "",
                )
            )
        reason = get(choice, "finish_reason", str, chunk, "choices[].finish_reason")
        if reason:
            events.append(Finish(reason=reason))
    if usage:
        events.append(_usage(usage, chunk))
    return events


def _reasoning(delta: dict[str, Any], chunk: Any) -> str | None:
    """A delta's reasoning text: ``reasoning_content`` (DeepSeek, vLLM, llama.cpp's server) or
    ``reasoning`` (OpenRouter, Ollama's ``/v1``). A server that sends both in one delta (vLLM while
    it renames the field) sends the same text twice: it is taken once."""
    return (get(delta, "reasoning_content", str, chunk, "delta.reasoning_content")
            or get(delta, "reasoning", str, chunk, "delta.reasoning"))


def _usage(usage: dict[str, Any], chunk: Any) -> Usage:
    """``usage`` of a chunk: counts, plus cached prompt and reasoning tokens where the server
    reports their ``*_details`` (OpenAI does; many compatible servers do not: None, never 0)."""
    prompt = get(usage, "prompt_tokens_details", dict, chunk, "usage.prompt_tokens_details") or {}
    completion = get(usage, "completion_tokens_details", dict, chunk, "usage.completion_tokens_details") or {}
    return Usage(
        prompt_tokens=get(usage, "prompt_tokens", int, chunk, "usage.prompt_tokens"),
        completion_tokens=get(usage, "completion_tokens", int, chunk, "usage.completion_tokens"),
        cached_input_tokens=get(prompt, "cached_tokens", int, chunk, "prompt_tokens_details.cached_tokens"),
        reasoning_tokens=get(completion, "reasoning_tokens", int, chunk,
                             "completion_tokens_details.reasoning_tokens"),
    )


def _plain_text(chunk: Any) -> str | None:
    """The text of the chunk nearly every event is — one choice, index 0, a delta of only
    ``content`` (and ``role``), no finish, no usage, no error — read in one go; None for any
    other chunk, which :func:`parse_chunk` reads field by field. Same result, a third of the time."""
    if type(chunk) is not dict or chunk.get("usage") is not None or chunk.get("error"):
        return None
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") is not None:
        return None
    index = choice.get("index", 0)
    if type(index) is not int or index:
        return None
    delta = choice.get("delta")  # only ``content``, or ``content`` and ``role``: else None below
    if type(delta) is not dict or len(delta) > 1 and (len(delta) > 2 or "role" not in delta):
        return None
    text = delta.get("content")
    return text if type(text) is str else None

#: Tool-call indexes are keys (0, 1, 2 … in the order the model makes the calls); a chunk that
#: numbers one beyond this is a broken server, not a model making a hundred million calls.
MAX_TOOL_CALLS = 1024
_KEEPALIVE_TYPES = ("ping", "keepalive", "keep-alive")
