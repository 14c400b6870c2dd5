"""What the HTTP providers share: :class:`HTTPProvider` (the key check, the clients, ``aclose`` of
them all, and the one I/O loop, sync and async, that feeds a provider's sans-IO reader), status and
transport errors mapped onto :mod:`rlm_toolkit.errors`, and byte streams that raise typed errors.

Providers parse their own wire format (a reader: bytes in, events out) and build their own request
body; this module never looks inside a body except to pull the message out of an error response.

Two kinds of client: one ``httpx.AsyncClient`` per event loop (``astream``, agents, ``--bg``, and
sync calls of a provider that is not inline), and one ``httpx.Client`` that sync callers read in
their own thread (``RLM.stream``/``run``: see :mod:`rlm_toolkit._inline`). The sync client's
connections are watched (:func:`_watch`): each read tells the calling thread's
:class:`~rlm_toolkit._inline.Wire` which socket it blocks on, so another thread can wake it and a
widget can wait on it with a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import Any, Protocol

from .._decoders import SurrogatePairs
from .._inline import Wire, current_wire, serving
from .._json_depth import loads
from ..errors import (
    CREDENTIAL_NAME,
    APIConnectionError,
    APITimeoutError,
    IncompleteStreamError,
    MalformedResponseError,
    MissingCredentialsError,
    MissingDependencyError,
    ProviderError,
    UsageError,
    register_secret,
    register_url,
    scrub,
    scrub_logger,
    status_error,
)
from ..events import StreamEvent
from .base import Provider, Request

__all__ = [
    "HTTPProvider",
    "HTTPClients",
    "open_stream",
    "open_stream_sync",
    "Reader",
    "Exchange",
    "SSEEvents",
    "DEFAULT_TIMEOUT",
    "error_message",
    "register_credentials",
    "split_userinfo",
    "split_query",
]

#: Seconds to connect and to wait for each next piece of the body (the openai SDK waits 600).
DEFAULT_TIMEOUT = 60.0
_MAX_ERROR_BODY = 64 * 1024
#: After a stream's final event, read at most this much of what is left of the body, for this long.
_DRAIN_BYTES = 64 * 1024
_DRAIN_SECONDS = 0.25
_LOOPBACK_PATTERNS = ("all://127.0.0.1", "all://localhost", "all://[::1]")


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as error:  # pragma: no cover - httpx is a core dependency
        raise MissingDependencyError("httpx is required: pip install rlm") from error
    return httpx


def register_credentials(headers: dict[str, str] | dict[str, bytes]) -> None:
    """Register every credential a request will carry, so no echo of it survives :func:`scrub`:
    the value of each credential-bearing header (:data:`~rlm_toolkit.errors.CREDENTIAL_NAME`;
    of ``Scheme token`` values, the token), given as ``str`` or as ``bytes`` (httpx takes both)."""
    for name, value in headers.items():
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        if not CREDENTIAL_NAME.search(name):
            continue
        texts = {value.decode("latin-1"), value.decode("utf-8", "replace")} if isinstance(value, bytes) \
            else {value} if isinstance(value, str) else set()
        for text in texts:
            scheme, _, token = text.strip().partition(" ")
            register_secret(token.strip() if token and scheme.isalpha() else text.strip())


def split_query(url: str) -> tuple[str, list[tuple[str, str]]]:
    """``http://host/v1?api-version=1&api_key=K`` → (``http://host/v1``, its parameters), the
    credential values registered (:func:`~rlm_toolkit.errors.register_url`).

    httpx would glue a path onto a base URL's query (``/v1?api_key=K/chat/completions``), so the
    parameters go to the client as ``params``, which it adds to every request it builds.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url, []
    register_url(url)
    params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    return urllib.parse.urlunsplit(parts._replace(query="", fragment="")), params


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``http://user:pw@host/v1`` → (``http://host/v1``, (user, pw)); the password is registered.

    httpx would send these as Basic auth anyway, but it also logs the URL it was given (its INFO
    line ``HTTP Request: POST http://user:pw@…``), so the client gets a URL without them.
    """
    parts = urllib.parse.urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    user, password = urllib.parse.unquote(user), urllib.parse.unquote(password)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    for secret in (password, userinfo, basic):
        register_secret(secret)
    if not password:  # ``https://TOKEN@host``: the user name is the credential
        register_secret(user)
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), (user, password)


class HTTPClients:
    """One ``httpx.AsyncClient`` per event loop (a client must not be shared across loops) and one
    watched ``httpx.Client`` for sync callers (:meth:`sync`; threads may share it).

    Every credential in ``headers`` or in ``base_url`` is registered for scrubbing here, the one
    place every HTTP provider builds its clients through; ``base_url`` keeps no password, and its
    query goes to the clients as ``params``. ``shown_url`` is the URL to show (credentials masked).
    A redirect to another origin carries no credential header (:class:`_CredentialGuard`).

    Each client holds at most :attr:`max_streams` connections, and a stream holds one until it is
    closed or read to its end. :meth:`streaming` counts the open streams of each client: one more
    than its pool can serve is a :class:`~rlm_toolkit.errors.UsageError` at once that says what is
    wrong, instead of httpx's ``PoolTimeout`` after the whole timeout (and every retry).
    """

    #: Connections per client (httpx's default pool size), so streams open at once per client.
    max_streams = 100
    #: Idle connections kept alive per client.
    max_idle = 20

    def __init__(self, *, base_url: str, headers: dict[str, str], timeout: float) -> None:
        url, self._userinfo = split_userinfo(base_url.strip())
        url, self._params = split_query(url)
        self.base_url = url.rstrip("/")
        query = urllib.parse.urlsplit(base_url.strip()).query
        self.shown_url = scrub(f"{self.base_url}?{query}" if query else self.base_url)
        register_credentials(headers)
        self.headers = headers
        self.timeout = timeout
        self._guard = _CredentialGuard(self.base_url)
        scrub_logger("httpx")  # its INFO line shows each request's URL, query string and all
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._sync: dict[str, Any] = {}  # "client": the sync client (a dict: the finalizer shares it)
        self._lock = threading.Lock()
        self._open: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # client: streams
        self._pid = os.getpid()
        # A provider dropped without close(): its pooled keep-alive connections (the sync client's,
        # the bridge loop's) are closed, instead of a ResourceWarning when the socket is collected.
        weakref.finalize(self, _release, self._clients, self._sync, self._pid).atexit = False

    def pooled(self) -> bool:
        """Whether connections are kept alive between calls on the running loop: only on the bridge
        loop, which lives as long as the process. A caller's loop may be ``asyncio.run``'s, which
        closes with no word to us, and a pooled socket there would be left to the collector."""
        from .. import _bridge

        return asyncio.get_running_loop() is _bridge._loop

    def _mine(self) -> weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]:
        """The clients of this process: a forked child forgets its parent's (their loops do not run
        here, and their sockets are the parent's)."""
        if self._pid != os.getpid():
            self._clients, self._sync, self._pid = weakref.WeakKeyDictionary(), {}, os.getpid()
        return self._clients

    def _options(self, httpx: Any, *, sync: bool) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "params": self._params or None,
            "headers": self.headers,
            "auth": httpx.BasicAuth(*self._userinfo) if self._userinfo else None,
            "timeout": httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            "follow_redirects": True,
            # Honour HTTP(S)_PROXY, NO_PROXY and SSL_CERT_FILE as the openai SDK does, but never
            # send a loopback server (llama.cpp, Ollama, tests) through a proxy.
            "trust_env": True,
            "mounts": dict.fromkeys(_LOOPBACK_PATTERNS),
            "limits": httpx.Limits(max_connections=self.max_streams, max_keepalive_connections=self.max_idle),
            "event_hooks": {"request": [self._guard.check if sync else self._guard.acheck]},
        }

    @contextmanager
    def streaming(self, client: Any) -> Iterator[None]:
        """Count one open stream of ``client`` while the block runs (its response is open); refuse
        one more than the client's pool can serve, at once and with what to do about it."""
        with self._lock:
            count = self._open.get(client, 0)
            if count >= self.max_streams:
                raise UsageError(
                    f"too many open streams: {count} streams of this model are still open (the limit is "
                    f"{self.max_streams} at once), each holding a connection; close the ones you no "
                    "longer read (stream.close(), a `with` block, or `break` out of the loop) or read "
                    "them to the end"
                )
            self._open[client] = count + 1
        try:
            yield
        finally:
            with self._lock:
                self._open[client] = self._open.get(client, 1) - 1

    def get(self) -> Any:
        """The async client of the running loop."""
        loop = asyncio.get_running_loop()
        client = self._mine().get(loop)
        if client is None or client.is_closed:
            for old in [old for old in self._clients if old.is_closed()]:
                del self._clients[old]  # it holds its loop: the weak key alone would never let go
            client = self._clients[loop] = _httpx().AsyncClient(**self._options(_httpx(), sync=False))
        return client

    def sync(self) -> Any:
        """The sync client, its connections watched (module docstring)."""
        with self._lock:
            self._mine()
            client = self._sync.get("client")
            if client is None or client.is_closed:
                client = self._sync["client"] = _watch(_httpx().Client(**self._options(_httpx(), sync=True)))
            return client

    async def aclose(self) -> None:
        """Close every client, each on the loop that opened it (a client's sockets belong to it).

        The sync client is closed here. This loop's client is closed here; the bridge loop's (the
        sync agent, ``--bg``) is closed there and waited for, as that loop never waits on another.
        Any other loop still open gets the close scheduled, to run when it next runs: it may be the
        very loop blocked in this call (a sync ``RLM.close()`` in a Jupyter cell after an
        ``await``). A loop that has closed (``asyncio.run`` returned) can run nothing any more; its
        client is dropped, and its sockets close when it is collected.
        """
        from .. import _bridge

        current = asyncio.get_running_loop()
        clients = list(self._mine().items())
        self._clients.clear()
        with self._lock:
            sync = self._sync.pop("client", None)
        if sync is not None:
            sync.close()
        for loop, client in clients:
            if client.is_closed or loop.is_closed():
                continue
            if loop is current:
                await client.aclose()
            elif loop is _bridge._loop:
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(client.aclose(), loop))
            else:
                try:
                    loop.call_soon_threadsafe(lambda c=client, lp=loop: lp.create_task(c.aclose()))
                except RuntimeError:  # closed in the meantime
                    pass


class _CredentialGuard:
    """The request hook of every client: a request to an origin other than ``base_url``'s (where
    a redirect leads) goes without any credential header. httpx itself drops only
    ``Authorization``; ``api-key``, ``x-api-key`` and custom ``*-Token`` headers would follow.
    Like httpx, an upgrade from ``http`` to ``https`` on the same host keeps them."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @functools.cached_property
    def origin(self) -> tuple[str, str, int | None]:
        return self._origin(_httpx().URL(self.base_url))

    @staticmethod
    def _origin(url: Any) -> tuple[str, str, int | None]:
        return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)

    def trusted(self, url: Any) -> bool:
        origin = self._origin(url)
        scheme, host, port = self.origin
        return origin == self.origin or (origin == ("https", host, 443) and (scheme, port) == ("http", 80))

    def check(self, request: Any) -> None:
        if not self.trusted(request.url):
            for name in [name for name in request.headers if CREDENTIAL_NAME.search(name)]:
                del request.headers[name]

    async def acheck(self, request: Any) -> None:
        self.check(request)


def _release(clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any], sync: dict[str, Any],
             pid: int) -> None:
    """Close the sync client and the bridge loop's client of a collected :class:`HTTPClients`."""
    from .. import _bridge

    if pid != os.getpid():
        return
    client = sync.pop("client", None)
    if client is not None:
        client.close()
    loop = _bridge._loop
    client = clients.get(loop) if loop is not None else None
    if client is None or client.is_closed or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(lambda: loop.create_task(client.aclose()))
    except RuntimeError:  # the loop closed in the meantime
        pass


def _watch(client: Any) -> Any:
    """Make every connection ``client`` opens a watched one: its network streams tell the reading
    thread's wire which socket it blocks on (and refuse to start once it is aborted), and keep
    the wire's deadline. httpx has no public hook for httpcore's network backend, so the backend of
    each transport's pool is wrapped; a transport of another shape is left as it is (its reads
    cannot be woken nor gated: they block until bytes come, as a plain httpx loop's would)."""
    stream_class, backend_class = _watched_classes()
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, backend_class):
            pool._network_backend = backend_class(backend)
    return client


def _within(deadline: float, timeout: float | None) -> float:
    """A read's timeout, cut to what is left before ``deadline`` (a read past it times out)."""
    left = deadline - time.monotonic()
    if left <= 0:
        import httpcore

        raise httpcore.ReadTimeout("the keep-alive drain ran out of time")
    return left if timeout is None else min(timeout, left)


@functools.cache
def _watched_classes() -> tuple[type, type]:
    """The watched network stream and backend classes (built on first use: httpcore is imported
    with httpx, lazily)."""
    import httpcore

    class WatchedStream(httpcore.NetworkStream):
        __slots__ = ("_inner",)

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            wire = current_wire()
            if wire is not None:
                if not wire.reading(self):
                    raise httpcore.ReadError("the stream was stopped")
                if wire.deadline is not None:
                    timeout = _within(wire.deadline, timeout)
            return self._inner.read(max_bytes, timeout)  # type: ignore[no-any-return]

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            wire = current_wire()
            if wire is not None and not wire.reading(self):
                raise httpcore.WriteError("the stream was stopped")
            self._inner.write(buffer, timeout)

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> Any:
            return WatchedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class WatchedBackend(httpcore.NetworkBackend):
        __slots__ = ("_inner",)

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        @staticmethod
        def _check() -> None:
            wire = current_wire()
            if wire is not None and wire.aborted:
                raise httpcore.ConnectError("the stream was stopped")

        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None, socket_options: Any = None) -> Any:
            self._check()
            stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            return WatchedStream(stream)

        def connect_unix_socket(self, path: str, timeout: float | None = None,
                                socket_options: Any = None) -> Any:
            self._check()
            return WatchedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return WatchedStream, WatchedBackend


def error_message(body: bytes | str) -> str:
    """The human part of an error body: ``{"error": {"message": …}}`` and its cousins."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err.get("type") or err)[:500]
        if isinstance(err, str):
            return err[:500]
        if "detail" in data:
            return str(data["detail"])[:500]
    return text.strip()[:500]


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def transport_error(error: BaseException, *, provider: str, model: str) -> ProviderError:
    """Map an httpx exception onto the toolkit's hierarchy."""
    httpx = _httpx()
    detail = scrub(str(error) or type(error).__name__)
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(
            f"{provider}:{model} timed out ({type(error).__name__}): {detail}", provider=provider, model=model
        )
    return APIConnectionError(
        f"connection to {provider}:{model} failed ({type(error).__name__}): {detail}",
        provider=provider,
        model=model,
    )


def _refused(response: Any, raw: bytes, *, provider: str, model: str) -> ProviderError:
    """The error of a response with an error status, from what was read of its body."""
    return status_error(
        response.status_code,
        error_message(raw) or response.reason_phrase,
        body=raw.decode("utf-8", "replace"),
        retry_after=_retry_after(response.headers),
        provider=provider,
        model=model,
    )


def _check_type(response: Any, content_types: tuple[str, ...], *, provider: str, model: str) -> None:
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_types and ctype not in content_types:
        raise MalformedResponseError(
            f"{provider}:{model} answered with content type {ctype or 'none'!r}, "
            f"expected {' or '.join(content_types)}",
            provider=provider,
            model=model,
        )


def _received(first: bytes, pieces: Iterator[bytes], buffered: Any) -> Iterator[bytes]:
    """``first`` and the pieces the HTTP layer can give without a read: a read of the socket brings
    up to 64 KB, which a chunked body splits into a piece per chunk (per token, for a server that
    flushes each event). Joined, they are decoded at once and handed over as one batch, as the
    async path's bridge does, instead of a trip through every layer per token."""
    yield first
    while buffered():
        piece = next(pieces, None)
        if piece is None:
            return
        yield piece


def _identity(response: Any) -> bool:
    """Whether the body comes as sent (no ``Content-Encoding``): then its raw pieces are its bytes,
    read without httpx's decoder layer (a third of a µs a piece, per token when a server flushes
    each event)."""
    return response.headers.get("content-encoding", "identity").strip().lower() in ("", "identity")


def _broken(error: BaseException, *, provider: str, model: str) -> ProviderError:
    """The error of a body whose reading failed: a timeout, or a cut stream (peer closed, reset,
    incomplete chunked body)."""
    if isinstance(error, _httpx().TimeoutException):
        return transport_error(error, provider=provider, model=model)
    return IncompleteStreamError(
        f"the stream from {provider}:{model} was cut off "
        f"({type(error).__name__}: {scrub(str(error) or 'connection lost')})",
        provider=provider,
        model=model,
    )


@asynccontextmanager
async def open_stream(
    clients: HTTPClients,
    path: str,
    body: dict[str, Any],
    *,
    provider: str,
    model: str,
    content_types: tuple[str, ...],
) -> AsyncIterator[AsyncIterator[bytes]]:
    """POST ``body`` and yield the response's byte stream, after checking status and type.

    Every httpx error, while sending or while reading, comes out as a toolkit error. Leaving
    the context closes the response at once (after a brief drain, on the bridge loop, if the
    stream ended normally). Counted while open (:meth:`HTTPClients.streaming`).
    """
    client = clients.get()
    with clients.streaming(client):
        async with _open_stream(clients, client, path, body, provider=provider, model=model,
                                content_types=content_types) as chunks:
            yield chunks


@asynccontextmanager
async def _open_stream(
    clients: HTTPClients,
    client: Any,
    path: str,
    body: dict[str, Any],
    *,
    provider: str,
    model: str,
    content_types: tuple[str, ...],
) -> AsyncIterator[AsyncIterator[bytes]]:
    httpx = _httpx()
    pooled = clients.pooled()
    # A loop that may close behind our back keeps no connection: the server closes it after the
    # response (a body read to its end would otherwise put it back in that loop's pool).
    headers = None if pooled else {"Connection": "close"}
    try:
        request = client.build_request("POST", path, json=body, headers=headers)
        response = await client.send(request, stream=True)
    except httpx.HTTPError as error:
        raise transport_error(error, provider=provider, model=model) from None
    try:
        if response.status_code >= 400:
            raw = b""
            try:
                async for piece in response.aiter_raw():
                    raw += piece
                    if len(raw) > _MAX_ERROR_BODY:
                        break
            except httpx.HTTPError:
                pass
            raise _refused(response, raw, provider=provider, model=model)
        _check_type(response, content_types, provider=provider, model=model)
        buffered = _buffered(response)

        async def chunks() -> AsyncIterator[bytes]:
            pieces = response.aiter_raw() if _identity(response) else response.aiter_bytes()
            try:
                async for piece in pieces:
                    if buffered is not None and buffered():  # as in open_stream_sync: see _received
                        parts = [piece]
                        while buffered():
                            try:
                                parts.append(await pieces.__anext__())
                            except StopAsyncIteration:
                                break
                        piece = b"".join(parts)
                    yield piece
            except httpx.HTTPError as error:
                raise _broken(error, provider=provider, model=model) from None

        body = chunks()
        yield body
        if pooled:
            await _drain(body)
    finally:
        await response.aclose()


@contextmanager
def open_stream_sync(
    clients: HTTPClients,
    path: str,
    body: dict[str, Any],
    *,
    provider: str,
    model: str,
    content_types: tuple[str, ...],
) -> Iterator[Iterator[bytes]]:
    """:func:`open_stream` with the sync client, in the calling thread. Its connection is kept
    alive between calls (the drain is bounded by the wire's deadline, see :func:`_drain_sync`)."""
    client = clients.sync()
    with clients.streaming(client), _open_stream_sync(clients, client, path, body, provider=provider,
                                                      model=model, content_types=content_types) as chunks:
        yield chunks


@contextmanager
def _open_stream_sync(
    clients: HTTPClients,
    client: Any,
    path: str,
    body: dict[str, Any],
    *,
    provider: str,
    model: str,
    content_types: tuple[str, ...],
) -> Iterator[Iterator[bytes]]:
    httpx = _httpx()
    wire = current_wire()
    try:
        try:
            response = client.send(client.build_request("POST", path, json=body), stream=True)
        except httpx.HTTPError as error:
            raise transport_error(error, provider=provider, model=model) from None
        try:
            if response.status_code >= 400:
                raw = b""
                try:
                    for piece in response.iter_raw():
                        raw += piece
                        if len(raw) > _MAX_ERROR_BODY:
                            break
                except httpx.HTTPError:
                    pass
                raise _refused(response, raw, provider=provider, model=model)
            _check_type(response, content_types, provider=provider, model=model)
            buffered = _buffered(response)
            if wire is not None:
                wire.buffered = buffered

            def chunks() -> Iterator[bytes]:
                pieces = response.iter_raw() if _identity(response) else response.iter_bytes()
                try:
                    if buffered is None:
                        yield from pieces
                        return
                    for piece in pieces:
                        if buffered():  # more has come than this piece: hand it all over as one
                            piece = b"".join(_received(piece, pieces, buffered))
                        yield piece
                except httpx.HTTPError as error:
                    raise _broken(error, provider=provider, model=model) from None

            pieces = chunks()
            yield pieces
            _drain_sync(pieces, wire)
        finally:
            response.close()
    finally:
        if wire is not None:
            wire.released()  # its socket may serve another call now: a late Stop must not touch it


def _buffered(response: Any) -> Any:
    """A check of whether httpcore holds bytes of ``response`` that make its next piece without a
    read, or None if the connection cannot be found (another httpx/httpcore layout, HTTP/2): then
    a wire cannot gate, reads simply block (as a plain httpx loop's do) and pieces are not joined.

    The bytes are h11's receive buffer, of the connection the response is read from (its size: the
    public ``trailing_data`` would copy it, per piece). h11 hands out all it holds of a body that
    has a length or ends at the close; of a chunked body it keeps what follows the piece it gave:
    the CRLF that ends that chunk, then any later chunks. So a CRLF alone makes no piece, and
    anything more is (the start of) the next chunk.
    """
    import h11

    stream = response.stream  # httpx's bound stream → its transport's → the pool's → the connection's
    for name in ("_stream", "_httpcore_stream", "_stream", "_connection", "_h11_state"):
        stream = getattr(stream, name, None)
    if not isinstance(stream, h11.Connection) or not hasattr(stream, "_receive_buffer"):
        return None
    state = stream

    def buffered() -> bool:
        return len(state._receive_buffer) > 2 or state.trailing_data[1]  # (≤ 2 bytes copied)

    return buffered


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Read what is left of a body whose stream has ended (``[DONE]``, the chunked terminator).

    A provider returns at its final event, before the body's last bytes arrive; httpx then closes
    the connection instead of putting it back in the pool, and the next call (an agent's next
    step) pays for a new TCP and TLS handshake. Only a stream that ended normally is drained, and
    briefly: a stream left early (a ``break``, Stop, an error) closes its connection at once, so
    the server stops generating.
    """

    async def rest() -> None:
        size = 0
        async for piece in body:
            size += len(piece)
            if size > _DRAIN_BYTES:
                return

    try:
        await asyncio.wait_for(rest(), _DRAIN_SECONDS)
    except (asyncio.TimeoutError, ProviderError):
        pass


def _drain_sync(body: Iterator[bytes], wire: Wire | None) -> None:
    """:func:`_drain` in the calling thread: every read is bounded by the wire's deadline (a read
    past it times out and the connection is closed instead of pooled). What the HTTP layer has
    buffered already (the terminator often came with the last event) takes no read at all."""
    wire = wire or Wire()
    wire.deadline = time.monotonic() + _DRAIN_SECONDS
    size = 0
    try:
        with serving(wire):
            for piece in body:
                size += len(piece)
                if size > _DRAIN_BYTES:
                    return
    except ProviderError:
        pass
    finally:
        wire.deadline = None


class Reader(Protocol):
    """A provider's sans-IO reader of one response body: ``read(data, batch)`` appends the events
    decoded from one network read to ``batch`` (and raises a toolkit error on a broken body,
    after appending what came before it); ``done`` turns true at the stream's final event;
    ``complete`` says a cut from here on loses nothing the caller needs (OpenAI's usage and
    ``[DONE]`` trailer)."""

    done: bool
    complete: bool

    def read(self, data: bytes, batch: list[StreamEvent]) -> None: ...


#: What :meth:`HTTPProvider.exchange` returns: the path, the JSON body, the content types the answer
#: may have, and a fresh :class:`Reader` of it.
Exchange = tuple[str, dict[str, Any], tuple[str, ...], Reader]


class SSEEvents:
    """The :class:`Reader` of a server-sent-event body read by a sans-IO event ``parser``:
    ``parser.feed(sse)`` returns a list of events and ``parser.stopped`` turns true at the
    vendor's terminal event (Anthropic, the Responses API)."""

    complete = False

    def __init__(self, parser: Any) -> None:
        from .._decoders import SSEDecoder

        self._decoder = SSEDecoder()
        self._parser = parser
        self.done = False

    def read(self, data: bytes, batch: list[StreamEvent]) -> None:
        for sse in self._decoder.feed(data):
            batch += self._parser.feed(sse)
            if self._parser.stopped:
                self.done = True
                return


class HTTPProvider(Provider):
    """A provider that speaks HTTP: it owns the key check, the clients and their ``aclose``, and the
    I/O of a call, written once for each face.

    A subclass finds its key with :meth:`find_key`, builds its headers, calls
    ``super().__init__(model, base_url=…, headers=…, timeout=…)``, and says in :meth:`exchange`
    what to send and how to read the answer (a sans-IO :class:`Reader`). :meth:`stream_batches`
    (async clients) and :meth:`stream_sync` (the sync client, in the caller's thread: the provider
    is ``inline``) run that exchange, a batch of events per network read.
    """

    inline = True

    def __init__(
        self, model: str, *, base_url: str, headers: dict[str, str], timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        super().__init__(model)
        self._clients = HTTPClients(base_url=base_url, headers=headers, timeout=timeout)
        self.base_url = self._clients.shown_url  # without a password, its query's keys masked

    @classmethod
    def find_key(
        cls, model: str, api_key: str | None, env_var: str, *, base_url: str, home: str
    ) -> str | None:
        """The key from ``api_key`` or ``$env_var``, registered for scrubbing.

        The vendor's own URL (``home``) without a key is a :class:`MissingCredentialsError` before
        any request is sent; another server (a proxy, llama.cpp, vLLM) may need none.
        """
        key = api_key if api_key is not None else os.environ.get(env_var)
        if not key and base_url.rstrip("/") == home.rstrip("/"):
            raise MissingCredentialsError(
                f"{env_var} is not set in this Python process, so {cls.name}:{model} cannot be used. "
                f"Set it where the kernel runs (os.environ[{env_var!r}] = …), or pick a model that "
                "needs no key: local:smollm2",
                env_var=env_var,
            )
        register_secret(key)
        return key

    def exchange(self, request: Request) -> Exchange:
        """What one call sends and how its answer is read: the path, the JSON body, the content
        types the answer may have, and a fresh :class:`Reader`."""
        raise NotImplementedError(f"{type(self).__name__} does not say what to send")

    def post(self, path: str, body: dict[str, Any], *,
             content_types: tuple[str, ...]) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """:func:`open_stream` on this provider's client for the running loop."""
        return open_stream(self._clients, path, body, provider=self.name, model=self.model,
                           content_types=content_types)

    def post_sync(self, path: str, body: dict[str, Any], *,
                  content_types: tuple[str, ...]) -> AbstractContextManager[Iterator[bytes]]:
        """:func:`open_stream_sync` on this provider's sync client."""
        return open_stream_sync(self._clients, path, body, provider=self.name, model=self.model,
                                content_types=content_types)

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        batches = self.stream_batches(request)
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        finally:
            await batches.aclose()

    async def stream_batches(self, request: Request) -> AsyncIterator[list[StreamEvent]]:
        """The events decoded from each network read, as one list (what the RLM reads)."""
        path, body, content_types, reader = self.exchange(request)
        pairs = SurrogatePairs()
        async with self.post(path, body, content_types=content_types) as chunks:
            try:
                async for data in chunks:
                    batch: list[StreamEvent] = []
                    try:
                        reader.read(data, batch)
                    except Exception:
                        pairs.mend(batch)
                        if batch:  # what this read gave before the error goes out first
                            yield batch
                        raise
                    pairs.mend(batch)
                    if batch:
                        yield batch
                    if reader.done:
                        return
            except IncompleteStreamError:
                if not reader.complete:
                    raise

    def stream_sync(self, request: Request) -> Iterator[list[StreamEvent]]:
        """:meth:`stream_batches` with the sync client, in the calling thread. The final batch is
        handed out once the connection is back in the pool (the drain is bounded and usually
        reads nothing: the body's end came with the last event), so the stream ends with it."""
        path, body, content_types, reader = self.exchange(request)
        pairs = SurrogatePairs()
        final: list[StreamEvent] = []
        with self.post_sync(path, body, content_types=content_types) as chunks:
            try:
                for data in chunks:
                    batch: list[StreamEvent] = []
                    try:
                        reader.read(data, batch)
                    except Exception:
                        pairs.mend(batch)
                        if batch:
                            yield batch
                        raise
                    pairs.mend(batch)
                    if reader.done:
                        final = batch
                        break
                    if batch:
                        yield batch
            except IncompleteStreamError:
                if not reader.complete:
                    raise
        if final:
            yield final

    async def aclose(self) -> None:
        """Close every client this provider opened, on every loop (see :meth:`HTTPClients.aclose`)."""
        await self._clients.aclose()
