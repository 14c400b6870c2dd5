"""Every error path of the OpenAI provider, against the fault-injecting loopback server.

Each failure must raise the right ``rlm_toolkit.errors`` class after the chunks already
delivered, keep the partial text, never show the key, and retry only before the first chunk.
"""

from __future__ import annotations

import time

import pytest

from rlm_toolkit import RLM, errors
from tests.fixtures.openai_server import TEST_KEY, RateLimited, Stall, Status, Stream, Unauthorized

KEY_FRAGMENTS = (TEST_KEY, TEST_KEY[3:8], TEST_KEY[-4:])


def make_rlm(server, **kwargs) -> RLM:
    kwargs.setdefault("retry_backoff", 0.01)
    return RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key, **kwargs)


def consume(rlm: RLM, prompt: str = "hi", **params) -> tuple[list[str], BaseException]:
    """Iterate until the stream raises; return the chunks seen first and the error."""
    chunks: list[str] = []
    with pytest.raises(errors.RLMError) as caught:
        for chunk in rlm.stream(prompt, **params):
            chunks.append(chunk)
    return chunks, caught.value


def assert_no_key(error: BaseException) -> None:
    texts = [str(error), repr(error), getattr(error, "body", ""), getattr(error, "message", "")]
    for text in texts:
        for fragment in KEY_FRAGMENTS:
            assert fragment not in text, (fragment, text)


def test_normal_stream_usage_and_finish(openai_server):
    openai_server.script(Stream(["Hel", "lo", " world"], usage={"prompt_tokens": 5, "completion_tokens": 3}))
    rlm = make_rlm(openai_server)
    assert list(rlm.stream("hi")) == ["Hel", "lo", " world"]
    response = rlm.last_response
    assert (response.state, response.finish_reason, response.prompt_tokens, response.completion_tokens) == (
        "done", "stop", 5, 3)
    assert response.ttft is not None and response.ttft >= 0
    assert openai_server.headers[0]["authorization"] == f"Bearer {TEST_KEY}"


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_over_http(openai_server, line_end):
    chunks = ["Привет", ", ", "мир", " 🌍", "\n\nok"]
    openai_server.script(
        Stream(chunks, line_end=line_end, tool_calls=[{"name": "f", "arguments": {"x": "é"}}])
    )
    rlm = make_rlm(openai_server)
    assert list(rlm.stream("hi")) == chunks
    assert rlm.last_response.tool_calls[0].arguments == '{"x": "\\u00e9"}'


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"cut_after": 2}, errors.IncompleteStreamError),
        ({"end_after": 2}, errors.IncompleteStreamError),
        ({"finish": None}, errors.IncompleteStreamError),
        ({"malformed_after": 2}, errors.MalformedResponseError),
        ({"error_after": 2}, errors.MalformedResponseError),
    ],
    ids=["cut", "clean-end-without-finish", "no-finish-reason", "malformed", "error-event"],
)
def test_mid_stream_fault_raises_after_the_chunks(openai_server, fault, expected):
    openai_server.script(Stream("one two three four", **fault), Stream("must not be replayed"))
    rlm = make_rlm(openai_server)
    chunks, error = consume(rlm)
    n = 4 if fault == {"finish": None} else 2
    assert chunks == ["one", " two", " three", " four"][:n]
    assert type(error) is expected
    assert error.partial_text == "".join(chunks)
    assert rlm.last_response.state == "error" and rlm.last_response.text == "".join(chunks)
    assert len(openai_server.requests) == 1  # never replayed after the first chunk
    assert_no_key(error)


def test_cut_after_the_finish_chunk_keeps_the_complete_answer(openai_server):
    openai_server.script(Stream("all of it", cut_after_finish=True))
    rlm = make_rlm(openai_server)
    assert rlm.run("hi") == "all of it"
    assert rlm.last_response.state == "done" and rlm.last_response.finish_reason == "stop"
    assert len(openai_server.requests) == 1


def test_401_echoing_a_masked_key_is_scrubbed(openai_server):
    openai_server.script(Unauthorized())
    chunks, error = consume(make_rlm(openai_server))
    assert chunks == []
    assert isinstance(error, errors.AuthenticationError) and error.status_code == 401
    assert "Incorrect API key provided" in str(error)
    assert_no_key(error)
    assert len(openai_server.requests) == 1  # 401 is not retried


@pytest.mark.parametrize("first", [RateLimited(0), Status(500), Status(503, "upstream down"), Stall(3)],
                         ids=["429", "500", "503", "stall"])
def test_retried_before_the_first_chunk_then_success(openai_server, first):
    openai_server.script(first, Stream("fine now"))
    rlm = make_rlm(openai_server, timeout=0.5)
    assert rlm.run("hi") == "fine now"
    assert len(openai_server.requests) == 2
    assert openai_server.requests[0] == openai_server.requests[1]


def test_retries_exhausted_raise_the_typed_error(openai_server):
    openai_server.script(Status(500), Status(502), Status(500), Stream("too late"))
    chunks, error = consume(make_rlm(openai_server, max_retries=2))
    assert isinstance(error, errors.ServerError) and error.status_code == 500
    assert len(openai_server.requests) == 3


def test_long_retry_after_is_not_waited_for(openai_server):
    openai_server.script(RateLimited(120), Stream("never"))
    started = time.monotonic()
    chunks, error = consume(make_rlm(openai_server))
    assert isinstance(error, errors.RateLimitError) and error.retry_after == 120
    assert time.monotonic() - started < 5 and len(openai_server.requests) == 1


def test_bad_request_is_not_retried(openai_server):
    openai_server.script(Status(400, {"error": {"message": "max_tokens is too large"}}), Stream("x"))
    chunks, error = consume(make_rlm(openai_server))
    assert isinstance(error, errors.BadRequestError) and "max_tokens is too large" in str(error)
    assert len(openai_server.requests) == 1


def test_wrong_content_type(openai_server):
    openai_server.script(Stream("<html>", content_type="text/html"))
    chunks, error = consume(make_rlm(openai_server, max_retries=0))
    assert isinstance(error, errors.MalformedResponseError) and "text/html" in str(error)


def test_stall_before_headers_times_out_within_bound(openai_server):
    openai_server.script(Stall(10))
    rlm = make_rlm(openai_server, timeout=0.5, max_retries=0)
    started = time.monotonic()
    chunks, error = consume(rlm)
    assert isinstance(error, errors.APITimeoutError)
    assert time.monotonic() - started < 3
    assert openai_server.wait_disconnect(2)


def test_stall_mid_stream_times_out_after_the_chunks(openai_server):
    openai_server.script(Stream("a b c", stall_after=1, stall=10), Stream("not replayed"))
    rlm = make_rlm(openai_server, timeout=0.5)
    started = time.monotonic()
    chunks, error = consume(rlm)
    assert chunks == ["a"] and isinstance(error, errors.APITimeoutError)
    assert error.partial_text == "a"
    assert time.monotonic() - started < 3 and len(openai_server.requests) == 1
    assert openai_server.wait_disconnect(2)


def test_connection_refused_is_a_connection_error():
    import socket

    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rlm = RLM.from_openai("gpt-4o", base_url=f"http://127.0.0.1:{port}/v1", api_key=TEST_KEY,
                          max_retries=1, retry_backoff=0.01)
    chunks, error = consume(rlm)
    assert type(error) is errors.APIConnectionError and error.retryable
    assert_no_key(error)


def test_astream_raises_the_same_errors(openai_server):
    import asyncio

    openai_server.script(Stream("x y z", cut_after=1))
    rlm = make_rlm(openai_server)

    async def main():
        seen = []
        with pytest.raises(errors.IncompleteStreamError) as caught:
            async for chunk in rlm.astream("hi"):
                seen.append(chunk)
        return seen, caught.value

    seen, error = asyncio.run(main())
    assert seen == ["x"] and error.partial_text == "x"


def test_raw_openai_sdk_ends_a_clean_cut_silently(openai_server):
    """The contrast: the openai SDK treats a body that ends without a finish as a normal end."""
    openai = pytest.importorskip("openai")
    openai_server.script(Stream("one two three", end_after=2), Stream("one two three", end_after=2))
    client = openai.OpenAI(base_url=openai_server.base_url, api_key=openai_server.api_key, max_retries=0)
    pieces = [c.choices[0].delta.content for c in client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True) if c.choices]
    assert "".join(p or "" for p in pieces) == "one two"  # no exception: the user never knows
    with pytest.raises(errors.IncompleteStreamError):
        make_rlm(openai_server).run("hi")
