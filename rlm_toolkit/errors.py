"""Every error rlm_toolkit raises, in one hierarchy.

Misuse of the API and failures of the model or the network are kept apart, so a caller can
catch "the provider failed" without also swallowing its own mistakes::

    RLMError
    ├── UsageError                  the caller asked for something that cannot work
    │   ├── ConfigurationError      unknown provider or model id, bad parameter
    │   ├── MissingCredentialsError no API key in the environment variable named
    │   ├── MissingDependencyError  the provider's pip extra is not installed
    │   └── ClientRequestError      a web client's request body has the wrong shape (HTTP 400)
    ├── ProviderError               the model or the network failed (.partial_text kept)
    │   ├── APIConnectionError      could not connect, or the connection broke
    │   │   └── APITimeoutError     connect or read took longer than the timeout
    │   ├── APIStatusError          the server answered with an HTTP error (.status_code)
    │   │   ├── AuthenticationError     401 / 403
    │   │   ├── RateLimitError          429
    │   │   ├── BadRequestError         400, 404, 409, 413, 422
    │   │   └── ServerError             5xx
    │   ├── IncompleteStreamError   the stream ended before the model finished
    │   ├── MalformedResponseError  an event that does not parse, or an error event
    │   └── StructuredOutputError   a typed answer that is not JSON or breaks its schema
    │                               (.raw_text, .errors, .partial_object)
    ├── MCPServerError              an MCP server would not start, answer or stay up (.server)
    └── MCPToolError                an MCP tool answered isError, or the server refused the call

No message, repr or ``str()`` of these errors contains an API key: every text is passed through
:func:`scrub` when the error is built. :func:`describe` is the one ``Type: message`` line shown for
any error (ours or a tool's, a callback's), :func:`one_line` its message alone on one line (after a
prefix of the caller's); :func:`scrub_data` scrubs a whole JSON-like value.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from ._json_depth import CUT_DEPTH, TOO_DEEP

__all__ = [
    "RLMError",
    "MCPServerError",
    "MCPToolError",
    "UsageError",
    "ConfigurationError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "ClientRequestError",
    "ProviderError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "AuthenticationError",
    "RateLimitError",
    "BadRequestError",
    "ServerError",
    "IncompleteStreamError",
    "MalformedResponseError",
    "StructuredOutputError",
    "scrub",
    "scrub_data",
    "describe",
    "register_secret",
    "register_url",
    "scrub_logger",
    "status_error",
    "one_line",
    "unfinished_key_at",
    "KEY_TAIL_MAX",
]

# Whole keys and the masked fragments providers echo back (OpenAI's 401 says "sk-QoS0U***KCxR").
# Not inside a word: "task-based" or "risk-free" in a server's message must survive.
_KEY_PATTERN = re.compile(r"(?<![A-Za-z0-9_\-])(sk-(?:ant-|proj-)?[A-Za-z0-9_\-*.…]{4,})")
_BEARER_PATTERN = re.compile(r"(?i)(bearer\s+)[^\s\"',}]+")
# A password in a URL (``http://user:password@host``); ``ssh://git@host`` names no secret.
_USERINFO_PATTERN = re.compile(r"(?<=://)[^\s/?#@:\"'<>]*:[^\s/?#@\"'<>]+@")
#: Names of headers and query parameters whose values are credentials: ``Authorization``,
#: ``api-key`` (Azure), ``X-Api-Key``, ``x-goog-api-key``, ``?access_token=``, ``?sig=`` (SAS), …
CREDENTIAL_NAME = re.compile(
    r"auth|key|token|secret|passw|pwd|cookie|credential|signature|session|(?<![a-z])sig(?![a-z])", re.I
)
# A query parameter (``?name=value`` / ``&name=value``); its value is masked if the name says credential.
_QUERY_PARAM = re.compile(r"([?&][^\s=&#?\"'<>]{1,64}=)([^\s&#\"'<>]+)")
# A key shown masked: a run of key characters with a mask in it (``sk-ab***wxyz``, ``3f9a...b4c6``,
# ``AIza•••0iO``, ``****wxyz``). A match starts only where a run starts (never inside one, nor inside
# a run of dots), so each run is read once: linear time, whatever repeats in the text. Group 1 is
# the visible head, group 2 the visible tail (the last iteration's).
_MASKED = re.compile(
    r"(?<![A-Za-z0-9_\-*•…])(?<!\.\.)([A-Za-z0-9_\-]*)(?:(?:[*•…]+|\.{2,})([A-Za-z0-9_\-]*))+"
)
#: What a masked echo must show of a registered key (head and tail together) to be taken for it.
_MASKED_MIN_VISIBLE = 4
_secrets: set[str] = set()
#: Dict keys whose values :func:`scrub_data` never keeps, whatever they hold.
_SECRET_KEYS = frozenset(
    {"authorization", "proxy-authorization", "api_key", "api-key", "x-api-key", "apikey"}
)


def register_secret(secret: str | None) -> None:
    """Remember a key so that :func:`scrub` removes it wherever it appears, masked or not."""
    if secret and len(secret) >= 8:
        _secrets.add(secret)


def register_url(url: str) -> None:
    """Register the values of a URL's credential-named query parameters (``?api_key=…``,
    ``&sig=…``), as written and decoded, so that no echo of them survives :func:`scrub`."""
    query = urllib.parse.urlsplit(url).query
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if value and CREDENTIAL_NAME.search(urllib.parse.unquote_plus(name)):
            register_secret(value)
            register_secret(urllib.parse.unquote_plus(value))


def _masked_echo(known: tuple[str, ...]) -> Callable[[re.Match[str]], str]:
    """The replacement of a :data:`_MASKED` match: ``***`` if it shows a known key's head and tail
    (at least :data:`_MASKED_MIN_VISIBLE` characters in all), or the key's first six characters
    (what OpenAI shows) followed by anything; else the match as it was."""

    def replace(match: re.Match[str]) -> str:
        head, tail = match.group(1), match.group(2) or ""
        for secret in known:
            if len(head) >= 6 and secret.startswith(head[:6]):
                return "***"
            if (len(head) + len(tail) >= _MASKED_MIN_VISIBLE and len(head) + len(tail) < len(secret)
                    and secret.startswith(head) and secret.endswith(tail)):
                return "***"
        return match.group(0)

    return replace


def _query_param(match: re.Match[str]) -> str:
    name = match.group(1)
    return f"{name}***" if CREDENTIAL_NAME.search(urllib.parse.unquote_plus(name)) else match.group(0)


def scrub(text: object, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with API keys, key fragments, bearer tokens and the credentials in URLs
    (``http://user:pw@host``, ``?api_key=…``) replaced by ``***``.

    Linear in the length of ``text`` (times the number of known keys): one pass per pattern, and
    every pattern reads a run of key characters once.
    """
    out = str(text)
    known = tuple(secret for secret in (*_secrets, *secrets) if secret)
    for secret in known:
        if secret in out:
            out = out.replace(secret, "***")
    # A masked echo keeps some of a key's first and last characters around asterisks or dots.
    masked = tuple(secret for secret in known if len(secret) >= 12)
    if masked:
        out = _MASKED.sub(_masked_echo(masked), out)
    out = _KEY_PATTERN.sub("sk-***", out)
    out = _USERINFO_PATTERN.sub("***@", out)
    if "=" in out:
        out = _QUERY_PARAM.sub(_query_param, out)
    return _BEARER_PATTERN.sub(r"\1***", out)


class _ScrubbedRecords(logging.Filter):
    """Scrubs a log record's message (and its traceback) before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


_SCRUBBED_RECORDS = _ScrubbedRecords()


#: What a key, token or URL password could still be growing at the end of held text: it is held back
#: a little longer when the rest is written on time (text in other scripts, spaces, punctuation is not).
# A run is matched from its start only (the lookbehind): searched from every position inside a long
# run, the pattern would read the rest of the run each time (quadratic in the held text).
_KEY_TAIL = re.compile(
    r"(?i)(?:bearer\s+)?(?<![A-Za-z0-9_\-*.…+/=])[A-Za-z0-9_\-*.…+/=]*$|://[^\s/?#@\"'<>]*$"
)
KEY_TAIL_MAX = 512


def unfinished_key_at(text: str, secrets: tuple[str, ...]) -> int:
    """Where the end of streamed ``text`` that could still grow into a key begins (``len(text)``: nowhere): a
    trailing run of key characters (or ``Bearer …``), or the start of a known secret, whatever it holds."""
    tail = _KEY_TAIL.search(text)
    keep = tail.start() if tail is not None and len(text) - tail.start() <= KEY_TAIL_MAX else len(text)
    known = (*_secrets, *secrets)  # the keys providers registered, and this trace's
    for secret in known:  # the longest end of ``text`` that begins this secret
        at = text.find(secret[:1], max(0, len(text) - len(secret) + 1))
        while secret and at >= 0:
            if secret.startswith(text[at:]):
                keep = min(keep, at)
                break
            at = text.find(secret[:1], at + 1)
    if keep < len(text):  # never cut through a whole key either: the part written is scrubbed alone
        patterns = (_KEY_PATTERN, _BEARER_PATTERN, _USERINFO_PATTERN,
                    _QUERY_PARAM, _MASKED)
        # (A match longer than any key, 200 KB of "sk-proj-", would hold all the text back.)
        spans = [(m.start(), m.end()) for pattern in patterns for m in pattern.finditer(text)
                 if m.end() - m.start() <= KEY_TAIL_MAX]
        for secret in known:
            at = text.find(secret)
            while secret and at >= 0:
                spans.append((at, at + len(secret)))
                at = text.find(secret, at + 1)
        for start, end in sorted(spans, reverse=True):
            if start < keep < end:
                keep = start
    return keep


def scrub_logger(name: str) -> None:
    """Scrub every record the logger ``name`` writes, as :func:`scrub` does: httpx's INFO line
    (``HTTP Request: POST <url>``) and urllib3's show URLs whole, a key in their query string too."""
    logger = logging.getLogger(name)
    if _SCRUBBED_RECORDS not in logger.filters:
        logger.addFilter(_SCRUBBED_RECORDS)


def scrub_data(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A JSON-ready copy of ``value`` (dicts, lists, objects with ``to_dict``) with every string
    scrubbed, the values of credential keys (``Authorization``, ``api_key``, …) replaced by ``***``
    and anything else written as its scrubbed ``repr``. Lists and dicts nested deeper than
    ``CUT_DEPTH`` (100) levels are cut to a marker string, so the copy is safe to ``json.dumps``."""
    return _scrub_data(value, tuple(secrets), CUT_DEPTH)


def _scrub_data(value: Any, secrets: tuple[str, ...], levels: int) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        if levels <= 0:
            return TOO_DEEP
        return {str(k): "***" if str(k).lower() in _SECRET_KEYS else _scrub_data(v, secrets, levels - 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if levels <= 0:
            return TOO_DEEP
        return [_scrub_data(v, secrets, levels - 1) for v in value]
    if hasattr(value, "to_dict"):
        return _scrub_data(value.to_dict(), secrets, levels - 1)
    return scrub(repr(value), secrets)


def describe(error: BaseException) -> str:
    """``Type: message`` for any error, scrubbed (just ``Type`` when the message is empty): the
    one text a user, a trace, a page or a model is shown of it."""
    message = scrub(_text_of(error)).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def one_line(error: BaseException) -> str:
    """An error's message, scrubbed, on one line (whitespace runs joined; the type's name when it
    says nothing): what a one-line report shows after its own prefix, ``--record: <one_line>``.
    Where the type should show too, use :func:`describe`."""
    return " ".join(scrub(_text_of(error)).split()) or type(error).__name__


def _text_of(error: BaseException) -> str:
    """The message of an error (``.message``, else ``str()``), unscrubbed."""
    try:  # a tool's error whose __str__ raises (even SystemExit) is still described, not re-raised
        return str(getattr(error, "message", None) or error)
    except BaseException as failure:
        return f"(str() of it raised {type(failure).__name__})"


class RLMError(Exception):
    """Base class of every rlm_toolkit error. ``.message`` holds the scrubbed text."""

    def __init__(self, message: str = "") -> None:
        self.message = scrub(message)
        super().__init__(self.message)


class UsageError(RLMError):
    """The caller asked for something that cannot work; fix the call, not the network."""


class ConfigurationError(UsageError):
    """Unknown provider or model id, or a parameter the provider cannot take."""


class MissingCredentialsError(UsageError):
    """The provider needs a key and the environment variable that should hold it is empty."""

    def __init__(self, message: str, *, env_var: str | None = None) -> None:
        self.env_var = env_var
        super().__init__(message)


class MissingDependencyError(UsageError):
    """A provider's optional dependency is not installed; the message names the pip extra."""


class ClientRequestError(UsageError):
    """What a web client sent cannot be used (``messages_from_ui``: a body of the wrong shape).
    ``status_code`` is 400; under Starlette/FastAPI the endpoint answers 400 with ``.message``."""

    status_code = 400


class ProviderError(RLMError):
    """The model or the network failed. ``partial_text`` holds what had streamed before it."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        partial_text: str = "",
    ) -> None:
        self.provider = provider
        self.model = model
        self.partial_text = partial_text
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class APIConnectionError(ProviderError):
    """Could not connect, or the connection broke while reading."""

    @property
    def retryable(self) -> bool:
        return True


class APITimeoutError(APIConnectionError):
    """Connecting or waiting for the next piece of the answer took longer than the timeout."""


class APIStatusError(ProviderError):
    """The server answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        retry_after: float | None = None,
        **kwargs: object,
    ) -> None:
        self.status_code = status_code
        self.body = scrub(body)
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]  # kwargs: the subclass's own keywords, passed on

    @property
    def retryable(self) -> bool:
        return self.status_code == 429 or self.status_code >= 500


class AuthenticationError(APIStatusError):
    """401 or 403: the key is missing, wrong, or not allowed to use this model."""


class RateLimitError(APIStatusError):
    """429: too many requests or tokens; retried with backoff before the first chunk."""


class BadRequestError(APIStatusError):
    """The server refused the request itself (unknown model, bad parameter, too long)."""


class ServerError(APIStatusError):
    """5xx: the provider failed; retried with backoff before the first chunk."""


class IncompleteStreamError(ProviderError):
    """The stream ended (connection closed, no finish event) before the model said it was done."""

    @property
    def retryable(self) -> bool:
        return True


class MalformedResponseError(ProviderError):
    """An event that does not parse, or an error reported inside the stream."""


class StructuredOutputError(ProviderError):
    """A typed answer (``schema=``) that is not JSON, or is JSON that breaks the schema.

    ``raw_text`` is the answer as it came (also ``partial_text``); ``errors`` the validator's
    list (pydantic's ``errors()`` shape: ``loc``, ``msg``, ``type``); ``partial_object`` the last
    partial object handed out before the end, if any."""

    def __init__(self, message: str, *, raw_text: str = "", errors: list[dict[str, Any]] | None = None,
                 partial_object: Any = None, **kwargs: Any) -> None:
        self.errors = list(errors or ())
        self.partial_object = partial_object
        super().__init__(message, partial_text=raw_text, **kwargs)

    @property
    def raw_text(self) -> str:
        return self.partial_text


def status_error(
    status_code: int,
    detail: str,
    *,
    body: str = "",
    retry_after: float | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass that fits an HTTP status."""
    if status_code in (401, 403):
        cls: type[APIStatusError] = AuthenticationError
    elif status_code == 429:
        cls = RateLimitError
    elif status_code >= 500:
        cls = ServerError
    elif 400 <= status_code < 500:
        cls = BadRequestError
    else:
        cls = APIStatusError
    where = f"{provider}:{model}" if provider else "the server"
    message = f"{status_code} from {where}: {detail}".rstrip(": ")
    return cls(
        message,
        status_code=status_code,
        body=body,
        retry_after=retry_after,
        provider=provider,
        model=model,
    )


class MCPServerError(RLMError):
    """An MCP server could not be started, did not answer ``initialize`` in time, broke the
    protocol or exited; ``.server`` names it, and the message ends with its last stderr lines."""

    def __init__(self, message: str, *, server: str = "") -> None:
        self.server = server
        super().__init__(message)


class MCPToolError(RLMError):
    """An MCP tool call failed: the tool answered ``isError`` or the server answered the call with
    a JSON-RPC error (``.code``). The agent shows it to the model as an error observation."""

    def __init__(self, message: str, *, server: str = "", tool: str = "", code: int | None = None) -> None:
        self.server = server
        self.tool = tool
        self.code = code
        super().__init__(message)
