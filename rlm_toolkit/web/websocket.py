"""WebSocket frames of a stream: the text, then how it ended, as JSON text frames (FastAPI / Starlette).

Over a WebSocket, :func:`websocket_stream` sends the three outcomes an SSE stream sends
(:func:`rlm_toolkit.web.sse.outcomes`) as JSON frames (``text``, then ``done`` or ``error``), so a
model failure reaches the client as a message, not as a connection dropped with code 1006.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing
from typing import Any

from .sse import outcomes

__all__ = ["ws_frames", "websocket_stream"]


async def ws_frames(chunks: AsyncIterable[str]) -> AsyncIterator[str]:
    """The WebSocket text frames for ``chunks``: one JSON object each (see :func:`websocket_stream`)."""
    async with aclosing(outcomes(chunks)) as told:
        async for kind, value in told:
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
    async with aclosing(outcomes(chunks)) as told:
        async for kind, value in told:
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
