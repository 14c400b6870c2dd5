"""The async transport of the HTTP providers' clients: httpx's own, except that a chunked response
body reaches h11 as one chunk per network read.

A server that flushes each token sends an HTTP chunk per token, and a client that lags reads a
few hundred of them at once (a socket read brings up to 64 KB). h11 hands a chunked body out a
chunk at a time, and every piece then climbs httpcore's and httpx's iterators alone: most of a
client's time per token when the server flushes each one (benchmarks/README.md, "The stream
path re-framed"). :class:`Rechunk` (sans-IO) joins the payloads of what one read completed into
one chunk, so h11 gives out one piece per read; the body's bytes are the same.

Only public API: httpcore's ``AsyncConnectionPool(network_backend=…)`` with a backend of our own
whose streams re-frame, and httpx's ``AsyncBaseTransport``. What the re-framer does not
understand, from that chunk on, it passes through verbatim, and h11 judges it as it would have.
Connections through a proxy from the environment use httpx's own transport (httpx builds them),
read as before.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpcore
import httpx

__all__ = ["Transport", "Rechunk"]

#: A chunk's size line as h11 reads it (1–20 hex digits, extensions ignored, trailing blanks
#: allowed): what this takes, h11 takes with the same size; anything else goes to h11 as it came.
_SIZE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[^\r\n]*)?[ \t]*\r\n")
#: The blank line that ends a response head (h11 also takes a bare LF).
_HEAD_END = re.compile(rb"\n\r?\n")
#: A size line longer than this is not waited for: it is passed through (h11 refuses it).
_MAX_SIZE_LINE = 1024


class Rechunk:
    """A chunked body's bytes in, the same body out with the payloads of each :meth:`feed` joined
    into one chunk (sans-IO). The last chunk, its trailers and anything it does not parse (from
    the chunk where it starts) go out as they came, so h11 reads them, and refuses them, as it
    would have: a chunk of ours is closed (its CRLF) only when the next one starts, so a chunk
    of the server's that does not end in CRLF meets h11's own check."""

    __slots__ = ("_rest", "_left", "_after", "_open", "verbatim")

    def __init__(self) -> None:
        self._rest = b""  # bytes not yet parsed: part of a size line or of a chunk's CRLF
        self._left = 0  # payload bytes of the server's current chunk still to come
        self._after = False  # that chunk's payload has ended: its CRLF comes next
        self._open = False  # a chunk of ours has gone out without its CRLF
        self.verbatim = False

    def feed(self, data: bytes) -> bytes:
        """What to hand h11 for ``data``: possibly nothing, when ``data`` only starts a size line."""
        if self.verbatim:
            return data
        buf = self._rest + data if self._rest else data
        self._rest = b""
        end, pos, left, after = len(buf), 0, self._left, self._after
        payloads = []
        while pos < end:
            if left:
                stop = min(end, pos + left)
                payloads.append(buf[pos:stop])
                left -= stop - pos
                pos, after = stop, not left
                continue
            if after:
                if end - pos < 2 and buf[pos:] == b"\r\n"[: end - pos]:
                    self._rest, pos = buf[pos:], end
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    break  # not a chunk's end: h11 refuses it
                pos, after = pos + 2, False
            size = _SIZE.match(buf, pos)
            if size is None:
                if end - pos < _MAX_SIZE_LINE and buf.find(b"\n", pos) < 0:
                    self._rest, pos = buf[pos:], end  # a size line still coming
                break
            left = int(size[1], 16)
            if not left:
                break  # the last chunk: it and the trailers go out as they came
            pos = size.end()
        self._left, self._after = left, after
        closing = b"\r\n" if self._open else b""
        out = b"".join(payloads)
        if out:
            out, closing = b"%s%x\r\n%s" % (closing, len(out), out), b"\r\n"
            self._open = True
        if pos == end:
            return out
        self.verbatim, self._open = True, False  # from here on, as it came
        return out + (b"" if after else closing) + buf[pos:]

    def flush(self) -> bytes:
        """The connection ended the body: what was held back, as it came (h11 finds it cut)."""
        closing = b"\r\n" if self._open and not self._after else b""
        rest, self._rest, self._open = self._rest, b"", False
        return closing + rest


_HEAD, _AS_IS, _CHUNKED = 0, 1, 2


class _Stream(httpcore.AsyncNetworkStream):
    """A connection's stream: a response head goes to h11 up to its blank line and no further, so
    that :class:`Rechunk` reads a chunked body from its first byte (once :meth:`body` says so)."""

    __slots__ = ("_inner", "_held", "_mode", "_tail", "_rechunk")

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._held = b""  # read from the socket, not yet handed to h11
        self._mode = _HEAD
        self._tail = b""  # the head's last bytes so far (its blank line may straddle two reads)
        self._rechunk = Rechunk()

    def body(self, chunked: bool) -> None:
        """The head has been read: its body comes next, re-framed if ``chunked``."""
        self._mode = _CHUNKED if chunked else _AS_IS
        self._rechunk = Rechunk()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        while True:
            data, self._held = self._held, b""
            if not data:
                data = await self._inner.read(max_bytes, timeout)
            if self._mode == _CHUNKED:
                out = self._rechunk.feed(data) if data else self._rechunk.flush()
                if out or not data:
                    return out
                continue  # only the start of a size line: read on
            if self._mode == _AS_IS or not data:
                return data
            seen = self._tail + data
            blank = _HEAD_END.search(seen)
            if blank is None:
                self._tail = seen[-2:]
                return data
            cut = blank.end() - len(self._tail)
            self._tail, self._held = b"", data[cut:]  # the body waits for body(); a 1xx's next head too
            return data[:cut]

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._mode, self._tail = _HEAD, b""  # a request: its response's head comes next
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    __slots__ = ("_inner",)

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None) -> _Stream:
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> _Stream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


#: httpcore's errors as httpx's, most specific first (what httpx's own transport raises).
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        for theirs, ours in _ERRORS:
            if isinstance(error, theirs):
                raise ours(str(error)) from error
        raise


class _Body(httpx.AsyncByteStream):
    __slots__ = ("_pieces",)

    def __init__(self, pieces: Any) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for piece in self._pieces:
                yield piece

    async def aclose(self) -> None:
        with _httpx_errors():
            await self._pieces.aclose()


class Transport(httpx.AsyncBaseTransport):
    """httpx's ``AsyncHTTPTransport`` for a client of :class:`~.clients.HTTPClients` (HTTP/1.1, the
    system's certificates as ``trust_env`` finds them), on a pool whose connections re-frame."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=True),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        sent = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(sent)
        stream = response.extensions.get("network_stream")
        if isinstance(stream, _Stream):
            # h11 reads any body with a Transfer-Encoding as chunked (it refuses every other coding)
            stream.body(any(name.lower() == b"transfer-encoding" for name, _ in response.headers))
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_Body(response.stream), extensions=response.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()
