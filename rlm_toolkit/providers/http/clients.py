"""The HTTP clients of one provider: one ``httpx.AsyncClient`` per event loop, their options
(timeouts, proxies from the environment, pool limits, the credential guard), the count of open
streams, and their closing — by ``aclose``, by a finalizer, and forgotten in a forked child."""

from __future__ import annotations

import asyncio
import os
import threading
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from ..._bridge import started_portal
from ...errors import UsageError, scrub, scrub_logger
from .credentials import CredentialGuard, register_credentials, split_query, split_userinfo
from .transport import Transport

__all__ = ["HTTPClients", "DEFAULT_TIMEOUT"]

#: Seconds to connect and to wait for each next piece of the body (the openai SDK waits 600).
DEFAULT_TIMEOUT = 60.0
#: Never sent through a proxy from the environment: a loopback server (llama.cpp, Ollama, tests).
_LOOPBACK_PATTERNS = ("all://127.0.0.1", "all://localhost", "all://[::1]")

_Clients = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]


class HTTPClients:
    """One ``httpx.AsyncClient`` per event loop (a client must not be shared across loops).

    Every credential in ``headers`` or in ``base_url`` is registered for scrubbing here, the one
    place every HTTP provider builds its clients through; ``base_url`` keeps no password, and its
    query goes to the clients as ``params``. ``shown_url`` is the URL to show (credentials masked).
    A redirect to another origin carries no credential header (:class:`CredentialGuard`).

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
        self._guard = CredentialGuard(self.base_url)
        scrub_logger("httpx")  # its INFO line shows each request's URL, query string and all
        self._clients: _Clients = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._open: weakref.WeakKeyDictionary[httpx.AsyncClient, int] = weakref.WeakKeyDictionary()
        self._pid = os.getpid()
        # A provider dropped without close(): the bridge loop's pooled keep-alive connections are
        # closed, instead of a ResourceWarning when the socket is collected.
        weakref.finalize(self, _release, self._clients, self._pid).atexit = False

    def pooled(self) -> bool:
        """Whether connections are kept alive between calls on the running loop: only on the bridge
        loop, which lives as long as the process. A caller's loop may be ``asyncio.run``'s, which
        closes with no word to us, and a pooled socket there would be left to the collector."""
        return asyncio.get_running_loop() is started_portal()

    def _mine(self) -> _Clients:
        """The clients of this process: a forked child forgets its parent's (their loops do not run
        here, and their sockets are the parent's)."""
        if self._pid != os.getpid():
            self._clients, self._pid = weakref.WeakKeyDictionary(), os.getpid()
        return self._clients

    def _options(self) -> dict[str, Any]:
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
            "event_hooks": {"request": [self._guard.acheck]},
        }

    @contextmanager
    def streaming(self, client: httpx.AsyncClient) -> Iterator[None]:
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

    def get(self) -> httpx.AsyncClient:
        """The async client of the running loop."""
        loop = asyncio.get_running_loop()
        client = self._mine().get(loop)
        if client is None or client.is_closed:
            for old in [old for old in self._clients if old.is_closed()]:
                del self._clients[old]  # it holds its loop: the weak key alone would never let go
            options = self._options()
            if not _proxies():  # else httpx's transports, which reach the environment's proxies
                options["transport"] = Transport(options["limits"])
            client = self._clients[loop] = httpx.AsyncClient(**options)
        return client

    async def aclose(self) -> None:
        """Close every client, each on the loop that opened it (a client's sockets belong to it).

        This loop's client is closed here; the bridge loop's (sync calls, the sync agent, ``--bg``)
        is closed there and waited for, as that loop never waits on another. Any other loop still
        open gets the close scheduled, to run when it next runs: it may be the very loop blocked
        in this call (a sync ``RLM.close()`` in a Jupyter cell after an ``await``). A loop that
        has closed (``asyncio.run`` returned) can run nothing any more; its client is dropped, and
        its sockets close when it is collected.
        """
        current = asyncio.get_running_loop()
        clients = list(self._mine().items())
        self._clients.clear()
        for loop, client in clients:
            if client.is_closed or loop.is_closed():
                continue
            if loop is current:
                await client.aclose()
            elif loop is started_portal():
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(client.aclose(), loop))
            else:
                try:
                    loop.call_soon_threadsafe(_close_there, loop, client)
                except RuntimeError:  # closed in the meantime
                    pass


def _proxies() -> bool:
    """Whether the environment names a proxy (what httpx's ``trust_env`` reads, from the same
    ``urllib.request.getproxies``). httpx mounts a transport of its own for each, and none for a
    client given its own transport, so a client with :class:`~.transport.Transport` is made
    only where there is none."""
    found = urllib.request.getproxies()
    return any(found.get(scheme) for scheme in ("http", "https", "all"))


def _release(clients: _Clients, pid: int) -> None:
    """Close the bridge loop's client of a collected :class:`HTTPClients`."""
    if pid != os.getpid():
        return
    loop = started_portal()
    client = clients.get(loop) if loop is not None else None
    if loop is None or client is None or client.is_closed or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(_close_there, loop, client)
    except RuntimeError:  # the loop closed in the meantime
        pass


def _close_there(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
    """Run on ``loop`` (scheduled from another thread): close ``client`` there."""
    loop.create_task(client.aclose())
