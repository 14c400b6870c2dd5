"""``%%rlm --agent``, ``--record`` and ``%rlm replay`` through real ipykernels: what crosses iopub."""

from __future__ import annotations

import json

import pytest

from rlm_toolkit.trace import load
from tests.fixtures.kernel import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]

WIDGET = "application/vnd.jupyter.widget-view+json"
FAKE_KEY = "sk-test-Jq93xV7b2LpR8mTz4KcW"

SETUP = """
%load_ext rlm_jupyter
import json, os
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn

def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b

def boom(x: str) -> str:
    "Always fails."
    raise ValueError("no luck with " + x)

def leak() -> str:
    "Returns a secret."
    return "the key is " + os.environ["OPENAI_API_KEY"]

answer_words = " ".join(f"answer{i}" for i in range(60))

def agent_model(delay=0.01):
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(chunks="I will add the numbers first.",
                     tool_calls=[{"name": "add", "arguments": {"a": 20, "b": 22}}]),
        ScriptedTurn(tool_calls=[{"name": "boom", "arguments": {"x": "<img src=x onerror=alert(1)>"}}]),
        answer_words,
    ], delay=delay))
"""


@pytest.fixture(scope="module")
def kernel():
    kernel = Kernel(env={"OPENAI_API_KEY": FAKE_KEY})
    try:
        run = kernel.execute(SETUP)
        assert run.ok, run.errors
        yield kernel
    finally:
        kernel.shutdown()


def updates(run):
    """The display updates but a stream's saved copy (an output of its own, emptied at the end)."""
    return [m for m in run.of("update_display_data")
            if not m["content"]["metadata"].get("rlm", {}).get("copy")]


def ops_of(run):
    return [op for m in run.comm_msgs() if "ops" in m for op in m["ops"]]


def test_agent_cell_grows_a_timeline_in_place_and_ends_with_a_transcript(kernel):
    assert kernel.execute("m1 = agent_model()").ok
    run = kernel.execute("%%rlm --agent --tools add,boom -m m1 -o result\nWhat is 20 + 22?")
    assert run.ok, run.errors
    displays = run.of("display_data")
    assert len(displays) == 1 and WIDGET in displays[0]["content"]["data"]
    model_id = displays[0]["content"]["data"][WIDGET]["model_id"]
    messages = [m for m in run.comm_msgs() if "ops" in m]
    assert len(messages) >= 4, "the run should arrive in several frames"
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    assert {m["_comm"] for m in messages} == {model_id}
    gaps = [b["_t"] - a["_t"] for a, b in zip(messages, messages[1:])]
    assert len(messages) <= 3 + (messages[-1]["_t"] - messages[0]["_t"]) * 30 * 1.5, gaps
    ops = ops_of(run)
    kinds = [op["op"] for op in ops]
    assert kinds.count("step") == 3 and kinds.count("action") == 2 and kinds[-2:] == ["final", "header"]
    assert [op["step"] for op in ops if op["op"] == "step"] == [1, 2, 3]
    errors = [op for op in ops if op["op"] == "observation" and op["error"]]
    assert len(errors) == 1 and "no luck with" in errors[0]["text"]
    live = "".join(op["delta"] for op in ops if op["op"] == "live" and op["step"] == 3)
    assert live == kernel.value("answer_words")
    assert ops[-1]["state"] == "done" and ops[-1]["steps"] == 3 and ops[-1]["model"] == "scripted:scripted"
    updates = run.of("update_display_data")
    assert len(updates) == 1
    end = updates[0]["content"]
    assert end["transient"]["display_id"] == displays[0]["content"]["transient"]["display_id"]
    data = end["data"]
    assert WIDGET not in data  # the static twin replaces the live widget
    assert "[step 1]" in data["text/plain"] and "Action: add" in data["text/plain"]
    assert "Observation (error)" in data["text/plain"] and "answer59" in data["text/plain"]
    assert "#### Step 3" in data["text/markdown"] and "answer59" in data["text/markdown"]
    html = data["text/html"]
    assert 'data-state="done"' in html and "rlm-observation rlm-error" in html and "<img" not in html
    assert html.count('class="rlm-step"') == 3 and html.count("<details") >= 3
    assert end["metadata"]["rlm"]["kind"] == "agent" and end["metadata"]["rlm"]["state"] == "done"
    assert kernel.value("result") == kernel.value("answer_words")


def test_the_page_can_ask_for_a_steps_messages(kernel):
    assert kernel.execute("m2 = agent_model(delay=0)").ok
    # a finished timeline is released (its static copy has the messages); a kept one still answers
    assert kernel.execute("%config RLMMagics.keep_widget = True").ok
    try:
        run = kernel.execute("%%rlm --agent --tools add,boom -m m2\nWhat is 20 + 22?")
    finally:
        kernel.execute("%config RLMMagics.keep_widget = False")
    assert run.ok, run.errors
    model_id = run.of("display_data")[0]["content"]["data"][WIDGET]["model_id"]
    kernel.send_comm(model_id, {"type": "messages", "step": 2})
    got = kernel.collect(10, until=lambda m: m["msg_type"] == "comm_msg"
                         and m["content"]["data"].get("content", {}).get("type") == "messages")
    reply = got[-1]["content"]["data"]["content"]
    assert reply["step"] == 2 and reply["first"] == 2  # what step 2 added: step 1 sent system + user
    roles = [m["role"] for m in reply["messages"]]
    assert roles[0] == "assistant" and roles[-1] == "tool" and reply["messages"][-1]["content"] == "42"
    kernel.send_comm(model_id, {"type": "messages", "step": 2, "all": True})  # the panel's "show all"
    got = kernel.collect(10, until=lambda m: m["msg_type"] == "comm_msg"
                         and m["content"]["data"].get("content", {}).get("first") == 0)
    reply = got[-1]["content"]["data"]["content"]
    assert [m["role"] for m in reply["messages"]][:2] == ["system", "user"]
    assert reply["total"] == len(reply["messages"]) == len(roles) + 2


def test_no_widget_prints_the_run_then_keeps_its_static_twin_as_a_plain_stream_does(kernel):
    """``--no-widget`` (or no widget front end): the run is printed as it happens, then, in a
    kernel, the printed lines are swapped for the static twin, as ``%%rlm --no-widget`` does."""
    assert kernel.execute("m3 = agent_model(delay=0)").ok
    run = kernel.execute("%%rlm --agent --no-widget --tools add,boom -m m3 -o plain_result\nWhat is 20 + 22?")
    assert run.ok, run.errors
    assert not run.of("comm_open")
    out = run.stdout
    assert out.startswith("\n[step 1]\nI will add the numbers first.\n-> add(") and "<- 42\n" in out
    assert "<- error: " in out and "[step 3]" in out and out.endswith(" · done]\n")
    kinds = [
        m["msg_type"] for m in run.messages if m["msg_type"] in ("stream", "clear_output", "display_data")
    ]
    assert kinds[-2:] == ["clear_output", "display_data"] and run.of("clear_output")[0]["content"]["wait"]
    shown = run.of("display_data")[0]["content"]
    assert WIDGET not in shown["data"] and "Action: add" in shown["data"]["text/plain"]
    assert (
        shown["data"]["text/html"].count('class="rlm-step"') == 3 and "<img" not in shown["data"]["text/html"]
    )
    assert shown["metadata"]["rlm"]["kind"] == "agent" and shown["metadata"]["rlm"]["state"] == "done"
    assert kernel.value("plain_result") == kernel.value("answer_words")


def usage_error(run) -> str:
    """IPython prints a UsageError as one stderr line (no traceback) and the cell fails."""
    assert not run.ok and not run.errors, (
        run.reply["content"],
        [(m["msg_type"], m["content"]) for m in run.messages],
    )
    stderr = "".join(m["content"]["text"] for m in run.of("stream") if m["content"]["name"] == "stderr")
    assert stderr.startswith("UsageError: ") and stderr.count("\n") == 1, stderr
    return stderr


def test_agent_mistakes_are_one_line_usage_errors(kernel):
    assert "no function named 'nope'" in usage_error(
        kernel.execute("%%rlm --agent --tools add,nope -m m1\nhi")
    )
    assert "--agent" in usage_error(kernel.execute("%%rlm --tools add -m m1\nhi"))
    assert "no trace file" in usage_error(kernel.execute("%rlm replay /nonexistent/run.jsonl"))
    assert "--speed" in usage_error(kernel.execute("%rlm replay x.jsonl --speed fast"))


def test_record_then_replay_in_a_fresh_kernel_with_no_model(kernel, tmp_path):
    path = tmp_path / "run.jsonl"
    assert kernel.execute("m3 = agent_model(delay=0.02)").ok
    live = kernel.execute(f"%%rlm --agent --tools add,boom -m m3 --record {path}\nWhat is 20 + 22?")
    assert live.ok, live.errors
    trace = load(path)
    assert trace.kind == "agent" and trace.state == "done" and sorted(trace.steps) == [1, 2, 3]
    recorded = trace.footer["t"]
    live_text = updates(live)[0]["content"]["data"]["text/plain"]

    fresh = Kernel()  # no key, no model: RLM_MODEL unset and nothing loaded
    try:
        assert fresh.execute("%load_ext rlm_jupyter").ok
        replayed = fresh.execute(f"%rlm replay {path}")
        assert replayed.ok, replayed.errors
        took = updates(replayed)[0]["_t"] - replayed.of("display_data")[0]["_t"]
        assert recorded * 0.8 - 0.05 <= took <= recorded * 1.5 + 0.5, (took, recorded)
        end = updates(replayed)[0]["content"]["data"]
        # The same run: everything but the header line (its elapsed time) is identical.
        assert end["text/plain"].split("\n", 1)[1] == live_text.split("\n", 1)[1]
        assert [op["op"] for op in ops_of(replayed) if op["op"] not in ("live", "header")] == \
            [op["op"] for op in ops_of(live) if op["op"] not in ("live", "header")]
        instant = fresh.execute(f"%rlm replay {path} --instant")
        assert instant.ok and updates(instant)[0]["content"]["data"]["text/plain"] == \
            end["text/plain"]
        loaded = fresh.execute("import sys; print('rlm_toolkit.providers.openai' in sys.modules, "
                               "'llama_cpp' in sys.modules)")
        assert loaded.stdout.split() == ["False", "False"]
    finally:
        fresh.shutdown()


def test_stream_record_and_replay(kernel, tmp_path):
    path = tmp_path / "story.jsonl"
    assert kernel.execute("story = RLM(ScriptedProvider(answer_words, delay=0.005))").ok
    live = kernel.execute(f"%%rlm -m story --record {path}\nTell me a story.")
    assert live.ok, live.errors
    assert load(path).text == kernel.value("answer_words")
    replayed = kernel.execute(f"%rlm replay {path} --instant")
    assert replayed.ok, replayed.errors
    end = updates(replayed)[0]["content"]["data"]
    assert end["text/plain"] == kernel.value("answer_words")
    assert "".join(m["d"] for m in replayed.comm_msgs() if "d" in m) == end["text/plain"]


def test_trace_files_never_hold_the_key(kernel, tmp_path):
    agent_path, stream_path = tmp_path / "agent.jsonl", tmp_path / "stream.jsonl"
    code = """
m4 = RLM(ScriptedProvider(turns=[ScriptedTurn(tool_calls=[{"name": "leak", "arguments": {}}]),
                                 "I saw " + os.environ["OPENAI_API_KEY"]]))
echo = RLM(ScriptedProvider(
    fn=lambda r: "echo " + os.environ["OPENAI_API_KEY"] + " " + r.messages[-1]["content"]))
"""
    assert kernel.execute(code).ok
    assert kernel.value("os.environ['OPENAI_API_KEY']") == FAKE_KEY  # the kernel really has it
    run = kernel.execute(f"%%rlm --agent --tools leak -m m4 --record {agent_path}\nWhat is the key?")
    assert run.ok, run.errors
    run = kernel.execute(f"%%rlm -m echo --record {stream_path}\nmy key is {FAKE_KEY}")
    assert run.ok, run.errors
    for path in (agent_path, stream_path):
        text = path.read_text()
        assert FAKE_KEY not in text and FAKE_KEY[8:] not in text and "Jq93xV7b" not in text, path
        assert "***" in text


def test_display_agent_from_python_async_and_sync_sources_shown_once(kernel):
    code = """
from rlm_jupyter import display_agent
from rlm_toolkit.agents import ReActAgent
agent = ReActAgent(agent_model(delay=0.005), tools=[add, boom])
display_agent(agent.astream("What is 20 + 22?"))
"""
    run = kernel.execute(code)
    assert run.ok, run.errors
    assert len(run.of("display_data")) == 1 and not run.of("execute_result")  # not shown twice
    end = updates(run)[0]["content"]["data"]
    assert "answer59" in end["text/plain"] and 'data-state="done"' in end["text/html"]
    assert len([m for m in run.comm_msgs() if "ops" in m]) >= 3
    assert kernel.value("_.messages(1)[-1]") == {"role": "user", "content": "What is 20 + 22?"}
    code = """
from rlm_toolkit.agents import AgentEvent
events = [AgentEvent(type="thought", content="hmm", step=1),
          AgentEvent(type="error", content="RuntimeError: disk on fire", step=1, is_error=True),
          AgentEvent(type="final", content="gave up", step=1, is_error=True)]
view = display_agent(iter(events), model="hand:made")
"""
    run = kernel.execute(code)
    assert run.ok, run.errors
    end = updates(run)[0]["content"]
    assert end["metadata"]["rlm"]["state"] == "error" and "disk on fire" in end["data"]["text/plain"]
    assert (
        'data-state="error"' in end["data"]["text/html"] and "rlm-row rlm-error" in end["data"]["text/html"]
    )


def test_an_interrupt_stops_the_timeline_and_closes_the_trace(tmp_path):
    path = tmp_path / "stopped.jsonl"
    fresh = Kernel()
    try:
        assert fresh.execute(SETUP).ok
        assert fresh.execute("m = agent_model(delay=0.2)").ok
        run = fresh.execute(f"%%rlm --agent --tools add,boom -m m --record {path}\nWhat is 20 + 22?",
                            timeout=60, interrupt_after=1.5)
        assert [e[0] for e in run.errors] == ["KeyboardInterrupt"]
        assert run.ended - run.interrupted_at < 5.0
        end = updates(run)[0]["content"]
        assert (
            end["metadata"]["rlm"]["state"] == "stopped"
            and 'data-state="stopped"' in end["data"]["text/html"]
        )
        trace = load(path)
        assert trace.complete and trace.state == "stopped" and trace.events
        assert fresh.execute("print('still alive')").stdout.strip() == "still alive"
    finally:
        fresh.shutdown()


def test_while_running_only_custom_messages_cross_the_comm(kernel):
    assert kernel.execute("m5 = agent_model(delay=0.005)").ok
    run = kernel.execute("%%rlm --agent --tools add,boom -m m5\nWhat is 20 + 22?")
    assert run.ok, run.errors
    comm = run.of("comm_msg")
    methods = [m["content"]["data"].get("method") for m in comm]
    custom = methods.count("custom")
    assert custom == len([m for m in run.comm_msgs() if "ops" in m]) >= 3
    assert methods.count("update") <= 2, methods  # the state and snapshot once, at the end
    # Bytes grow with the run, not with its square: beyond each message's envelope (~0.8 KB of
    # headers) the payload stays within twice the transcript's size.
    sent = sum(m["_bytes"] for m in comm if m["content"]["data"].get("method") == "custom")
    transcript = updates(run)[0]["content"]["data"]["text/plain"]
    assert sent < custom * 900 + 2 * len(transcript), (sent, custom, len(transcript))


def test_a_damaged_trace_never_leaves_a_widget_and_a_traceback_in_the_notebook(kernel, tmp_path):
    """Fatal damage: one UsageError line and nothing displayed; a bad line: the rest replays, one note."""
    header = {"type": "header", "version": 1, "kind": "agent", "model": "m", "created": 1_700_000_000.0}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**header, "created": "yesterday"}) + "\n")
    run = kernel.execute(f"%rlm replay {bad} --instant")
    assert "bad.jsonl:1: not a trace header: 'created'" in usage_error(run) and not run.of("display_data")
    part = tmp_path / "part.jsonl"
    rows = [header,
            {"type": "event", "t": 0.1, "event": {"type": "thought", "content": "x", "step": "one"}},
            {"type": "event", "t": 0.2, "event": {"type": "final", "content": "42", "step": 1,
                                                  "timestamp": 1_700_000_000.2}},
            {"type": "footer", "t": 0.2, "state": "done", "response": None, "error": None}]
    part.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = kernel.execute(f"%rlm replay {part} --instant")
    assert run.ok and not run.errors, run.errors
    stderr = "".join(m["content"]["text"] for m in run.of("stream") if m["content"]["name"] == "stderr")
    assert "1 line could not be read" in stderr and "part.jsonl:2: " in stderr and "Traceback" not in stderr
    assert len(run.of("display_data")) == 1
    final = run.of("update_display_data")[-1]["content"]["data"]
    assert "42" in final["text/plain"] and "done" in final["text/plain"]
