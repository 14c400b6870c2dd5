"""``trace.diff``: two recorded runs aligned by their actions, what changed per step, and the deltas."""

from __future__ import annotations

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, trace
from rlm_toolkit.agents.react import ReActAgent
from rlm_toolkit.trace_diff import word_diff
from tests.toolkit._runs import add, native_run


def test_runs_differing_in_one_tool_argument(tmp_path):
    native_run(tmp_path / "a.jsonl", b=2)
    native_run(tmp_path / "b.jsonl", b=5)
    d = trace.diff(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    [changed] = d.changed_actions
    assert (changed.step_a, changed.step_b, changed.op) == (1, 1, "changed")
    assert changed.changes == ["arguments", "observation"]
    assert (changed.a.arguments, changed.b.arguments) == ([{"a": 1, "b": 2}], [{"a": 1, "b": 5}])
    last = d.steps[-1]
    assert last.changes == ["text"] and ("-", "3.") in last.text and ("+", "6.") in last.text
    assert d.final_changed
    tokens, latency, cost = d.totals().values()
    assert tokens[2] == 0 and isinstance(latency[2], float) and cost == (0.0, 0.0, 0.0)  # scripted: free
    assert "cost: 0.000 → 0.000" in str(d) and 'add({"a": 1, "b": 5})' in str(d)


def test_the_same_run_twice_has_no_changed_actions(tmp_path):
    native_run(tmp_path / "a.jsonl")
    native_run(tmp_path / "b.jsonl")
    d = trace.diff(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert not d.changed_actions and not d.changed and [s.op for s in d.steps] == ["same", "same"]


def _run(path, calls):
    turns = [ScriptedTurn(tool_calls=[{"name": "add", "arguments": {"a": a, "b": b}}]) for a, b in calls]
    ReActAgent(RLM(ScriptedProvider(turns=[*turns, "Done."])), tools=[add]).run("go", record=str(path))


def test_an_inserted_step_is_added_and_the_rest_still_aligns(tmp_path):
    _run(tmp_path / "a.jsonl", [(1, 1), (2, 2)])
    _run(tmp_path / "b.jsonl", [(1, 1), (7, 7), (2, 2)])
    d = trace.diff(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    ops = [(s.op, s.step_a, s.step_b) for s in d.steps]
    assert ("added", None, 2) in ops and ("same", 1, 1) in ops and ("same", 3, 4) in ops
    assert [s.op for s in d.changed_actions] == ["added"]


def test_html_escapes_model_text_and_keeps_text_plain(tmp_path):
    for name, text in (("a", "Answer <b>one</b>"), ("b", "Answer <script>alert(1)</script> $x$")):
        RLM(ScriptedProvider(text)).run("hi", record=str(tmp_path / f"{name}.jsonl"))
    d = trace.diff(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    bundle = d._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "<script>" not in bundle["text/html"] and "&lt;script&gt;" in bundle["text/html"]
    assert "<b>" not in bundle["text/html"] and "$" not in bundle["text/html"]
    assert "[-<b>one</b>-]" in bundle["text/plain"]


def test_word_diff():
    assert word_diff("the cat sat", "the dog sat") == [
        ("=", "the "),
        ("-", "cat"),
        ("+", "dog"),
        ("=", " sat"),
    ]
    assert word_diff("", "new") == [("+", "new")]
