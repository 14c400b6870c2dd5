"""Every snippet of the seed how-to page runs unchanged against an OpenAI-compatible server.

The snippets are read from the seed file at test time (never copied). Plain ones run in a
subprocess with ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` pointing at the loopback server; the
FastAPI ones are exec'd to get ``app``, served by uvicorn on loopback and driven by real
clients. The agent snippet (``tools=[...]``) belongs to the agent's own tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlm_toolkit._decoders import SSEDecoder
from tests.fixtures.openai_server import Stream

#: The page ships as docs/streaming.md (beside the callbacks and providers pages it links to);
#: where the original seed is at hand, the test below checks the copy is byte-identical.
SEED = Path(__file__).resolve().parents[2] / "docs" / "streaming.md"
ORIGINAL = Path("/work/shared/seeds/000_8a11301b86c7b13d.txt")
_BLOCK = re.compile(r"^## (?P<title>.+?)\n.*?```python\n(?P<code>.*?)```", re.S | re.M)

ANSWER = ["Жили", "-были", " три", " медведя", ".", " Конец."]
TEXT = "".join(ANSWER)


def snippets() -> dict[str, str]:
    """``{section title: code}`` for every python block in the seed."""
    return {m["title"].strip(): m["code"] for m in _BLOCK.finditer(SEED.read_text(encoding="utf-8"))}


def snippet(fragment: str) -> str:
    found = [code for title, code in snippets().items() if fragment.lower() in title.lower()]
    assert len(found) == 1, f"expected one seed section matching {fragment!r}, got {list(snippets())}"
    return found[0]


def test_the_seed_has_the_snippets_we_run():
    if ORIGINAL.exists():
        assert SEED.read_bytes() == ORIGINAL.read_bytes()
    titles = list(snippets())
    assert len(titles) == 8, titles
    assert all("rlm_toolkit" in code for code in snippets().values())


PLAIN = {
    "Базовый streaming": "Расскажи историю",
    "Async streaming": "Расскажи историю",
    "Streaming с callback": "Расскажи историю",
    "Streaming в файл": "Напиши эссе",
    "Сбор stream в строку": "Привет",
}

RUNNER = """
import json, runpy, sys
ns = runpy.run_path(sys.argv[1], run_name="__main__")
sys.stderr.write("\\n@@" + json.dumps(ns.get("full_response")))
"""


def run_snippet(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = cwd / "snippet.py"
    path.write_text(code, encoding="utf-8")
    full_env = {**os.environ, **env, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-c", RUNNER, str(path)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


@pytest.mark.parametrize("title", list(PLAIN))
def test_plain_snippet_runs_unchanged(title, openai_server, tmp_path):
    openai_server.script(Stream(ANSWER, delay=0.01))
    done = run_snippet(snippet(title), tmp_path, openai_server.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == TEXT
    request = openai_server.requests[0]
    assert request["model"] == "gpt-4o" and request["stream"] is True
    assert request["messages"] == [{"role": "user", "content": PLAIN[title]}]
    assert len(openai_server.requests) == 1
    if "файл" in title:
        assert (tmp_path / "output.txt").read_text(encoding="utf-8") == TEXT
    if "строку" in title:
        assert json.loads(done.stderr.rsplit("@@", 1)[1]) == TEXT


def exec_app(code: str, openai_server, monkeypatch) -> Any:
    for name, value in openai_server.env.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "seed_snippet"}
    exec(compile(code, "<seed snippet>", "exec"), namespace)
    return namespace["app"]


def test_websocket_snippet(openai_server, serve_asgi, monkeypatch):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    app = exec_app(snippet("WebSocket"), openai_server, monkeypatch)
    openai_server.script(Stream(ANSWER, delay=0.01))
    url = serve_asgi(app).replace("http://", "ws://")
    received = []
    with connect(url + "/chat", open_timeout=10) as ws:
        ws.send("Расскажи историю")
        try:
            while True:
                received.append(ws.recv(timeout=10))
        except ConnectionClosed:
            pass
    assert received == ANSWER
    assert openai_server.requests[0]["messages"][0]["content"] == "Расскажи историю"


def test_sse_snippet(openai_server, serve_asgi, monkeypatch):
    app = exec_app(snippet("SSE"), openai_server, monkeypatch)
    openai_server.script(Stream(ANSWER, delay=0.01))
    url = serve_asgi(app)
    decoder, events = SSEDecoder(), []
    with httpx.stream("GET", url + "/stream", params={"query": "Привет"}, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for piece in response.iter_bytes():
            events.extend(decoder.feed(piece))
    events.extend(decoder.flush())
    assert [e.data for e in events] == ANSWER
    assert openai_server.requests[0]["messages"][0]["content"] == "Привет"


def test_agent_snippet_is_left_to_the_agent_tests():
    code = snippet("агента")
    assert "ReActAgent.from_openai" in code and "tools=[...]" in code
