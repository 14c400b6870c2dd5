"""Events handed over per network read: the OpenAI chat provider yields what one read decoded as
one list, ``RLM._produce`` and both pumps take those lists whole — in order, with the retry rule
(only before anything was yielded), a budget that cuts mid-list, and Stop / early exit closing the
source — and every other provider keeps working through the one-event default."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rlm_toolkit import RLM, StreamingCallback
from rlm_toolkit.errors import APIConnectionError, MalformedResponseError
from rlm_toolkit.events import Finish, TextDelta, ToolCallDelta, Usage
from rlm_toolkit.providers.base import Provider, Request
from rlm_toolkit.providers.openai import OpenAIProvider
from tests.fixtures.openai_server import Stream

WORDS = [f"w{i} " for i in range(3000)]


def openai(server) -> OpenAIProvider:
    return OpenAIProvider("gpt-4o", base_url=server.base_url, api_key=server.api_key)


REQUEST = Request(messages=[{"role": "user", "content": "x"}])


async def batches_of(provider: Provider) -> list[list]:
    return [batch async for batch in provider.stream_batches(REQUEST)]


async def events_of(provider: Provider) -> list:
    return [event async for event in provider.stream(REQUEST)]


def test_the_openai_provider_hands_over_a_reads_events_as_one_list_in_order(openai_server):
    openai_server.script(Stream(WORDS, fast=True))  # the body in 64 KB writes: many events per read
    batches = asyncio.run(batches_of(openai(openai_server)))
    events = [event for batch in batches for event in batch]
    assert all(batches) and len(batches) < len(WORDS) / 20
    assert [e.text for e in events if e.type == "text"] == WORDS
    assert [e.type for e in events[-2:]] == ["finish", "usage"]


def test_batches_and_single_events_are_the_same_events(openai_server):
    calls = [{"name": "add", "arguments": {"a": 1, "b": 2}}]
    openai_server.script(Stream(["a", "b"], tool_calls=calls), Stream(["a", "b"], tool_calls=calls))
    provider = openai(openai_server)
    flat = [e for batch in asyncio.run(batches_of(provider)) for e in batch]
    assert flat == asyncio.run(events_of(provider))
    assert [type(e) for e in flat] == [TextDelta, TextDelta, *[ToolCallDelta] * 4, Finish, Usage]


def test_what_a_read_gave_before_an_error_comes_out_first_and_is_not_retried(openai_server):
    openai_server.script(Stream(WORDS[:5], error_after=5, fast=True))  # one read: 5 pieces, then the error
    rlm = RLM(openai(openai_server), max_retries=3, retry_backoff=0)
    got = []
    with pytest.raises(MalformedResponseError, match="error while processing"):
        for chunk in rlm.stream("x"):
            got.append(chunk)
    assert got == WORDS[:5] == [rlm.last_response.text[i * 3:i * 3 + 3] for i in range(5)]
    assert len(openai_server.requests) == 1


class Batches(Provider):
    """Scripted lists of events, as a provider that batches per read hands them over; a fault
    injected before the first list (``fail_first``) or after one (``fail_after_first``)."""

    name = "batches"

    def __init__(self, batches, *, fail_first: int = 0, fail_after_first: bool = False,
                 wait: float = 0) -> None:
        super().__init__("scripted")
        self.batches, self.fail_first, self.fail_after_first = batches, fail_first, fail_after_first
        self.wait = wait
        self.attempts = 0
        self.closed = threading.Event()

    def stream(self, request):  # pragma: no cover - the RLM reads stream_batches
        raise AssertionError("read per event")

    async def stream_batches(self, request):
        self.attempts += 1
        try:
            if self.attempts <= self.fail_first:
                raise APIConnectionError("refused", provider=self.name, model=self.model)
            for n, batch in enumerate(self.batches):
                if n and self.wait:
                    await asyncio.sleep(self.wait)
                yield list(batch)
                if self.fail_after_first:
                    raise APIConnectionError("reset", provider=self.name, model=self.model)
        finally:
            self.closed.set()


class Tokens(StreamingCallback):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)


def texts(words) -> list[TextDelta]:
    return [TextDelta(text=w) for w in words]


def arun_text(rlm: RLM, prompt: str = "x", **params) -> list[str]:
    async def go() -> list[str]:
        return [chunk async for chunk in rlm.astream(prompt, **params)]

    return asyncio.run(go())


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_failure_before_the_first_list_is_retried_and_one_after_it_is_not(face):
    collect = (lambda rlm: list(rlm.stream("x"))) if face == "sync" else arun_text
    retried = Batches([texts(["a", "b"]), [Finish(reason="stop")]], fail_first=2)
    assert collect(RLM(retried, max_retries=2, retry_backoff=0)) == ["a", "b"] and retried.attempts == 3

    broken = Batches([texts(["a", "b"]), [Finish(reason="stop")]], fail_after_first=True)
    rlm = RLM(broken, max_retries=2, retry_backoff=0)
    with pytest.raises(APIConnectionError):
        collect(rlm)
    assert broken.attempts == 1 and rlm.last_response.text == "ab" and rlm.last_response.state == "error"


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_budget_cuts_mid_list_at_the_event_that_crossed_it_and_closes_the_source(face):
    words = [f" w{i}" for i in range(200)]
    provider = Batches([texts(words), [Finish(reason="stop"), Usage(prompt_tokens=2, completion_tokens=200)]])
    rlm, log = RLM(provider), Tokens()
    if face == "sync":
        got = list(rlm.stream("hello", max_tokens_total=20, callbacks=[log]))  # 2 prompt tokens (estimated)
    else:
        got = arun_text(rlm, "hello", max_tokens_total=20, callbacks=[log])
    response = rlm.last_response
    assert got == log.tokens == words[:19] and response.text == "".join(words[:19])
    assert (response.state, response.stop_reason) == ("stopped", "budget") and provider.closed.is_set()


@pytest.mark.parametrize("face", ["sync", "async"])
def test_lists_keep_their_order_and_the_hooks_run_per_event(face):
    batches = [texts([f"{n}.{i} " for i in range(n + 1)]) for n in range(30)] + [[Finish(reason="stop")]]
    rlm, log = RLM(Batches(batches)), Tokens()
    got = list(rlm.stream("x", callbacks=[log])) if face == "sync" else arun_text(rlm, callbacks=[log])
    expected = [e.text for batch in batches[:-1] for e in batch]
    assert got == log.tokens == expected and rlm.last_response.finish_reason == "stop"


def test_stop_from_another_thread_ends_a_batched_stream_and_closes_the_source():
    provider = Batches([texts(["a", "b"])] * 1000, wait=0.02)
    stream = RLM(provider).stream("x")
    assert next(stream) == "a"
    threading.Timer(0.1, stream.cancel).start()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        for _ in stream:
            pass
    assert time.monotonic() - started < 2 and provider.closed.wait(2)
    assert stream.response.state == "stopped"


def test_leaving_an_async_stream_early_closes_the_connection(openai_server):
    openai_server.script(Stream(WORDS, delay=0.01))

    async def first() -> str:
        async with RLM(openai(openai_server)).astream("x") as chunks:
            async for chunk in chunks:
                return chunk
        return ""

    assert asyncio.run(first()) == WORDS[0]
    assert openai_server.wait_disconnect(2)


class Logged(StreamingCallback):
    """A token hook, plain or ``async def``, that logs (its name, the token, its thread)."""

    def __init__(self, name: str, log: list, *, asynchronous: bool = False) -> None:
        self.name, self.log = name, log
        if asynchronous:
            self.on_llm_new_token = self._later  # type: ignore[method-assign]

    def on_llm_new_token(self, token, **kwargs):
        self.log.append((self.name, token, threading.get_ident()))

    async def _later(self, token, **kwargs):
        await asyncio.sleep(0)
        self.log.append((self.name, token, None))


@pytest.mark.parametrize("face", ["sync", "async"])
def test_an_async_hook_between_plain_ones_keeps_every_handlers_order(face):
    log: list = []
    handlers = [Logged("a", log, asynchronous=True), Logged("b", log), Logged("c", log, asynchronous=True),
                Logged("d", log)]
    rlm = RLM(Batches([texts(["x", "y"]), texts(["z"]), [Finish(reason="stop")]]), callbacks=handlers)
    got = list(rlm.stream("q")) if face == "sync" else arun_text(rlm)
    assert got == ["x", "y", "z"]
    assert [(name, token) for name, token, _ in log] == [(n, t) for t in "xyz" for n in "abcd"]
    if face == "sync":  # the plain hooks ran in the caller's thread
        assert {thread for name, _, thread in log if name in "bd"} == {threading.get_ident()}


@pytest.mark.parametrize(("choice", "plain"), [
    ({"index": 0, "delta": {"content": "a"}}, "a"),
    ({"delta": {"role": "assistant", "content": ""}, "finish_reason": None}, ""),
    ({"index": 0, "delta": {"content": "a", "reasoning_content": "r"}}, None),  # reasoning: the full path
    ({"index": 0, "delta": {"role": "assistant", "reasoning": "r"}}, None),
    ({"index": 0, "delta": {"content": "a", "role": "assistant", "refusal": None}}, None),
    ({"index": 0, "delta": {"content": "a", "tool_calls": []}}, None),
    ({"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}, None),
    ({"index": 1, "delta": {"content": "a"}}, None),
    ({"index": False, "delta": {"content": "a"}}, None),
    ({"index": 0.0, "delta": {"content": "a"}}, None),
    ({"index": 0, "delta": {"content": 5}}, None),
])
def test_the_one_go_read_of_a_text_chunk_leaves_every_other_chunk_to_the_full_parser(choice, plain):
    from rlm_toolkit.providers.openai import _plain_text

    assert _plain_text({"choices": [choice]}) == plain
    assert _plain_text({"choices": [choice], "usage": {"prompt_tokens": 1}}) is None


SSE_BODIES = [
    "".join(f"data: {{\"n\": {i}}}\n\n" for i in range(50)),
    "\ufeffdata: a\n\ndata: b\n\n: comment\n\ndata: c\ndata: d\n\nevent: ping\ndata: \n\ndata: é€😀\n\n",
    "data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\n\n",
    "id: 7\ndata: a\n\nretry: 10\ndata: b\n\ndata:c\n\ndata: d\n\n\n\ndata: e\n\n",
    "data: x\n\n" * 20 + "event: error\ndata: {\"error\": 1}\n\n" + "data: y\n\n" * 20 + "data: [DONE]\n\n",
]


@pytest.mark.parametrize("body", SSE_BODIES)
def test_the_sse_decoders_run_of_data_strings_is_feed_event_for_event(body):
    from rlm_toolkit._decoders import SSEDecoder

    raw = body.encode()
    expected = [(e.data, e.event) for e in SSEDecoder().feed(raw)]
    for size in (1, 2, 3, 5, 7, 13, 64, 1000, len(raw)):
        decoder, got = SSEDecoder(), []
        for start in range(0, len(raw), size):
            got += decoder.messages(raw[start : start + size])
        assert [(e, "message") if isinstance(e, str) else (e.data, e.event) for e in got] == expected, size


def test_a_read_of_whole_data_events_comes_as_their_strings():
    from rlm_toolkit._decoders import SSEDecoder

    decoder = SSEDecoder()
    assert [e.data for e in decoder.messages(b"data: 0\n\ndata: 1")] == ["0"]  # the first read: by line
    assert decoder.messages(b"\n\ndata: 2\n\ndata: 3\n\ndata: 4") == [("1", "message", None, None), "2", "3"]


def sync_batches_of(provider: Provider) -> list[list]:
    return list(provider.stream_sync(REQUEST))


@pytest.mark.parametrize("script", [
    dict(words=WORDS[:50]),
    dict(words=WORDS[:50], fast=True),
    dict(words=WORDS[:20], error_after=7, fast=True),
    dict(words=WORDS[:20], cut_after=9),
])
def test_the_sync_and_async_faces_hand_over_the_same_events_and_errors(openai_server, script):
    """One Decoding drives both faces: the same events, the same error after them."""
    words = script.pop("words")
    faces = {}
    for face, run in (("async", lambda p: asyncio.run(batches_of(p))), ("sync", sync_batches_of)):
        openai_server.script(Stream(words, **script))
        try:
            faces[face] = ([e for batch in run(openai(openai_server)) for e in batch], None)
        except Exception as error:  # noqa: BLE001 - compared below
            faces[face] = (None, type(error))
    assert faces["sync"] == faces["async"]
