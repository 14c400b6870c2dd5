"""The Vercel AI SDK's UI message stream (protocol v1), so a React ``useChat`` page needs no glue.

::

    from fastapi import FastAPI, Request
    from rlm_toolkit.web import messages_from_ui, ui_message_response

    @app.post("/api/chat")                        # useChat's default endpoint
    async def chat(request: Request):
        messages = messages_from_ui(await request.json())
        return ui_message_response(agent.astream(messages))    # or rlm.astream(messages)

The response is SSE with the header ``x-vercel-ai-ui-message-stream: v1``; each event is one
JSON chunk — ``start``, ``start-step``, ``text-start``/``-delta``/``-end``, ``reasoning-*``,
``tool-input-*``, ``tool-output-available``/``-error``, ``finish-step``, ``finish`` — then
``data: [DONE]``. A failure ends with an ``error`` chunk (scrubbed message) instead of ``finish``;
a run the server stops (``stop=`` set) ends with ``abort``. The encoder is sans-IO
(:class:`UIMessageStreamEncoder`); :func:`ui_message_stream` drives it over an async iterator of
``str`` chunks, stream events or agent events.

A model's reasoning (:class:`~rlm_toolkit.events.ReasoningDelta`, an agent's ``reasoning``
events) streams as ``reasoning-start``/``-delta``/``-end``, closed when the answer text starts.

Agent runs: each step is a ``start-step``…``finish-step``; tokens stream as text; a thought the
model did not stream (text ReAct) is a reasoning part; a streamed thought is not sent twice; each
tool call is a dynamic tool part (``tool-input-available`` then ``tool-output-available``, or
``tool-output-error`` when the tool failed); an MCP tool's part has ``title`` "tool (server)" and
``providerMetadata`` ``{"mcp": {"server": name}}`` (the AI SDK keeps it as the part's
``callProviderMetadata``).

Typed answers (``rlm.astream(…, schema=Person)``, ``ReActAgent(output_type=Person)``; the source's
``schema``, or its request's): a ``data-schema`` part right after ``start`` holds
``{"name", "json_schema"}``; the JSON streams as text; the validated answer is a ``data-output``
part (``{"value": …}``) before ``finish``. A call's JSON that does not fit ends with ``error``
instead. An agent's answer that was sent back (``output_retries``) is a ``data-retry`` part
(``{"step", "message"}``), not an ``error``: the run goes on.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, Union

from .._json_depth import loads
from ..errors import ClientRequestError, StructuredOutputError, describe, scrub
from .sse import event_stream_response

__all__ = [
    "UI_MESSAGE_STREAM_HEADERS",
    "UIMessageStreamEncoder",
    "ui_message_stream",
    "ui_message_response",
    "messages_from_ui",
]

UI_MESSAGE_STREAM_HEADERS = {
    "x-vercel-ai-ui-message-stream": "v1",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "content_filter": "content-filter",
    "error": "error",
}
Stop = Union[Callable[[], bool], threading.Event, Any, None]


class UIMessageStreamEncoder:
    """Turns rlm items into UI message chunks (dicts); no I/O. ``feed`` per item, then one of
    ``finish`` / ``error`` / ``abort``."""

    def __init__(self, message_id: str | None = None, schema: Any = None) -> None:
        self.message_id = message_id or f"msg-{uuid.uuid4().hex}"
        #: a typed answer's Schema (rlm_toolkit.typed): a call's text is validated by it at the end
        self.schema = schema
        self._answer: list[str] | None = [] if schema is not None else None  # a typed call's text
        self._started = False
        self._step: int | None = None
        self._text: str | None = None
        self._reasoning: str | None = None
        self._count = 0
        self._step_had_text = False
        self._tools: dict[int, dict[str, Any]] = {}  # model-stream tool calls by index
        self._reason: str | None = None
        self._reported = False  # a run-level error chunk went out already

    def _id(self, kind: str) -> str:
        self._count += 1
        return f"{kind}-{self._count}"

    def _begin(self, out: list[dict[str, Any]], step: int | None = 0) -> None:
        if not self._started:
            self._started = True
            out.append({"type": "start", "messageId": self.message_id})
            if self.schema is not None:
                out.append({"type": "data-schema", "data": self.schema.to_dict()})
        if step != self._step:
            self._close_step(out)
            self._step, self._step_had_text = step, False
            out.append({"type": "start-step"})

    def _close_parts(self, out: list[dict[str, Any]]) -> None:
        if self._text is not None:
            out.append({"type": "text-end", "id": self._text})
            self._text = None
        if self._reasoning is not None:
            out.append({"type": "reasoning-end", "id": self._reasoning})
            self._reasoning = None
        for call in self._tools.values():
            if not call.get("done"):
                call["done"] = True
                try:
                    text = "".join(call["text"])
                    arguments = loads(text) if text.strip() else {}
                except ValueError:
                    arguments = text
                out.append(
                    {
                        "type": "tool-input-available",
                        "toolCallId": call["id"],
                        "toolName": call["name"],
                        "input": arguments,
                        "dynamic": True,
                    }
                )

    def _close_step(self, out: list[dict[str, Any]]) -> None:
        self._close_parts(out)
        if self._step is not None:
            out.append({"type": "finish-step"})
            self._step = None

    def _text_delta(self, out: list[dict[str, Any]], text: str) -> None:
        if self._reasoning is not None:
            self._close_parts(out)
        if self._text is None:
            self._text = self._id("text")
            out.append({"type": "text-start", "id": self._text})
        self._step_had_text = True
        out.append({"type": "text-delta", "id": self._text, "delta": text})
        if self._answer is not None:
            self._answer.append(text)

    def _reasoning_delta(self, out: list[dict[str, Any]], text: str) -> None:
        if self._text is not None:
            self._close_parts(out)
        if self._reasoning is None:
            self._reasoning = self._id("reasoning")
            out.append({"type": "reasoning-start", "id": self._reasoning})
        out.append({"type": "reasoning-delta", "id": self._reasoning, "delta": text})

    def feed(self, item: Any) -> list[dict[str, Any]]:
        """The chunks for one ``str`` chunk, stream event or agent event."""
        out: list[dict[str, Any]] = []
        kind = "text" if isinstance(item, str) else getattr(item, "type", None)
        if hasattr(item, "tool_name") and hasattr(item, "step"):  # an AgentEvent
            self._agent_event(out, item)
        elif kind == "text":
            self._begin(out, self._step if self._step is not None else 0)
            self._text_delta(out, item if isinstance(item, str) else item.text)
        elif kind == "reasoning":
            if item.text:  # a signature alone (Anthropic) is not shown
                self._begin(out, self._step if self._step is not None else 0)
                self._reasoning_delta(out, item.text)
        elif kind == "tool_call":
            self._begin(out, self._step if self._step is not None else 0)
            # "text": the argument pieces (a list: ``+=`` on a growing str is quadratic in the deltas)
            call = self._tools.setdefault(item.index, {"id": None, "name": None, "text": [], "open": False})
            call["id"] = call["id"] or item.call_id or f"call-{item.index}"
            call["name"] = call["name"] or item.name
            if item.arguments:
                call["text"].append(item.arguments)
            if not call["open"] and call["name"]:
                call["open"] = True
                out.append(
                    {
                        "type": "tool-input-start",
                        "toolCallId": call["id"],
                        "toolName": call["name"],
                        "dynamic": True,
                    }
                )
                if call["text"]:
                    out.append({"type": "tool-input-delta", "toolCallId": call["id"],
                                "inputTextDelta": "".join(call["text"])})
            elif call["open"] and item.arguments:
                out.append(
                    {"type": "tool-input-delta", "toolCallId": call["id"], "inputTextDelta": item.arguments}
                )
        elif kind == "finish":
            self._reason = item.reason
        return out

    def _agent_event(self, out: list[dict[str, Any]], event: Any) -> None:
        self._answer = None  # an agent's answer: the agent validated it
        if event.type == "error" and event.outcome == "retry":  # sent back to the model: it goes on
            self._begin(out, event.step)
            self._close_parts(out)
            out.append({"type": "data-retry", "data": {"step": event.step, "message": scrub(event.content)}})
            return
        if event.type == "error":
            if not event.tool_name:  # a tool's error already went out as tool-output-error
                self._begin(out, event.step)
                self._close_parts(out)
                out.append({"type": "error", "errorText": scrub(event.content)})
                self._reported = True
            return
        self._begin(out, event.step)
        if event.type == "token":
            self._text_delta(out, event.content)
        elif event.type == "reasoning":
            self._reasoning_delta(out, event.content)
        elif event.type == "thought":
            self._close_parts(out)
            if not event.streamed:  # a streamed thought already went out as text
                self._reasoning_delta(out, event.content)
                self._close_parts(out)
        elif event.type == "action":
            self._close_parts(out)
            part = {
                "type": "tool-input-available",
                "toolCallId": event.call_id,
                "toolName": event.tool_name,
                "input": event.input or {},
                "dynamic": True,
            }
            if event.server:  # an MCP tool: the part's callProviderMetadata names its server
                part["title"] = f"{event.tool_name} ({event.server})"
                part["providerMetadata"] = {"mcp": {"server": event.server}}
            out.append(part)
        elif event.type == "approval" and event.outcome is None:  # waiting: the AI SDK's approval state
            out.append({"type": "tool-approval-request", "approvalId": event.call_id,
                        "toolCallId": event.call_id})
        elif event.type == "observation":
            if event.outcome == "denied":
                out.append({"type": "tool-output-denied", "toolCallId": event.call_id})
            elif event.is_error:
                out.append(
                    {
                        "type": "tool-output-error",
                        "toolCallId": event.call_id,
                        "errorText": scrub(event.content),
                        "dynamic": True,
                    }
                )
            else:
                out.append(
                    {
                        "type": "tool-output-available",
                        "toolCallId": event.call_id,
                        "output": event.content,
                        "dynamic": True,
                    }
                )
        elif event.type == "final":
            if not self._step_had_text and event.content:
                self._text_delta(out, event.content)
            if event.output is not None:
                self._close_parts(out)
                out.append({"type": "data-output", "data": {"value": event.output}})
            self._reason = "error" if event.is_error else "stop"

    def finish(self, response: Any = None) -> list[dict[str, Any]]:
        """End a stream that ran to its end: ``finish-step`` and ``finish`` (with the provenance)."""
        out: list[dict[str, Any]] = []
        self._begin(out, self._step if self._step is not None else 0)
        if self._answer is not None and self.schema is not None:  # a typed call: validated here
            try:
                value = self.schema.validate("".join(self._answer))
            except StructuredOutputError as failure:
                self._close_parts(out)
                out.append({"type": "error", "errorText": describe(failure)})
                return out
            self._close_parts(out)
            out.append({"type": "data-output", "data": {"value": _as_data(value)}})
        self._close_step(out)
        reason = self._reason or getattr(response, "finish_reason", None) or "stop"
        chunk: dict[str, Any] = {"type": "finish", "finishReason": _FINISH.get(reason, "other")}
        if response is not None and hasattr(response, "to_dict"):
            chunk["messageMetadata"] = response.to_dict()
        out.append(chunk)
        return out

    def error(self, failure: BaseException) -> list[dict[str, Any]]:
        """End a failed stream: open parts closed, then ``error`` with the scrubbed message."""
        out: list[dict[str, Any]] = []
        if not self._started:
            self._begin(out)
        self._close_parts(out)
        if not self._reported:  # an agent reports its failure as an event before it raises
            out.append({"type": "error", "errorText": describe(failure)})
        return out

    def abort(self, reason: str = "stopped") -> list[dict[str, Any]]:
        """End a stream the server stopped: open parts closed, then ``abort``."""
        out: list[dict[str, Any]] = []
        if not self._started:
            self._begin(out)
        self._close_parts(out)
        out.append({"type": "abort", "reason": reason})
        return out


def _as_data(value: Any) -> Any:
    import pydantic_core  # a typed answer's dependency (the `schema` extra), there when one was validated

    return pydantic_core.to_jsonable_python(value)


def _frame(chunk: dict[str, Any]) -> str:
    return f"data: {json.dumps(chunk, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _stopped(stop: Stop) -> bool:
    if stop is None:
        return False
    is_set = getattr(stop, "is_set", None)  # threading.Event, asyncio.Event, any event with is_set()
    if is_set is not None:
        return bool(is_set())
    if not callable(stop):
        raise TypeError(f"stop= takes an event or a callable, not {type(stop).__name__}")
    return bool(stop())


async def ui_message_stream(
    source: AsyncIterable[Any], *, message_id: str | None = None, stop: Stop = None
) -> AsyncIterator[str]:
    """SSE text of the UI message stream for ``source``; closing it closes ``source``.

    ``stop``: an ``asyncio.Event`` / ``threading.Event`` or a callable, checked after each item;
    once it is set the source is closed (the model's connection with it) and the stream ends
    with ``abort``.
    """
    schema = getattr(source, "schema", None) or getattr(getattr(source, "request", None), "schema", None)
    encoder = UIMessageStreamEncoder(message_id, schema)
    tail: list[dict[str, Any]]
    try:
        async for item in source:
            for chunk in encoder.feed(item):
                yield _frame(chunk)
            if _stopped(stop):  # what already arrived is sent; then the source is closed
                tail = encoder.abort()
                break
        else:
            response = getattr(source, "response", None)
            stopped = getattr(response, "state", None) == "stopped"
            tail = encoder.abort() if stopped else encoder.finish(response)
    except Exception as failure:  # the client gets a typed, scrubbed message instead of a cut
        tail = encoder.error(failure)
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
    for chunk in tail:
        yield _frame(chunk)
    yield "data: [DONE]\n\n"


def ui_message_response(source: AsyncIterable[Any], *, status_code: int = 200, **kwargs: Any) -> Any:
    """A Starlette/FastAPI ``StreamingResponse`` of :func:`ui_message_stream` with the v1 header."""
    return event_stream_response(ui_message_stream(source, **kwargs), UI_MESSAGE_STREAM_HEADERS, status_code)


def messages_from_ui(body: Any) -> list[dict[str, Any]]:
    """``useChat``'s request body (or its ``messages``) → chat messages for ``rlm``/an agent.

    The page is untrusted: only its ``user`` and ``assistant`` messages are kept, their text parts
    joined. Its ``system`` and ``developer`` messages are left out, so the system prompt is the
    server's alone (``RLM(system=…)``, the agent's), always first; so are tool parts, files and
    ``role: "tool"`` messages. A body of the wrong shape (``messages`` not a list, ``parts`` not
    a list, text that is not a string) is a :class:`~rlm_toolkit.errors.ClientRequestError`
    naming the field, which Starlette/FastAPI answer with a 400 and that message.
    """
    if isinstance(body, dict):
        messages = body.get("messages")
        where = "messages"
    else:
        messages, where = body, "the body"
    if not isinstance(messages, list):
        raise _client_error(f"{where} must be a list of UI messages, not {_kind(messages)}")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _client_error(f"messages[{i}] must be an object, not {_kind(message)}")
        role = message.get("role")
        if not isinstance(role, str):
            raise _client_error(f"messages[{i}].role must be a string, not {_kind(role)}")
        if role not in ("user", "assistant"):  # system/developer: the operator's; tool: never the page's
            continue
        out.append({"role": role, "content": _text(message, i)})
    if not out:
        raise _client_error("no user or assistant message in the request")
    return out


def _text(message: dict[str, Any], i: int) -> str:
    """A UI message's text: its text parts joined (or the older ``content`` string)."""
    parts = message.get("parts")
    if parts is None:
        content = message.get("content")
        if content is None or isinstance(content, str):
            return content or ""
        raise _client_error(f"messages[{i}].content must be a string, not {_kind(content)}")
    if not isinstance(parts, list):
        raise _client_error(f"messages[{i}].parts must be a list, not {_kind(parts)}")
    texts = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise _client_error(f"messages[{i}].parts[{j}] must be an object, not {_kind(part)}")
        if part.get("type") == "text":
            text = part.get("text", "")
            if not isinstance(text, str):
                raise _client_error(f"messages[{i}].parts[{j}].text must be a string, not {_kind(text)}")
            texts.append(text)
    return "".join(texts)


def _kind(value: Any) -> str:
    """A JSON value's kind, never the value (it may be huge, or hostile)."""
    return {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _client_error(message: str) -> ClientRequestError:
    return _http_error_class()(f"bad UI messages: {message}")


@functools.cache
def _http_error_class() -> type[ClientRequestError]:
    """:class:`ClientRequestError`, and under Starlette (so FastAPI) also its ``HTTPException``:
    an endpoint that lets it propagate answers 400 with the message, not 500."""
    try:
        from starlette.exceptions import HTTPException
    except ImportError:
        return ClientRequestError

    class HTTPClientRequestError(ClientRequestError, HTTPException):
        def __init__(self, message: str) -> None:
            ClientRequestError.__init__(self, message)
            self.status_code, self.detail, self.headers = 400, self.message, None

        __str__ = ClientRequestError.__str__
        __repr__ = ClientRequestError.__repr__

    HTTPClientRequestError.__name__ = HTTPClientRequestError.__qualname__ = "ClientRequestError"
    return HTTPClientRequestError
