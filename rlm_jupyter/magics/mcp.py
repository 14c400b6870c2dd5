"""MCP servers in the notebook: ``%%rlm --agent --mcp servers.json`` and ``%rlm mcp``.

::

    %%rlm --agent --mcp servers.json --tools add     the servers' tools beside the notebook's
    %rlm mcp                                         servers, their state, tools and schemas
    %rlm mcp log time                                what server 'time' wrote to stderr
    %rlm mcp stop [time]                             stop one server, or all

A configuration's servers start on first use and are reused by later cells (a changed file gives a
new set, the old one stopped); they stop with ``%rlm mcp stop`` and when the kernel exits. A stdio
server's stderr goes to a pipe rlm reads, never to the kernel's ``sys.stderr`` pseudo-file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from .line import usage_error

__all__ = ["tools", "line"]
#: The configurations the cells used, by path (or variable name) and content; reused by later cells.
_SERVERS: dict[str, tuple[str, Any]] = {}


def _servers_module() -> Any:
    try:
        from rlm_toolkit import mcp
    except ImportError as error:
        raise UsageError(f"--mcp: {error}") from None
    return mcp


def tools(source: str, namespace: Mapping[str, Any]) -> list[Any]:
    """The tools of the configuration ``source``: a JSON file's path, or a notebook variable
    holding the ``mcpServers`` dict. A server that will not start is a one-line UsageError."""
    mcp = _servers_module()
    from rlm_toolkit.errors import RLMError

    config: Any = namespace[source] if source.isidentifier() and source in namespace else source
    if isinstance(config, str) and not Path(config).exists():
        raise UsageError(f"--mcp: no file {config!r} (and no notebook variable of that name holding the "
                         "mcpServers dict)")
    try:
        text = json.dumps(config, sort_keys=True, default=str) if not isinstance(config, str) else \
            Path(config).read_bytes()[: mcp.config.MAX_CONFIG_BYTES + 1].decode("utf-8", "replace")
        digest = hashlib.sha256(text.encode()).hexdigest()
        known = _SERVERS.get(source)
        if known is None or known[0] != digest:
            if known is not None:
                known[1].close()
            _SERVERS[source] = (digest, mcp.MCPServers(config))
        return list(_SERVERS[source][1].tools())
    except RLMError as error:
        name = getattr(error, "server", "")
        hint = f" (%rlm mcp log {name} shows its stderr)" if name else ""
        raise UsageError(f"--mcp: {error.message.splitlines()[0]}{hint}") from None


def line(action: str | None, name: str | None) -> None:
    """``%rlm mcp [log NAME | stop [NAME]]``, as parsed by :mod:`rlm_jupyter.magics.line`."""
    if action is None:
        if name is not None:
            usage_error("mcp", f"{name!r}: say log NAME or stop NAME")
        return _show()
    if action == "log":
        if name is None:
            usage_error("mcp", "log needs the server's NAME")
        print(_find(name).log(name) or f"(server {name!r} has written nothing to stderr)")
        return None
    chosen = [servers for _, servers in _SERVERS.values() if name is None or name in servers.connections]
    if name is not None and not chosen:
        _find(name)
    for servers in chosen:
        servers.stop(name)
    print(f"Stopped {name if name is not None else 'every MCP server'}.")
    return None


def _find(name: str) -> Any:
    for _, servers in _SERVERS.values():
        if name in servers.connections:
            return servers
    known = sorted({n for _, s in _SERVERS.values() for n in s.connections})
    raise UsageError(f"no MCP server named {name!r} has been used here; known: {', '.join(known) or 'none'} "
                     "(%%rlm --agent --mcp servers.json starts them)")


def _show() -> None:
    if not _SERVERS:
        print("No MCP servers yet: %%rlm --agent --mcp servers.json starts the servers of that file.")
        return
    for source, (_, servers) in _SERVERS.items():
        for entry in servers.status():
            print(f"{entry['name']} ({entry['transport']}: {entry['target']}) from {source}: {entry['state']}"
                  + (f", restarted {entry['restarts']}x" if entry["restarts"] else "")
                  + (f"\n  error: {entry['error'].splitlines()[0]}" if entry["error"] else ""))
            connection = servers.connections[entry["name"]]
            for tool in connection.tools:
                schema = json.dumps(tool.input_schema.get("properties", {}), ensure_ascii=False)
                lines = (tool.description or "").strip().splitlines()
                print(f"  {tool.name}: {lines[0] if lines else ''}")
                print(f"    arguments: {schema[:300]}")
