"""Credentials of an HTTP provider's requests: registered for scrubbing, kept out of URLs that get
logged, and never sent to another origin (:class:`CredentialGuard`, the clients' request hook)."""

from __future__ import annotations

import base64
import functools
import urllib.parse
from typing import Any

from ...errors import CREDENTIAL_NAME, register_secret, register_url

__all__ = ["register_credentials", "split_query", "split_userinfo", "CredentialGuard"]


def register_credentials(headers: dict[str, str] | dict[str, bytes]) -> None:
    """Register every credential a request will carry, so no echo of it survives
    :func:`~rlm_toolkit.errors.scrub`: the value of each credential-bearing header
    (:data:`~rlm_toolkit.errors.CREDENTIAL_NAME`; of ``Scheme token`` values, the token), given as
    ``str`` or as ``bytes`` (httpx takes both)."""
    for key, value in headers.items():
        name = key.decode("latin-1") if isinstance(key, bytes) else str(key)
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


class CredentialGuard:
    """The request hook of every client: a request to an origin other than ``base_url``'s (where
    a redirect leads) goes without any credential header. httpx itself drops only
    ``Authorization``; ``api-key``, ``x-api-key`` and custom ``*-Token`` headers would follow.
    Like httpx, an upgrade from ``http`` to ``https`` on the same host keeps them."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @functools.cached_property
    def origin(self) -> tuple[str, str, int | None]:
        import httpx

        return self._origin(httpx.URL(self.base_url))

    @staticmethod
    def _origin(url: Any) -> tuple[str, str, int | None]:
        return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)

    def trusted(self, url: Any) -> bool:
        origin = self._origin(url)
        scheme, host, port = self.origin
        return origin == self.origin or (origin == ("https", host, 443) and (scheme, port) == ("http", 80))

    async def acheck(self, request: Any) -> None:
        if not self.trusted(request.url):
            for name in [name for name in request.headers if CREDENTIAL_NAME.search(name)]:
                del request.headers[name]
