"""The async clients' transport (providers/http/transport.py): a chunked body reaches h11 as one
chunk per network read, and is otherwise the same body — the same bytes, the same errors, the
connection kept alive — whatever the server's framing; a proxy from the environment keeps httpx's
own transport.

:class:`Rechunk` is checked against h11 itself (the body read through h11 with and without it,
fed in every split), the transport against real sockets: the loopback OpenAI-compatible server
and a raw server that writes exact bytes (the framings no real LLM server sends)."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable

import h11
import pytest

from rlm_toolkit import RLM
from rlm_toolkit.errors import IncompleteStreamError
from rlm_toolkit.providers.base import Request
from rlm_toolkit.providers.http import transport
from rlm_toolkit.providers.http.transport import Rechunk
from rlm_toolkit.providers.openai import OpenAIProvider
from tests.fixtures.openai_server import Stream

REQUEST = Request(messages=[{"role": "user", "content": "x"}])
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunked(*payloads: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in payloads) + b"0\r\n" + trailer + b"\r\n"


def through_h11(reads: list[bytes]) -> tuple[list[bytes], BaseException | None]:
    """The Data pieces h11 hands out for these reads of a response to a GET, then the end (None)
    or its error."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())
    pieces: list[bytes] = []
    try:
        for data in [*reads, b""]:
            connection.receive_data(data)
            while (event := connection.next_event()) is not h11.NEED_DATA:
                if isinstance(event, h11.Data):
                    pieces.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    return pieces, None
    except h11.ProtocolError as error:
        return pieces, error
    raise AssertionError("h11 neither ended nor refused the body")


def rechunked(body: bytes, cuts: list[int]) -> list[bytes]:
    """``HEAD`` as it comes, then ``body`` cut at ``cuts`` and re-framed read by read."""
    rechunk, out = Rechunk(), [HEAD]
    for start, stop in zip([0, *cuts], [*cuts, len(body)]):
        if start < stop:
            out.append(rechunk.feed(body[start:stop]))
    out.append(rechunk.flush())
    return [data for data in out if data]


def splits(body: bytes) -> list[list[int]]:
    rng = random.Random(7)
    return [[], list(range(1, len(body))),  # whole, and one byte at a time
            *(sorted(rng.sample(range(1, len(body)), min(k, len(body) - 1))) for k in (1, 3, 10, 40)
              for _ in range(10))]


def test_a_rechunked_body_reads_the_same_through_h11_in_one_piece_per_read():
    payloads = [b"data: {\"t\": %d}\n\n" % i for i in range(60)] + [b"\r\n" * 5, b"x" * 300]
    body = chunked(*payloads)
    for cuts in splits(body):
        pieces, error = through_h11(rechunked(body, cuts))
        assert error is None and b"".join(pieces) == b"".join(payloads)
        assert len(pieces) <= len(cuts) + 1  # at most one piece per read
    pieces, _ = through_h11(rechunked(body, []))
    assert len(pieces) == 1  # 62 of the server's chunks in one read: one piece


def test_size_lines_as_h11_reads_them_extensions_upper_case_hex_and_trailers():
    body = b"A;name=value\r\n0123456789\r\n1;x\r\n!\r\n2 \t\r\nab\r\n0;end\r\nExpires: never\r\n\r\n"
    expected = through_h11([HEAD, body])
    assert expected == ([b"0123456789", b"!", b"ab"], None)
    for cuts in splits(body):
        pieces, error = through_h11(rechunked(body, cuts))
        assert error is None and b"".join(pieces) == b"0123456789!ab"
    assert len(through_h11(rechunked(body, []))[0]) == 1


@pytest.mark.parametrize("body", [
    b"5\r\nhelloXX\r\n0\r\n\r\n",  # a chunk longer than it said: no CRLF where it must be
    b"5\r\nhello\r\nzz\r\nab\r\n0\r\n\r\n",  # a size line that is not hex
    b"5\r\nhello\r\n" + b"f" * 2000,  # a size line that never ends
    b"5\r\nhello\r\nA\r\nshort",  # cut in the middle of a chunk
    b"5\r\nhello\r\n1",  # cut in the middle of a size line
    b"5\r\nhello\r",  # cut in the middle of a chunk's CRLF
    b"5\r\nhello\r\n0x1\r\nz\r\n0\r\n\r\n",  # int() would read 0x1; h11 does not
    b"-1\r\nz\r\n0\r\n\r\n",
])
def test_what_it_does_not_parse_h11_refuses_as_it_would_have(body):
    expected_pieces, expected = through_h11([HEAD, body])
    assert expected is not None
    for cuts in splits(body):
        pieces, error = through_h11(rechunked(body, cuts))
        assert type(error) is type(expected)  # and the same kind (the bytes shown depend on the reads)
        assert str(error).split(":")[0] == str(expected).split(":")[0]
        assert b"".join(pieces) == b"".join(expected_pieces)


def lagging_read(provider: OpenAIProvider, sent: Callable[[], bool]) -> list[bytes]:
    """A call's body pieces as httpx hands them out, the reader lagging after the first until the
    server has ``sent`` its whole answer (or has filled the socket's buffers: 5 s at most)."""
    path, body, types, _ = provider.exchange(REQUEST)

    async def read() -> list[bytes]:
        async with provider.post(path, body, content_types=types) as chunks:
            pieces = [await anext(chunks)]
            deadline = time.monotonic() + 5
            while not sent() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the rest arrives meanwhile
            pieces += [piece async for piece in chunks]
        await provider.aclose()
        return pieces

    return asyncio.run(read())


def pieces_of_a_token_per_chunk_stream(server, words: list[str]) -> list[bytes]:
    server.script(Stream(words))  # an HTTP chunk per token
    done = server.completed + 1
    pieces = lagging_read(OpenAIProvider("gpt-4o", base_url=server.base_url, api_key=server.api_key),
                          lambda: server.completed >= done)
    assert b"".join(pieces).decode().count("data: ") == len(words) + 4  # role, words, finish, usage, [DONE]
    return pieces


def test_a_token_per_chunk_reaches_the_reader_in_a_piece_per_read(openai_server, monkeypatch):
    """Once the reader lags, a read holds hundreds of the server's chunks, and they come out of
    httpx as one piece (were the transport not in the path, or its stream not the connection's,
    there would be a piece per token)."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert len(pieces_of_a_token_per_chunk_stream(openai_server, [f"w{i} " for i in range(3000)])) < 100


def test_a_proxy_in_the_environment_keeps_httpxs_own_transport(openai_server, monkeypatch):
    """httpx reaches the environment's proxies only through transports of its own (a client given
    one ignores them): with a proxy named, the client is httpx's, a piece per chunk (the loopback
    server is still reached directly)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    words = [f"w{i} " for i in range(300)]
    assert len(pieces_of_a_token_per_chunk_stream(openai_server, words)) > 300


def test_sync_and_async_calls_read_every_word_and_reuse_the_connection(openai_server):
    words = [f"w{i} " for i in range(2000)]
    openai_server.script(Stream(words), Stream(words, fast=True), Stream(words))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    assert rlm.run("a") == "".join(words)
    assert rlm.run("b") == "".join(words)
    assert asyncio.run(rlm.arun("c")) == "".join(words)
    assert openai_server.accepted == 2  # the bridge loop's one connection for both sync calls; arun's
    rlm.close()


def test_a_connection_cut_mid_body_is_an_incomplete_stream_with_its_text_kept(openai_server):
    openai_server.script(Stream([f"w{i} " for i in range(50)], cut_after=20))
    stream = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key,
                             max_retries=0).stream("x")
    with pytest.raises(IncompleteStreamError):
        for _ in stream:
            pass
    assert stream.response.text == "".join(f"w{i} " for i in range(20))


class RawServer:
    """Answers one request on 127.0.0.1 with the exact bytes given, then closes; over TLS with
    ``tls`` (a server-side context)."""

    def __init__(self, answer: bytes, tls: ssl.SSLContext | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        self._answer, self._tls = answer, tls
        self.sent = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self._listener:
            connection, _ = self._listener.accept()
            if self._tls is not None:
                connection = self._tls.wrap_socket(connection, server_side=True)
            with connection:
                received = b""
                while b"\r\n\r\n" not in received:
                    received += connection.recv(65536)
                head, _, body = received.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += connection.recv(65536)
                connection.sendall(self._answer)
                self.sent.set()


SSE = b"data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"hi\"}}]}\n\n" \
      b"data: {\"choices\": [{\"index\": 0, \"delta\": {}, \"finish_reason\": \"stop\"}]}\n\ndata: [DONE]\n\n"


@pytest.mark.parametrize("answer", [
    # an informational head before the response's own, the body chunked
    b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + HEAD + chunked(SSE[:30], SSE[30:]),
    # a body with a length, in one read with its head
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s" % (len(SSE), SSE),
    # a body that ends at the close
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n" + SSE,
    # a head with bare LF line ends, its blank line in the middle of the bytes
    HEAD.replace(b"\r\n", b"\n") + chunked(SSE),
], ids=["103-then-chunked", "content-length", "until-close", "bare-lf-head"])
def test_every_framing_of_a_body_reads_the_same(answer):
    server = RawServer(answer)
    rlm = RLM.from_openai("gpt-4o", base_url=server.base_url, api_key="sk-raw-0123456789", max_retries=0)
    assert asyncio.run(rlm.arun("x")) == "hi"


def test_a_body_over_tls_is_re_framed_too(tmp_path, monkeypatch):
    """The connection's stream after the TLS handshake is the transport's as well (start_tls), and
    the system's certificates are read as httpx's own transport reads them (SSL_CERT_FILE)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    events = [b'data: {"choices": [{"index": 0, "delta": {"content": "w%d "}}]}\n\n' % i for i in range(500)]
    end = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    server = RawServer(HEAD + chunked(*events, end), tls=tls)
    pieces = lagging_read(OpenAIProvider("gpt-4o", base_url=server.base_url, api_key="sk-raw-0123456789"),
                          server.sent.is_set)
    assert b"".join(pieces) == b"".join(events) + end
    assert len(pieces) < 50  # 501 chunks, in TLS records of 16 KB


def test_a_malformed_chunk_is_h11s_error_with_the_text_before_it_kept():
    ok = b'data: {"choices": [{"index": 0, "delta": {"content": "kept"}}]}\n\n'
    server = RawServer(HEAD + chunked(ok)[:-5] + b"5\r\nhelloXX\r\n0\r\n\r\n")
    rlm = RLM.from_openai("gpt-4o", base_url=server.base_url, api_key="sk-raw-0123456789", max_retries=0)
    stream = rlm.stream("x")
    with pytest.raises(IncompleteStreamError, match="malformed chunk footer"):
        for _ in stream:
            pass
    assert stream.response.text == "kept"


def test_httpcores_errors_come_out_as_httpxs():
    """What httpx's own transport raises, this one raises: the providers map httpx's errors."""
    for theirs, ours in transport._ERRORS:
        with pytest.raises(ours) as raised, transport._httpx_errors():
            raise theirs("x")
        assert type(raised.value) is ours and str(raised.value) == "x"

