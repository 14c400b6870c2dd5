"""Server-Sent Events for FastAPI / Starlette, framed correctly.

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
as ``\\n``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from .errors import MissingDependencyError, UsageError, scrub

__all__ = ["sse_event", "sse_stream", "sse_response", "SSE_HEADERS"]

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


async def sse_stream(
    chunks: AsyncIterable[str], *, event: str | None = None, done: str = "done", error: str = "error"
) -> AsyncIterator[str]:
    """Frame each chunk as an event, then ``event: done`` (or ``event: error`` on failure).

    ``chunks`` is usually ``rlm.astream(prompt)``; if it has a ``.response``, the done event
    carries its provenance (model, usage, finish reason, timings) as JSON. Closing this
    generator (the client went away) closes ``chunks`` and with it the model's connection.
    """
    try:
        async for chunk in chunks:
            yield sse_event(chunk, event=event)
    except Exception as failure:  # the client gets a typed, scrubbed message instead of a cut
        yield sse_event(f"{type(failure).__name__}: {scrub(failure)}", event=error)
        return
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    response = getattr(chunks, "response", None)
    info: dict[str, Any] = response.to_dict() if response is not None else {}
    yield sse_event(json.dumps(info, ensure_ascii=False), event=done)


def sse_response(chunks: AsyncIterable[str], *, status_code: int = 200, **kwargs: Any) -> Any:
    """A Starlette/FastAPI ``StreamingResponse`` of :func:`sse_stream` (``text/event-stream``)."""
    try:
        from starlette.responses import StreamingResponse
    except ImportError as missing:
        raise MissingDependencyError(
            "rlm_toolkit.web needs FastAPI or Starlette: pip install 'rlm[web]'"
        ) from missing
    return StreamingResponse(
        sse_stream(chunks, **kwargs),
        status_code=status_code,
        media_type="text/event-stream",
        headers=dict(SSE_HEADERS),
    )
