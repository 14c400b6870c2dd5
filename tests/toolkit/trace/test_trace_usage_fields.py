"""Usage, timing and cost fields of the wrong type in a trace: ``load()`` skips and lists the line,
so ``trace_diff`` and the OTel export, which trust what ``load()`` accepted, never crash on them."""

from __future__ import annotations

import json

import pytest

from rlm_toolkit import trace_diff
from rlm_toolkit.trace import load

HEADER = {"type": "header", "version": 1, "kind": "agent", "model": "m", "created": 1_700_000_000.0}
BAD = [("usage", {"prompt_tokens": "many"}), ("usage", {"completion_tokens": [1, 2]}),
       ("usage", {"prompt_tokens": 1e308}), ("usage", {"prompt_tokens": 2**80}),
       ("usage", {"prompt_tokens": -3}), ("usage", "lots"), ("usage", [1, 2]), ("elapsed_s", "slow"),
       ("cost", "cheap"), ("cost", {"total": "x"}), ("ttft_s", [0.1])]


def write(path, field, value, where):
    """An agent trace of one step and a footer; ``field`` of the step's or the footer's response is bad."""
    good = {"usage": {"prompt_tokens": 3, "completion_tokens": 4}, "elapsed_s": 0.5}
    bad = {**good, field: value}
    lines = [HEADER,
             {"type": "event", "t": 0.1, "event": {"type": "final", "content": "done", "step": 1,
                                                   "timestamp": 1_700_000_000.1}},
             {"type": "step", "step": 1, "messages": [{"role": "user", "content": "hi"}],
              "response": bad if where == "step" else good, "duration": 0.5},
             {"type": "footer", "t": 1.0, "state": "done", "error": None,
              "response": bad if where == "footer" else {**good, "steps": 1}}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.parametrize("where", ["step", "footer"])
@pytest.mark.parametrize("field, value", BAD)
def test_usage_of_the_wrong_type_is_skipped_at_load_and_diff_and_export_work(tmp_path, field, value, where):
    path = write(tmp_path / "bad.jsonl", field, value, where)
    good = write(tmp_path / "good.jsonl", "elapsed_s", 0.5, "step")
    trace = load(path)
    assert trace.skipped == 1 and trace.problems[0].startswith(f"{path}:{3 if where == 'step' else 4}: ")
    assert field in trace.problems[0]
    result = trace_diff.diff(good, path)
    assert result.steps and isinstance(result.totals(), dict)
    assert str(result) and result.to_html()
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")
    from rlm_toolkit.otel import to_otlp_json

    assert to_otlp_json(path)["resourceSpans"]


@pytest.mark.parametrize("field, value", [("duration", "slow"), ("duration", [1]), ("started", "now"),
                                          ("params", "hot"), ("response", "fine")])
def test_step_timing_and_shape_of_the_wrong_type_is_skipped(tmp_path, field, value):
    path = write(tmp_path / "bad.jsonl", "elapsed_s", 0.5, "step")
    lines = path.read_text().splitlines()
    step = json.loads(lines[2])
    step[field] = value
    lines[2] = json.dumps(step)
    path.write_text("\n".join(lines) + "\n")
    trace = load(path)
    assert trace.skipped == 1 and field in trace.problems[0]
    trace_diff.diff(path, path).totals()
