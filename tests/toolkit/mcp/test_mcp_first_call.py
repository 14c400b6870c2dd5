"""The first call of a tool with an output schema: the SDK validates its result with ``jsonschema``,
whose import (about 0.85 s) must not run on the toolkit's loop thread, which every live stream shares
(benchmarks/mcp_overhead.py measures the stall it caused)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mcp")

pytestmark = pytest.mark.timeout(120)

# In a fresh interpreter (this one may have imported jsonschema already): an import hook notes the
# thread that first imports jsonschema, then one call of the demo server's ``add`` (its ``-> int``
# gives it an output schema, so the SDK validates the result).
_PROBE = '''
import importlib.abc, json, sys, threading
seen = []

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "jsonschema" and not seen:
            seen.append(threading.current_thread().name)
        return None

sys.meta_path.insert(0, Watch())
assert "jsonschema" not in sys.modules
from rlm_toolkit.mcp import MCPServers
with MCPServers({"mcpServers": {"demo": json.loads(sys.argv[1])}}) as servers:
    add = {t.name: t for t in servers.tools()}["add"]
    from rlm_toolkit._bridge import run_sync
    result = run_sync(lambda: add.fn(a=2, b=40))
print(json.dumps({"result": result, "threads": seen}))
'''


def test_the_first_call_never_imports_jsonschema_on_the_loop_thread(mcp_script):
    entry = mcp_script("demo")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(_PROBE), json.dumps(entry)],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["result"] == "42"
    assert out["threads"] == ["rlm-mcp-import"], out  # never "rlm-portal", the loop's thread
