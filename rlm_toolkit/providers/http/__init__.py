"""The HTTP room: what every HTTP provider (OpenAI, Anthropic, Ollama, the Responses API) shares.

- :mod:`.provider` — :class:`HTTPProvider`, the base class (key check, clients, the loop that
  feeds a response's bytes to the provider's sans-IO :class:`Reader`), and :class:`SSEEvents`;
- :mod:`.streams` — :func:`open_stream`: POST, status and type checked, the body's pieces, drained;
- :mod:`.failures` — error statuses, transport errors and cut bodies as :mod:`rlm_toolkit.errors`;
- :mod:`.clients` — :class:`HTTPClients`: one ``httpx.AsyncClient`` per event loop, its options;
- :mod:`.transport` — the clients' transport: httpcore's pool, a chunked body re-framed per read;
- :mod:`.credentials` — credentials registered for scrubbing, kept out of URLs and other origins.

Only httpx's and httpcore's public API is used. Sync callers read these providers over the bridge
(:mod:`rlm_toolkit._bridge`); docs/architecture.md, "Sync and async", says why.
"""

from __future__ import annotations

from .clients import DEFAULT_TIMEOUT, HTTPClients
from .credentials import register_credentials, split_query, split_userinfo
from .failures import error_message, transport_error
from .provider import Exchange, HTTPProvider, Reader, SSEEvents
from .streams import open_stream

__all__ = [
    "HTTPProvider",
    "HTTPClients",
    "open_stream",
    "Reader",
    "Exchange",
    "SSEEvents",
    "DEFAULT_TIMEOUT",
    "error_message",
    "transport_error",
    "register_credentials",
    "split_userinfo",
    "split_query",
]
