"""Finished widgets are released, in a real ipykernel: after many cells (answers from the loopback
OpenAI-compatible server, agent runs, ``--bg`` answers and runs, a Stop, a failed answer) the
kernel holds no StreamView or TimelineView and no widget comm; each page was told to drop its
model after its display became the static copy; ``keep_widget`` keeps the one it is asked for."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.kernel import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(300)]

WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """
%load_ext rlm_jupyter
import gc, os, time
import comm
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, RateLimitError
from rlm_jupyter.stream.view import StreamView
from rlm_jupyter.timeline.view import TimelineView

def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b

def agent_model():
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(chunks="Adding first.", tool_calls=[{"name": "add", "arguments": {"a": 20, "b": 22}}]),
        "The sum is 42.",
    ], delay=0.002))

slow = RLM(ScriptedProvider(" ".join(f"s{i}" for i in range(40)), delay=0.01))
endless = RLM(ScriptedProvider(" ".join(f"w{i}" for i in range(100000)), delay=0.005))
broken = RLM(ScriptedProvider(turns=[ScriptedTurn(chunks="Half an answer", error=RateLimitError(
    "over quota", status_code=429), error_after=2)] * 2), max_retries=0)

def held():
    # What the kernel still holds: live view objects (after a full collection) and open widget
    # comms, but for the page libraries' one widget and its Layout (rlm_jupyter.page: once per kernel).
    from rlm_jupyter.page import page_assets

    gc.collect()
    assets = page_assets()
    kept = {assets.comm.comm_id, assets.layout.comm.comm_id}
    views = [o for o in gc.get_objects() if isinstance(o, (StreamView, TimelineView))]
    comms = [c for c in comm.get_comm_manager().comms.values()
             if c.target_name == "jupyter.widget" and c.comm_id not in kept]
    return {"views": len(views), "comms": len(comms)}

def holders():
    "Who holds each view still alive (for the failure message)."
    gc.collect()
    views = [o for o in gc.get_objects() if isinstance(o, (StreamView, TimelineView))]
    def named(r):
        return type(r).__name__ + ": " + (str(list(r)[:8]) if isinstance(r, dict) else repr(r)[:120])
    return [[repr(v)] + [named(r) for r in gc.get_referrers(v) if r is not views] for v in views]
"""


@pytest.fixture
def kernel(openai_server):
    kernel = Kernel(env=openai_server.env)
    try:
        run = kernel.execute(SETUP)
        assert run.ok, run.errors
        yield kernel
    finally:
        kernel.shutdown()


def widget_ids(run):
    return [m["content"]["data"][WIDGET]["model_id"] for m in run.of("display_data")
            if WIDGET in m["content"]["data"]]


def closed_after_static(messages, comm_id):
    """The widget's comm was closed, after its display became the static copy (no widget view)."""
    display_id, order = None, []
    for m in messages:
        data, transient = m["content"].get("data", {}), m["content"].get("transient", {})
        if m["msg_type"] == "display_data" and data.get(WIDGET, {}).get("model_id") == comm_id:
            display_id = transient["display_id"]
        elif (m["msg_type"] == "update_display_data" and display_id is not None
              and transient.get("display_id") == display_id and WIDGET not in data):
            order.append("static")
        elif m["msg_type"] == "comm_close" and m["content"]["comm_id"] == comm_id:
            order.append("closed")
    return "closed" in order and "static" in order[: order.index("closed")]


def test_a_long_session_keeps_no_finished_widget(kernel, openai_server, tmp_path):
    from tests.fixtures.openai_server import Stream, Unauthorized

    seen = []  # every iopub message of the session, in order
    execute = kernel.execute

    def run(code, **options):
        result = execute(code, **options)
        seen.extend(result.messages)
        return result

    kernel.execute = run  # kernel.value() too

    shown = []
    for i in range(12):  # answers over HTTP, each a widget of its own
        openai_server.script(Stream(" ".join(f"a{i}w{j}" for j in range(200))))
        answer = run(f"%%rlm -m openai:gpt-4o -o out{i}\nAnswer {i}")
        assert answer.ok, answer.errors
        shown += widget_ids(answer)
        assert not answer.of("comm_close") or i > 0  # a widget is closed when the next cell starts …
    assert all(closed_after_static(seen, model_id) for model_id in shown[:-1])  # … after its static copy
    assert kernel.value("out11").startswith("a11w0 a11w1")  # what the user asked to keep, kept

    openai_server.script(Unauthorized())  # the server refuses: no answer at all
    failed = run("%%rlm -m openai:gpt-4o\nhi")
    assert not failed.ok and failed.errors[0][0] == "AuthenticationError", failed.errors
    failed = run("%%rlm -m broken -o half\nhi")  # a failed answer with partial text
    assert not failed.ok and kernel.value("half") == "Half an"
    shown += widget_ids(failed)

    for i in range(4):
        assert run("agent_rlm = agent_model()").ok
        agent = run(f"%%rlm --agent --tools add -m agent_rlm -o run{i}\nWhat is 20 + 22?")
        assert agent.ok, agent.errors
        shown += widget_ids(agent)
    assert kernel.value("run3") == "The sum is 42."

    recorded = tmp_path / "answer.jsonl"  # a trace recorder among the callbacks
    assert run(f"%%rlm -m slow --record {recorded}\ngo").ok and recorded.exists()
    assert run("agent_rlm = agent_model()").ok
    trace = tmp_path / "run.jsonl"
    assert run(f"%%rlm --agent --tools add -m agent_rlm --record {trace}\nWhat is 20 + 22?").ok

    kernel.collect(0.2)
    run("%%rlm --bg -m slow -o bg0\ngo")
    run("%%rlm --bg -m slow -o bg1\ngo")
    run("bg_rlm = agent_model()")
    run("%%rlm --agent --bg --tools add -m bg_rlm -o bg_run\nWhat is 20 + 22?")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not kernel.value(
            "all(name in globals() for name in ('bg0', 'bg1', 'bg_run'))"):
        time.sleep(0.2)
    assert kernel.value("bg_run") == "The sum is 42." and kernel.value("bg1").startswith("s0 s1")

    subshell = kernel.subshell()  # a Stop, clicked while the answer streams
    msg_id = kernel.start("%%rlm -m endless -o cut\ngo")
    comm_id, _ = kernel.widget()
    time.sleep(0.4)
    kernel.send_comm(comm_id, {"type": "stop"}, subshell=subshell)
    stopped = kernel.until_idle(msg_id, timeout=20)
    seen.extend(stopped.messages)
    shown.append(comm_id)
    assert stopped.ok and kernel.value("cut").startswith("w0 w1")

    deadline = time.monotonic() + 10  # the --bg runs settle on the loop thread
    held = kernel.value("held()")
    while held != {"views": 0, "comms": 0} and time.monotonic() < deadline:
        time.sleep(0.2)
        held = kernel.value("held()")
    assert held == {"views": 0, "comms": 0}, (held, kernel.value("holders()"))
    assert kernel.value("get_ipython().find_magic('rlm', 'cell').__self__.streams") == []
    seen.extend(kernel.collect(0.5))
    assert all(closed_after_static(seen, model_id) for model_id in shown), "a page kept a model"

    # keep_widget: the widget asked for stays, live and open, and is the only one
    assert run("%config RLMMagics.keep_widget = True").ok
    kept = run("%%rlm -m slow\ngo")
    assert kept.ok and WIDGET in kept.of("update_display_data")[-1]["content"]["data"]
    assert kernel.value("held()") == {"views": 1, "comms": 2}  # the widget and its Layout


def test_a_widget_a_later_page_asked_for_stays_open(kernel):
    """A reload or a second tab mid-stream (``request_state``) shows the live widget, which the
    display update never reaches: closing it would blank that page's output."""
    subshell = kernel.subshell()
    msg_id = kernel.start("%%rlm -m slow\ngo")
    comm_id, _ = kernel.widget()
    kernel.send_comm(comm_id, {}, subshell=subshell, method="request_state")
    assert kernel.until_idle(msg_id, timeout=20).ok
    assert kernel.execute("%%rlm -m slow\ngo").ok  # a widget no other page asked for
    # this cell's start closed what had settled, but for the one a later page asked for
    assert kernel.value("held()") == {"views": 1, "comms": 2}


def test_a_released_view_still_reads_and_shows_its_static_copy(kernel):
    code = """
from rlm_jupyter import display_stream
view = display_stream(slow.stream("go"))
"""
    assert kernel.execute(code).ok
    run = kernel.execute("(view.comm is None, view.state, view.answer[:5], view.response.state)")
    result = run.of("execute_result")
    assert result and result[-1]["content"]["data"]["text/plain"] == "(True, 'done', 's0 s1', 'done')"
    again = kernel.execute("view")  # shown again in a later cell: the static copy, no dead widget
    data = again.of("display_data")[0]["content"]["data"]
    assert WIDGET not in data and data["text/plain"].startswith("s0 s1") and "rlm-stream" in data["text/html"]


def test_an_interrupted_answer_is_released_too(fresh_kernel):
    """■ during a foreground answer: the cell ends with one line, and neither the interrupt kept as
    the Response's error nor IPython's kept error holds the view."""
    assert fresh_kernel.execute(SETUP).ok
    run = fresh_kernel.execute("%%rlm -m endless -o cut\ngo", interrupt_after=1.0)
    assert [e[0] for e in run.errors] == ["KeyboardInterrupt"]
    assert fresh_kernel.value("endless.last_response.state") == "stopped"
    assert fresh_kernel.value("held()") == {"views": 0, "comms": 0}, fresh_kernel.value("holders()")
