"""``%%rlm --agent --mcp`` and ``%rlm mcp`` in a real ipykernel: a stdio MCP server works there (its
stderr goes to rlm's pipe, not the kernel's pseudo-file: no ``UnsupportedOperation: fileno``), is
reused by the next cell, shows its log, and leaves no child process after ``%rlm mcp stop``."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from tests.fixtures.kernel import Kernel
from tests.fixtures.mcp_servers import SCRIPTS

pytest.importorskip("mcp")
pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]

SETUP = """
%load_ext rlm_jupyter
import psutil
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn

def model():
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(chunks="Adding.", tool_calls=[{"name": "add", "arguments": {"a": 20, "b": 22}}]),
        "The sum is 42."]))

def kids():
    return sorted(p.pid for p in psutil.Process().children(recursive=True) if p.status() != "zombie")
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mcp")
    (folder / "demo.py").write_text(textwrap.dedent(SCRIPTS["demo"]))
    (folder / "servers.json").write_text(json.dumps(
        {"mcpServers": {"demo": {"command": sys.executable, "args": [str(folder / "demo.py")]}}}))
    kernel = Kernel()
    try:
        run = kernel.execute(SETUP + f"\nimport os; os.chdir({str(folder)!r})")
        assert run.ok, run.errors
        yield kernel
    finally:
        kernel.shutdown()


def test_a_stdio_server_in_a_kernel_is_used_reused_logged_and_stopped(kernel):
    assert kernel.execute("before = kids(); m1 = model(); m2 = model()").ok
    run = kernel.execute("%%rlm --agent --no-widget --mcp servers.json -m m1 -o out\nWhat is 20 + 22?")
    assert run.ok, run.errors
    assert "fileno" not in run.stdout
    check = kernel.execute("print(out.strip(), len(kids()) - len(before))")
    assert check.stdout.strip() == "The sum is 42. 1", check.stdout
    # the next cell reuses the running server
    run = kernel.execute("%%rlm --agent --no-widget --mcp servers.json -m m2\nAgain?")
    assert run.ok, run.errors
    assert kernel.execute("print(len(kids()) - len(before))").stdout.strip() == "1"
    shown = kernel.execute("%rlm mcp")
    assert "demo (stdio:" in shown.stdout and ": ready" in shown.stdout
    assert "  add: Add two integers." in shown.stdout
    log = kernel.execute("%rlm mcp log demo")
    assert "demo server up" in log.stdout and "adding 20 and 22" in log.stdout
    assert kernel.execute("%rlm mcp stop").ok
    assert kernel.execute("print(kids() == before)").stdout.strip() == "True"


def test_mistakes_are_one_line_usage_errors(kernel):
    # IPython prints a UsageError as one line on stderr ("UsageError: ..."), no traceback
    run = kernel.execute("%%rlm --agent --mcp nowhere.json -m m1\nhi")
    assert "UsageError: --mcp: no file 'nowhere.json'" in run.stderr and "Traceback" not in run.stderr
    run = kernel.execute("%rlm mcp log nope")
    assert "UsageError: no MCP server named 'nope'" in run.stderr
    run = kernel.execute("%%rlm --mcp servers.json -m m1\nhi")
    assert "--mcp goes with --agent" in run.stderr
