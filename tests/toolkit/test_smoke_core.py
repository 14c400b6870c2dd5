"""The core's basic contract with the scripted provider (fuller suites live beside this file)."""

from __future__ import annotations

import asyncio
import threading

import rlm_toolkit
from rlm_toolkit import RLM, ScriptedProvider, StreamingCallback


def test_public_names_are_pinned():
    assert set(rlm_toolkit.__all__) >= {"RLM", "StreamingCallback", "ProviderError", "Response"}
    for name in rlm_toolkit.__all__:
        assert hasattr(rlm_toolkit, name), name


def test_stream_run_and_response_in_a_script():
    rlm = RLM(ScriptedProvider(["Hel", "lo", "!"]))
    assert list(rlm.stream("hi")) == ["Hel", "lo", "!"]
    assert rlm.last_response.state == "done"
    assert rlm.run("hi") == "Hello!"
    assert rlm.last_response.finish_reason == "stop"
    assert rlm.last_response.completion_tokens == 3


def test_sync_api_inside_a_running_loop_and_from_a_thread():
    rlm = RLM(ScriptedProvider("one two three"))

    async def in_loop():
        return rlm.run("x"), [c async for c in rlm.astream("x")]

    text, chunks = asyncio.run(in_loop())
    assert text == "one two three" and "".join(chunks) == text
    out = []
    worker = threading.Thread(target=lambda: out.append(rlm.run("x")))
    worker.start()
    worker.join(10)
    assert out == ["one two three"]


def test_callbacks_run_in_caller_thread_in_order():
    seen = []

    class Recorder(StreamingCallback):
        def on_llm_start(self, **kwargs):
            seen.append(("start", threading.get_ident()))

        def on_llm_new_token(self, token, **kwargs):
            seen.append((token, threading.get_ident()))

        def on_llm_end(self, response, **kwargs):
            seen.append(("end", response.text))

    RLM(ScriptedProvider(["a", "b", "c"]), callbacks=[Recorder()]).run("x")
    me = threading.get_ident()
    assert seen == [("start", me), ("a", me), ("b", me), ("c", me), ("end", "abc")]
