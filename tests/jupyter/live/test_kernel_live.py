"""Live while the kernel is busy, in a real ipykernel: ``--bg`` frames keep coming while another
cell blocks, Stop reaches a running cell over a subshell, a view that appears mid-stream gets
the whole text so far, and failed answers fail their cell."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.kernel import sent_at

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """
%load_ext rlm_jupyter
import json, time
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, RateLimitError
slow_text = " ".join(f"s{i}" for i in range(300))
slow = RLM(ScriptedProvider(slow_text, delay=0.02))
endless = RLM(ScriptedProvider(" ".join(f"w{i}" for i in range(100000)), delay=0.005))
"""


@pytest.fixture(scope="module")
def kernel(ipy_kernel):
    run = ipy_kernel.execute(SETUP)
    assert run.ok, run.errors
    return ipy_kernel


def model_id(run):
    return run.of("display_data")[0]["content"]["data"][WIDGET]["model_id"]


def custom(messages, comm_id):
    out = []
    for m in messages:
        data = m["content"].get("data", {})
        if (
            m["msg_type"] == "comm_msg"
            and m["content"].get("comm_id") == comm_id
            and data.get("method") == "custom"
        ):
            out.append({**data["content"], "_sent": sent_at(m), "_parent": m["parent_header"].get("msg_id")})
    return out


def is_final(m, comm_id=None):
    if m["msg_type"] != "update_display_data" or m["content"]["metadata"]["rlm"].get("partial"):
        return False
    return comm_id is None or m["content"]["data"].get(WIDGET, {}).get("model_id", comm_id) == comm_id


@pytest.mark.parametrize(
    "blocker", ["time.sleep(2.5)", "t0 = time.time()\nwhile time.time() - t0 < 2.5: pass"],
    ids=["sleeping", "cpu-bound"],
)
def test_bg_frames_keep_arriving_while_another_cell_blocks(kernel, blocker):
    kernel.collect(0.2)
    bg = kernel.execute("%%rlm --bg -m slow -o bg_out\ngo")
    assert bg.ok, bg.errors
    comm = model_id(bg)
    busy = kernel.execute(blocker, timeout=30)
    assert busy.ok
    later = kernel.collect(15, until=lambda m: is_final(m, comm))
    frames = custom([*bg.messages, *kernel.backlog, *later], comm)
    # frames were sent while the other cell held the main thread, spread over its whole run
    busy_started = sent_at(busy.of("execute_input")[0])
    during = [f["_sent"] for f in frames if "d" in f and busy_started + 0.3 < f["_sent"] < busy_started + 2.3]
    assert len(during) >= 20, f"only {len(during)} frames while the cell blocked"
    assert max(b - a for a, b in zip(during, during[1:])) < 0.25
    # each frame belongs to the cell that started the stream, not to the one running now
    assert {f["_parent"] for f in frames} == {bg.reply["parent_header"]["msg_id"]}
    assert (
        "".join(f["d"] for f in frames if "d" in f) == kernel.value("slow_text") == kernel.value("bg_out")
    )


def test_stop_over_a_subshell_ends_a_foreground_stream_within_a_second(kernel, tmp_path):
    kernel.collect(0.2)
    subshell = kernel.subshell()
    trace = tmp_path / "stopped.jsonl"
    msg_id = kernel.start(f"%%rlm -m endless -o fg_out --record {trace}\ngo")
    comm, _ = kernel.widget()
    time.sleep(0.5)
    clicked = time.perf_counter()
    kernel.send_comm(comm, {"type": "stop"}, subshell=subshell)
    run = kernel.until_idle(msg_id, timeout=20)
    assert run.ended - clicked < 1.0, f"the cell took {run.ended - clicked:.2f} s to end after Stop"
    assert run.ok, "a stopped answer is the user's choice, not a failure"
    end = [m for m in run.messages if is_final(m)][-1]["content"]
    assert end["metadata"]["rlm"]["state"] == "stopped"
    partial = kernel.value("fg_out")
    assert partial.startswith("w0 w1") and end["data"]["text/plain"].startswith(partial[:20])
    # after the click nothing more than the frame already due went out
    frames = custom(run.messages, comm)
    text_frames = [f for f in frames if "d" in f]
    assert "".join(f["d"] for f in text_frames) == partial
    from rlm_toolkit.trace import load

    recorded = load(trace)
    assert recorded.state == "stopped" and recorded.complete, "the trace's footer says stopped"


def test_a_view_created_mid_stream_gets_the_whole_text_and_continues(kernel):
    kernel.collect(0.2)
    subshell = kernel.subshell()
    msg_id = kernel.start("%%rlm -m slow -o late_out\ngo")
    comm, _ = kernel.widget()
    time.sleep(1.5)  # a reload, mid-stream: the new page asks for the widget's state
    kernel.send_comm(comm, {}, subshell=subshell, method="request_state")
    run = kernel.until_idle(msg_id, timeout=30)
    states = [m for m in kernel.collect(1.0) + kernel.backlog
              if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm
              and m["content"]["data"].get("method") == "update" and "text" in m["content"]["data"]["state"]]
    assert states, "no state reply to the late view"
    state = states[0]["content"]["data"]["state"]
    story = kernel.value("slow_text")
    assert len(state["text"]) > 20 and story.startswith(state["text"])
    assert state["progress"]["n"] >= 10 and state["progress"]["e"] > 0
    # the page's rule: start from the state, append each delta past what it holds
    text = state["text"]
    for frame in custom(run.messages, comm):
        if "d" in frame and frame["o"] + len(frame["d"]) > len(text):
            assert frame["o"] <= len(text), "a gap between the state and the next delta"
            text += frame["d"][len(text) - frame["o"]:]
    assert text == story == kernel.value("late_out")


def test_a_failed_answer_fails_its_cell_in_one_line_and_the_opt_out(kernel):
    code = ('broken = RLM(ScriptedProvider(turns=[ScriptedTurn(chunks="Half an answer", error=RateLimitError('
            '"over quota", status_code=429), error_after=2)] * 2), max_retries=0)')
    assert kernel.execute(code).ok
    run = kernel.execute("%%rlm -m broken -o half\nhi")
    assert not run.ok
    assert run.reply["content"]["ename"] == "RateLimitError"
    assert [e[0] for e in run.errors] == ["RateLimitError"]
    assert len(run.of("error")[0]["content"]["traceback"]) == 1
    assert kernel.value("half") == "Half an"  # the partial answer is kept in -o too
    assert kernel.execute("%config RLMMagics.fail_cell = False").ok
    try:
        run = kernel.execute("%%rlm -m broken\nhi")
        assert run.ok and not run.errors
    finally:
        kernel.execute("%config RLMMagics.fail_cell = True")


def test_interrupt_ends_a_foreground_cell_with_one_line(fresh_kernel):
    assert fresh_kernel.execute(SETUP).ok
    run = fresh_kernel.execute("%%rlm -m endless -o cut\ngo", interrupt_after=1.0)
    assert [e[0] for e in run.errors] == ["KeyboardInterrupt"]
    traceback = run.of("error")[0]["content"]["traceback"]
    assert len(traceback) == 1 and "partial answer is kept" in traceback[0], traceback
    assert fresh_kernel.value("len(cut) > 0") is True


def test_rlm_stop_stops_every_background_stream(kernel):
    kernel.collect(0.2)
    runs = [kernel.execute(f"%%rlm --bg -m endless -o bg{i}\ngo") for i in range(2)]
    displays = [r.of("display_data")[0]["content"]["transient"]["display_id"] for r in runs]
    time.sleep(0.5)
    run = kernel.execute("%rlm stop")
    assert "Stopped 2 live answers" in run.stdout
    got = kernel.collect(3)
    finals = {m["content"]["transient"]["display_id"]: m["content"]["metadata"]["rlm"]["state"]
              for m in got if is_final(m)}
    assert finals == {d: "stopped" for d in displays}
    assert kernel.execute("%rlm stop").stdout.strip() == "Nothing is streaming."


def test_the_kernel_interrupt_stops_background_streams_while_no_cell_runs(fresh_kernel):
    assert fresh_kernel.execute(SETUP).ok
    run = fresh_kernel.execute("%%rlm --bg -m endless -o bg_cut\ngo")
    display = run.of("display_data")[0]["content"]["transient"]["display_id"]
    time.sleep(0.5)
    fresh_kernel.km.interrupt_kernel()  # the toolbar's ■, with the kernel idle
    got = fresh_kernel.collect(5, until=is_final)
    assert got and is_final(got[-1])
    assert got[-1]["content"]["transient"]["display_id"] == display
    assert got[-1]["content"]["metadata"]["rlm"]["state"] == "stopped"
    assert fresh_kernel.value("len(bg_cut) > 0") is True
    # and the kernel still interrupts a running cell as always
    run = fresh_kernel.execute("import time\ntime.sleep(10)", interrupt_after=0.5)
    assert [e[0] for e in run.errors] == ["KeyboardInterrupt"]


def test_agent_runs_in_the_background_and_a_late_view_gets_the_run_so_far(kernel):
    code = """
from rlm_toolkit import ScriptedTurn
def add(a: int, b: int) -> int:
    "Add two numbers."
    time.sleep(1.0)
    return a + b
agent_rlm = RLM(ScriptedProvider(turns=[
    ScriptedTurn(tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 2, "b": 40}}]),
    ScriptedTurn(chunks="The answer is 42.", delay=0.01)]))
"""
    setup = kernel.execute(code)
    assert setup.ok, setup.errors
    kernel.collect(0.2)
    subshell = kernel.subshell()
    run = kernel.execute("%%rlm --agent --bg --tools add -m agent_rlm -o agent_out\nWhat is 2 + 40?")
    assert run.ok, run.errors
    comm = model_id(run)
    header = run.of("comm_open")[-1]["content"]["data"]["state"]["snapshot"]
    assert header and header[-1]["op"] == "header" and header[-1]["state"] == "running"
    busy = kernel.execute("time.sleep(0.5)")  # another cell runs while the tool works
    assert busy.ok
    kernel.send_comm(comm, {}, subshell=subshell, method="request_state")
    kernel.send_comm(comm, {"type": "messages", "step": 1}, subshell=subshell)  # a click on "Step 1"
    got = kernel.collect(15, until=lambda m: is_final(m))
    replies = [c for c in custom([*got, *kernel.backlog], comm) if c.get("type") == "messages"]
    assert replies and replies[0]["step"] == 1 and replies[0]["messages"][-1]["content"] == "What is 2 + 40?"
    states = [
        m["content"]["data"]["state"]
        for m in [*got, *kernel.backlog]
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == comm
        and m["content"]["data"].get("method") == "update"
        and "snapshot" in m["content"]["data"]["state"]
    ]
    assert states, "no state for the late view"
    ops = [op["op"] for op in states[0]["snapshot"]]
    assert "action" in ops and ops[-1] == "header", ops
    final = [m for m in got if is_final(m)][-1]["content"]
    assert final["metadata"]["rlm"]["kind"] == "agent" and "42" in final["data"]["text/plain"]
    assert '<details class="rlm-messages" open>' in final["data"]["text/html"], (
        "the step opened live stays open"
    )
    assert "1 step ·" in final["data"]["text/plain"] or "2 steps" in final["data"]["text/plain"]
    assert kernel.value("agent_out") == "The answer is 42."


@pytest.mark.model
def test_stop_ends_a_foreground_answer_of_the_embedded_model(fresh_kernel):
    """The embedded model generates in the kernel's main thread (issue 15): Stop still reaches it."""
    from tests.conftest import require
    from tests.fixtures.notebooks import embedded_model_missing

    missing = embedded_model_missing()
    if missing:
        if require("model"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert fresh_kernel.execute("%load_ext rlm_jupyter\nimport json").ok
    subshell = fresh_kernel.subshell()
    msg_id = fresh_kernel.start("%%rlm --max-tokens 400 -o local_cut\nTell a very long story about the sea.")
    comm = None
    frames = 0
    deadline = time.perf_counter() + 120
    while frames < 3 and time.perf_counter() < deadline:
        for m in fresh_kernel.collect(0.1):
            fresh_kernel.backlog.append(m)
            if m["msg_type"] == "display_data" and WIDGET in m["content"]["data"]:
                comm = m["content"]["data"][WIDGET]["model_id"]
            if comm and custom([m], comm) and "d" in custom([m], comm)[0]:
                frames += 1
    assert frames >= 3, "the embedded model did not start answering"
    clicked = time.perf_counter()
    fresh_kernel.send_comm(comm, {"type": "stop"}, subshell=subshell)
    run = fresh_kernel.until_idle(msg_id, timeout=60)
    assert run.ended - clicked < 1.0, f"the cell took {run.ended - clicked:.2f} s to end after Stop"
    assert run.ok
    end = [m for m in run.messages if is_final(m)][-1]["content"]
    assert end["metadata"]["rlm"]["state"] == "stopped"
    assert fresh_kernel.value("len(local_cut) > 0") is True
