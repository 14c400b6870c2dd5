"""The sans-IO decoders, every fixture fed whole and one byte at a time (WHATWG SSE rules)."""

from __future__ import annotations

import pytest

from rlm_toolkit._decoders import LineDecoder, NDJSONDecoder, ServerSentEvent, SSEDecoder


def feed_all(decoder, data: bytes, *, bytewise: bool) -> list:
    out = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.flush())
    return out


BYTEWISE = pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])

SSE_CASES = {
    "lf": (b"data: a\n\ndata: b\n\n", [ServerSentEvent("a"), ServerSentEvent("b")]),
    "crlf": (b"data: a\r\n\r\ndata: b\r\n\r\n", [ServerSentEvent("a"), ServerSentEvent("b")]),
    "cr": (b"data: a\r\rdata: b\r\r", [ServerSentEvent("a"), ServerSentEvent("b")]),
    "mixed": (b"data: a\r\n\rdata: b\n\r\n", [ServerSentEvent("a"), ServerSentEvent("b")]),
    "one space stripped": (
        b"data:  two\n\ndata:none\n\n",
        [ServerSentEvent(" two"), ServerSentEvent("none")],
    ),
    "multi-line data": (b"data: one\ndata:\ndata: three\n\n", [ServerSentEvent("one\n\nthree")]),
    "comments": (b": keep-alive\ndata: x\n: more\n\n:\n\n", [ServerSentEvent("x")]),
    "event id retry": (
        b"event: done\nid: 7\nretry: 150\ndata: {}\n\ndata: y\n\n",
        [ServerSentEvent("{}", "done", "7", 150), ServerSentEvent("y", "message", "7", 150)],
    ),
    "field without colon": (b"data\ndata: z\n\n", [ServerSentEvent("\nz")]),
    "no dispatch without blank line": (b"data: a\ndata: b\n", []),
    "last event without blank line dropped": (b"data: a\n\ndata: cut", [ServerSentEvent("a")]),
    "bom": (b"\xef\xbb\xbfdata: a\n\n", [ServerSentEvent("a")]),
    "utf-8": ("data: привет 🌍\n\n".encode(), [ServerSentEvent("привет 🌍")]),
    "blank lines only": (b"\n\n\r\n", []),
}


@BYTEWISE
@pytest.mark.parametrize("name", list(SSE_CASES))
def test_sse_fixture(name: str, bytewise: bool) -> None:
    data, expected = SSE_CASES[name]
    assert feed_all(SSEDecoder(), data, bytewise=bytewise) == expected


def test_cr_at_chunk_end_then_lf_is_one_line_break() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"a\r") == ["a"]
    assert decoder.feed(b"\nb\r") == ["b"]
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [""]
    sse = SSEDecoder()
    assert sse.feed(b"data: x\r") == []
    assert sse.feed(b"\n\r") == [ServerSentEvent("x")]
    assert sse.feed(b"\ndata: y\r\n\r\n") == [ServerSentEvent("y")]


@pytest.mark.parametrize("split", [1, 2])
def test_bom_split_across_chunks_is_dropped(split: int) -> None:
    decoder = SSEDecoder()
    data = b"\xef\xbb\xbfdata: a\n\n"
    assert decoder.feed(data[:split]) == []
    assert decoder.feed(data[split:]) == [ServerSentEvent("a")]


def test_bom_only_at_start() -> None:
    lines = LineDecoder()
    assert lines.feed(b"a\n\xef\xbb\xbfb\n") == ["a", "\ufeffb"]


@pytest.mark.parametrize("cut", range(1, 4))
def test_utf8_character_split_across_chunks(cut: int) -> None:
    data = "data: 🌍\n\n".encode()
    start = data.index(b"\xf0")
    decoder = SSEDecoder()
    assert decoder.feed(data[: start + cut]) == []
    assert decoder.feed(data[start + cut :]) == [ServerSentEvent("🌍")]


def test_openai_stream_bytewise_equals_whole() -> None:
    body = (
        b"".join(
            b'data: {"choices":[{"delta":{"content":"%s"}}]}\r\n\r\n' % word.encode()
            for word in ["Hi", " ", "там"]
        )
        + b"data: [DONE]\r\n\r\n"
    )
    whole = feed_all(SSEDecoder(), body, bytewise=False)
    assert [e.data for e in whole][-1] == "[DONE]" and len(whole) == 4
    assert feed_all(SSEDecoder(), body, bytewise=True) == whole


@BYTEWISE
def test_line_decoder_flush_returns_last_line(bytewise: bool) -> None:
    assert feed_all(LineDecoder(), b"one\r\ntwo\rthree\nfour", bytewise=bytewise) == [
        "one",
        "two",
        "three",
        "four",
    ]


@BYTEWISE
def test_ndjson(bytewise: bool) -> None:
    data = b'{"a": 1}\n\n{"b": "\xc3\xa9"}\r\n{"c": null}'
    assert feed_all(NDJSONDecoder(), data, bytewise=bytewise) == [{"a": 1}, {"b": "é"}, {"c": None}]
