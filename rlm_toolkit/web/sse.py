"""Server-Sent Events, framed correctly: a ``data:`` line per line of each chunk.

The usual one-liner ``yield f"data: {chunk}\\n\\n"`` breaks as soon as a chunk holds a line break
(markdown, code): the browser sees a blank line as the end of the event and drops or splits the
rest. Here every line of a chunk gets its own ``data:`` line, so the client's ``event.data`` is
the chunk again, exactly. The stream ends with an ``event: done`` (its data: the response's
provenance as JSON) or an ``event: error`` (the scrubbed error message); :func:`outcomes` is that
sequence, which the WebSocket framing (:mod:`rlm_toolkit.web.websocket`) sends too, and
:func:`event_stream_response` the Starlette response the SSE and UI-message streams are sent in.
The SSE format cannot carry a bare carriage return: ``\\r\\n`` and ``\\r`` inside a chunk arrive
as ``\\n``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import aclosing
from typing import Any

from ..errors import MissingDependencyError, UsageError, describe

__all__ = ["sse_event", "sse_stream", "sse_response", "SSE_HEADERS", "outcomes", "event_stream_response"]

#: Headers that keep proxies (nginx) and browsers from buffering or caching the stream.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


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


async def outcomes(chunks: AsyncIterable[Any]) -> AsyncGenerator[tuple[str, Any], None]:
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
    async with aclosing(outcomes(chunks)) as told:
        async for kind, value in told:
            if kind == "text":
                yield sse_event(value, event=event)
            elif kind == "reasoning":
                yield sse_event(value, event=reasoning)
            elif kind == "error":
                yield sse_event(value, event=error)
            else:
                yield sse_event(json.dumps(value, ensure_ascii=False), event=done)


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
