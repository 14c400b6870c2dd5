"""Careless and hostile use of the magics: bad ``-o`` names, bad paths, bad speeds, damaged or old traces.

Each mistake is one IPython ``UsageError`` raised before anything runs or is shown; a partly readable
trace replays what is readable and says so; an old trace shows its run's duration, not its age.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from IPython.core.error import UsageError

from rlm_jupyter.magics import trace as trace_magic
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit import RLM, ScriptedProvider
from rlm_toolkit.trace import load


@pytest.mark.parametrize("name", ["__builtins__", "__name__", "In", "Out", "get_ipython", "exit", "quit",
                                  "_", "__", "_3", "_i3", "_ih", "print", "class", "1x", "a-b", "x.y"])
def test_o_refuses_names_that_would_break_the_namespace(shell, name):
    provider = ScriptedProvider("ok")
    shell.user_ns["m"] = RLM(provider)
    before = shell.user_ns.get(name, "absent")
    with pytest.raises(UsageError, match=r"-o"):
        shell.run_cell_magic("rlm", f"-m m -o {name}", "Hi")
    assert shell.user_ns.get(name, "absent") is before and not provider.requests
    shell.run_cell_magic("rlm", "-m m -o answer", "Hi")  # an ordinary name still works
    assert shell.user_ns["answer"] == "ok"


@pytest.mark.parametrize("where", ["/nonexistent/dir/x.jsonl", "{tmp}"])
def test_record_to_a_path_that_cannot_be_written_is_a_usage_error_before_the_model_runs(shell, tmp_path,
                                                                                        where):
    provider = ScriptedProvider("ok")
    shell.user_ns["m"] = RLM(provider)
    path = where.format(tmp=tmp_path)
    for line in (f"-m m --record {path}", f"-m m --agent --record {path}"):
        with pytest.raises(UsageError, match="--record: cannot record to"):
            shell.run_cell_magic("rlm", line, "Hi")
    assert not provider.requests


@pytest.mark.parametrize("budget", ["9" * 400 + "tok", "9" * 400, "1e999", "\u0663\u0660\u0660tok",
                                    "\uff10.\uff10\uff15", "5000000000tok"])
def test_an_absurd_or_non_ascii_budget_is_a_usage_error_before_the_model_runs(shell, budget):
    provider = ScriptedProvider("ok", priced_as="openai:gpt-4o")
    shell.user_ns["m"] = RLM(provider)
    for line in (f"-m m --budget {budget}", f"-m m --agent --budget {budget}"):
        with pytest.raises(UsageError, match="--budget: budget") as caught:
            shell.run_cell_magic("rlm", line, "Hi")
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
    assert not provider.requests


@pytest.mark.timeout(30)
def test_record_never_overwrites_another_file_and_keeps_an_earlier_trace(shell, tmp_path, capsys):
    csv = tmp_path / "data.csv"
    csv.write_text("name,amount\nalice,3\n")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    provider = ScriptedProvider(turns=["first", "second", "third", "fourth", "fifth"])
    shell.user_ns["m"] = RLM(provider)
    for target, why in ((csv, "not an rlm trace"), (fifo, "is a FIFO"), ("/dev/null", "is a device")):
        for agent in ("", "--agent "):
            for overwrite in ("", " --overwrite"):
                with pytest.raises(UsageError, match=f"--record: cannot record to .*{why}"):
                    shell.run_cell_magic("rlm", f"-m m {agent}--record {target}{overwrite}", "Hi")
    assert csv.read_text() == "name,amount\nalice,3\n" and not provider.requests
    with pytest.raises(UsageError, match="--overwrite goes with --record"):
        shell.run_cell_magic("rlm", "-m m --overwrite", "Hi")
    run = tmp_path / "run.jsonl"
    shell.run_cell_magic("rlm", f"-m m --no-widget --record {run}", "Hi")
    capsys.readouterr()
    shell.run_cell_magic("rlm", f"-m m --no-widget --record {run}", "Hi")
    said = capsys.readouterr().err
    assert f"rlm: {run} holds an earlier run; recording to {tmp_path / 'run-2.jsonl'}" in said
    shell.run_cell_magic("rlm", f"-m m --no-widget --agent --record {run}", "Hi")
    assert "run-3.jsonl (--overwrite replaces it)" in capsys.readouterr().err
    assert [load(tmp_path / n).text for n in ("run.jsonl", "run-2.jsonl", "run-3.jsonl")] == \
        ["first", "second", "third"]
    shell.run_cell_magic("rlm", f"-m m --no-widget --record {run} --overwrite", "Hi")
    second = tmp_path / "run-2.jsonl"
    shell.run_cell_magic("rlm", f"-m m --no-widget --agent --record {second} --overwrite", "Hi")
    assert "holds an earlier run" not in capsys.readouterr().err
    assert [load(tmp_path / n).text for n in ("run.jsonl", "run-2.jsonl")] == ["fourth", "fifth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "pipe", "run-2.jsonl", "run-3.jsonl",
                                                           "run.jsonl"]


def test_export_json_never_overwrites_another_file(shell, tmp_path, capsys):
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")
    run = tmp_path / "run.jsonl"
    "".join(RLM(ScriptedProvider("hi")).stream("Hi", record=run))
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n")
    for target in (csv, run):
        before = target.read_bytes()
        with pytest.raises(UsageError, match="cannot write the spans to .*not an OTLP/JSON export"):
            shell.run_line_magic("rlm", f"export {run} --json {target} --overwrite")
        assert target.read_bytes() == before
    out = tmp_path / "spans.json"
    shell.run_line_magic("rlm", f"export {run} --json {out}")
    capsys.readouterr()
    shell.run_line_magic("rlm", f"export {run} --json {out}")
    said = capsys.readouterr()
    assert f"to {tmp_path / 'spans-2.json'} (OTLP/JSON); {out} holds an earlier export" in said.out
    assert "RecordingWarning" not in said.err
    shell.run_line_magic("rlm", f"export {run} --json {out} --overwrite")
    assert f"to {out} (OTLP/JSON)." in capsys.readouterr().out
    with pytest.raises(UsageError, match="--overwrite goes with --json"):
        shell.run_line_magic("rlm", f"export {run} --otlp http://127.0.0.1:9/v1/traces --overwrite")


@pytest.mark.parametrize("speed", ["1e-300", "1e300", "nan", "inf"])
def test_replay_speed_out_of_range_is_a_usage_error(shell, tmp_path, speed):
    path = tmp_path / "run.jsonl"
    path.write_text(json.dumps(HEADER) + "\n")
    with pytest.raises(UsageError, match="speed must be"):
        shell.run_line_magic("rlm", f"replay {path} --speed {speed}")


HEADER = {"type": "header", "version": 1, "kind": "agent", "model": "m", "created": 1_700_000_000.0}


def agent_trace(path, created: float, *, footer: bool = True, extra: tuple = ()):
    """An agent run of 1.5 s recorded at ``created``: one tool call, then a final answer."""
    def event(t, **data):
        return {"type": "event", "t": t, "event": {"step": 1, "timestamp": created + t, **data}}

    rows = [{**HEADER, "created": created},
            event(0.1, type="thought", content="I should add."),
            event(0.2, type="action", tool_name="add", input={"a": 1, "b": 2}, call_id="c1"),
            event(0.3, type="observation", content="3", tool_name="add", call_id="c1"),
            *extra]
    if footer:
        rows += [event(1.5, type="final", content="3", step=2, duration=1.5),
                 {"type": "footer", "t": 1.5, "state": "done", "response": None, "error": None}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def widget_frontend(monkeypatch):
    """A front end with widgets: what is displayed, and the messages the timeline sends."""
    shown, sent = [], []
    monkeypatch.setattr("rlm_jupyter.live.show.has_widget_frontend", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append(a) or None)
    monkeypatch.setattr(TimelineView, "send", lambda self, message, *a: sent.append(message))
    return shown, sent


def test_an_old_trace_shows_its_runs_duration_not_its_age(tmp_path, widget_frontend):
    shown, sent = widget_frontend
    old = time.time() - 5157.3
    view = trace_magic.replay(agent_trace(tmp_path / "done.jsonl", old), speed=4.0)
    headers = [op for message in sent for op in message["ops"] if op["op"] == "header"]
    assert headers and all(h["elapsed"] <= 1.6 for h in headers), headers
    assert view.state == "done" and abs(view.timeline.elapsed - 1.5) < 0.01
    # A crashed run (no final, no footer) ends at its last event, by its own clock.
    crashed = trace_magic.replay(agent_trace(tmp_path / "crash.jsonl", old, footer=False), speed=None)
    assert crashed.state == "stopped" and crashed.timeline.elapsed == pytest.approx(0.3, abs=0.01)
    assert "0.3 s · stopped" in crashed.timeline.summary()


@pytest.mark.parametrize("header", [{"version": "abc"}, {"created": "yesterday"}, {"kind": None}])
def test_a_trace_with_a_bad_header_is_a_usage_error_and_no_widget_is_shown(shell, tmp_path, widget_frontend,
                                                                           header):
    shown, _ = widget_frontend
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({**HEADER, **header}) + "\n")
    with pytest.raises(UsageError, match=r"bad\.jsonl:1: "):
        shell.run_line_magic("rlm", f"replay {path}")
    with pytest.raises(UsageError, match="is a folder"):
        shell.run_line_magic("rlm", f"replay {tmp_path}")
    not_utf8 = tmp_path / "latin1.jsonl"
    header_line = json.dumps({**HEADER, "model": "caf\u00e9"}, ensure_ascii=False)
    not_utf8.write_bytes(header_line.encode("latin-1") + b"\n")
    with pytest.raises(UsageError, match=r"latin1\.jsonl:1: not UTF-8"):
        shell.run_line_magic("rlm", f"replay {not_utf8}")
    assert shown == []


@pytest.mark.timeout(20)
def test_replay_diff_and_export_refuse_a_device_a_fifo_and_a_huge_file_at_once(shell, tmp_path,
                                                                               widget_frontend):
    shown, _ = widget_frontend
    fifo, fifo_json = tmp_path / "pipe.jsonl", tmp_path / "pipe.json"
    os.mkfifo(fifo)
    os.mkfifo(fifo_json)
    huge = tmp_path / "huge.jsonl"
    huge.write_text(json.dumps(HEADER) + "\n")
    os.truncate(huge, 2**30)  # sparse: no disk
    good = agent_trace(tmp_path / "good.jsonl", time.time())
    for path, why in (("/dev/zero", "is a device"), (fifo, "is a FIFO"), (fifo_json, "is a FIFO"),
                      (huge, "is over 256 MB")):
        with pytest.raises(UsageError, match=why):
            shell.run_line_magic("rlm", f"replay {path} --instant")
        with pytest.raises(UsageError, match=why):
            shell.run_line_magic("rlm", f"diff {good} {path}")
        with pytest.raises(UsageError, match=why):
            shell.run_line_magic("rlm", f"export {path} --json {tmp_path / 'spans.json'}")
    assert shown == [] and not (tmp_path / "spans.json").exists()


@pytest.mark.parametrize("usage", [{"prompt_tokens": "many"}, [1, 2], {"completion_tokens": 1e308},
                                   {"prompt_tokens": None, "completion_tokens": [3]}])
def test_diff_and_export_take_a_trace_with_usage_of_the_wrong_type(shell, tmp_path, capsys, usage):
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")
    good = agent_trace(tmp_path / "good.jsonl", time.time())
    bad = tmp_path / "bad.jsonl"
    lines = good.read_text().splitlines()
    step = {"type": "step", "step": 1, "messages": [], "response": {"usage": usage}, "duration": 0.5}
    footer = {"type": "footer", "t": 1.5, "state": "done", "error": None, "response": {"usage": usage}}
    bad.write_text("\n".join([*lines[:-1], json.dumps(step), json.dumps(footer)]) + "\n")
    result = shell.run_line_magic("rlm", f"diff {good} {bad}")
    assert result.steps and str(result)
    shell.run_line_magic("rlm", f"export {bad} --json {tmp_path / 'spans.json'}")
    assert "Wrote the spans" in capsys.readouterr().out


BAD_EVENTS = [
    {"type": "event", "t": 0.35, "event": {"type": "thought", "content": "x", "step": "one"}},
    {"type": "event", "t": 0.35, "event": {"type": "thought", "content": "x", "timestamp": "soon"}},
    {"type": "event", "t": "soon", "event": {"type": "thought", "content": "x"}},
    {"type": "event", "t": 0.35, "event": ["thought"]},
    {"type": "event", "t": 0.35},
    {"type": "step", "step": "one", "messages": []},
]


@pytest.mark.parametrize("bad", BAD_EVENTS)
def test_a_partly_readable_trace_replays_what_is_readable_and_says_so(tmp_path, widget_frontend, capsys, bad):
    shown, _ = widget_frontend
    path = agent_trace(tmp_path / "part.jsonl", time.time() - 60, extra=(bad,))
    view = trace_magic.replay(path, speed=None)
    assert len(shown) == 1 and view.state == "done" and view.timeline.final == "3"
    assert f"{path}:5: " in capsys.readouterr().err


def test_a_stream_trace_with_an_unknown_event_type_replays_the_rest(tmp_path, widget_frontend, capsys):
    path = tmp_path / "s.jsonl"
    rows = [{**HEADER, "kind": "stream"},
            {"type": "event", "t": 0.0, "event": {"type": "text", "text": "Hello"}},
            {"type": "event", "t": 0.0, "event": {"type": "sparkle", "text": "!"}},
            {"type": "event", "t": 0.0, "event": {"type": "text", "text": 5}},
            {"type": "event", "t": 0.1, "event": {"type": "finish", "reason": "stop"}},
            {"type": "footer", "t": 0.1, "state": "done", "response": None, "error": None}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    view = trace_magic.replay(path, speed=None)
    assert view.answer == "Hello" and view.state == "done"
    assert "2 lines could not be read" in capsys.readouterr().err
