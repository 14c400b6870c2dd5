"""The base of every HTTP provider, :class:`HTTPProvider` (the key check, the clients and their
``aclose``, and the one loop that feeds a response's bytes to the provider's sans-IO
:class:`Reader`, a batch of events per network read), and :class:`SSEEvents`, the reader of a
server-sent-event body for providers whose parser works event by event.

Providers parse their own wire format and build their own request body; this room never looks
inside a body except to pull the message out of an error response (:mod:`.failures`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ..._decoders import SSEDecoder, SurrogatePairs
from ...errors import IncompleteStreamError, MissingCredentialsError, register_secret
from ...events import StreamEvent
from ..base import Provider, Request
from .clients import DEFAULT_TIMEOUT, HTTPClients
from .streams import open_stream

__all__ = ["HTTPProvider", "Reader", "Exchange", "SSEEvents"]


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
    I/O of a call.

    A subclass finds its key with :meth:`find_key`, builds its headers, calls
    ``super().__init__(model, base_url=…, headers=…, timeout=…)``, and says in :meth:`exchange`
    what to send and how to read the answer (a sans-IO :class:`Reader`). :meth:`stream_batches`
    runs that exchange, a batch of events per network read. Sync callers read it over the bridge
    (``inline`` is False: docs/architecture.md, "Sync and async", says why).
    """

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
        """:func:`~.streams.open_stream` on this provider's client for the running loop."""
        return open_stream(self._clients, path, body, provider=self.name, model=self.model,
                           content_types=content_types)

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        batches = self.stream_batches(request)
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        finally:
            await batches.aclose()  # type: ignore[attr-defined]  # an async generator: it has aclose

    async def stream_batches(self, request: Request) -> AsyncIterator[list[StreamEvent]]:
        """The events decoded from each network read, as one list (what the RLM reads); what a
        read gave before an error goes out before the error."""
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

    async def aclose(self) -> None:
        """Close every client this provider opened, on every loop (see :meth:`HTTPClients.aclose`)."""
        await self._clients.aclose()
