"""OpenAI's Chat Completions API, and any server that speaks it (llama.cpp, vLLM, LM Studio,
Ollama's ``/v1``, OpenRouter, …) through ``base_url``.

We talk to it with httpx and parse the SSE body ourselves rather than through the ``openai``
SDK: the SDK ends a cut stream silently, surfaces mid-stream transport errors untyped, and
builds a pydantic object per chunk (slower than the answer needs). Sending, status and error
mapping for this API live here and nowhere else.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from .._decoders import SSEDecoder
from ..errors import IncompleteStreamError, MalformedResponseError, MissingCredentialsError, register_secret
from ..events import Finish, StreamEvent, TextDelta, ToolCallDelta, Usage
from ._http import DEFAULT_TIMEOUT, HTTPClients, error_message, open_stream
from .base import Provider, Request

__all__ = ["OpenAIProvider", "parse_chunk", "OPENAI_URL"]

OPENAI_URL = "https://api.openai.com/v1"


class OpenAIProvider(Provider):
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
        super().__init__(model)
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
        key = api_key if api_key is not None else os.environ.get(api_key_env)
        if not key and base_url.rstrip("/") == OPENAI_URL:
            raise MissingCredentialsError(
                f"{api_key_env} is not set in this Python process, so openai:{model} cannot be used. "
                f"Set it where the kernel runs (os.environ[{api_key_env!r}] = …), or pick a model that "
                "needs no key: local:smollm2",
                env_var=api_key_env,
            )
        register_secret(key)
        all_headers = {"Accept": "text/event-stream", **(headers or {})}
        if key:
            all_headers["Authorization"] = f"Bearer {key}"
        if organization:
            all_headers["OpenAI-Organization"] = organization
        self.base_url = base_url
        self.include_usage = include_usage
        self._clients = HTTPClients(base_url=base_url, headers=all_headers, timeout=timeout)

    def body(self, request: Request) -> dict[str, Any]:
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
        body.update(request.extra)
        return body

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        decoder = SSEDecoder()
        finished = False
        async with open_stream(
            self._clients,
            "/chat/completions",
            self.body(request),
            provider=self.name,
            model=self.model,
            content_types=("text/event-stream",),
        ) as body:
            try:
                async for data in body:
                    for sse in decoder.feed(data):
                        if sse.data == "[DONE]":
                            if not finished:
                                yield Finish(reason="stop")
                            return
                        for event in self._parse(sse.data):
                            if event.type == "finish":
                                finished = True
                            yield event
            except IncompleteStreamError:
                if not finished:
                    raise
                return  # the answer was complete; only the usage / [DONE] trailer was lost
            for sse in decoder.flush():  # a last event without its blank line is dropped
                pass

    def _parse(self, data: str) -> list[StreamEvent]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise MalformedResponseError(
                f"openai:{self.model} sent an event that is not JSON: {data[:200]!r}",
                provider=self.name,
                model=self.model,
            ) from None
        try:
            return parse_chunk(chunk)
        except MalformedResponseError as error:
            error.provider, error.model = self.name, self.model
            raise

    async def aclose(self) -> None:
        await self._clients.aclose()


def parse_chunk(chunk: Any) -> list[StreamEvent]:
    """Turn one ``chat.completion.chunk`` object into events (the only place that reads one)."""
    if not isinstance(chunk, dict):
        raise MalformedResponseError(f"expected a JSON object in the stream, got {type(chunk).__name__}")
    if "error" in chunk:
        raise MalformedResponseError(f"the server reported an error mid-stream: {error_message(json.dumps(chunk))}")
    events: list[StreamEvent] = []
    choices = chunk.get("choices") or ()
    for choice in choices:
        if choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if content:
            events.append(TextDelta(text=content))
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            events.append(
                ToolCallDelta(
                    index=call.get("index", 0),
                    call_id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
            )
        reason = choice.get("finish_reason")
        if reason:
            events.append(Finish(reason=reason))
    usage = chunk.get("usage")
    if usage:
        events.append(
            Usage(prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))
        )
    elif not choices and "choices" not in chunk:
        raise MalformedResponseError(f"unexpected event in the stream: {json.dumps(chunk)[:200]}")
    return events
