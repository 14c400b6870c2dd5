"""The non-agent seed snippets, unchanged, against a real OpenAI-compatible server nobody here
wrote: ``llama_cpp.server`` serving SmolLM2 as ``gpt-4o``.

The snippets set no ``max_tokens`` (and must not be edited), and SmolLM2 asked for a story fills
the shared fixture's 2,048-token context: a minute per snippet on a busy machine. So this module
starts its own server the same way (``tests/fixtures/llama_server.py``'s ``serve_llama``) with a
256-token context: the server itself stops every answer within a few seconds (finish ``length``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from rlm_toolkit._decoders import SSEDecoder
from tests.fixtures.llama_server import LlamaServer, serve_llama
from tests.toolkit.test_seed_snippets import PLAIN, exec_app, run_snippet, snippet

pytestmark = pytest.mark.model
N_CTX = 256


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with serve_llama(tmp_path_factory.mktemp("llama-seed"), n_ctx=N_CTX) as server:
        yield server


@pytest.mark.parametrize("title", list(PLAIN))
def test_plain_snippet_against_llama_cpp_server(title, llama_server, tmp_path):
    done = run_snippet(snippet(title), tmp_path, llama_server.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the model streamed nothing"
    if "файл" in title:
        assert (tmp_path / "output.txt").read_text(encoding="utf-8") == done.stdout
    if "строку" in title:
        assert json.loads(done.stderr.rsplit("@@", 1)[1]) == done.stdout


def test_websocket_snippet_against_llama_cpp_server(llama_server, serve_asgi, monkeypatch):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    app = exec_app(snippet("WebSocket"), llama_server, monkeypatch)
    received = []
    with connect(serve_asgi(app).replace("http://", "ws://") + "/chat", open_timeout=10) as ws:
        ws.send("Привет")
        try:
            while True:
                received.append(ws.recv(timeout=120))
        except ConnectionClosed:
            pass
    assert "".join(received).strip()


def test_sse_snippet_against_llama_cpp_server(llama_server, serve_asgi, monkeypatch):
    app = exec_app(snippet("SSE"), llama_server, monkeypatch)
    decoder, events = SSEDecoder(), []
    with httpx.stream(
        "GET", serve_asgi(app) + "/stream", params={"query": "Привет"}, timeout=120
    ) as response:
        assert response.status_code == 200
        for piece in response.iter_bytes():
            events.extend(decoder.feed(piece))
    assert events and "".join(e.data for e in events).strip()
