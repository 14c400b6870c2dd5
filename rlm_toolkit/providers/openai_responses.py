"""OpenAI's Responses API (``POST /v1/responses`` with ``stream: true``), a second wire format of
the OpenAI provider: ``openai-responses:gpt-5`` or ``RLM.from_openai("gpt-5", api="responses")``.

Reasoning models show their reasoning summaries only here (``reasoning={"summary": "auto"}`` in
``extra``). Key, ``base_url`` / ``$OPENAI_BASE_URL``, headers, the HTTP client and the mapping of
HTTP errors are the chat provider's (:class:`~rlm_toolkit.providers.openai.OpenAIProvider`); this
module adds the request shape and the event stream. Requests are stateless (``store: false``):
the whole history goes out each time, as the agent keeps it.

The stream is a typed SSE event sequence (``response.created`` … ``response.completed``); the events
that carry answer, reasoning, tool calls, usage, the finish and errors are read, every other one
(``response.content_part.added``, web-search progress, events added later) is skipped.
"""

from __future__ import annotations

import json
from typing import Any

from .. import images
from .._decoders import ServerSentEvent
from .._json_depth import loads
from ..errors import ConfigurationError, MalformedResponseError, ProviderError, status_error
from ..events import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, Usage
from ._shape import expect_object, get
from .base import Request
from .http import Exchange, SSEEvents
from .openai import MAX_TOOL_CALLS, OpenAIProvider

__all__ = ["OpenAIResponsesProvider", "ResponsesParser", "responses_body", "ERROR_STATUS"]

#: ``incomplete_details.reason`` as the toolkit's finish reason.
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
#: Error codes of ``response.failed`` and ``error`` events as the HTTP status they stand for; codes
#: about the request itself (an invalid prompt or image) are 400, unknown codes 500 (the provider failed).
ERROR_STATUS = {
    "rate_limit_exceeded": 429,
    "too_many_requests": 429,
    "insufficient_quota": 429,
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_error": 403,
    "invalid_prompt": 400,
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "server_error": 500,
    "vector_store_timeout": 500,
}


class OpenAIResponsesProvider(OpenAIProvider):
    """The Responses API with ``stream=True``; native tool calls; reasoning summaries.

    Takes the chat provider's arguments (``api_key``, ``base_url``, ``api_key_env``, ``headers``,
    ``organization``, ``timeout``); ``include_usage`` means nothing here, as usage always arrives
    with ``response.completed``.
    """

    name = "openai-responses"
    def body(self, request: Request) -> dict[str, Any]:
        return responses_body(request, self.model)

    def exchange(self, request: Request) -> Exchange:
        reader = SSEEvents(ResponsesParser(model=self.model))
        return "/responses", self.body(request), ("text/event-stream",), reader


class ResponsesParser:
    """Turns the Responses API's SSE events into toolkit events (the only place that reads them).

    Sans-IO: :meth:`feed` takes one decoded server-sent event. Tool calls are numbered 0, 1, 2 … in
    the order their ``function_call`` items appear, keyed by the item's ``output_index`` (reasoning
    and message items share that numbering); reasoning blocks likewise, one per ``reasoning`` item,
    its summary parts separated as paragraphs. ``stopped`` is set by the terminal event
    (``response.completed`` or ``response.incomplete``); ``response.failed`` and ``error`` raise.
    """

    def __init__(self, model: str = "") -> None:
        self.model = model
        self.stopped = False
        self._calls: dict[int, int] = {}  # output_index → tool call index
        self._arguments: dict[int, list[str]] = {}  # output_index → the argument pieces so far
        self._blocks: dict[int, int] = {}  # output_index of a reasoning item → reasoning block
        self._parts: set[tuple[int, str, int]] = set()  # (output_index, part kind, part) seen

    def feed(self, sse: ServerSentEvent) -> list[StreamEvent]:
        try:
            data = loads(sse.data)
        except ValueError as error:
            if not sse.data.strip():
                return []  # a keep-alive: an empty ``data:``
            raise self._malformed(f"an event that is not JSON ({error}): {sse.data[:200]!r}") from None
        try:
            data = expect_object(data, "the event", data)
            kind = get(data, "type", str, data) or sse.event
            handler = _HANDLERS.get(kind)
            return handler(self, data) if handler else []
        except MalformedResponseError as error:
            error.provider, error.model = "openai-responses", self.model
            raise

    # -- answer and reasoning ----------------------------------------------------------------

    def _text(self, data: dict[str, Any]) -> list[StreamEvent]:
        delta = get(data, "delta", str, data)
        return [TextDelta(text=delta)] if delta else []

    def _summary(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._reasoning(data, "summary")

    def _reasoning_text(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._reasoning(data, "content")

    def _reasoning(self, data: dict[str, Any], part: str) -> list[StreamEvent]:
        delta = get(data, "delta", str, data)
        if not delta:
            return []
        output_index = get(data, "output_index", int, data) or 0
        key = (output_index, part, get(data, f"{part}_index", int, data) or 0)
        if key not in self._parts:
            if self._parts:
                delta = "\n\n" + delta  # summary parts are paragraphs: keep them apart in the text
            self._parts.add(key)
        return [ReasoningDelta(text=delta, index=self._block(output_index))]

    def _block(self, output_index: int) -> int:
        return self._blocks.setdefault(output_index, len(self._blocks))

    def _item_done(self, data: dict[str, Any]) -> list[StreamEvent]:
        """A reasoning item's ``encrypted_content`` (asked for with ``include``), kept as its block's
        ``signature`` so that a tool turn can send the item back (see :func:`responses_body`)."""
        item = get(data, "item", dict, data) or {}
        encrypted = get(item, "encrypted_content", str, data, "item.encrypted_content")
        if item.get("type") != "reasoning" or not encrypted:
            return []
        token = json.dumps({"id": get(item, "id", str, data, "item.id"), "encrypted_content": encrypted})
        return [ReasoningDelta(signature=token, index=self._block(get(data, "output_index", int, data) or 0))]

    # -- function calls ----------------------------------------------------------------------

    def _item_added(self, data: dict[str, Any]) -> list[StreamEvent]:
        item = get(data, "item", dict, data) or {}
        if item.get("type") != "function_call":
            return []
        output_index = get(data, "output_index", int, data) or 0
        arguments = get(item, "arguments", str, data, "item.arguments") or ""
        self._arguments[output_index] = [arguments]
        return [
            ToolCallDelta(
                index=self._call(output_index),
                call_id=get(item, "call_id", str, data, "item.call_id"),
                name=get(item, "name", str, data, "item.name"),
                arguments=arguments,
            )
        ]

    def _arguments_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        output_index = get(data, "output_index", int, data) or 0
        delta = get(data, "delta", str, data) or ""
        self._arguments.setdefault(output_index, []).append(delta)  # joined once, at the .done event
        return [ToolCallDelta(index=self._call(output_index), arguments=delta)] if delta else []

    def _arguments_done(self, data: dict[str, Any]) -> list[StreamEvent]:
        """The whole arguments: only what the deltas did not already bring is passed on."""
        output_index = get(data, "output_index", int, data) or 0
        whole = get(data, "arguments", str, data) or ""
        seen = "".join(self._arguments.get(output_index, ()))
        rest = _continuation(whole, seen)
        if rest is None:
            raise self._malformed(f"function call arguments {whole[:100]!r} do not continue {seen[:100]!r}")
        self._arguments[output_index] = [whole]
        return [ToolCallDelta(index=self._call(output_index), arguments=rest)] if rest else []

    def _call(self, output_index: int) -> int:
        index = self._calls.get(output_index)
        if index is None:
            if len(self._calls) >= MAX_TOOL_CALLS:
                raise self._malformed(f"more than {MAX_TOOL_CALLS} function calls in one response")
            index = self._calls[output_index] = len(self._calls)
        return index

    # -- the end -----------------------------------------------------------------------------

    def _completed(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._end(data, "tool_calls" if self._calls else "stop")

    def _incomplete(self, data: dict[str, Any]) -> list[StreamEvent]:
        response = get(data, "response", dict, data) or {}
        details = get(response, "incomplete_details", dict, data, "response.incomplete_details") or {}
        reason = get(details, "reason", str, data, "incomplete_details.reason")
        return self._end(data, _INCOMPLETE.get(reason or "", reason or "incomplete"))

    def _end(self, data: dict[str, Any], reason: str) -> list[StreamEvent]:
        self.stopped = True
        response = get(data, "response", dict, data) or {}
        usage = get(response, "usage", dict, data, "response.usage")
        events: list[StreamEvent] = []
        if usage:
            cached = get(usage, "input_tokens_details", dict, data, "usage.input_tokens_details") or {}
            thought = get(usage, "output_tokens_details", dict, data, "usage.output_tokens_details") or {}
            events.append(
                Usage(
                    prompt_tokens=get(usage, "input_tokens", int, data, "usage.input_tokens"),
                    completion_tokens=get(usage, "output_tokens", int, data, "usage.output_tokens"),
                    cached_input_tokens=get(
                        cached, "cached_tokens", int, data, "input_tokens_details.cached_tokens"
                    ),
                    reasoning_tokens=get(
                        thought, "reasoning_tokens", int, data, "output_tokens_details.reasoning_tokens"
                    ),
                )
            )
        events.append(Finish(reason=reason))
        return events

    def _failed(self, data: dict[str, Any]) -> list[StreamEvent]:
        response = get(data, "response", dict, data) or {}
        error = get(response, "error", dict, data, "response.error") or {}
        raise self._error("the response failed", error)

    def _error_event(self, data: dict[str, Any]) -> list[StreamEvent]:
        # Documented flat (``code``, ``message`` beside ``type``); the live API nests them in ``error``.
        nested = data.get("error")
        raise self._error(
            "the server reported an error mid-stream", nested if isinstance(nested, dict) else data
        )

    def _error(self, what: str, error: dict[str, Any]) -> ProviderError:
        code = next(
            (v for v in (error.get("code"), error.get("type")) if isinstance(v, str) and v != "error"), ""
        )
        status = ERROR_STATUS.get(code) or (400 if "image" in code else 500)
        message = error.get("message") if isinstance(error.get("message"), str) else "no message"
        return status_error(
            status, f"{what} ({code or 'no code'}): {message}", provider="openai-responses", model=self.model
        )

    def _malformed(self, message: str) -> MalformedResponseError:
        return MalformedResponseError(
            f"openai-responses:{self.model} sent {message}", provider="openai-responses", model=self.model
        )


def _continuation(whole: str, seen: str) -> str | None:
    """What ``whole`` adds to ``seen``, or None if it does not start with it. Compared as UTF-16
    when need be: deltas that cut a character into its two JSON halves give them as two code points
    (joined later, see :class:`~rlm_toolkit._decoders.SurrogatePairs`), the whole as one."""
    if whole.startswith(seen):
        return whole[len(seen) :]
    units, prefix = whole.encode("utf-16-le", "surrogatepass"), seen.encode("utf-16-le", "surrogatepass")
    if not units.startswith(prefix):
        return None
    return units[len(prefix) :].decode("utf-16-le", "surrogatepass")


_HANDLERS = {
    "response.output_text.delta": ResponsesParser._text,
    "response.refusal.delta": ResponsesParser._text,  # a refusal is the answer the user gets
    "response.reasoning_summary_text.delta": ResponsesParser._summary,
    "response.reasoning_text.delta": ResponsesParser._reasoning_text,
    "response.output_item.added": ResponsesParser._item_added,
    "response.output_item.done": ResponsesParser._item_done,
    "response.function_call_arguments.delta": ResponsesParser._arguments_delta,
    "response.function_call_arguments.done": ResponsesParser._arguments_done,
    "response.completed": ResponsesParser._completed,
    "response.incomplete": ResponsesParser._incomplete,
    "response.failed": ResponsesParser._failed,
    "error": ResponsesParser._error_event,
}


def responses_body(request: Request, model: str) -> dict[str, Any]:
    """The ``/v1/responses`` request for a toolkit :class:`Request` (chat-shaped messages).

    System and developer messages become ``instructions``; assistant ``tool_calls`` become
    ``function_call`` items and ``tool`` messages ``function_call_output`` items. ``stop`` and
    ``seed`` have no Responses equivalent and are refused rather than dropped.
    """
    for name in ("stop", "seed"):
        if getattr(request, name) is not None:
            raise ConfigurationError(
                f"the Responses API takes no {name!r}; use api='chat' (openai:{model}) for it"
            )
    images.check(request.messages, images.OPENAI, f"openai-responses:{model}")  # OpenAI's image limits
    instructions = [_text(m.get("content")) for m in request.messages if m["role"] in ("system", "developer")]
    items: list[dict[str, Any]] = []
    for message in request.messages:
        role = message["role"]
        if role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id"),
                    "output": _text(message.get("content")),
                }
            )
        elif role in ("user", "assistant"):
            items.extend(_reasoning_items(message.get("reasoning_blocks") or ()))
            content = message.get("content")
            if content:
                items.append({"type": "message", "role": role, "content": _content(content, role)})
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id"),
                        "name": function.get("name"),
                        "arguments": function.get("arguments") or "{}",
                    }
                )
    body: dict[str, Any] = {"model": model, "input": items, "stream": True, "store": False}
    if instructions:
        body["instructions"] = "\n\n".join(instructions)
    for name, value in (
        ("max_output_tokens", request.max_tokens),
        ("temperature", request.temperature),
        ("top_p", request.top_p),
    ):
        if value is not None:
            body[name] = value
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            choice = request.tool_choice
            if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
                choice = {"type": "function", "name": choice["function"].get("name")}
            body["tool_choice"] = choice
    if request.schema is not None:  # structured outputs: strict where the schema allows it
        strict = request.schema.strict()
        body["text"] = {"format": {"type": "json_schema", "name": request.schema.name,
                                   "schema": strict or request.schema.wire, "strict": strict is not None}}
    body.update(request.extra)
    return body


def _reasoning_items(blocks: Any) -> list[dict[str, Any]]:
    """The reasoning items of an assistant turn, from the blocks whose signature this provider
    wrote (:meth:`ResponsesParser._item_done`); another vendor's signed blocks are not ours to send."""
    items = []
    for block in blocks:
        try:
            token = loads(block.get("signature") or "")
        except (AttributeError, ValueError):
            continue
        if isinstance(token, dict) and token.get("encrypted_content"):
            summary = (block.get("thinking") or "").strip()
            items.append(
                {
                    "type": "reasoning",
                    "id": token.get("id"),
                    "encrypted_content": token["encrypted_content"],
                    "summary": [{"type": "summary_text", "text": summary}] if summary else [],
                }
            )
    return items


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A chat-shaped function tool, flattened; ``strict`` stays off unless asked for, as in chat
    completions (the Responses API turns it on by default, refusing most plain schemas)."""
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        return tool  # already in the Responses shape, or a built-in tool (``{"type": "web_search"}``)
    return {
        "type": "function",
        "name": function.get("name"),
        "description": function.get("description", ""),
        "parameters": function.get("parameters") or {"type": "object", "properties": {}},
        "strict": bool(function.get("strict", False)),
    }


def _content(content: Any, role: str) -> Any:
    """Chat content (a string or parts) as Responses content: text parts become ``input_text``
    (``output_text`` for the assistant), ``image_url`` parts ``input_image``."""
    if isinstance(content, str) or not isinstance(content, list):
        return content if isinstance(content, str) else str(content)
    if role == "assistant":
        return _text(content)
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url, detail = (
                (image.get("url"), image.get("detail")) if isinstance(image, dict) else (image, None)
            )
            parts.append({"type": "input_image", "image_url": url, "detail": detail or "auto"})
        else:
            parts.append(part)  # already a Responses part (``input_file``, …)
    return parts


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)
