"""What an MCP tool adds to an agent's step: a call over stdio to an already-started server (the
SDK's MCPServer, FastMCP in mcp 1.x) against the same Python function called in-process.

::

    .venv/bin/python -m benchmarks.mcp_overhead

Each row is the tool's time inside an agent step (the ``observation`` event's ``duration``: from
the call being made to its result, as the agent measures it), median of 20 runs of a one-tool-call
scripted agent; the steps around it are the same in both. The server's start (spawn, ``initialize``,
``tools/list``) and the first call are reported apart, with the longest time the toolkit's loop
thread (which every live stream shares) went without running during them: a heartbeat task on that
loop wakes every 2 ms and records its worst lateness. The issue's target: ≤ 5 ms added per call.
Run it with ``PYTHONPATH`` at another checkout to measure that code with this script.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent

RUNS = 20
_SERVER = '''
from mcp.server.mcpserver import MCPServer
app = MCPServer("bench")

@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b

app.run()
'''


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def step_tool_ms(tools: list) -> float:
    """Milliseconds the tool took inside one agent step (the observation's duration)."""
    call = {"name": "add", "arguments": {"a": 2, "b": 40}}
    provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[call]), "42"])
    events = list(ReActAgent(RLM(provider), tools=tools).stream("2 + 40?"))
    observation = next(e for e in events if e.type == "observation")
    assert observation.content == "42" and not observation.is_error, observation
    return (observation.duration or 0.0) * 1000


class LoopStall:
    """The worst lateness of a 2 ms heartbeat on the toolkit's loop while the block runs."""

    def __enter__(self) -> LoopStall:
        from rlm_toolkit._bridge import spawn

        self.worst = 0.0
        self._stop = threading.Event()
        self._beating = threading.Event()

        async def beat() -> None:
            last = time.perf_counter()
            self._beating.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.002)
                now = time.perf_counter()
                self.worst = max(self.worst, now - last - 0.002)
                last = now

        self._task = spawn(beat)
        self._beating.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._task.result(10)


def main(argv: list[str] | None = None) -> None:
    from rlm_toolkit.mcp import MCPServers

    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "bench_server.py"
        script.write_text(textwrap.dedent(_SERVER))
        config = {"mcpServers": {"bench": {"command": sys.executable, "args": [str(script)]}}}
        with MCPServers(config) as servers:
            with LoopStall() as stall:
                started = time.perf_counter()
                tools = servers.tools()
                start_ms = (time.perf_counter() - started) * 1000
                first_ms = step_tool_ms(tools)
            mcp = [step_tool_ms(tools) for _ in range(RUNS)]
        step_tool_ms([add])  # the thread pool warmed, as the server was
        local = [step_tool_ms([add]) for _ in range(RUNS)]
    m, p = statistics.median(mcp), statistics.median(local)
    print(f"server start (spawn, initialize, tools/list): {start_ms:.0f} ms; first call: {first_ms:.2f} ms; "
          f"the loop's longest stall over both: {stall.worst * 1000:.0f} ms\n")
    print(f"| tool in an agent step | ms (median of {RUNS}) | min–max |\n|---|---|---|")
    print(f"| Python function, in-process | {p:.2f} | {min(local):.2f}–{max(local):.2f} |")
    print(f"| MCP over stdio, server already started | {m:.2f} | {min(mcp):.2f}–{max(mcp):.2f} |")
    print(f"\nadded by MCP: {m - p:.2f} ms a call (target ≤ 5 ms)")


if __name__ == "__main__":
    main()
