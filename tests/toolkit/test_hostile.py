"""Hostile servers, hostile tools and hostile callbacks (issue 12): each test names the input it
feeds and what rlm must do with it. docs/hostile-inputs.md lists them in a table."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid

import pytest

from rlm_toolkit import RLM, ScriptedTurn, StreamingCallback
from rlm_toolkit._bridge import run_sync
from rlm_toolkit._decoders import LineDecoder, ServerSentEvent, SSEDecoder
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.agents.tools import tool
from rlm_toolkit.errors import APIConnectionError, AuthenticationError, MalformedResponseError, scrub
from rlm_toolkit.events import ToolCallDelta
from rlm_toolkit.providers.anthropic import AnthropicParser
from rlm_toolkit.providers.ollama import parse_line
from rlm_toolkit.providers.openai import parse_chunk
from rlm_toolkit.response import Response
from tests.fixtures.openai_server import Status, Stream


def bounded(fn, seconds=10.0):
    """Run ``fn`` on a thread and return its result; fail (instead of hanging the suite) if it
    does not finish within ``seconds`` (a dead bridge makes every later sync call hang)."""
    out: dict = {}

    def work():
        try:
            out["value"] = fn()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = error

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} still running after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def bridge_still_works():
    assert bounded(lambda: RLM.from_scripted(["hello"]).run("hi"), 5) == "hello"


def agent_for(*turns, tools, **kw):
    return ReActAgent(RLM.from_scripted(turns=list(turns)), tools=tools, **kw)


def one_call(name, **arguments):
    return ScriptedTurn(tool_calls=[{"name": name, "arguments": arguments}])


class RawStream(Stream):
    """A 200 ``text/event-stream`` whose body is exactly the given pieces of bytes."""

    def __init__(self, *pieces: bytes) -> None:
        super().__init__()
        self.raw = pieces

    def encoded(self, model, include_usage):
        return [("data", piece) for piece in self.raw], b""


def sse(obj) -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"


def chunk(delta=None, finish=None, **extra):
    return {"id": "c", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **extra}


def openai_rlm(server, **kw):
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, max_retries=0, **kw)


# -- 1. a tool or callback that raises SystemExit / KeyboardInterrupt -----------------------------


def _exit_sync(code: int) -> str:
    """Exits."""
    raise SystemExit(code)


def _interrupt_sync(code: int) -> str:
    """Interrupts."""
    raise KeyboardInterrupt(f"from the tool {code}")


async def _exit_async(code: int) -> str:
    """Exits (async)."""
    raise SystemExit(code)


async def _interrupt_async(code: int) -> str:
    """Interrupts (async)."""
    raise KeyboardInterrupt(f"from the tool {code}")


@pytest.mark.parametrize("fn, kind", [(_exit_sync, "SystemExit"), (_interrupt_sync, "KeyboardInterrupt"),
                                      (_exit_async, "SystemExit"), (_interrupt_async, "KeyboardInterrupt")],
                         ids=["sync-exit", "sync-interrupt", "async-exit", "async-interrupt"])
def test_a_tool_raising_a_base_exception_is_an_error_observation_and_the_bridge_lives(fn, kind):
    t = tool(fn, name="quit")
    agent = agent_for(one_call("quit", code=3), "Recovered.", tools=[t])
    events = bounded(lambda: list(agent.stream("go")))
    observation = next(e for e in events if e.type == "observation")
    assert observation.is_error and kind in observation.content
    assert events[-1].type == "final" and events[-1].content == "Recovered." and not events[-1].is_error
    bridge_still_works()


def test_a_sync_callback_raising_system_exit_stops_the_call_and_the_bridge_lives():
    class Exiting(StreamingCallback):
        def on_llm_new_token(self, token, **kwargs):
            raise SystemExit(5)

    rlm = RLM.from_scripted(["a", " b", " c"])
    with pytest.raises(SystemExit):
        bounded(lambda: rlm.run("hi", callbacks=[Exiting()]))
    assert rlm.last_response.state == "stopped" and rlm.last_response.text == "a"
    bridge_still_works()

    class ExitingOnTool(StreamingCallback):
        def on_tool_start(self, tool_name, input, **kwargs):
            raise SystemExit(6)

    agent = agent_for(one_call("quit", code=1), "Done.", tools=[tool(_exit_sync, name="quit")])
    with pytest.raises(SystemExit):
        bounded(lambda: agent.run("go", callbacks=[ExitingOnTool()]))
    bridge_still_works()


def test_the_bridge_survives_a_coroutine_and_an_async_callback_raising_base_exceptions():
    async def exits():
        raise SystemExit(4)

    with pytest.raises(SystemExit):
        bounded(lambda: run_sync(exits))
    bridge_still_works()

    class Interrupting(StreamingCallback):
        async def on_llm_new_token(self, token, **kwargs):
            raise KeyboardInterrupt("from a callback")

    with pytest.raises(KeyboardInterrupt):
        bounded(lambda: RLM.from_scripted(["a b c"]).run("hi", callbacks=[Interrupting()]))
    bridge_still_works()


# -- 2. a key given through headers= -----------------------------------------------------------


class EchoHeader(Status):
    """A 401 whose message echoes a request header whole and masked (as OpenAI masks keys)."""

    def __init__(self, header: str) -> None:
        super().__init__(401)
        self.header = header

    def payload(self, request_headers):
        value = request_headers[self.header.lower()].split()[-1]
        masked = f"{value[:8]}****{value[-4:]}"
        return {"error": {"message": f"Invalid key {value} (also {masked}) for this resource"}}


@pytest.mark.parametrize("header, scheme", [("api-key", ""), ("X-Api-Key", ""), ("Authorization", "Token ")])
def test_a_key_given_in_headers_is_scrubbed_everywhere(openai_server, tmp_path, header, scheme):
    key = uuid.uuid4().hex  # Azure-style: 32 hex digits, no sk- prefix
    openai_server.script(EchoHeader(header), EchoHeader(header))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, max_retries=0,
                          headers={header: f"{scheme}{key}"})
    with pytest.raises(AuthenticationError) as caught:
        bounded(lambda: rlm.run("hi"))
    error = caught.value
    assert "Invalid key ***" in error.message  # the server did echo it
    trace = tmp_path / "run.jsonl"
    with pytest.raises(AuthenticationError):
        bounded(lambda: list(rlm.stream("hi", record=trace)))
    shown = [str(error), repr(error), error.message, error.body, json.dumps(rlm.last_response.to_dict()),
             trace.read_text()]
    for text in shown:
        assert key not in text and key[:8] not in text


# -- 3. a tool-call index of 100000000 -------------------------------------------------------


def test_tool_call_indexes_are_keys_not_list_sizes():
    response = Response(model="m", provider="p")
    started = time.perf_counter()
    response.feed(ToolCallDelta(index=2_000_000, name="far"))  # the old list took ~3 s and 0.5 GB here
    response.feed(ToolCallDelta(index=2, name="near"))
    response.feed(ToolCallDelta(index=2_000_000, arguments="{}"))
    assert time.perf_counter() - started < 0.5
    assert [(c.index, c.name, c.arguments) for c in response.tool_calls] == [(2, "near", ""),
                                                                             (2_000_000, "far", "{}")]


def test_an_absurd_tool_call_index_is_a_malformed_response(openai_server):
    call = {"index": 100_000_000, "id": "x", "function": {"name": "f", "arguments": ""}}
    huge = chunk({"tool_calls": [call]})
    with pytest.raises(MalformedResponseError, match="index 100000000 is out of range"):
        parse_chunk(huge)
    openai_server.script(RawStream(sse(chunk({"content": "Hi"})), sse(huge)))
    rlm = openai_rlm(openai_server)
    with pytest.raises(MalformedResponseError) as caught:
        bounded(lambda: list(rlm.stream_events("go")))
    assert caught.value.partial_text == "Hi" and len(rlm.last_response.tool_calls) == 0


# -- 5. valid JSON of the wrong shape ------------------------------------------------------------

WRONG_SHAPES = {
    "choice-null": {"choices": [None]},
    "choices-string": {"choices": "abc"},
    "delta-string": {"choices": [{"index": 0, "delta": "oops"}]},
    "index-string": chunk({"tool_calls": [{"index": "a", "function": {"name": "f"}}]}),
    "index-bool": chunk({"tool_calls": [{"index": True, "function": {"name": "f"}}]}),
    "index-negative": chunk({"tool_calls": [{"index": -1, "function": {"name": "f"}}]}),
    "content-int": chunk({"content": 5}),
    "arguments-object": chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": {}}}]}),
    "tool-calls-object": chunk({"tool_calls": {"index": 0}}),
    "finish-int": chunk({}, finish=1),
    "usage-string": {"choices": [], "usage": "lots"},
    "tokens-string": {"choices": [], "usage": {"prompt_tokens": "7", "completion_tokens": 1}},
    "choice-index-string": {"choices": [{"index": "0", "delta": {"content": "x"}}]},
}


@pytest.mark.parametrize("bad", list(WRONG_SHAPES.values()), ids=list(WRONG_SHAPES))
def test_valid_json_of_the_wrong_shape_is_a_malformed_response(bad):
    with pytest.raises(MalformedResponseError, match="wrong shape|out of range"):
        parse_chunk(bad)


@pytest.mark.parametrize("bad", [
    [1, 2],
    {"type": "content_block_delta", "delta": "oops"},
    {"type": "content_block_delta", "delta": {"type": "text_delta", "text": 5}},
    {"type": "content_block_start", "index": [0], "content_block": {"type": "tool_use", "name": "f"}},
    {"type": "message_start", "message": {"usage": {"input_tokens": "many"}}},
    {"type": "message_delta", "delta": ["end_turn"]},
], ids=["list", "delta-string", "text-int", "index-list", "tokens-string", "delta-list"])
def test_anthropic_events_of_the_wrong_shape_are_malformed(bad):
    with pytest.raises(MalformedResponseError, match="wrong shape"):
        AnthropicParser(model="m").feed(ServerSentEvent(json.dumps(bad), event="x"))


@pytest.mark.parametrize("bad", [
    {"message": "oops"},
    {"message": {"content": 5}},
    {"message": {"tool_calls": [None]}},
    {"message": {"tool_calls": [{"function": {"name": 1}}]}},
    {"message": {}, "done": True, "eval_count": "9"},
], ids=["message-string", "content-int", "call-null", "name-int", "count-string"])
def test_ollama_lines_of_the_wrong_shape_are_malformed(bad):
    with pytest.raises(MalformedResponseError, match="wrong shape"):
        parse_line(bad)


def test_wrong_shapes_through_the_server_and_the_cli_keep_the_one_line_promise(
    openai_server, monkeypatch, capsys
):
    from rlm_toolkit.__main__ import main

    for name in ("choice-null", "delta-string", "content-int", "index-string"):
        openai_server.script(RawStream(sse(chunk({"content": "Hi "})), sse(WRONG_SHAPES[name])))
        with pytest.raises(MalformedResponseError) as caught:
            bounded(lambda: openai_rlm(openai_server).run("go"))
        assert caught.value.partial_text == "Hi "
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    openai_server.script(RawStream(sse(chunk({"content": "Hi "})), sse({"choices": "abc"})))
    assert main(["hi", "-m", "openai:gpt-4o"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("Hi ")
    assert err.startswith("rlm: MalformedResponseError:") and err.count("\n") == 1 and "Traceback" not in err


# -- 10. an 8 MB line in 1 KB pieces ----------------------------------------------------------------


def _feed_cpu_seconds(total: int, piece: int = 1024) -> float:
    """CPU seconds of this thread (other processes on a loaded machine do not count) to decode one
    ``data:`` line of ``total`` bytes fed in ``piece``-byte pieces; the best of three runs."""
    body = b"data: " + b"x" * total + b"\n\n"
    pieces = [body[i : i + piece] for i in range(0, len(body), piece)]
    best = float("inf")
    for _ in range(3):
        decoder = SSEDecoder()
        started = time.thread_time()
        events = [event for p in pieces for event in decoder.feed(p)]
        best = min(best, time.thread_time() - started)
        assert len(events) == 1 and len(events[0].data) == total
    return best


def test_a_long_line_in_small_pieces_decodes_in_linear_time():
    small = _feed_cpu_seconds(256 * 1024)
    big = _feed_cpu_seconds(4 * 1024 * 1024)  # 16 times the bytes (and pieces)
    # Linear: ~16x the small case; the old decoder copied the pending line per piece: ~256x.
    assert big < 64 * small + 0.05, f"{big:.3f} s for 4 MB vs {small:.4f} s for 256 KB"


def test_the_line_decoder_still_splits_every_line_end_and_bom_one_byte_at_a_time():
    body = "\ufeffa\r\nb\rc\n\nd\r".encode() + "é".encode() + b"\n"
    decoder = LineDecoder()
    lines = [line for i in range(len(body)) for line in decoder.feed(body[i : i + 1])] + decoder.flush()
    assert lines == ["a", "b", "c", "", "d", "é"]
    whole = LineDecoder()
    assert whole.feed(body) + whole.flush() == lines


# -- 11. server quirks that put no text at risk ------------------------------------------------------

QUIRKS = {
    "empty-data": b"data:\n\n",
    "blank-data": b"data: \n\n",
    "empty-object": b"data: {}\n\n",
    "ping-event": b'event: ping\ndata: {"type":"ping"}\n\n',
    "ping-object": b'data: {"type": "ping"}\n\n',
    "error-null": sse({**chunk({"content": ""}), "error": None}),
}


@pytest.mark.parametrize("quirk", list(QUIRKS.values()), ids=list(QUIRKS))
def test_keep_alive_quirks_mid_stream_are_skipped(openai_server, quirk):
    openai_server.script(RawStream(sse(chunk({"content": "Hello"})), quirk, sse(chunk({"content": " world"})),
                                   quirk, sse(chunk({}, "stop")), b"data: [DONE] \n\n"))
    rlm = openai_rlm(openai_server)
    assert bounded(lambda: rlm.run("hi")) == "Hello world"
    assert rlm.last_response.finish_reason == "stop" and rlm.last_response.state == "done"


def test_done_with_a_trailing_space_ends_the_stream(openai_server):
    openai_server.script(RawStream(sse(chunk({"content": "Hi"})), b"data: [DONE] \n\n"))
    rlm = openai_rlm(openai_server)
    assert bounded(lambda: rlm.run("hi")) == "Hi" and rlm.last_response.state == "done"


@pytest.mark.parametrize("event, words", [
    (b'data: {"type": "content_block_delta", "delta": {"text": "lost?"}}\n\n', "unexpected event"),
    (b'event: error\ndata: {"message": "overloaded"}\n\n', "overloaded"),
    (b"data: [NOT JSON\n\n", "not JSON"),
], ids=["unknown-object", "error-event", "not-json"])
def test_strictness_stays_where_text_is_at_risk(openai_server, event, words):
    openai_server.script(RawStream(sse(chunk({"content": "Hi"})), event, sse(chunk({}, "stop"))))
    with pytest.raises(MalformedResponseError, match=words):
        bounded(lambda: openai_rlm(openai_server).run("hi"))


# -- 12. tool_timeout against tools that ignore cancellation or block the loop ---------------------


async def stubborn(seconds: float) -> str:
    """Ignores cancellation until ``seconds`` have passed."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            pass
    return "finished anyway"


_blocking_started = threading.Event()


async def blocking(seconds: float) -> str:
    """Blocks its event loop with time.sleep."""
    _blocking_started.set()
    time.sleep(seconds)
    return "woke up"


def test_tool_timeout_ends_the_step_for_an_async_tool_that_swallows_cancellation():
    agent = agent_for(one_call("stubborn", seconds=4), "Recovered.", tools=[stubborn], tool_timeout=0.3)
    started = time.perf_counter()
    events = bounded(lambda: list(agent.stream("go")))
    assert time.perf_counter() - started < 2.5
    observation = next(e for e in events if e.type == "observation")
    assert observation.is_error and "did not finish within 0.3 s" in observation.content
    assert events[-1].content == "Recovered."


def test_a_blocking_async_tool_stalls_no_other_stream_and_times_out():
    _blocking_started.clear()
    agent = agent_for(one_call("blocking", seconds=3), "Recovered.", tools=[blocking], tool_timeout=0.5)
    out: dict = {}
    runner = threading.Thread(target=lambda: out.setdefault("events", list(agent.stream("go"))), daemon=True)
    started = time.perf_counter()
    runner.start()
    assert _blocking_started.wait(5)
    other = time.perf_counter()
    bridge_still_works()  # another stream on the same bridge loop while the tool sleeps
    assert time.perf_counter() - other < 1.5
    runner.join(5)
    assert not runner.is_alive() and time.perf_counter() - started < 2.5
    observation = next(e for e in out["events"] if e.type == "observation")
    assert observation.is_error and "did not finish within 0.5 s" in observation.content


async def test_ainvoke_times_out_on_a_tool_that_ignores_cancellation():
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        await tool(stubborn).ainvoke({"seconds": 3}, timeout=0.2)
    assert time.perf_counter() - started < 1.5


# -- 14. a password in base_url ------------------------------------------------------------------------


def test_a_password_in_base_url_is_never_logged_nor_shown(openai_server, caplog):
    password = f"pw-{uuid.uuid4().hex[:12]}"
    url = openai_server.base_url.replace("://", f"://alice:{password}@")
    caplog.set_level(logging.DEBUG)
    rlm = RLM.from_openai("gpt-4o", base_url=url, max_retries=0)
    assert bounded(lambda: rlm.run("hi")) == "Hello from the loopback server."
    assert openai_server.headers[-1]["authorization"].startswith("Basic ")  # the credentials still work
    assert "HTTP Request: POST" in caplog.text and password not in caplog.text
    assert password not in rlm.provider.base_url
    closed = RLM.from_openai("gpt-4o", base_url=f"http://alice:{password}@127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(APIConnectionError) as caught:
        bounded(lambda: closed.run("hi"))
    assert password not in str(caught.value) and password not in caplog.text
    assert scrub("GET http://bob:hunter2@example.test/v1 failed") == "GET http://***@example.test/v1 failed"
    assert scrub("ssh://git@example.test/repo.git") == "ssh://git@example.test/repo.git"
