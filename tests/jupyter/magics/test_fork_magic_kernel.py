"""``%rlm fork FILE --step N`` through a real ipykernel: the ``set_next_input`` payload of the execute
reply holds step N's messages and tool results as literals (never a key), and running that cell
streams the fork into the timeline and records it next to its parent."""

from __future__ import annotations

import ast

import pytest

from rlm_toolkit.trace import load
from tests.fixtures.kernel import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]

FAKE_KEY = "sk-test-Fk93xV7b2LpR8mTz4KcW"

SETUP = """
%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent

def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b

def call(cid, a, b):
    return ScriptedTurn(tool_calls=[{"id": cid, "name": "add", "arguments": {"a": a, "b": b}}])

recorded = RLM(ScriptedProvider(turns=[call("c1", 1, 2), call("c2", 3, 4), call("c3", 5, 6), "3, 7, 11"]))
ReActAgent(recorded, tools=[add], mode="native").run("Add 1+2, 3+4, 5+6.", record=PATH)
cheap = RLM(ScriptedProvider(turns=["forked answer"], delay=0.01))
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("fork") / "run.jsonl")
    kernel = Kernel(env={"OPENAI_API_KEY": FAKE_KEY})
    try:
        run = kernel.execute(f"PATH = {path!r}\n" + SETUP)
        assert run.ok, run.errors
        yield kernel, path
    finally:
        kernel.shutdown()


def test_fork_puts_an_editable_cell_below_and_running_it_streams_the_fork(kernel):
    kernel, path = kernel
    run = kernel.execute(f"%rlm fork {path} --step 2 --model cheap")
    assert run.ok, run.errors
    payloads = [p for p in run.reply["content"].get("payload", []) if p.get("source") == "set_next_input"]
    assert len(payloads) == 1 and payloads[0]["replace"] is False
    code = payloads[0]["text"]
    assert FAKE_KEY not in code and "model=cheap" in code and "tools='recorded'" in code
    tree = ast.parse(code)
    literals = {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body
                if isinstance(t, ast.Assign) and isinstance(t.targets[0], ast.Name)}
    assert literals["messages"] == load(path).messages(2)  # step 2's exact messages
    assert literals["tool_results"] == {"c1": "3"}
    edited = code.replace("tool_results = {'c1': '3'}", "tool_results = {'c1': '300'}")
    assert edited != code
    shown = kernel.execute(edited, timeout=60)
    assert shown.ok, shown.errors
    assert shown.comm_msgs() or shown.stdout  # the timeline (or its plain twin) showed the run
    fork = load(path.replace("run.jsonl", "run-fork2.jsonl"))
    assert fork.parent == {"file": path, "step": 2, "edits": {"tool_results": {"c1": "300"}}}
    assert fork.text == "forked answer" and sorted(fork.steps) == [1, 2]
    assert fork.messages(2)[-1]["content"] == "300"


def test_bad_forks_are_one_line_usage_errors(kernel):
    kernel, path = kernel
    assert "no trace file" in (kernel.execute("%rlm fork nowhere.jsonl").usage_error or "")
    error = kernel.execute(f"%rlm fork {path} --step 9").usage_error or ""
    assert "step 9 is beyond the run (it has 4 steps" in error and "\n" not in error.strip()
    error = kernel.execute(f"%rlm fork {path} --tools nope").usage_error or ""
    assert "--tools: no variable 'nope'" in error
