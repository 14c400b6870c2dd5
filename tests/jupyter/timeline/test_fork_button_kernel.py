"""The timeline's "Fork from here" through a real ipykernel (issue 25): a click while the cell runs
(a comm message on a subshell, as JupyterLab sends it) puts the fork's cell below that cell when it
ends — its own execute reply's ``set_next_input``, built by the kernel from the trace it recorded —
and a click after the cell ended is answered with the ``%rlm fork`` line. The page sends a step
number only; anything else it sends is refused. Running the offered cell streams the fork, whose
header names its parent."""

from __future__ import annotations

import time

import pytest

from rlm_jupyter.magics.fork import fork_cell
from rlm_toolkit.trace import load
from tests.fixtures.kernel import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]

WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """
%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn

def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b

def slow():
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(chunks="I add them, slowly.",
                     tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 2, "b": 40}}]),
        "It is 42, said slowly enough for a page to click meanwhile.",
    ], delay=0.1))
"""


class Page:
    """What a page of the running cell's widget receives: its comm id and every custom message."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel, self.comm, self.got = kernel, None, []

    def until(self, check, seconds=20.0):
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for m in self.kernel.collect(0.1):
                self.kernel.backlog.append(m)  # until_idle reads them too
                content = m["content"]
                if m["msg_type"] == "display_data" and WIDGET in content.get("data", {}):
                    self.comm = content["data"][WIDGET]["model_id"]
                data = content.get("data", {}) if m["msg_type"] == "comm_msg" else {}
                if data.get("method") == "custom":
                    self.got.append(data["content"])
            found = check(self)
            if found:
                return found
        raise AssertionError(f"not seen within {seconds} s; got {self.got}")

    def fork_reply(self, step):
        return self.until(lambda p: next((m for m in p.got if m.get("type") == "fork" and m["step"] == step),
                                         None))


def next_inputs(run):
    return [p for p in run.reply["content"].get("payload", []) if p.get("source") == "set_next_input"]


@pytest.fixture(scope="module")
def kernel():
    kernel = Kernel()
    try:
        run = kernel.execute(SETUP)
        assert run.ok, run.errors
        yield kernel
    finally:
        kernel.shutdown()


def test_fork_from_here_puts_the_forks_cell_below_the_running_cell(kernel, tmp_path):
    path = str(tmp_path / "run.jsonl")
    assert kernel.execute("model = slow()").ok
    subshell = kernel.subshell()
    msg_id = kernel.start(f"%%rlm --agent --tools add -m model --record {path}\nWhat is 2 + 40?")
    page = Page(kernel)
    page.until(lambda p: any(op["op"] == "observation" for m in p.got for op in m.get("ops", [])))
    # What a hostile or confused page may send: refused, nothing queued.
    kernel.send_comm(page.comm, {"type": "fork", "step": "1; import os"}, subshell=subshell)
    assert page.fork_reply(0)["state"] == "error"
    kernel.send_comm(page.comm, {"type": "fork", "step": 99}, subshell=subshell)
    refused = {"type": "fork", "step": 99, "state": "error", "error": "the run has no step 99"}
    assert page.fork_reply(99) == refused
    # The click: queued while the run goes on.
    kernel.send_comm(page.comm, {"type": "fork", "step": 1}, subshell=subshell)
    queued = page.fork_reply(1)
    assert queued["state"] == "queued"
    assert queued["line"] == f"%rlm fork {path} --step 1 --model model --tools add"
    assert not any(op.get("state") == "done" for m in page.got for op in m.get("ops", []))  # still running
    run = kernel.until_idle(msg_id, timeout=60)
    assert run.ok, run.errors
    offered = next_inputs(run)
    assert len(offered) == 1 and offered[0]["replace"] is False
    # Built by the kernel from the trace it recorded, naming the cell's own model and tools.
    assert offered[0]["text"] == fork_cell(path, 1, model="model", model_is_name=True, tools=["add"])
    assert "model=model" in offered[0]["text"] and "tools=[add]" in offered[0]["text"]
    assert f"Fork of {path} at step 1" in run.stdout

    # After the cell has ended (a kept widget, --bg), a click gets the line: no cell appears later.
    kernel.send_comm(page.comm, {"type": "fork", "step": 2})
    page.got.clear()
    assert page.fork_reply(2)["state"] == "line"
    assert next_inputs(kernel.execute("1 + 1")) == []

    # The offered cell runs the fork; its header names its parent.
    assert kernel.execute("model = slow()").ok
    fork = kernel.execute(offered[0]["text"], timeout=60)
    assert fork.ok, fork.errors
    headers = [op for m in fork.comm_msgs() for op in m.get("ops", []) if op["op"] == "header"]
    assert headers and all(h["parent"] == f"fork of {path} at step 1" for h in headers)
    final = [m for m in fork.of("update_display_data") if "text/html" in m["content"]["data"]][-1]
    assert f"fork of {path} at step 1" in final["content"]["data"]["text/html"]
    forked = load(path.replace("run.jsonl", "run-fork1.jsonl"))
    assert forked.parent is not None and forked.parent["file"] == path and forked.parent["step"] == 1


def test_a_run_that_fails_its_cell_prints_the_fork_line_instead(kernel, tmp_path):
    """Front ends put no cell below a failed one (JupyterLab reads the payload of an ok reply only):
    a Fork from here clicked during a run that fails its cell prints the line to run instead."""
    path = str(tmp_path / "failed.jsonl")
    setup = """
from rlm_toolkit.errors import ProviderError
failing = RLM(ScriptedProvider(turns=[
    ScriptedTurn(chunks="I add them, slowly.",
                 tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 2, "b": 40}}]),
    ScriptedTurn(chunks=["It is ", "about ", "to ", "fail ", "now, ", "slowly. "] * 3,
                 error=ProviderError("the server went away"), error_after=15),
], delay=0.2))
"""
    assert kernel.execute(setup).ok
    subshell = kernel.subshell()
    msg_id = kernel.start(f"%%rlm --agent --tools add -m failing --record {path}\nWhat is 2 + 40?")
    page = Page(kernel)
    page.until(lambda p: any(op["op"] == "observation" for m in p.got for op in m.get("ops", [])))
    kernel.send_comm(page.comm, {"type": "fork", "step": 1}, subshell=subshell)
    assert page.fork_reply(1)["state"] == "queued"
    run = kernel.until_idle(msg_id, timeout=60)
    assert not run.ok and next_inputs(run) == []
    assert f"run %rlm fork {path} --step 1 --model failing --tools add for the fork's cell" in run.stderr
