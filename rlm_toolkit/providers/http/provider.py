"""The base of every HTTP provider, :class:`HTTPProvider` (the key check, the clients and their
``aclose``, and the two faces — async, and sync over the bridge — that feed a response's bytes to
the provider's sans-IO :class:`Reader` through one :class:`Decoding`, a batch of events per
network read), and :class:`SSEEvents`, the reader of a server-sent-event body for providers whose
parser works event by event.

Providers parse their own wire format and build their own request body; this room never looks
inside a body except to pull the message out of an error response (:mod:`.failures`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ..._bridge import iterate_sync
from ..._decoders import SSEDecoder, SurrogatePairs
from ..._inline import Halt
from ...errors import IncompleteStreamError, MissingCredentialsError, register_secret
from ...events import StreamEvent
from ..base import Provider, Request
from .clients import DEFAULT_TIMEOUT, HTTPClients
from .streams import DRAIN_SECONDS, open_stream

__all__ = ["HTTPProvider", "Reader", "Exchange", "SSEEvents", "Decoding"]

#: What a sync stream that lagged decodes at once, at most (about): a socket read's worth.
_JOIN_BYTES = 64 * 1024


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


class Decoding:
    """One response body's decoding, sans-IO, driven by both faces of :class:`HTTPProvider`:
    :meth:`decode` turns one read's bytes into a batch (mended: a character whose UTF-16 halves
    came in two events is joined) and the reader's error, if any, to raise once the batch is out;
    :meth:`cut` decides whether a body cut off loses anything the caller needs."""

    __slots__ = ("reader", "_mend")

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._mend = SurrogatePairs().mend

    def decode(self, data: bytes) -> tuple[list[StreamEvent], Exception | None]:
        batch: list[StreamEvent] = []
        try:
            self.reader.read(data, batch)
        except Exception as error:  # noqa: BLE001 - raised by the driver once what came before is out
            self._mend(batch)
            return batch, error
        self._mend(batch)
        return batch, None

    def cut(self, error: IncompleteStreamError) -> None:
        """The body was cut off: raise ``error`` unless the reader has all the caller needs."""
        if not self.reader.complete:
            raise error


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
    runs that exchange, a batch of events per network read; :meth:`stream_sync` runs it for sync
    callers (the provider is ``inline``: the bytes come over the bridge, the events are made in
    the caller's thread; docs/architecture.md, "Sync and async", says why).
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
                f"Set it in the shell that starts Jupyter (export {env_var}=…) or, in a running notebook, "
                f"without saving it in a cell (os.environ[{env_var!r}] = getpass.getpass()); "
                "or pick a model that needs no key: local:smollm2",
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
        decoding = Decoding(reader)
        async with self.post(path, body, content_types=content_types) as chunks:
            try:
                async for data in chunks:
                    batch, error = decoding.decode(data)
                    if batch:
                        yield batch
                    if error is not None:
                        raise error
                    if reader.done:
                        return
            except IncompleteStreamError as error:
                decoding.cut(error)

    def stream_sync(self, request: Request, *, halt: Halt | None = None) -> Iterator[list[StreamEvent]]:
        """:meth:`stream_batches` for a sync caller: the async client reads on the bridge loop and
        hands the body's bytes over; this thread decodes them (every event made and used on one
        thread), all that came while it lagged as one read. ``halt`` gets the byte source, so a
        deadline waits on it and a Stop cancels it (:class:`~rlm_toolkit._inline.Halt`). The
        final batch goes out once the body has ended, its connection back in the pool."""
        path, body, content_types, reader = self.exchange(request)
        decoding = Decoding(reader)
        pieces = iterate_sync(lambda: self._pieces(path, body, content_types))
        try:
            if halt is not None and not halt.attach(pieces):
                raise asyncio.CancelledError("stopped")
            while True:
                batch, error = decoding.decode(b"".join(pieces.take_ready(_JOIN_BYTES)))
                if reader.done and error is None:
                    pieces.finish(DRAIN_SECONDS)
                if batch:
                    yield batch
                if error is not None:
                    raise error
                if reader.done:
                    return
        except StopIteration:  # the body ended (without the final event: the RLM says so)
            return
        except IncompleteStreamError as error:
            decoding.cut(error)
        finally:
            if halt is not None:
                halt.attach(None)
            pieces.close()

    async def _pieces(self, path: str, body: dict[str, Any],
                      content_types: tuple[str, ...]) -> AsyncIterator[bytes]:
        """The body's pieces, read on the bridge loop for :meth:`stream_sync`."""
        async with self.post(path, body, content_types=content_types) as chunks:
            async for piece in chunks:
                yield piece

    async def aclose(self) -> None:
        """Close every client this provider opened, on every loop (see :meth:`HTTPClients.aclose`)."""
        await self._clients.aclose()
