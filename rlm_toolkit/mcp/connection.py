"""One MCP server connection, owned by a task on the toolkit's background loop (``_bridge``).

The SDK's transports and session are async context managers that must be entered and left in one
task, so :meth:`MCPConnection._serve` holds them for the connection's life: it starts the server,
runs ``initialize`` and ``tools/list`` under ``start_timeout``, then waits for ``stop``. Calls come
from any task of that loop. A stdio server's stderr goes to an OS pipe that a daemon thread reads
into a bounded log (never the caller's ``sys.stderr``, which in a kernel is not a file: the
``UnsupportedOperation: fileno`` of python-sdk issues 156 and 1103); that pipe's end of file is also
how a server that exits while idle is noticed, and the next call restarts it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

import anyio
import httpx2
import mcp_types
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ..errors import MCPServerError, MCPToolError, scrub
from .config import ServerSpec

__all__ = ["MCPConnection", "MAX_LOG_LINES", "MAX_TOOLS", "CALL_CANCEL_GRACE"]

#: Lines of a server's stderr (and log notifications) kept; older ones are dropped.
MAX_LOG_LINES = 500
#: A longer stderr line is cut to this many characters.
MAX_LOG_LINE = 2_000
#: Tools offered from one server; a server listing more has the rest left out, with a log line.
MAX_TOOLS = 128
#: Pages of ``tools/list`` read at most (a server whose cursor never ends is cut off).
MAX_PAGES = 20
#: Seconds a cancelled call gets to send MCP's cancellation before the caller moves on.
CALL_CANCEL_GRACE = 1.0
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)  # the SDK's own defaults for MCP over HTTP
# What the SDK's client imports on the first result of a tool with an output schema (about 0.85 s,
# on the loop thread, where it would stall every live stream): imported in a thread while a server starts.
_SCHEMA_MODULES = ("jsonschema", "jsonschema.validators", "jsonschema.exceptions", "referencing",
                   "referencing.exceptions")
_schema_import: concurrent.futures.Future[None] | None = None
_schema_lock = threading.Lock()


def import_schema_modules() -> concurrent.futures.Future[None]:
    """Import the SDK's result validator (``jsonschema``) once per process, on a daemon thread.

    The first call of a tool waits for it on the loop without blocking it, so the import never runs
    on the loop thread. A failed import is left for the SDK to report where it needs the module."""
    global _schema_import
    with _schema_lock:
        if _schema_import is None:
            _schema_import = concurrent.futures.Future()
            _schema_import.set_running_or_notify_cancel()  # a cancelled first call cannot cancel it
            threading.Thread(target=_import_schema, args=(_schema_import,), name="rlm-mcp-import",
                             daemon=True).start()
        return _schema_import


def _import_schema(done: concurrent.futures.Future[None]) -> None:
    try:
        for name in _SCHEMA_MODULES:
            importlib.import_module(name)
    except Exception:  # noqa: BLE001 - the SDK raises its own error where it imports them
        pass
    done.set_result(None)


class _StderrPipe:
    """An OS pipe for a server's stderr; a daemon thread reads it into ``log`` line by line."""

    def __init__(self, log: deque[str], on_eof: Any) -> None:
        read_fd, write_fd = os.pipe()
        self.writer: TextIO | None = os.fdopen(write_fd, "w")
        self._log = log
        self._on_eof = on_eof
        threading.Thread(target=self._read, args=(read_fd,), name="rlm-mcp-stderr", daemon=True).start()

    def _read(self, fd: int) -> None:
        pending = b""
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    self._log.append(line[:MAX_LOG_LINE].decode("utf-8", "replace").rstrip("\r"))
                pending = pending[-MAX_LOG_LINE:]  # an endless line is kept bounded
        if pending:
            self._log.append(pending.decode("utf-8", "replace"))
        self._on_eof()

    def close_writer(self) -> None:
        """Our copy of the write end: closed once the child holds its own, so EOF means it exited."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class MCPConnection:
    """A server from the configuration: started on first use, reused, restarted after it died.

    Its coroutines run on the background loop only; :class:`~rlm_toolkit.mcp.MCPServers` is the
    face callers use from any thread or loop. ``state`` is one of ``stopped``, ``starting``,
    ``ready``, ``exited`` (it died; the next call restarts it) or ``failed`` (the last start failed).
    """

    def __init__(self, spec: ServerSpec, *, start_timeout: float = 30.0) -> None:
        self.spec = spec
        self.start_timeout = start_timeout
        self.state = "stopped"
        self.log: deque[str] = deque(maxlen=MAX_LOG_LINES)
        self.tools: list[mcp_types.Tool] = []
        self.restarts = 0
        self.error: str | None = None
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def stderr_tail(self, lines: int = 8) -> str:
        tail = list(self.log)[-lines:]
        return ("\n  stderr: " + "\n  stderr: ".join(tail)) if tail else ""

    async def astart(self) -> bool:
        """Start the server unless it is up; True if this was a restart after it had exited."""
        if self.state == "ready" and self._session is not None:
            return False
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self.state == "ready" and self._session is not None:
                return False
            restarted = self.state == "exited"
            import_schema_modules()  # while the server starts
            await self._reap()
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()
            self._stop = asyncio.Event()
            self.state, self.error = "starting", None
            self._task = loop.create_task(self._serve(ready, self._stop, loop), name=f"rlm-mcp-{self.name}")
            try:
                await asyncio.shield(ready)
            except BaseException:
                await self._reap()
                raise
            if restarted:
                self.restarts += 1
                self.log.append(f"[rlm] the server had exited; restarted it (restart {self.restarts})")
            return restarted

    async def _serve(self, ready: asyncio.Future[None], stop: asyncio.Event,
                     loop: asyncio.AbstractEventLoop) -> None:
        pipe: _StderrPipe | None = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.spec.command:
                    pipe = _StderrPipe(self.log, lambda: loop.call_soon_threadsafe(self._exited, stop))
                    assert pipe.writer is not None
                    params = StdioServerParameters(command=self.spec.command, args=list(self.spec.args),
                                                   env=dict(self.spec.env) or None, cwd=self.spec.cwd)
                    streams = await stack.enter_async_context(stdio_client(params, errlog=pipe.writer))
                    pipe.close_writer()
                elif self.spec.sse:  # the legacy HTTP+SSE transport: a GET stream, POSTs beside it
                    assert self.spec.url is not None
                    streams = await stack.enter_async_context(sse_client(
                        self.spec.url, headers=dict(self.spec.headers), timeout=_HTTP_TIMEOUT.connect or 30.0,
                        sse_read_timeout=_HTTP_TIMEOUT.read or 300.0))
                else:
                    assert self.spec.url is not None
                    client = await stack.enter_async_context(
                        httpx2.AsyncClient(headers=dict(self.spec.headers), timeout=_HTTP_TIMEOUT))
                    streams = await stack.enter_async_context(
                        streamable_http_client(self.spec.url, http_client=client))
                session = await stack.enter_async_context(
                    ClientSession(*streams, logging_callback=self._logged))
                with anyio.fail_after(self.start_timeout):
                    await session.initialize()
                    self.tools = await self._list_tools(session)
                self._session, self.state = session, "ready"
                ready.set_result(None)
                await stop.wait()
        except BaseException as error:  # noqa: BLE001 - each one is told to the waiting caller
            failure = self._start_failure(error)
            self.error = failure.message
            if not ready.done():
                self.state = "failed"
                ready.set_exception(failure)
            if isinstance(error, asyncio.CancelledError):
                raise
        finally:
            self._session = None
            if pipe is not None:
                pipe.close_writer()
            if self.state in ("ready", "starting"):
                self.state = "stopped"

    def _exited(self, stop: asyncio.Event) -> None:
        """The server's stderr reached end of file: it exited (or closed stderr and will)."""
        if self._stop is stop and self.state == "ready":
            self.state = "exited"
            self.log.append("[rlm] the server exited")
        stop.set()

    async def _logged(self, params: mcp_types.LoggingMessageNotificationParams) -> None:
        self.log.append(f"[{params.level}] {str(params.data)[:MAX_LOG_LINE]}")

    async def _list_tools(self, session: ClientSession) -> list[mcp_types.Tool]:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await session.list_tools(
                params=mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None)
            tools.extend(page.tools[: MAX_TOOLS + 1 - len(tools)])
            cursor = page.next_cursor
            if not cursor or len(tools) > MAX_TOOLS:
                break
        if len(tools) > MAX_TOOLS:
            self.log.append(f"[rlm] the server lists more than {MAX_TOOLS} tools; the first {MAX_TOOLS} "
                            "are offered (MAX_TOOLS)")
        return tools[:MAX_TOOLS]

    def _start_failure(self, error: BaseException) -> MCPServerError:
        leaf = _leaf(error)
        where = f"MCP server {self.name!r}"
        if isinstance(leaf, FileNotFoundError) and self.spec.command:
            text = f"{where}: 'command' {self.spec.command!r} was not found (is it installed and on PATH?)"
        elif isinstance(leaf, (TimeoutError, asyncio.TimeoutError)):
            text = (f"{where} did not answer 'initialize' and 'tools/list' within {self.start_timeout:g} s "
                    f"(start_timeout); it runs {self.spec.describe()!r}")
        elif isinstance(leaf, asyncio.CancelledError):
            text = f"{where} was stopped while starting"
        else:
            text = f"{where} failed to start: {type(leaf).__name__}: {leaf}"
        return MCPServerError(text + self.stderr_tail(), server=self.name)

    async def acall(self, tool: str, arguments: dict[str, Any], *, timeout: float | None = None,
                    on_progress: Callable[[float, float | None, str | None], None] | None = None,
                    ) -> tuple[mcp_types.CallToolResult, bool]:
        """Call ``tool``; the result and whether the server had to be restarted first. ``on_progress``
        gets the server's progress notifications for this call (the SDK asks for them only then).

        The call is raced against the connection's own task, so a server that exits mid-call ends
        the call with :class:`MCPServerError` instead of leaving it waiting for an answer."""
        restarted = await self.astart()
        session, serving = self._session, self._task
        assert session is not None and serving is not None
        schemas = import_schema_modules()
        if not schemas.done():  # the first call, on a fast server: wait without holding the loop
            await asyncio.wrap_future(schemas)
        async def reported(progress: float, total: float | None, message: str | None) -> None:
            if on_progress is not None:
                on_progress(progress, total, message)

        call = asyncio.ensure_future(session.call_tool(tool, arguments, read_timeout_seconds=timeout,
                                                       progress_callback=reported if on_progress else None))
        try:
            await asyncio.wait({call, serving}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the agent's Stop or tool_timeout: the SDK sends cancellation
            call.cancel()
            await asyncio.wait({call}, timeout=CALL_CANCEL_GRACE)
            raise
        if not call.done():
            call.cancel()
            await asyncio.wait({call}, timeout=CALL_CANCEL_GRACE)
            if self.state == "ready":
                self.state = "exited"
            raise MCPServerError(f"MCP server {self.name!r} exited during the call of {tool!r}"
                                 + self.stderr_tail(), server=self.name)
        try:
            return call.result(), restarted
        except MCPError as error:
            if error.code == mcp_types.CONNECTION_CLOSED or serving.done() or self.state == "exited":
                # Give the stderr reader a moment to see the end of file: its last lines explain why.
                await asyncio.wait({serving}, timeout=CALL_CANCEL_GRACE)
                if self.state == "ready":
                    self.state = "exited"
                raise MCPServerError(f"MCP server {self.name!r} exited during the call of {tool!r}: "
                                     f"{error.message}" + self.stderr_tail(), server=self.name) from None
            raise MCPToolError(f"MCP server {self.name!r} refused the call of {tool!r}: error {error.code}: "
                               f"{scrub(error.message)[:2000]}", server=self.name, tool=tool,
                               code=error.code) from None

    async def astop(self) -> None:
        """Stop the server (closing stdin, then the SDK's terminate-and-kill); idempotent."""
        await self._reap()
        if self.state != "failed":
            self.state = "stopped"

    async def _reap(self) -> None:
        task, stop = self._task, self._stop
        self._task = None
        if stop is not None:
            stop.set()
        if task is not None and not task.done():
            # The SDK's shutdown is bounded (about 4.5 s for a server that ignores SIGTERM).
            done, _ = await asyncio.wait({task}, timeout=15.0)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=2.0)


def _leaf(error: BaseException) -> BaseException:
    """The first real error inside the task groups' exception groups (3.11's or the backport's)."""
    inner = getattr(error, "exceptions", None)
    for _ in range(32):
        if not isinstance(inner, tuple) or not inner:
            break
        error = inner[0]
        inner = getattr(error, "exceptions", None)
    return error
