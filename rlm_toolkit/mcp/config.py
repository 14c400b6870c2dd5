"""The ``mcpServers`` configuration of Claude Desktop, Cursor and pydantic-ai, read as untrusted input.

::

    {"mcpServers": {
        "time": {"command": "mcp-server-time", "args": ["--local-timezone", "UTC"], "env": {}},
        "docs": {"url": "http://127.0.0.1:8000/mcp", "headers": {"Authorization": "Bearer ${DOCS_KEY}"}},
        "old": {"type": "sse", "url": "http://127.0.0.1:8001/sse"}
    }}

A ``url`` is streamable HTTP, or the legacy HTTP+SSE transport with ``"type": "sse"`` (or, with no
``type``, a URL whose path ends in ``/sse``, as pydantic-ai reads it).

A file path or the dict itself; ``${VAR}`` in any string is taken from the environment, so keys stay
out of notebooks. ``"trustDestructive": true`` in a server's entry runs its tools marked
``destructiveHint`` without asking first (rlm's own key; see :class:`~rlm_toolkit.mcp.MCPServers`).
Every ``env`` and ``headers`` value is registered as a secret (scrubbed from
errors, logs, traces and spans). Each mistake is one :class:`ConfigurationError` naming the server
and the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._files import read_bytes
from .._json_depth import loads
from ..errors import ConfigurationError, register_secret, register_url

__all__ = ["ServerSpec", "load_config", "MAX_CONFIG_BYTES", "MAX_SERVERS"]

#: A configuration file larger than this is refused (the real ones are a few kilobytes).
MAX_CONFIG_BYTES = 1_000_000
#: At most this many servers in one configuration.
MAX_SERVERS = 64
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ServerSpec:
    """One server of the configuration: ``command`` (stdio) or ``url`` (streamable HTTP, or the
    legacy HTTP+SSE transport when ``sse``)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    trust_destructive: bool = False  # its destructiveHint tools run without asking
    sse: bool = False  # the url speaks the legacy HTTP+SSE transport

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "sse" if self.sse else "http"

    def describe(self) -> str:
        """One line: the command line or the URL (never an env or header value)."""
        return " ".join((self.command or "", *self.args)) if self.command else str(self.url)


def load_config(config: Any) -> list[ServerSpec]:
    """The servers of ``config``: a path (``str``/``Path``) to JSON, or the parsed dict.

    ``{"mcpServers": {...}}`` and the bare ``{name: {...}}`` mapping are both accepted.
    """
    where = "the MCP configuration"
    if isinstance(config, (str, Path)):
        where = f"MCP configuration {str(config)!r}"
        raw = read_bytes(config, MAX_CONFIG_BYTES, "an MCP configuration file", "MAX_CONFIG_BYTES")
        try:
            config = loads(raw)
        except ValueError as error:
            raise ConfigurationError(f"{where} is not JSON: {error}") from None
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"{where} must be a JSON object, got {type(config).__name__}")
    servers = config.get("mcpServers", config if "mcpServers" not in config else None)
    if not isinstance(servers, Mapping):
        raise ConfigurationError(f"{where}: 'mcpServers' must be an object of servers by name")
    if len(servers) > MAX_SERVERS:
        raise ConfigurationError(f"{where} names {len(servers)} servers; at most {MAX_SERVERS} (MAX_SERVERS)")
    return [_server(str(name), entry, where) for name, entry in servers.items()]


def _server(name: str, entry: Any, where: str) -> ServerSpec:
    if not _NAME.match(name):
        raise ConfigurationError(
            f"{where}: server name {name[:80]!r} is not allowed (1-64 letters, digits, '_.-')")
    here = f"{where}: server {name!r}"
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{here} must be an object with 'command' or 'url'")
    kind = entry.get("type") or entry.get("transport")
    if kind not in (None, "stdio", "http", "streamable-http", "streamable_http", "streamableHttp", "sse"):
        raise ConfigurationError(
            f"{here}: 'type' {str(kind)[:40]!r} is not supported (stdio, streamable HTTP or sse)")
    if not entry.get("command") and not entry.get("url"):
        raise ConfigurationError(f"{here} names no 'command' (stdio) and no 'url' (streamable HTTP)")
    if entry.get("command") and entry.get("url"):
        raise ConfigurationError(f"{here} names both 'command' and 'url'; give one")
    if kind == "sse" and not entry.get("url"):
        raise ConfigurationError(f"{here}: 'type' 'sse' needs a 'url' (the server's SSE endpoint)")
    trust = entry.get("trustDestructive", False)
    if not isinstance(trust, bool):
        raise ConfigurationError(f"{here}: 'trustDestructive' must be true or false")
    env = _strings(entry.get("env"), here, "env", secret=True)
    headers = _strings(entry.get("headers"), here, "headers", secret=True)
    if entry.get("url"):
        url = _expand(_string(entry["url"], here, "url"), here, "url")
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{here}: 'url' must start with http:// or https://")
        register_url(url)
        sse = kind == "sse" or (kind is None and urlsplit(url).path.rstrip("/").endswith("/sse"))
        return ServerSpec(name=name, url=url, headers=headers, trust_destructive=trust, sse=sse)
    args = entry.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        raise ConfigurationError(f"{here}: 'args' must be a list of strings")
    cwd = entry.get("cwd")
    return ServerSpec(
        name=name,
        command=_expand(_string(entry["command"], here, "command"), here, "command"),
        args=tuple(_expand(str(a), here, "args") for a in args),
        env=env,
        cwd=_expand(_string(cwd, here, "cwd"), here, "cwd") if cwd else None,
        trust_destructive=trust,
    )


def _string(value: Any, here: str, key: str) -> str:
    if not isinstance(value, str) or "\0" in value:
        raise ConfigurationError(f"{here}: '{key}' must be a string")
    return value


def _strings(value: Any, here: str, key: str, *, secret: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, (str, int, float)) for v in value.values()):
        raise ConfigurationError(f"{here}: '{key}' must be an object of strings")
    out = {str(k): _expand(str(v), here, f"{key}.{k}") for k, v in value.items()}
    if secret:
        for v in out.values():
            register_secret(v)
            register_secret(v.partition(" ")[2])  # "Bearer <key>": the key alone, too
    return out


def _expand(text: str, here: str, key: str) -> str:
    def value(match: re.Match[str]) -> str:
        found = os.environ.get(match[1])
        if found is None:
            raise ConfigurationError(
                f"{here}: '{key}' uses ${{{match[1]}}}, which is not set in the environment")
        return found

    return _VAR.sub(value, text)
