"""Callbacks: lifecycle order, sync and async hooks, per-call and constructor handlers, the
caller's thread, raising handlers; and per-call parameters that must reach the wire."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rlm_toolkit import RLM, CallbackWarning, StreamingCallback, errors
from tests.fixtures.openai_server import Stream


class Recorder(StreamingCallback):
    def __init__(self, tag: str = "", log: list | None = None) -> None:
        self.tag, self.log = tag, log if log is not None else []

    def on_llm_start(self, *, model, messages, **kwargs):
        self.log.append((self.tag, "start", model, threading.get_ident()))

    def on_llm_new_token(self, token, **kwargs):
        self.log.append((self.tag, "token", token, threading.get_ident()))

    def on_llm_end(self, response, **kwargs):
        self.log.append((self.tag, "end", response.state, threading.get_ident()))

    def on_llm_error(self, error, **kwargs):
        self.log.append((self.tag, "error", type(error).__name__, kwargs["partial_text"]))


class AsyncRecorder(StreamingCallback):
    def __init__(self, log: list) -> None:
        self.log = log

    async def on_llm_new_token(self, token, **kwargs):
        await asyncio.sleep(0)
        self.log.append(("async", "token", token))

    async def on_llm_end(self, response, **kwargs):
        self.log.append(("async", "end", response.text))


def rlm_for(server, **kwargs) -> RLM:
    return RLM.from_openai(
        "gpt-4o", base_url=server.base_url, api_key=server.api_key, retry_backoff=0.01, **kwargs
    )


def test_lifecycle_order_constructor_then_per_call_in_callers_thread(openai_server):
    openai_server.script(Stream(["a", "b", "c"]))
    log: list = []
    rlm = rlm_for(openai_server, callbacks=[Recorder("ctor", log)])
    assert rlm.run("hi", callbacks=[Recorder("call", log)]) == "abc"
    me = threading.get_ident()
    expected = [("ctor", "start", "openai:gpt-4o", me), ("call", "start", "openai:gpt-4o", me)]
    for token in "abc":
        expected += [("ctor", "token", token, me), ("call", "token", token, me)]
    expected += [("ctor", "end", "done", me), ("call", "end", "done", me)]
    assert log == expected


def test_callbacks_from_a_worker_thread_run_in_that_thread(openai_server):
    openai_server.script(Stream(["x", "y"]))
    log: list = []
    worker = threading.Thread(target=lambda: rlm_for(openai_server, callbacks=[Recorder("w", log)]).run("hi"))
    worker.start()
    worker.join(20)
    assert {entry[3] for entry in log if entry[1] != "error"} == {worker.ident}


def test_async_handlers_in_sync_and_async_calls_keep_order(openai_server):
    openai_server.script(Stream(["1", "2", "3"]), Stream(["4", "5"]))
    log: list = []
    rlm = rlm_for(openai_server, callbacks=[AsyncRecorder(log)])
    rlm.run("hi")

    async def main():
        return [c async for c in rlm.astream("hi")]

    assert asyncio.run(main()) == ["4", "5"]
    assert log == [
        ("async", "token", "1"),
        ("async", "token", "2"),
        ("async", "token", "3"),
        ("async", "end", "123"),
        ("async", "token", "4"),
        ("async", "token", "5"),
        ("async", "end", "45"),
    ]


def test_on_llm_error_gets_the_partial_text(openai_server):
    openai_server.script(Stream("one two three", cut_after=2))
    log: list = []
    with pytest.raises(errors.IncompleteStreamError):
        rlm_for(openai_server, callbacks=[Recorder("r", log)]).run("hi")
    assert log[-1] == ("r", "error", "IncompleteStreamError", "one two")
    assert [e[2] for e in log if e[1] == "token"] == ["one", " two"]


class Broken(StreamingCallback):
    def on_llm_new_token(self, token, **kwargs):
        raise ValueError(f"bad token {token!r}")


def test_a_raising_handler_is_reported_by_name_and_the_stream_goes_on(openai_server):
    openai_server.script(Stream(["a", "b"]))
    log: list = []
    rlm = rlm_for(openai_server, callbacks=[Broken(), Recorder("ok", log)])
    with pytest.warns(
        CallbackWarning, match=r"Broken\.on_llm_new_token raised ValueError: bad token"
    ) as warned:
        assert rlm.run("hi") == "ab"
    assert [str(w.message).rsplit(" ", 1)[-1] for w in warned] == ["'a'", "'b'"]  # each one reported
    assert [e[2] for e in log if e[1] == "token"] == ["a", "b"]


def test_raise_errors_stops_the_stream(openai_server):
    class Strict(Broken):
        raise_errors = True

    openai_server.script(Stream(["a", "b", "c"], delay=0.05))
    rlm = rlm_for(openai_server)
    with pytest.raises(ValueError, match="bad token 'a'"):
        rlm.run("hi", callbacks=[Strict()])
    assert rlm.last_response.state == "error" and rlm.last_response.text == "a"
    assert openai_server.wait_disconnect(2)


def test_async_handler_that_raises_is_reported_too(openai_server):
    class AsyncBroken(StreamingCallback):
        async def on_llm_end(self, response, **kwargs):
            raise RuntimeError("end failed")

    openai_server.script(Stream(["a"]))

    async def main():
        return await rlm_for(openai_server, callbacks=[AsyncBroken()]).arun("hi")

    with pytest.warns(CallbackWarning, match=r"AsyncBroken\.on_llm_end raised RuntimeError"):
        assert asyncio.run(main()) == "a"


def test_per_call_overrides_reach_the_wire(openai_server):
    rlm = rlm_for(openai_server, temperature=0.1, system="Be brief.")
    rlm.run("hi")
    rlm.run("hi", system="Be long.", temperature=0.7, max_tokens=12, top_p=0.5, stop="END", seed=3)
    first, second = openai_server.requests
    assert first["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert first["temperature"] == 0.1 and "max_tokens" not in first
    assert second["messages"][0] == {"role": "system", "content": "Be long."}
    assert {k: second[k] for k in ("temperature", "max_tokens", "top_p", "stop", "seed")} == {
        "temperature": 0.7, "max_tokens": 12, "top_p": 0.5, "stop": ["END"], "seed": 3}
    assert second["model"] == "gpt-4o" and second["stream"] is True
    assert rlm.last_response.params["max_tokens"] == 12


def test_a_prompt_as_a_list_of_messages(openai_server):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and 3+3?"},
    ]
    rlm_for(openai_server).run(messages)
    assert openai_server.requests[0]["messages"] == messages
    # The RLM's own system prompt is the operator's: it goes first, the list's follows (issue 20).
    rlm_for(openai_server, system="Be safe.").run(messages)
    assert openai_server.requests[1]["messages"] == [{"role": "system", "content": "Be safe."}, *messages]


def test_unknown_parameter_and_bad_prompt_are_usage_errors(openai_server):
    rlm = rlm_for(openai_server)
    with pytest.raises(errors.UsageError, match="temprature"):
        rlm.stream("hi", temprature=0.2)
    with pytest.raises(errors.UsageError):
        rlm.stream([{"content": "no role"}])
    assert openai_server.requests == []


def test_a_strict_on_llm_start_that_raises_settles_the_response(openai_server):
    class StrictStart(StreamingCallback):
        raise_errors = True

        def on_llm_start(self, **kwargs):
            raise ValueError("refused")

    log: list = []
    rlm = rlm_for(openai_server)
    with pytest.raises(ValueError):
        rlm.run("hi", callbacks=[StrictStart(), Recorder("r", log)])
    assert rlm.last_response.state == "error" and log == [("r", "error", "ValueError", "")]

    async def main():
        with pytest.raises(ValueError):
            await rlm.arun("hi", callbacks=[StrictStart()])
        return rlm.last_response.state

    assert asyncio.run(main()) == "error"
    assert openai_server.requests == []  # nothing was sent
