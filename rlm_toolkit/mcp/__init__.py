"""Tools from MCP servers (stdio, streamable HTTP, legacy SSE) for rlm's agents: ``pip install 'rlm[mcp]'``.

::

    from rlm_toolkit.mcp import mcp_tools
    agent = ReActAgent(rlm, tools=[add, *mcp_tools("servers.json")])

``servers.json`` is the ``mcpServers`` file of Claude Desktop, Cursor or pydantic-ai. See docs/mcp.md.
"""

from __future__ import annotations

try:
    import mcp  # noqa: F401 - the guard: the SDK is an extra
except ImportError as error:  # pragma: no cover - exercised without the extra
    from ..errors import MissingDependencyError

    raise MissingDependencyError(
        "MCP tools need the official MCP SDK: pip install 'rlm[mcp]'") from error

from ..errors import MCPServerError, MCPToolError
from .config import ServerSpec, load_config
from .connection import MCPConnection
from .results import MAX_RESULT_CHARS, result_text
from .servers import MCPServers, MCPTool, mcp_tools, stop_all

__all__ = ["mcp_tools", "MCPServers", "MCPTool", "MCPConnection", "ServerSpec", "load_config", "stop_all",
           "result_text", "MAX_RESULT_CHARS", "MCPServerError", "MCPToolError"]
