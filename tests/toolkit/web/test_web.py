"""rlm_toolkit.web: SSE framing that survives chunks with line breaks, over a real loopback server."""

from __future__ import annotations

import json
import sys

import httpx
import pytest

from rlm_toolkit import RLM, errors
from rlm_toolkit._decoders import ServerSentEvent, SSEDecoder
from rlm_toolkit.web import sse_event, sse_response
from tests.fixtures.openai_server import TEST_KEY, Stream, Unauthorized

TRICKY = ["# Title\n\n", "line one\nline two", "\n", "```py\nx = 1\n```", " ", "", "end \n\n\n"]


def decode(text: str) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(text.encode()) + decoder.flush()


@pytest.mark.parametrize("chunk", TRICKY + ["crlf\r\nand cr\r!"])
def test_sse_event_round_trips_through_a_conforming_parser(chunk):
    expected = chunk.replace("\r\n", "\n").replace("\r", "\n")
    assert decode(sse_event(chunk, event="token", id="7")) == [ServerSentEvent(expected, "token", "7")]


def test_the_naive_framing_breaks_on_line_breaks():
    naive = "".join(f"data: {chunk}\n\n" for chunk in TRICKY)
    assert [e.data for e in decode(naive)] != TRICKY
    assert [e.data for e in decode("".join(sse_event(c) for c in TRICKY))] == TRICKY


def test_event_name_with_a_line_break_is_refused():
    with pytest.raises(errors.UsageError):
        sse_event("x", event="a\nb")
    assert sse_event("x", retry=1500) == "retry: 1500\ndata: x\n\n"


def make_app(server):
    from fastapi import FastAPI

    rlm = RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, max_retries=0)
    app = FastAPI()

    @app.get("/stream")
    async def stream(query: str):
        return sse_response(rlm.astream(query))

    return app


def fetch_events(url: str, *, stop_after: int | None = None) -> list[ServerSentEvent]:
    decoder, events = SSEDecoder(), []
    with httpx.stream("GET", url + "/stream", params={"query": "hi"}, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        for piece in response.iter_bytes():
            events.extend(decoder.feed(piece))
            if stop_after is not None and len(events) >= stop_after:
                return events
    return events + decoder.flush()


def test_chunks_with_line_breaks_arrive_exactly(openai_server, serve_asgi):
    chunks = [c for c in TRICKY if c]  # an empty delta carries no text: the provider skips it
    openai_server.script(Stream(chunks, delay=0.005))
    events = fetch_events(serve_asgi(make_app(openai_server)))
    assert [e.data for e in events if e.event == "message"] == chunks
    assert events[-1].event == "done"
    info = json.loads(events[-1].data)
    assert info["finish_reason"] == "stop" and info["state"] == "done" and info["model"] == "openai:gpt-4o"


@pytest.mark.parametrize(("fault", "name"), [(Stream("a b c", cut_after=1), "IncompleteStreamError"),
                                             (Unauthorized(), "AuthenticationError")])
def test_a_failure_becomes_a_scrubbed_error_event(openai_server, serve_asgi, fault, name):
    openai_server.script(fault)
    events = fetch_events(serve_asgi(make_app(openai_server)))
    assert events[-1].event == "error" and events[-1].data.startswith(name)
    for event in events:
        assert TEST_KEY[3:8] not in event.data and TEST_KEY[-4:] not in event.data
    if name == "IncompleteStreamError":
        assert [e.data for e in events[:-1]] == ["a"]


def test_client_disconnect_closes_the_model_connection(openai_server, serve_asgi):
    openai_server.script(Stream("word " * 50, delay=0.1))
    events = fetch_events(serve_asgi(make_app(openai_server)), stop_after=1)
    assert events[0].data == "word"
    assert openai_server.wait_disconnect(3)
    assert openai_server.completed == 0


def test_missing_web_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "starlette.responses", None)

    async def nothing():
        yield "x"

    with pytest.raises(errors.MissingDependencyError, match=r"rlm\[web\]"):
        sse_response(nothing())


def make_ws_app(server):
    from fastapi import FastAPI
    from starlette.routing import WebSocketRoute

    from rlm_toolkit.web import websocket_stream

    rlm = RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, max_retries=0)
    app = FastAPI()

    async def chat(websocket):  # a Starlette route: no annotation to resolve in this module
        await websocket.accept()
        await websocket_stream(websocket, rlm.astream(await websocket.receive_text()))

    app.router.routes.append(WebSocketRoute("/chat", chat))
    return app


def ws_exchange(url: str) -> tuple[list[dict], object]:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    frames = []
    with connect(url.replace("http://", "ws://") + "/chat", open_timeout=10) as ws:
        ws.send("hi")
        try:
            while True:
                frames.append(json.loads(ws.recv(timeout=10)))
        except ConnectionClosed as closed:
            return frames, closed.rcvd


def test_websocket_frames_end_with_done_and_a_normal_close(openai_server, serve_asgi):
    chunks = [c for c in TRICKY if c]
    openai_server.script(Stream(chunks, delay=0.005))
    frames, close = ws_exchange(serve_asgi(make_ws_app(openai_server)))
    assert [f["text"] for f in frames if f["type"] == "text"] == chunks
    assert frames[-1]["type"] == "done" and frames[-1]["response"]["finish_reason"] == "stop"
    assert close.code == 1000


@pytest.mark.parametrize(("fault", "name"), [(Stream("a b c", cut_after=1), "IncompleteStreamError"),
                                             (Unauthorized(), "AuthenticationError")])
def test_a_model_failure_over_a_websocket_is_an_error_frame_and_close_1011(openai_server, serve_asgi, fault,
                                                                            name):
    openai_server.script(fault)
    frames, close = ws_exchange(serve_asgi(make_ws_app(openai_server)))
    assert frames[-1]["type"] == "error" and frames[-1]["error"].startswith(name)
    assert close.code == 1011 and close.reason.startswith(name) and len(close.reason.encode()) <= 123
    for frame in frames:
        assert TEST_KEY[3:8] not in json.dumps(frame) and TEST_KEY[-4:] not in json.dumps(frame)
    if name == "IncompleteStreamError":
        assert [f["text"] for f in frames[:-1]] == ["a"]


def test_a_websocket_client_leaving_closes_the_model_connection(openai_server, serve_asgi):
    from websockets.sync.client import connect

    openai_server.script(Stream("word " * 50, delay=0.1))
    url = serve_asgi(make_ws_app(openai_server)).replace("http://", "ws://")
    with connect(url + "/chat", open_timeout=10) as ws:
        ws.send("hi")
        assert json.loads(ws.recv(timeout=10)) == {"type": "text", "text": "word"}
    assert openai_server.wait_disconnect(3)
    assert openai_server.completed == 0


def test_an_event_stream_sends_reasoning_apart_from_the_answer(serve_asgi):
    """``sse_response(rlm.astream_events(...))``: reasoning as ``event: reasoning`` (line breaks
    kept), the answer as plain data events, then done; usage and finish are not sent."""
    import asyncio

    from fastapi import FastAPI

    from rlm_toolkit import ScriptedProvider, ScriptedTurn
    from rlm_toolkit.web import ws_frames

    turn = ScriptedTurn(reasoning=["Step one.\n", "Step two."], chunks=["The ", "answer."])
    app = FastAPI()

    @app.get("/stream")
    async def stream(query: str):
        return sse_response(RLM(ScriptedProvider(turns=[turn])).astream_events(query))

    events = fetch_events(serve_asgi(app))
    assert [(e.event, e.data) for e in events[:-1]] == [
        ("reasoning", "Step one.\n"), ("reasoning", "Step two."), ("message", "The "), ("message", "answer.")]
    assert events[-1].event == "done"

    async def frames():
        source = RLM(ScriptedProvider(turns=[turn])).astream_events("q")
        return [json.loads(frame) async for frame in ws_frames(source)]

    got = asyncio.run(frames())
    assert got[:3] == [{"type": "reasoning", "text": "Step one.\n"},
                       {"type": "reasoning", "text": "Step two."}, {"type": "text", "text": "The "}]
    assert got[-1]["type"] == "done"
