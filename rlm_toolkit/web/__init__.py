"""Streams for the web (FastAPI, Starlette): Server-Sent Events, WebSocket frames, the AI SDK UI stream.

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

For the AI SDK's ``useChat`` pages, :func:`ui_message_response` sends the UI message stream
(protocol v1) and :func:`messages_from_ui` reads what the page posts (:mod:`rlm_toolkit.web.ui_stream`).
The framing of each is its own module: :mod:`~rlm_toolkit.web.sse`, :mod:`~rlm_toolkit.web.websocket`,
:mod:`~rlm_toolkit.web.ui_stream`; this package names what users import.
"""

from __future__ import annotations

from .sse import SSE_HEADERS, sse_event, sse_response, sse_stream
from .ui_stream import (
    UI_MESSAGE_STREAM_HEADERS,
    UIMessageStreamEncoder,
    messages_from_ui,
    ui_message_response,
    ui_message_stream,
)
from .websocket import websocket_stream, ws_frames

__all__ = ["sse_event", "sse_stream", "sse_response", "ws_frames", "websocket_stream", "SSE_HEADERS",
           "UI_MESSAGE_STREAM_HEADERS", "UIMessageStreamEncoder", "ui_message_stream", "ui_message_response",
           "messages_from_ui"]
