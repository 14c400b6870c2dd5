"""A character outside the BMP that JSON escapes as two UTF-16 halves (``"\\ud83d\\ude00"``) and a
server puts in two events, or a lone half (issue 20, #2): every provider's stream joins the halves
(:class:`rlm_toolkit._decoders.SurrogatePairs`), a lone half is U+FFFD, and the text, the
response, the trace, the CLI and the web streams all carry the same string."""

from __future__ import annotations

import json

import httpx
import pytest

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, web
from rlm_toolkit._decoders import SSEDecoder
from rlm_toolkit.events import Finish, ReasoningDelta, TextDelta, ToolCallDelta
from rlm_toolkit.providers.anthropic import AnthropicProvider
from rlm_toolkit.providers.ollama import OllamaProvider
from rlm_toolkit.providers.openai_responses import OpenAIResponsesProvider
from rlm_toolkit.trace import TraceRecorder, load
from tests.fixtures.openai_server import Stream
from tests.fixtures.responses_events import ResponsesStream
from tests.fixtures.vendor_servers import Reply, ndjson, sse

HIGH, LOW = "\ud83d", "\ude00"  # 😀 (U+1F600) as JSON's two \u escapes
PIECES = ["Hello ", HIGH, LOW + " bye"]
WHOLE = "Hello \U0001F600 bye"


def openai_rlm(server):
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, max_retries=0)


def encodes(text: str) -> str:
    text.encode("utf-8")  # raises UnicodeEncodeError on a lone half
    return text


# -- the four wire formats, through a loopback server ---------------------------------------------


def test_openai_chat_joins_halves_split_across_events(openai_server):
    openai_server.script(
        Stream(PIECES, tool_calls=[{"name": "add", "arguments": '{"s": "' + HIGH + LOW + '"}'}], arg_pieces=9)
    )
    rlm = openai_rlm(openai_server)
    events = list(rlm.stream_events("hi"))
    texts = [e.text for e in events if e.type == "text"]
    assert "".join(texts) == WHOLE and all(encodes(t) for t in texts)
    response = rlm.last_response
    assert response.text == WHOLE and response.state == "done"
    assert json.loads(response.tool_calls[0].arguments) == {"s": "\U0001F600"}


def test_openai_chat_reasoning_halves_are_joined(openai_server):
    from tests.toolkit.test_hostile import RawStream, chunk
    from tests.toolkit.test_hostile import sse as chat_sse

    openai_server.script(RawStream(
        chat_sse(chunk({"reasoning_content": "think " + HIGH})),
        chat_sse(chunk({"reasoning_content": LOW})),
        chat_sse(chunk({"content": "ok"})),
        chat_sse(chunk({}, "stop")),
        b"data: [DONE]\n\n",
    ))
    rlm = openai_rlm(openai_server)
    assert rlm.run("hi") == "ok"
    assert rlm.last_response.reasoning == "think \U0001F600"


def _anthropic_events(*texts):
    return sse(
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        *[("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": t}}) for t in texts],
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 3}}),
        ("message_stop", {"type": "message_stop"}),
    )


def test_anthropic_joins_halves_split_across_events(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream", _anthropic_events(*PIECES)))
    rlm = RLM(AnthropicProvider("claude-x", api_key="k", base_url=vendor_server.base_url), max_retries=0)
    assert encodes(rlm.run("hi")) == WHOLE
    assert rlm.last_response.text == WHOLE


def test_responses_api_joins_halves_split_across_events(vendor_server):
    arguments = '{"abc": "' + HIGH + LOW + '"}'  # the 5-character deltas cut the pair in two
    stream = ResponsesStream().message(WHOLE, pieces=PIECES).function_call("add", arguments, "c1").completed()
    vendor_server.script(stream.reply())
    rlm = RLM(OpenAIResponsesProvider("gpt-5", api_key="k", base_url=vendor_server.base_url), max_retries=0)
    assert encodes(rlm.run("hi")) == WHOLE
    assert json.loads(rlm.last_response.tool_calls[0].arguments) == {"abc": "\U0001F600"}


def test_ollama_joins_halves_split_across_lines(vendor_server):
    lines = [{"message": {"role": "assistant", "content": piece}, "done": False} for piece in PIECES]
    lines.append({"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})
    vendor_server.script(Reply(200, "application/x-ndjson", ndjson(*lines)))
    rlm = RLM(OllamaProvider("llama3.2", host=vendor_server.base_url), max_retries=0)
    assert encodes(rlm.run("hi")) == WHOLE


def test_a_lone_half_becomes_a_replacement_character(openai_server):
    # a low half with no high one, a high half followed by no low one, a high half at the very end
    openai_server.script(Stream(["a" + LOW, "b" + HIGH, "c", HIGH]))
    rlm = openai_rlm(openai_server)
    assert encodes(rlm.run("hi")) == "a\ufffdb\ufffdc\ufffd"
    assert rlm.last_response.state == "done"


def test_the_scripted_provider_is_mended_too():
    rlm = RLM(ScriptedProvider(turns=[ScriptedTurn(chunks=PIECES, reasoning=[HIGH, LOW])]))
    assert rlm.run("hi") == WHOLE and rlm.last_response.reasoning == "\U0001F600"


def test_surrogate_pairs_unit():
    from rlm_toolkit._decoders import SurrogatePairs

    pairs = SurrogatePairs()
    batch = [TextDelta(text="x" + HIGH), ToolCallDelta(index=1, arguments=HIGH),
             ReasoningDelta(text=HIGH, index=2)]
    pairs.mend(batch)
    assert batch == [TextDelta(text="x")]  # the halves wait (pieces that were only a half go)
    batch = [ToolCallDelta(index=1, arguments=LOW), TextDelta(text="y"), Finish(reason="stop")]
    pairs.mend(batch)
    assert batch == [ToolCallDelta(index=1, arguments="\U0001F600"), TextDelta(text="\ufffdy"),
                     ReasoningDelta(text="\ufffd", index=2), Finish(reason="stop")]
    clean = [TextDelta(text="plain"), TextDelta(text="é")]
    same = list(clean)
    pairs.mend(clean)
    assert all(a is b for a, b in zip(clean, same))


# -- every output: the trace, the CLI, the web streams ---------------------------------------------


def test_the_trace_round_trips_the_joined_text(openai_server, tmp_path):
    openai_server.script(Stream(PIECES))
    path = tmp_path / "run.jsonl"
    assert "".join(openai_rlm(openai_server).stream("hi", record=path)) == WHOLE
    trace = load(path)
    assert trace.text == WHOLE and trace.complete and trace.state == "done"


def test_a_lone_half_given_to_the_recorder_is_written_as_a_replacement_character(tmp_path):
    """A lone half that reaches the recorder from elsewhere (a caller's own events: a provider's are
    mended) is written as U+FFFD; the pieces before it are written once, and the footer is there."""
    path = tmp_path / "run.jsonl"
    recorder = TraceRecorder(path, kind="stream", model="m")
    for piece in ("Hello", " ", HIGH, " world"):
        recorder.event(TextDelta(text=piece))
    recorder.close(state="done")
    trace = load(path)
    assert trace.text == "Hello \ufffd world" and trace.complete


class _FullDisk:
    """A trace file whose write of the text ``refuse`` fails once (a full disk, a lost mount)."""

    def __init__(self, file, refuse):
        self.file, self.refuse = file, refuse

    def write(self, text):
        if self.refuse and self.refuse in text:
            self.refuse = None
            raise OSError(28, "No space left on device")
        return self.file.write(text)

    def flush(self):
        self.file.flush()

    def close(self):
        self.file.close()


def test_a_trace_write_that_fails_repeats_nothing_and_keeps_the_footer(tmp_path):
    path = tmp_path / "run.jsonl"
    recorder = TraceRecorder(path, kind="stream", model="m")
    recorder._file = _FullDisk(recorder._file, refuse='"lo"')
    recorder.event(TextDelta(text="Hel"))
    recorder.event(TextDelta(text="lo"))
    with pytest.raises(OSError):
        recorder.event(TextDelta(text=" world"))  # writes the held "Hel" and "lo": refused
    recorder.event(TextDelta(text=" again"))
    recorder.close(state="done")
    trace = load(path)
    assert trace.text == " world again" and trace.complete  # what the disk refused, and only that, is gone


def test_the_cli_prints_the_joined_text(openai_server, monkeypatch, capsys):
    from rlm_toolkit.__main__ import main

    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    openai_server.script(Stream(PIECES))
    assert main(["hi", "-m", "openai:gpt-4o"]) == 0
    out, err = capsys.readouterr()
    assert out.rstrip("\n") == WHOLE and not err


def _web_app(server):
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/sse")
    async def sse_route():
        return web.sse_response(openai_rlm(server).astream("hi"))

    @app.get("/ui")
    async def ui_route():
        return web.ui_message_response(openai_rlm(server).astream("hi"))

    return app


def _events(url: str) -> list:
    decoder = SSEDecoder()
    with httpx.stream("GET", url, timeout=10) as response:
        body = response.read()
    return decoder.feed(body) + decoder.flush()


@pytest.mark.parametrize("route", ["sse", "ui"])
def test_web_streams_carry_the_joined_text(openai_server, serve_asgi, route):
    openai_server.script(Stream(PIECES))
    events = _events(serve_asgi(_web_app(openai_server)) + "/" + route)
    if route == "sse":
        assert "".join(e.data for e in events if e.event == "message") == WHOLE
        assert events[-1].event == "done"
    else:
        chunks = [json.loads(e.data) for e in events if e.data != "[DONE]"]
        assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == WHOLE
        assert chunks[-1]["type"] == "finish" and events[-1].data == "[DONE]"
