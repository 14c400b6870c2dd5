"""MCPServers: the servers of one configuration, as agent tools, from any thread or event loop.

::

    from rlm_toolkit.mcp import MCPServers, mcp_tools

    agent = ReActAgent(rlm, tools=[add, *mcp_tools("servers.json")])   # closed at exit

    with MCPServers("servers.json") as servers:                          # closed on leaving
        agent = ReActAgent(rlm, tools=[add, *servers.tools()])

Every connection lives on the toolkit's background loop; sync callers wait on it (``run_sync``),
async callers await it from their own loop. Servers still running at interpreter exit are stopped.
"""

from __future__ import annotations

import asyncio
import atexit
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._bridge import CLOSE_TIMEOUT, run_sync, spawn, started_portal
from ..agents.tools import PROGRESS, Tool, ToolOutput
from ..errors import MCPToolError, UsageError
from .config import ServerSpec, load_config
from .connection import MCPConnection
from .results import result_images, result_text

__all__ = ["MCPServers", "MCPTool", "mcp_tools", "stop_all"]

T = TypeVar("T")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# Held strongly: a server outlives the MCPServers object whose tools still call it (mcp_tools).
_live: set[MCPServers] = set()


@dataclass(eq=False)
class MCPTool(Tool):
    """A tool served by an MCP server: ``server`` names it, ``remote_name`` is the server's name
    for the tool (``name`` may differ: made safe for every vendor, prefixed on a clash)."""

    server: str = ""
    remote_name: str = ""
    annotations: dict[str, Any] = field(default_factory=dict)


class MCPServers:
    """The servers of an ``mcpServers`` configuration (a path or a dict; see :mod:`.config`).

    Nothing starts until :meth:`tools` (or a call) needs a server; ``close()`` / ``aclose()``
    stop them all, and a stopped server starts again on its next use.

    A tool the server marks ``destructiveHint`` (and not ``readOnlyHint``) requires approval
    (:attr:`~rlm_toolkit.agents.Tool.requires_approval`): each call waits for a decision even when
    the agent has no ``approve=``. ``trust_destructive=True`` (or ``"trustDestructive": true`` in
    one server's entry) runs them without asking.
    """

    def __init__(self, config: Any, *, start_timeout: float = 30.0,
                 tool_timeout: float | None = None, trust_destructive: bool = False) -> None:
        specs: list[ServerSpec] = load_config(config)
        self.connections = {s.name: MCPConnection(s, start_timeout=start_timeout) for s in specs}
        self.tool_timeout = tool_timeout
        self.trust_destructive = trust_destructive
        _live.add(self)

    # -- the faces ---------------------------------------------------------------------------
    def tools(self, names: list[str] | None = None) -> list[MCPTool]:
        """Start the servers (all, or those in ``names``) and return their tools."""
        return run_sync(lambda: self._atools(names))

    async def atools(self, names: list[str] | None = None) -> list[MCPTool]:
        return await _on_portal(lambda: self._atools(names))

    def stop(self, name: str | None = None) -> None:
        """Stop one server, or all of them."""
        if started_portal() is not None:
            run_sync(lambda: self._astop(name))

    async def astop(self, name: str | None = None) -> None:
        if started_portal() is not None:
            await _on_portal(lambda: self._astop(name))

    close = stop
    aclose = astop

    def __enter__(self) -> MCPServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> MCPServers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def status(self) -> list[dict[str, Any]]:
        """One entry per server: name, transport, target, state, tools, restarts, last error."""
        return [{"name": c.name, "transport": c.spec.transport, "target": c.spec.describe(), "state": c.state,
                 "tools": [t.name for t in c.tools], "restarts": c.restarts, "error": c.error}
                for c in self.connections.values()]

    def log(self, name: str) -> str:
        """What server ``name`` wrote to stderr (the last lines kept), with rlm's own notes."""
        return "\n".join(self._connection(name).log)

    def __repr__(self) -> str:
        return f"MCPServers({', '.join(f'{c.name}={c.state}' for c in self.connections.values())})"

    # -- on the background loop ----------------------------------------------------------------
    def _connection(self, name: str) -> MCPConnection:
        if name not in self.connections:
            raise UsageError(f"there is no MCP server named {name!r}; the servers are: "
                             f"{', '.join(self.connections) or 'none'}")
        return self.connections[name]

    async def _atools(self, names: list[str] | None) -> list[MCPTool]:
        chosen = [self._connection(n) for n in names] if names else list(self.connections.values())
        await asyncio.gather(*(c.astart() for c in chosen))
        tools: list[MCPTool] = []
        taken: set[str] = set()
        for connection in chosen:
            for remote in connection.tools:
                name = _safe_name(remote.name, connection.name, taken)
                taken.add(name)
                tools.append(self._tool(connection, remote, name))
        return tools

    def _tool(self, connection: MCPConnection, remote: Any, name: str) -> MCPTool:
        server, remote_name, timeout = connection.name, remote.name, self.tool_timeout

        async def call(**arguments: Any) -> str | ToolOutput:
            report = PROGRESS.get()  # this call's: the SDK calls back from the connection's own task
            result, restarted = await _on_portal(
                lambda: connection.acall(remote_name, arguments, timeout=timeout, on_progress=report))
            text = result_text(result)
            if result.is_error:
                raise MCPToolError(f"MCP tool {remote_name!r} of server {server!r} failed: {text}",
                                   server=server, tool=remote_name)
            if restarted:
                text = f"(MCP server {server!r} had exited; rlm restarted it)\n{text}"
            images = result_images(result)  # shown in the timeline; the model reads their placeholders
            return ToolOutput(text, images) if images else text

        schema = dict(remote.input_schema or {})
        schema.setdefault("type", "object")
        description = (remote.description or remote.title or remote_name).strip()[:4000]
        annotations = remote.annotations.model_dump(exclude_none=True) if remote.annotations else {}
        # Only an explicit mark asks: the protocol's default for an unannotated tool is "destructive",
        # and asking about every call of every server would teach users to click yes unread.
        destructive = (annotations.get("destructive_hint") is True
                       and annotations.get("read_only_hint") is not True)
        trusted = self.trust_destructive or connection.spec.trust_destructive
        return MCPTool(name=name, description=f"{description} (MCP server {server!r})", parameters=schema,
                       fn=call, server=server, remote_name=remote_name, annotations=annotations,
                       requires_approval=destructive and not trusted)

    async def _astop(self, name: str | None) -> None:
        chosen = [self._connection(name)] if name else list(self.connections.values())
        await asyncio.gather(*(c.astop() for c in chosen))


def mcp_tools(config: Any, *, start_timeout: float = 30.0, tool_timeout: float | None = None,
              trust_destructive: bool = False) -> list[MCPTool]:
    """The tools of every server in ``config``, started now; stopped at interpreter exit or by
    :func:`stop_all`. ``ReActAgent(rlm, tools=[add, *mcp_tools("servers.json")])``. Tools marked
    ``destructiveHint`` ask before each call unless ``trust_destructive=True``."""
    return MCPServers(config, start_timeout=start_timeout, tool_timeout=tool_timeout,
                      trust_destructive=trust_destructive).tools()


def stop_all() -> None:
    """Stop every server any :class:`MCPServers` of this process started."""
    for servers in list(_live):
        servers.close()


def _safe_name(remote: str, server: str, taken: set[str]) -> str:
    """A tool name every vendor accepts (``[A-Za-z0-9_-]{1,64}``), unique among ``taken``."""
    name = _UNSAFE.sub("_", remote)[:64] or "tool"
    if name in taken:
        name = _UNSAFE.sub("_", f"{server}_{remote}")[:64]
    base, n = name[:60], 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


async def _on_portal(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Await ``factory()`` on the background loop, from it or from any other loop; cancelling
    the awaiting task cancels the work there (an MCP call then sends its cancellation)."""
    if asyncio.get_running_loop() is started_portal():
        return await factory()
    return await asyncio.wrap_future(spawn(factory))


def _stop_at_exit() -> None:
    running = [c for s in list(_live) for c in s.connections.values() if c.state != "stopped"]
    if started_portal() is None or not running:
        return

    async def stop() -> None:
        await asyncio.wait_for(asyncio.gather(*(c.astop() for c in running)), 20.0)

    try:
        spawn(stop).result(timeout=20.0 + CLOSE_TIMEOUT)
    except Exception:  # noqa: BLE001 - at exit: what could be stopped was
        pass


atexit.register(_stop_at_exit)
