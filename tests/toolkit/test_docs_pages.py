"""The Callbacks and Providers pages (linked from the seed): every snippet runs, in order, in a
fresh interpreter, and prints exactly the output block shown after it on the page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.openai_server import Stream, Unauthorized
from tests.fixtures.responses_events import ResponsesStream

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCKS = re.compile(r"```python\n(?P<code>.*?)```\s*(?:```text\n(?P<out>.*?)```)?", re.S)
SEP = "\x1e"
RUNNER = f"""
import sys
namespace = {{"__name__": "__main__"}}
for code in sys.stdin.read().split({SEP!r}):
    exec(compile(code, "<doc snippet>", "exec"), dict(namespace))
    print({SEP!r}, end="", flush=True)
"""


def run_page(name: str, env: dict[str, str]) -> list[tuple[str, str | None, str]]:
    """``[(code, expected output or None, actual output)]`` for each snippet of ``docs/<name>``."""
    blocks = [(m["code"], m["out"]) for m in _BLOCKS.finditer((DOCS / name).read_text(encoding="utf-8"))]
    assert blocks, name
    done = subprocess.run([sys.executable, "-c", RUNNER], input=SEP.join(code for code, _ in blocks),
                          env={**os.environ, **env, "PYTHONIOENCODING": "utf-8"}, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr
    outputs = done.stdout.split(SEP)[:-1]
    assert len(outputs) == len(blocks)
    return [(code, out, actual) for (code, out), actual in zip(blocks, outputs)]


@pytest.mark.parametrize("page", ["callbacks.md", "providers.md"])
def test_page_snippets_print_what_the_page_shows(page, openai_server):
    thinking = (
        ResponsesStream().reasoning("**Checking divisors** 221 = 13 × 17.").message("No: 221 = 13 × 17.")
    )
    openai_server.script(
        Stream(["Volga,", " Nile,", " Amazon."]), Unauthorized(), thinking.completed(reasoning=64)
    )
    results = run_page(page, openai_server.env)
    assert len(results) >= 3
    for code, expected, actual in results:
        if expected is not None:
            assert actual == expected, code
    if page == "providers.md":
        first = openai_server.requests[0]
        assert first["temperature"] == 0.2 and first["max_tokens"] == 50
        assert openai_server.requests[2]["reasoning"] == {"effort": "low", "summary": "auto"}


def test_the_seed_links_to_these_pages():
    seed = (DOCS / "streaming.md").read_text(encoding="utf-8")
    for link in re.findall(r"\]\(\./([^)]+)\)", seed):
        assert (DOCS / link).exists(), link


def test_web_page_app_streams_line_breaks_exactly(openai_server, serve_asgi, monkeypatch):
    import httpx

    from rlm_toolkit._decoders import SSEDecoder

    code = _BLOCKS.search((DOCS / "web.md").read_text(encoding="utf-8"))["code"]
    for name, value in openai_server.env.items():
        monkeypatch.setenv(name, value)
    namespace: dict = {"__name__": "web_doc"}
    exec(compile(code, "<docs/web.md>", "exec"), namespace)
    chunks = ["Rivers:\n\n", "- Volga\n- Nile", "\n"]
    openai_server.script(Stream(chunks))
    decoder = SSEDecoder()
    body = httpx.get(serve_asgi(namespace["app"]) + "/stream", params={"query": "rivers"}, timeout=10).content
    events = decoder.feed(body) + decoder.flush()
    assert [e.data for e in events[:-1]] == chunks and events[-1].event == "done"


def test_web_page_websocket_app_sends_the_documented_frames(openai_server, serve_asgi, monkeypatch):
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    code = [m["code"] for m in _BLOCKS.finditer((DOCS / "web.md").read_text(encoding="utf-8"))
            if "websocket_stream" in m["code"]][0]
    for name, value in openai_server.env.items():
        monkeypatch.setenv(name, value)
    namespace: dict = {"__name__": "web_doc"}
    exec(compile(code, "<docs/web.md>", "exec"), namespace)
    openai_server.script(Stream("one two three", cut_after=2))
    frames = []
    with connect(serve_asgi(namespace["app"]).replace("http://", "ws://") + "/chat", open_timeout=10) as ws:
        ws.send("hi")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(json.loads(ws.recv(timeout=10)))
    assert [f["type"] for f in frames] == ["text", "text", "error"]
    assert frames[-1]["error"].startswith("IncompleteStreamError") and closed.value.rcvd.code == 1011
