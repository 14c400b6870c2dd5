"""Opening a response stream: POST a JSON body, check the status (an error status raises with what
its body says) and the content type, hand out the body's byte pieces with every httpx error mapped
onto the toolkit's hierarchy, and drain a finished body so its connection is kept alive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ...errors import ProviderError
from .clients import HTTPClients
from .failures import broken, check_type, refused, transport_error

__all__ = ["open_stream", "DRAIN_SECONDS"]

#: After a stream's final event, read at most this much of what is left of the body, for this long.
_DRAIN_BYTES = 64 * 1024
DRAIN_SECONDS = 0.25


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
        async with _open(clients, client, path, body, provider=provider, model=model,
                         content_types=content_types) as chunks:
            yield chunks


@asynccontextmanager
async def _open(
    clients: HTTPClients,
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    *,
    provider: str,
    model: str,
    content_types: tuple[str, ...],
) -> AsyncIterator[AsyncIterator[bytes]]:
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
            raise await refused(response, provider=provider, model=model)
        check_type(response, content_types, provider=provider, model=model)

        async def chunks() -> AsyncIterator[bytes]:
            pieces = response.aiter_raw() if _identity(response) else response.aiter_bytes()
            try:
                async for piece in pieces:
                    yield piece
            except httpx.HTTPError as error:
                raise broken(error, provider=provider, model=model) from None

        body_pieces = chunks()
        yield body_pieces
        if pooled:
            await _drain(body_pieces)
    finally:
        await response.aclose()


def _identity(response: httpx.Response) -> bool:
    """Whether the body comes as sent (no ``Content-Encoding``): then its raw pieces are its bytes,
    read without httpx's decoder layer (a piece per token when a server flushes each event)."""
    return response.headers.get("content-encoding", "identity").strip().lower() in ("", "identity")


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
        await asyncio.wait_for(rest(), DRAIN_SECONDS)
    except (asyncio.TimeoutError, ProviderError):
        pass
