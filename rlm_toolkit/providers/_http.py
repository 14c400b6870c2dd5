"""What the HTTP providers share: :class:`HTTPProvider` (the key check, one httpx client per event
loop, ``aclose`` of them all), status and transport errors mapped onto :mod:`rlm_toolkit.errors`,
and a byte stream that raises typed errors.

Providers parse their own wire format; this module never looks inside a body except to pull
the message out of an error response.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import urllib.parse
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    IncompleteStreamError,
    MalformedResponseError,
    MissingCredentialsError,
    MissingDependencyError,
    ProviderError,
    register_secret,
    scrub,
    status_error,
)
from .base import Provider

__all__ = [
    "HTTPProvider",
    "HTTPClients",
    "open_stream",
    "DEFAULT_TIMEOUT",
    "error_message",
    "register_credentials",
    "split_userinfo",
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


#: Header names whose values are credentials: ``Authorization``, ``api-key`` (Azure),
#: ``X-Api-Key``, ``x-goog-api-key``, ``Ocp-Apim-Subscription-Key``, ``Cookie``, ``*-Token``, …
_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|passw|cookie|credential|signature|session", re.I)


def register_credentials(headers: dict[str, str]) -> None:
    """Register every credential a request will carry, so no echo of it survives :func:`scrub`:
    the value of each credential-bearing header (of ``Scheme token`` values, the token)."""
    for name, value in headers.items():
        if isinstance(value, str) and _CREDENTIAL_HEADER.search(str(name)):
            scheme, _, token = value.strip().partition(" ")
            register_secret(token.strip() if token and scheme.isalpha() else value.strip())


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
    """One ``httpx.AsyncClient`` per event loop: a client must not be shared across loops.

    Every credential in ``headers`` or in ``base_url`` is registered for scrubbing here, the one
    place every HTTP provider builds its client through, and ``base_url`` keeps no password.
    """

    def __init__(self, *, base_url: str, headers: dict[str, str], timeout: float) -> None:
        self.base_url, self._userinfo = split_userinfo(base_url.rstrip("/"))
        register_credentials(headers)
        self.headers = headers
        self.timeout = timeout
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._pid = os.getpid()
        # A provider dropped without close(): its pooled keep-alive connection on the bridge loop is
        # closed there, instead of a ResourceWarning when the socket is collected.
        weakref.finalize(self, _release, self._clients, self._pid).atexit = False

    def pooled(self) -> bool:
        """Whether connections are kept alive between calls on the running loop: only on the bridge
        loop, which lives as long as the process. A caller's loop may be ``asyncio.run``'s, which
        closes with no word to us, and a pooled socket there would be left to the collector."""
        from .. import _bridge

        return asyncio.get_running_loop() is _bridge._loop

    def _mine(self) -> weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]:
        """The clients of this process: a forked child forgets its parent's (their loops do not run here)."""
        if self._pid != os.getpid():
            self._clients, self._pid = weakref.WeakKeyDictionary(), os.getpid()
        return self._clients

    def get(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._mine().get(loop)
        if client is None or client.is_closed:
            for old in [old for old in self._clients if old.is_closed()]:
                del self._clients[old]  # it holds its loop: the weak key alone would never let go
            httpx = _httpx()
            client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self.headers,
                auth=httpx.BasicAuth(*self._userinfo) if self._userinfo else None,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                follow_redirects=True,
                # Honour HTTP(S)_PROXY, NO_PROXY and SSL_CERT_FILE as the openai SDK does, but
                # never send a loopback server (llama.cpp, Ollama, tests) through a proxy.
                trust_env=True,
                mounts=dict.fromkeys(_LOOPBACK_PATTERNS),
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close every client, each on the loop that opened it (a client's sockets belong to it).

        This loop's client is closed here; the bridge loop's (sync calls) is closed there and
        waited for, as that loop never waits on another. Any other loop still open gets the close
        scheduled, to run when it next runs: it may be the very loop blocked in this call (a sync
        ``RLM.close()`` in a Jupyter cell after an ``await``). A loop that has closed
        (``asyncio.run`` returned) can run nothing any more; its client is dropped, and its sockets
        close when it is collected.
        """
        from .. import _bridge

        current = asyncio.get_running_loop()
        clients = list(self._mine().items())
        self._clients.clear()
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


def _release(clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any], pid: int) -> None:
    """Close the bridge loop's client of a collected :class:`HTTPClients`, on that loop."""
    from .. import _bridge

    loop = _bridge._loop
    client = clients.get(loop) if loop is not None and pid == os.getpid() else None
    if client is None or client.is_closed or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(lambda: loop.create_task(client.aclose()))
    except RuntimeError:  # the loop closed in the meantime
        pass


def error_message(body: bytes | str) -> str:
    """The human part of an error body: ``{"error": {"message": …}}`` and its cousins."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
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


@asynccontextmanager
async def open_stream(
    clients: HTTPClients,
    path: str,
    body: dict[str, Any],
    *,
    provider: str,
    model: str,
    content_types: tuple[str, ...],
    headers: dict[str, str] | None = None,
) -> AsyncIterator[AsyncIterator[bytes]]:
    """POST ``body`` and yield the response's byte stream, after checking status and type.

    Every httpx error, while sending or while reading, comes out as a toolkit error. Leaving
    the context closes the response at once.
    """
    httpx = _httpx()
    client = clients.get()
    if headers:
        register_credentials(headers)
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
            raise status_error(
                response.status_code,
                error_message(raw) or response.reason_phrase,
                body=raw.decode("utf-8", "replace"),
                retry_after=_retry_after(response.headers),
                provider=provider,
                model=model,
            )
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_types and ctype not in content_types:
            raise MalformedResponseError(
                f"{provider}:{model} answered with content type {ctype or 'none'!r}, "
                f"expected {' or '.join(content_types)}",
                provider=provider,
                model=model,
            )

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for piece in response.aiter_bytes():
                    yield piece
            except httpx.TimeoutException as error:
                raise transport_error(error, provider=provider, model=model) from None
            except httpx.HTTPError as error:
                # The body broke off (peer closed, reset, incomplete chunked body): a cut stream.
                raise IncompleteStreamError(
                    f"the stream from {provider}:{model} was cut off "
                    f"({type(error).__name__}: {scrub(str(error) or 'connection lost')})",
                    provider=provider,
                    model=model,
                ) from None

        body = chunks()
        yield body
        if clients.pooled():
            await _drain(body)
    finally:
        await response.aclose()


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


class HTTPProvider(Provider):
    """A provider that speaks HTTP: it owns the key check, the clients and their ``aclose``.

    A subclass finds its key with :meth:`find_key`, builds its headers, calls
    ``super().__init__(model, base_url=…, headers=…, timeout=…)``, and streams through
    :meth:`post`; it parses its own wire format and builds its own request body.
    """

    def __init__(
        self, model: str, *, base_url: str, headers: dict[str, str], timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        super().__init__(model)
        self._clients = HTTPClients(base_url=base_url, headers=headers, timeout=timeout)
        self.base_url = self._clients.base_url  # without a password it may have carried

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

    def post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        content_types: tuple[str, ...],
        headers: dict[str, str] | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """:func:`open_stream` on this provider's client for the running loop."""
        return open_stream(self._clients, path, body, provider=self.name, model=self.model,
                           content_types=content_types, headers=headers)

    async def post_events(self, path: str, body: dict[str, Any], parser: Any) -> AsyncIterator[Any]:
        """POST ``body`` and yield what ``parser`` makes of each server-sent event, until it says
        the stream is over. ``parser`` is sans-IO: ``feed(sse)`` returns a list of events and
        ``stopped`` turns true at the vendor's terminal event (Anthropic, the Responses API)."""
        from .._decoders import SSEDecoder

        decoder = SSEDecoder()
        async with self.post(path, body, content_types=("text/event-stream",)) as chunks:
            async for data in chunks:
                for sse in decoder.feed(data):
                    for event in parser.feed(sse):
                        yield event
                    if parser.stopped:
                        return

    async def aclose(self) -> None:
        """Close every client this provider opened, on every loop (see :meth:`HTTPClients.aclose`)."""
        await self._clients.aclose()
