"""Server-Sent Events and WebSocket frames for FastAPI / Starlette, framed correctly.

The usual one-liner ``yield f"data: {chunk}\\n\\n"`` breaks as soon as a chunk holds a line break
(markdown, code): the browser sees a blank line as the end of the event and drops or splits the
rest. Here every line of a chunk gets its own ``data:`` line, so the client's ``event.data`` is
the chunk again, exactly::

    from fastapi import FastAPI
    from rlm_toolkit import RLM
    from rlm_toolkit.web import sse_response

    app = FastAPI()
    rlm = RLM.from_openai("gpt-4o")

    @app.get("/stream")
    async def stream(query: str):
        return sse_response(rlm.astream(query))

The stream ends with an ``event: done`` (its data: the response's provenance as JSON, see
:meth:`Response.to_dict`), or with an ``event: error`` whose data is the scrubbed error message.
The SSE format cannot carry a bare carriage return: ``\\r\\n`` and ``\\r`` inside a chunk arrive
as ``\\n``. Over a WebSocket, :func:`websocket_stream` sends the same three outcomes as JSON frames
(``text``, then ``done`` or ``error``), so a model failure reaches the client as a message, not as
a connection dropped with code 1006.

Given the event stream instead (``rlm.astream_events(query)``), a thinking model's reasoning goes
out too, apart from the answer: SSE events named ``reasoning`` (WebSocket frames
``{"type": "reasoning", "text": …}``); the other events (usage, finish, tool calls) are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing
from typing import Any

from .errors import MissingDependencyError, UsageError, describe

__all__ = ["sse_event", "sse_stream", "sse_response", "ws_frames", "websocket_stream", "SSE_HEADERS"]

#: Headers that keep proxies (nginx) and browsers from buffering or caching the stream.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

# The AI SDK's UI message stream (protocol v1, for ``useChat``) lives in its own module.
from .web_ui_stream import (  # noqa: E402
    UI_MESSAGE_STREAM_HEADERS,
    UIMessageStreamEncoder,
    messages_from_ui,
    ui_message_response,
    ui_message_stream,
)

__all__ += ["UI_MESSAGE_STREAM_HEADERS", "UIMessageStreamEncoder", "ui_message_stream", "ui_message_response",
            "messages_from_ui"]


def sse_event(data: str, event: str | None = None, id: str | None = None, retry: int | None = None) -> str:
    """One event in ``text/event-stream`` framing: a ``data:`` line per line of ``data``.

    >>> sse_event("a\\nb", event="token")
    'event: token\\ndata: a\\ndata: b\\n\\n'
    """
    head = []
    for name, value in (("event", event), ("id", id)):
        if value is not None:
            if _LINE_BREAK.search(value) or (name == "id" and "\0" in value):
                raise UsageError(f"an SSE {name} cannot contain a line break: {value!r}")
            head.append(f"{name}: {value}\n")
    if retry is not None:
        head.append(f"retry: {int(retry)}\n")
    body = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return "".join(head) + body + "\n"


async def _outcomes(chunks: AsyncIterable[Any]) -> AsyncIterator[tuple[str, Any]]:
    """What every web framing sends, in order: ``("text", chunk)`` per chunk (``("reasoning", text)``
    per reasoning event of an event stream), then ``("done", provenance)`` or
    ``("error", "ErrorType: scrubbed message")``. Closing it closes ``chunks`` (and the model's
    connection)."""
    try:
        async for chunk in chunks:
            if isinstance(chunk, str):
                yield "text", chunk
            elif chunk.type in ("text", "reasoning") and chunk.text:
                yield chunk.type, chunk.text
    except Exception as failure:  # the client gets a typed, scrubbed message instead of a cut
        yield "error", describe(failure)
        return
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    response = getattr(chunks, "response", None)
    yield "done", (response.to_dict() if response is not None else {})


async def sse_stream(
    chunks: AsyncIterable[Any], *, event: str | None = None, done: str = "done", error: str = "error",
    reasoning: str = "reasoning",
) -> AsyncIterator[str]:
    """Frame each chunk as an event, then ``event: done`` (or ``event: error`` on failure).

    ``chunks`` is usually ``rlm.astream(prompt)``; if it has a ``.response``, the done event
    carries its provenance (model, usage, finish reason, timings) as JSON. Closing this
    generator (the client went away) closes ``chunks`` and with it the model's connection.
    """
    async with aclosing(_outcomes(chunks)) as outcomes:
        async for kind, value in outcomes:
            if kind == "text":
                yield sse_event(value, event=event)
            elif kind == "reasoning":
                yield sse_event(value, event=reasoning)
            elif kind == "error":
                yield sse_event(value, event=error)
            else:
                yield sse_event(json.dumps(value, ensure_ascii=False), event=done)


async def ws_frames(chunks: AsyncIterable[str]) -> AsyncIterator[str]:
    """The WebSocket text frames for ``chunks``: one JSON object each (see :func:`websocket_stream`)."""
    async with aclosing(_outcomes(chunks)) as outcomes:
        async for kind, value in outcomes:
            yield _ws_frame(kind, value)


def _ws_frame(kind: str, value: Any) -> str:
    key = {"text": "text", "reasoning": "text", "error": "error", "done": "response"}[kind]
    return json.dumps({"type": kind, key: value}, ensure_ascii=False)


async def websocket_stream(websocket: Any, chunks: AsyncIterable[str], *, close: bool = True) -> str:
    """Send ``chunks`` over an accepted Starlette/FastAPI WebSocket, ending with a frame that says how.

    Text frames, each a JSON object: ``{"type": "text", "text": chunk}`` per chunk, then
    ``{"type": "done", "response": {…provenance…}}`` or ``{"type": "error", "error": "IncompleteStreamError:
    …"}`` (scrubbed). With ``close=True`` the socket is then closed with code 1000 (done) or 1011
    and the error as the reason (cut to the 123 bytes a close frame holds). Returns ``"done"`` or
    ``"error"``. If the client goes away, ``chunks`` (and the model's connection) is closed and
    the disconnect propagates. ::

        @app.websocket("/chat")
        async def chat(websocket: WebSocket):
            await websocket.accept()
            await websocket_stream(websocket, rlm.astream(await websocket.receive_text()))
    """
    outcome, reason = "done", ""
    async with aclosing(_outcomes(chunks)) as outcomes:
        async for kind, value in outcomes:
            if kind == "error":
                outcome, reason = "error", value
            await websocket.send_text(_ws_frame(kind, value))
    if close:
        await websocket.close(code=1000 if outcome == "done" else 1011, reason=_close_reason(reason))
    return outcome


def _close_reason(text: str) -> str:
    """At most 123 UTF-8 bytes (RFC 6455 §5.5: a control frame's payload is 125 bytes, 2 are the code)."""
    data = text.encode("utf-8")
    return text if len(data) <= 123 else data[:120].decode("utf-8", "ignore") + "..."


def event_stream_response(body: AsyncIterable[str], headers: Any, status_code: int = 200) -> Any:
    """A Starlette/FastAPI ``StreamingResponse`` (``text/event-stream``) of SSE text."""
    try:
        from starlette.responses import StreamingResponse
    except ImportError as missing:
        raise MissingDependencyError(
            "rlm_toolkit.web needs FastAPI or Starlette: pip install 'rlm[web]'"
        ) from missing
    return StreamingResponse(
        body, status_code=status_code, media_type="text/event-stream", headers=dict(headers)
    )


def sse_response(chunks: AsyncIterable[str], *, status_code: int = 200, **kwargs: Any) -> Any:
    """A Starlette/FastAPI ``StreamingResponse`` of :func:`sse_stream` (``text/event-stream``)."""
    return event_stream_response(sse_stream(chunks, **kwargs), SSE_HEADERS, status_code)
