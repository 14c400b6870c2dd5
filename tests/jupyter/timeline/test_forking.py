"""Fork from here without a kernel: what a click may do (timeline/forking.py), the line the kernel
answers with (it parses back to the same fork), and a fork's parent in every copy, escaped."""

from __future__ import annotations

from rlm_jupyter.live.drive import drive
from rlm_jupyter.magics.line import parse_line
from rlm_jupyter.timeline.forking import Forks, ForkSource, parent_text
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit.events import AgentEvent

HOSTILE = "<img src=x onerror=alert(1)>"


def test_the_line_parses_back_to_the_same_fork_whatever_the_path():
    for path in ("run.jsonl", "my runs/run 1.jsonl", "it's; rm -rf ~.jsonl", HOSTILE + ".jsonl"):
        source = ForkSource(path, model="cheap", model_is_name=True, tools=["add", "search"], approve=True)
        args = parse_line(source.line(3).removeprefix("%rlm "))
        shown = (args.file, args.step, args.model, args.tools, args.approve)
        assert shown == (path, 3, "cheap", "add,search", True)
    assert ForkSource("run.jsonl").line(2) == "%rlm fork run.jsonl --step 2"


def test_a_click_is_kept_while_the_cell_runs_and_answered_with_the_line_after():
    forks = Forks()
    assert forks.ask(1, {1: None})["state"] == "error"  # not recorded: no source, no fork
    forks.open(ForkSource("run.jsonl"), cell_runs=True)
    assert forks.ask(7, {1: None, 2: None}) == {"step": 7, "state": "error", "error": "the run has no step 7"}
    assert forks.ask(1, {1: None, 2: None})["state"] == "queued"
    assert forks.ask(2, {1: None, 2: None})["state"] == "queued"
    assert forks.close() == 2  # IPython keeps one next input: the last click
    later = forks.ask(1, {1: None, 2: None})
    assert later == {"step": 1, "state": "line", "line": "%rlm fork run.jsonl --step 1"}
    assert forks.close() is None  # nothing was queued after the cell ended


def test_a_forks_parent_is_in_its_header_and_every_copy_as_text():
    assert parent_text({"file": "run.jsonl", "step": 3, "edits": {}}) == "fork of run.jsonl at step 3"
    odd_parents = (None, "run.jsonl", {"file": "run.jsonl"}, {"file": 3, "step": 1},
                   {"file": "r", "step": True})
    for odd in odd_parents:
        assert parent_text(odd) is None
    assert len(parent_text({"file": "x" * 10_000, "step": 1}) or "") < 1_000  # cut like a name
    view = TimelineView("m", parent=parent_text({"file": HOSTILE, "step": 2}))
    sent: list[dict] = []
    view.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    assert view.snapshot[0]["parent"] == f"fork of {HOSTILE} at step 2"  # the page sets it as text
    view.offer_forks(ForkSource(HOSTILE + ".jsonl"), cell_runs=False)
    drive(view, iter([AgentEvent(type="final", content="done", step=1)]))
    data, _ = view.final_bundle()
    html = data["text/html"]
    assert "<img" not in html and "fork of &lt;img src=x onerror=alert(1)&gt; at step 2" in html
    assert "Fork a step: <code>%rlm fork" in html and "--step N" in html
    assert f"fork of {HOSTILE} at step 2" in data["text/plain"]
    assert "<img" not in data["text/markdown"].replace("\\<img", "")
    assert view.forkable is True


def test_a_replayed_trace_offers_its_forks(tmp_path):
    """``%rlm replay FILE`` / ``rlm_jupyter.replay``: the replayed run forks from the trace it reads."""
    from rlm_jupyter import replay
    from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
    from rlm_toolkit.agents import ReActAgent

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    path = str(tmp_path / "run.jsonl")
    call = ScriptedTurn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}])
    model = RLM(ScriptedProvider(turns=[call, "3"]))
    ReActAgent(model, tools=[add]).run("1 + 2?", record=path)
    view = replay(path, speed=None)
    assert view.forks.source is not None and view.forks.source.path == path
    assert f"Fork a step: <code>%rlm fork {path} --step N" in view.final_bundle()[0]["text/html"]
