"""Failures of an HTTP exchange mapped onto :mod:`rlm_toolkit.errors`: an error status (its body
read, bounded, for the message), a content type the reader cannot read, a transport error while
sending, and a body cut off while reading."""

from __future__ import annotations

import httpx

from ..._json_depth import loads
from ...errors import (
    APIConnectionError,
    APITimeoutError,
    IncompleteStreamError,
    MalformedResponseError,
    ProviderError,
    scrub,
    status_error,
)

__all__ = ["error_message", "transport_error", "refused", "broken", "check_type", "MAX_ERROR_BODY"]

#: The most of an error response's body read for its message.
MAX_ERROR_BODY = 64 * 1024


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


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def transport_error(error: BaseException, *, provider: str, model: str) -> ProviderError:
    """Map an httpx exception onto the toolkit's hierarchy."""
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


async def refused(response: httpx.Response, *, provider: str, model: str) -> ProviderError:
    """The error of a response with an error status, from the first :data:`MAX_ERROR_BODY` bytes of
    its body (what could be read: a body cut off still gives its status)."""
    raw = b""
    try:
        async for piece in response.aiter_raw():
            raw += piece
            if len(raw) > MAX_ERROR_BODY:
                break
    except httpx.HTTPError:
        pass
    return status_error(
        response.status_code,
        error_message(raw) or response.reason_phrase,
        body=raw.decode("utf-8", "replace"),
        retry_after=_retry_after(response.headers),
        provider=provider,
        model=model,
    )


def check_type(response: httpx.Response, content_types: tuple[str, ...], *, provider: str,
               model: str) -> None:
    """Raise :class:`~rlm_toolkit.errors.MalformedResponseError` unless the response's content type
    is one of ``content_types`` (none given: any)."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_types and ctype not in content_types:
        raise MalformedResponseError(
            f"{provider}:{model} answered with content type {ctype or 'none'!r}, "
            f"expected {' or '.join(content_types)}",
            provider=provider,
            model=model,
        )


def broken(error: BaseException, *, provider: str, model: str) -> ProviderError:
    """The error of a body whose reading failed: a timeout, or a cut stream (peer closed, reset,
    incomplete chunked body)."""
    if isinstance(error, httpx.TimeoutException):
        return transport_error(error, provider=provider, model=model)
    return IncompleteStreamError(
        f"the stream from {provider}:{model} was cut off "
        f"({type(error).__name__}: {scrub(str(error) or 'connection lost')})",
        provider=provider,
        model=model,
    )
