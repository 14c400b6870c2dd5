"""``%%rlm --agent --approve`` in a real ipykernel: Approve / Deny arrive as comm messages on a
subshell while the cell runs, Stop ends a run that waits for a decision, and without a page the
question goes to ``input()`` — answered over the stdin channel, or denied where there is none."""

from __future__ import annotations

import json
import time

import pytest

from tests.fixtures.kernel import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """
%load_ext rlm_jupyter
import json
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
ran = []

def add(a: int, b: int) -> int:
    "Add two integers."
    ran.append((a, b))
    return a + b

def two_calls():
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(chunks="Adding both.", tool_calls=[
            {"id": "c1", "name": "add", "arguments": {"a": 2, "b": 40}},
            {"id": "c2", "name": "add", "arguments": {"a": 1, "b": 1}}]),
        "Done adding.",
    ], delay=0.005))
"""

CELL = "%%rlm --agent --approve --tools add -m model -o out\nadd things"


@pytest.fixture(scope="module")
def kernel():
    kernel = Kernel()
    try:
        run = kernel.execute(SETUP)
        assert run.ok, run.errors
        yield kernel
    finally:
        kernel.shutdown()


class Watch:
    """The iopub messages of a running cell, read as they come: its widget and its ops (the final
    display comes later, to ``until_idle``)."""

    def __init__(self, kernel):
        self.kernel, self.comm, self.ops = kernel, None, []

    def until(self, check, seconds=10.0):
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for m in self.kernel.collect(0.1):
                content = m["content"]
                if m["msg_type"] == "display_data" and WIDGET in content.get("data", {}):
                    self.comm = content["data"][WIDGET]["model_id"]
                data = content.get("data", {}) if m["msg_type"] == "comm_msg" else {}
                if data.get("method") == "custom":
                    self.ops += data["content"].get("ops", [])
            found = check(self)
            if found:
                return found
        raise AssertionError(f"not seen within {seconds} s; ops so far: {self.ops}")

    def approval(self, call_id, state="pending"):
        return self.until(lambda w: next((op for op in w.ops if op["op"] == "approval" and op["id"] == call_id
                                          and op["state"] == state), None))


def final_display(run):
    return [m for m in run.messages if m["msg_type"] == "update_display_data"][-1]["content"]


def test_approve_then_deny_from_the_page_while_the_cell_runs(kernel):
    kernel.execute("ran.clear(); model = two_calls()")
    kernel.collect(0.2)
    subshell = kernel.subshell()
    msg_id = kernel.start(CELL)
    watch = Watch(kernel)
    first = watch.approval("c1")
    assert first["ask"] and first["tool"] == "add" and json.loads(first["args"]) == {"a": 2, "b": 40}
    kernel.send_comm(watch.comm, {"type": "decide", "id": "c1", "approved": True}, subshell=subshell)
    watch.approval("c1", "approved")
    assert watch.approval("c2")["ask"]
    assert value_while_running(watch) == 1  # the first call ran while the cell still waits on the second
    kernel.send_comm(watch.comm, {"type": "decide", "id": "c2", "approved": False}, subshell=subshell)
    run = kernel.until_idle(msg_id, timeout=30)
    assert run.ok, run.errors
    end = final_display(run)
    assert end["metadata"]["rlm"]["state"] == "done"
    html = end["data"]["text/html"]
    assert html.count('data-outcome="approved"') == 1
    assert html.count('data-outcome="denied"') == 2  # the approval row and the observation
    assert "the user denied it in the timeline" in html
    assert kernel.value("ran") == [[2, 40]] and kernel.value("out") == "Done adding."


def value_while_running(watch):
    """The tool's first observation reached the page (the kernel's main thread is busy: read the ops)."""
    return len(watch.until(lambda w: [op for op in w.ops if op["op"] == "observation" and op["id"] == "c1"]))


def test_stop_while_waiting_for_approval_ends_the_run(kernel):
    kernel.execute("ran.clear(); model = two_calls()")
    kernel.collect(0.2)
    subshell = kernel.subshell()
    msg_id = kernel.start(CELL)
    watch = Watch(kernel)
    watch.approval("c1")
    clicked = time.perf_counter()
    kernel.send_comm(watch.comm, {"type": "stop"}, subshell=subshell)
    run = kernel.until_idle(msg_id, timeout=20)
    assert run.ended - clicked < 2.0, f"the cell took {run.ended - clicked:.2f} s to end after Stop"
    assert run.ok and final_display(run)["metadata"]["rlm"]["state"] == "stopped"
    assert kernel.value("ran") == []


@pytest.mark.parametrize("option", ["", "--no-widget"], ids=["no-page", "no-widget"])
def test_without_a_page_the_question_goes_to_input_over_the_stdin_channel(kernel, option):
    """No page ever speaks (a front end without widgets): after page_wait, ``input()`` asks; the
    client answers on the stdin channel, as JupyterLab's input box does. With ``--no-widget`` it
    asks at once."""
    kernel.execute("ran.clear(); model = two_calls(); "
                   "from rlm_jupyter.timeline.view import TimelineView; TimelineView.page_wait = 0.3")
    kernel.collect(0.2)
    msg_id = kernel.kc.execute(CELL.replace("--approve", f"--approve {option}"), allow_stdin=True)
    prompts = []
    for answer in ("y", "n"):
        request = kernel.kc.get_stdin_msg(timeout=20)
        assert request["msg_type"] == "input_request"
        prompts.append(request["content"]["prompt"])
        kernel.kc.input(answer)
    run = kernel.until_idle(msg_id, timeout=30)
    assert run.ok, run.errors
    assert prompts[0] == 'rlm: step 1 wants to run add({"a": 2, "b": 40}) — approve? [y/N] '
    shown = run.stdout if option else final_display(run)["data"]["text/html"]
    assert ("denied: the user answered 'n'" if option else "the user answered 'n'") in shown
    assert kernel.value("ran") == [[2, 40]] and kernel.value("out") == "Done adding."


def test_where_nothing_can_be_typed_the_call_is_denied_not_left_waiting(kernel):
    kernel.execute("ran.clear(); model = two_calls(); TimelineView.page_wait = 0.3")
    run = kernel.execute(CELL, timeout=30)  # allow_stdin=False, as nbclient and papermill run cells
    assert run.ok, run.errors
    html = final_display(run)["data"]["text/html"]
    # twice each: the approval row, the observation, and the tool message step 2 sent the model
    assert html.count("nobody could be asked: this front end takes no input") == 6
    assert kernel.value("ran") == [] and kernel.value("out") == "Done adding."


def test_a_background_run_waits_for_its_buttons_while_the_kernel_is_idle(kernel):
    kernel.execute("ran.clear(); model = two_calls(); out = None; TimelineView.page_wait = 5.0")
    kernel.collect(0.2)
    run = kernel.execute(CELL.replace("--approve", "--approve --bg"))
    assert run.ok, run.errors  # the cell returned at once; the run waits on the toolkit's thread
    watch = Watch(kernel)
    watch.comm = next(m["content"]["data"][WIDGET]["model_id"] for m in run.messages
                      if m["msg_type"] == "display_data" and WIDGET in m["content"].get("data", {}))
    watch.ops = [op for m in run.comm_msgs() if "ops" in m for op in m["ops"]]
    for call_id in ("c1", "c2"):
        watch.approval(call_id)
        kernel.send_comm(watch.comm, {"type": "decide", "id": call_id, "approved": True})  # main shell: idle
    watch.until(lambda w: any(op["op"] == "final" for op in w.ops))
    deadline = time.perf_counter() + 10
    while kernel.value("out") is None and time.perf_counter() < deadline:  # -o is set once the run settles
        time.sleep(0.1)
    assert kernel.value("ran") == [[2, 40], [1, 1]] and kernel.value("out") == "Done adding."


def test_an_interrupt_while_input_asks_withdraws_the_prompt(kernel):
    """■ while the prompt waits: the cell ends, no approver thread is left polling stdin, and the
    next ``input()`` gets its own answer."""
    kernel.execute("ran.clear(); model = two_calls()")
    kernel.collect(0.2)
    msg_id = kernel.kc.execute(CELL.replace("--approve", "--approve --no-widget"), allow_stdin=True)
    assert kernel.kc.get_stdin_msg(timeout=20)["msg_type"] == "input_request"
    kernel.km.interrupt_kernel()
    run = kernel.until_idle(msg_id, timeout=20)
    assert not run.ok and run.errors  # an interrupted cell ends with one line
    time.sleep(0.3)
    threads = kernel.value("[t.name for t in __import__('threading').enumerate()]")
    assert not [name for name in threads if name.startswith("rlm-tool-approve")], threads
    msg_id = kernel.kc.execute("typed = input('again? ')", allow_stdin=True)
    assert kernel.kc.get_stdin_msg(timeout=20)["content"]["prompt"] == "again? "
    kernel.kc.input("yes")
    assert kernel.until_idle(msg_id, timeout=20).ok
    assert kernel.value("typed") == "yes" and kernel.value("ran") == []


def approver_threads(kernel):
    threads = kernel.value("[t.name for t in __import__('threading').enumerate()]")
    return [name for name in threads if name.startswith("rlm-tool-approve")]


@pytest.mark.parametrize("page", [True, False], ids=["page-shown", "before-any-page"])
def test_rlm_stop_while_a_background_run_waits_for_approval_leaves_no_thread(kernel, page):
    """``%rlm stop`` while a ``--bg`` run waits for Approve / Deny: the wait is denied ("stopped"),
    the approver's thread ends, and stopping again and again leaves none behind."""
    setup = kernel.execute("ran.clear(); model = two_calls(); "
                           "from rlm_jupyter.timeline.view import TimelineView; TimelineView.page_wait = 5.0")
    assert setup.ok, setup.errors
    kernel.collect(0.2)
    assert approver_threads(kernel) == []
    for attempt in range(3):
        kernel.execute("model = two_calls()")
        kernel.collect(0.2)
        run = kernel.execute(CELL.replace("--approve", "--approve --bg"))
        assert run.ok, run.errors
        watch = Watch(kernel)
        watch.comm = next(m["content"]["data"][WIDGET]["model_id"] for m in run.messages
                          if m["msg_type"] == "display_data" and WIDGET in m["content"].get("data", {}))
        watch.ops = [op for m in run.comm_msgs() if "ops" in m for op in m["ops"]]
        watch.approval("c1")
        if page:
            kernel.send_comm(watch.comm, {"type": "sync", "seq": 0})  # a page shows the timeline
        time.sleep(0.2)
        stopped = kernel.execute("%rlm stop")
        assert stopped.ok and "Stopped 1" in stopped.stdout, (attempt, stopped.stdout, stopped.errors)
        deadline = time.perf_counter() + 2  # well before page_wait: the stop released it
        while approver_threads(kernel) and time.perf_counter() < deadline:
            time.sleep(0.1)
        assert approver_threads(kernel) == []
    assert kernel.value("ran") == []
