"""``%rlm export`` / ``%rlm diff`` in an IPython shell, and OTLP imports replayed in the agent timeline."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

import rlm_jupyter
from rlm_toolkit.otel_import import read_otlp_json
from rlm_toolkit.trace import load
from rlm_toolkit.trace_diff import TraceDiff
from tests.toolkit._runs import failing_tool_run, native_run, text_run

otel = pytest.importorskip("rlm_toolkit.otel")
pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra: pip install 'rlm[otel]'")


def rows(view):
    return [(r.kind, r.text) for s in view.timeline.steps.values() for r in s.rows]


@pytest.mark.parametrize("run", [native_run, text_run, failing_tool_run])
def test_an_otlp_import_replays_in_the_timeline_like_the_original(tmp_path, run):
    run(tmp_path / "run.jsonl")
    otel.write_otlp_json(tmp_path / "run.jsonl", tmp_path / "spans.json", capture_content=True)
    [imported] = read_otlp_json(tmp_path / "spans.json")
    original = rlm_jupyter.replay(load(tmp_path / "run.jsonl"), speed=None)
    again = rlm_jupyter.replay(imported, speed=None)
    assert rows(again) == rows(original) and rows(again)
    assert again.state == original.state == "done"
    assert again.messages(1) == original.messages(1)


def test_rlm_replay_takes_an_otlp_json_export(shell, tmp_path):
    native_run(tmp_path / "run.jsonl")
    otel.write_otlp_json(tmp_path / "run.jsonl", tmp_path / "spans.json", capture_content=True)
    original = rlm_jupyter.replay(load(tmp_path / "run.jsonl"), speed=None)
    view = shell.run_line_magic("rlm", f"replay {tmp_path / 'spans.json'} --instant")
    assert view is None  # the magic displays the timeline; the view is checked through the API below
    from rlm_jupyter.magics import trace as trace_magic

    assert rows(trace_magic.replay(tmp_path / "spans.json", speed=None)) == rows(original)
    doubled = json.loads((tmp_path / "spans.json").read_text())
    doubled["resourceSpans"] *= 2
    (tmp_path / "two.json").write_text(json.dumps(doubled))
    with pytest.raises(UsageError, match="holds 2 runs"):
        shell.run_line_magic("rlm", f"replay {tmp_path / 'two.json'}")


def test_rlm_diff_shows_a_table_and_returns_the_structured_result(shell, tmp_path):
    native_run(tmp_path / "a.jsonl", b=2)
    native_run(tmp_path / "b.jsonl", b=40)
    result = shell.run_line_magic("rlm", f"diff {tmp_path / 'a.jsonl'} {tmp_path / 'b.jsonl'}")
    assert isinstance(result, TraceDiff) and len(result.changed_actions) == 1
    data, _ = shell.display_formatter.format(result)
    assert "<table>" in data["text/html"] and "arguments" in data["text/plain"]
    with pytest.raises(UsageError, match="usage: %rlm diff"):
        shell.run_line_magic("rlm", "diff only-one.jsonl")
    with pytest.raises(UsageError, match="no trace file"):
        shell.run_line_magic("rlm", f"diff {tmp_path / 'a.jsonl'} {tmp_path / 'missing.jsonl'}")


def test_rlm_export_sends_to_an_otlp_endpoint_and_writes_json(shell, tmp_path, otlp_receiver, capsys):
    native_run(tmp_path / "run.jsonl")
    shell.run_line_magic("rlm", f"export {tmp_path / 'run.jsonl'} --otlp {otlp_receiver.url}")
    assert "Sent 4 spans" in capsys.readouterr().out
    assert [s.name for s in otlp_receiver.spans()] == [
        "chat scripted",
        "execute_tool add",
        "chat scripted",
        "invoke_agent ReActAgent",
    ]
    keys = {a.key for s in otlp_receiver.spans() for a in s.attributes}
    assert "gen_ai.tool.call.result" not in keys  # content stays out unless --content
    shell.run_line_magic("rlm", f"export {tmp_path / 'run.jsonl'} --json {tmp_path / 'out.json'} --content")
    [back] = read_otlp_json(tmp_path / "out.json")
    assert back.text == "The sum is 3."
    assert json.loads((tmp_path / "out.json").read_text())["resourceSpans"]


def test_rlm_export_never_shows_a_key_in_the_endpoint_query(shell, tmp_path, otlp_receiver, capsys):
    native_run(tmp_path / "run.jsonl")
    key = "collector-key-0123456789abcdef"
    shell.run_line_magic("rlm", f"export {tmp_path / 'run.jsonl'} --otlp {otlp_receiver.url}?api_key={key}")
    out = capsys.readouterr().out
    assert "Sent 4 spans" in out and "/v1/traces?api_key=***" in out and key not in out
    otlp_receiver.status = 400
    with pytest.raises(UsageError) as caught:
        shell.run_line_magic("rlm", f"export {tmp_path / 'run.jsonl'} --otlp {otlp_receiver.url}?token={key}")
    assert "?token=***" in str(caught.value) and key not in str(caught.value)
    for line, message in (
        ("export", "required: FILE; usage: %rlm export"),
        (f"export {tmp_path / 'run.jsonl'}", "--otlp URL or --json OUT.*; usage: %rlm export"),
        (f"export {tmp_path / 'run.jsonl'} --otlp", "--otlp: expected one argument"),
        (f"export {tmp_path / 'run.jsonl'} --otlp ftp://x", "http"),
        (f"export {tmp_path / 'run.jsonl'} --fast", "unrecognized arguments: --fast"),
    ):
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("rlm", line)


@pytest.mark.parametrize("depth", [900, 5_000])
def test_rlm_diff_and_replay_of_a_trace_with_a_deeply_nested_line(shell, tmp_path, depth):
    """Issue 20, item 5: a line nested 5,000 deep broke reading with a RecursionError; one 900 deep
    (which ``json`` reads) broke the replay's messages in ``scrub_data``. Now the line is a problem."""
    native_run(tmp_path / "a.jsonl", b=2)
    native_run(tmp_path / "b.jsonl", b=40)
    lines = (tmp_path / "b.jsonl").read_text().splitlines(keepends=True)
    deep = "[" * depth + "]" * depth
    lines.insert(-1, '{"type": "step", "step": 1, "messages": [{"role": "user", "content": ' + deep + "}]}\n")
    (tmp_path / "b.jsonl").write_text("".join(lines))
    result = shell.run_line_magic("rlm", f"diff {tmp_path / 'a.jsonl'} {tmp_path / 'b.jsonl'}")
    assert isinstance(result, TraceDiff) and len(result.changed_actions) == 1
    shell.display_formatter.format(result)
    view = rlm_jupyter.replay(tmp_path / "b.jsonl", speed=None)
    assert "nested deeper than 128 levels" in load(tmp_path / "b.jsonl").problems[0]
    assert view.messages(1) and len(json.dumps(view.messages(1))) < 10_000
