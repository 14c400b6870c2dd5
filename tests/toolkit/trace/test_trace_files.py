"""The files rlm writes (traces, OTLP/JSON exports): never truncating a file that is not ours.

The rule (docs/traces.md): a new name is created; a name holding an earlier trace gives a numbered
sibling (``run-2.jsonl``) with a RecordingWarning unless ``overwrite=True`` replaces it; any other
existing file, a FIFO, a device, a folder or a link to one is refused and left as it was.
"""

from __future__ import annotations

import json
import os
import warnings

import pytest

from rlm_toolkit import RLM, ScriptedProvider
from rlm_toolkit.errors import UsageError
from rlm_toolkit.events import TextDelta
from rlm_toolkit.trace import (
    AgentRecorder,
    RecordingWarning,
    StreamRecorder,
    TraceRecorder,
    check_writable,
    load,
    record,
)

CSV = "name,amount\nalice,3\nbob,4\n"


def recorders(path, overwrite):
    """Every way a trace file is opened from Python (each closed at once)."""
    yield lambda: TraceRecorder(path, kind="stream", overwrite=overwrite).close()
    yield lambda: StreamRecorder(path, "m", overwrite=overwrite).recorder.close()
    yield lambda: AgentRecorder(path, "m", overwrite=overwrite).recorder.close()
    yield lambda: list(record(iter([TextDelta(text="hi")]), path, kind="stream", overwrite=overwrite))
    if not overwrite:
        yield lambda: "".join(RLM(ScriptedProvider("hi")).stream("Hi", record=path))


def test_recording_never_overwrites_a_file_that_is_not_a_trace(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(CSV)
    with pytest.raises(UsageError, match="exists and is not an rlm trace"):
        check_writable(path)
    for overwrite in (False, True):
        for open_it in recorders(path, overwrite):
            with pytest.raises(UsageError, match="cannot record to .*data.csv.*not an rlm trace"):
                open_it()
            assert path.read_text() == CSV
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]  # no sibling, no temporary file


def test_re_recording_onto_a_trace_writes_a_numbered_sibling_and_says_so(tmp_path):
    path = tmp_path / "run.jsonl"
    "".join(RLM(ScriptedProvider("first")).stream("Hi", record=path))
    assert check_writable(path) == tmp_path / "run-2.jsonl"
    with pytest.warns(RecordingWarning, match=r"run.jsonl' already holds an rlm trace: writing .*run-2"):
        "".join(RLM(ScriptedProvider("second")).stream("Hi", record=path))
    with pytest.warns(RecordingWarning, match="run-3.jsonl"):
        recorder = TraceRecorder(path, kind="stream")
    assert recorder.path == tmp_path / "run-3.jsonl"
    recorder.close()
    with pytest.warns(RecordingWarning, match="run-4.jsonl"):  # re-recording onto a sibling: the next one
        TraceRecorder(tmp_path / "run-2.jsonl", kind="stream").close()
    assert load(path).text == "first" and load(tmp_path / "run-2.jsonl").text == "second"


def test_overwrite_replaces_an_earlier_trace_only(tmp_path):
    path = tmp_path / "run.jsonl"
    "".join(RLM(ScriptedProvider("first")).stream("Hi", record=path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_writable(path, overwrite=True) == path
        replacing = StreamRecorder(path, overwrite=True)
        "".join(RLM(ScriptedProvider("second")).stream("Hi", callbacks=[replacing]))
    assert load(path).text == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.jsonl"]
    empty = tmp_path / "empty.jsonl"  # an empty file holds nothing to lose: it is used as it is
    empty.touch()
    TraceRecorder(empty, kind="stream").close()
    assert load(empty).complete


@pytest.mark.timeout(10)
def test_a_fifo_a_device_a_folder_and_links_are_refused_without_writing(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    csv = tmp_path / "data.csv"
    csv.write_text(CSV)
    (tmp_path / "to-csv.jsonl").symlink_to(csv)
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "created-by-rlm")
    for path, why in ((fifo, "is a FIFO"), ("/dev/null", "is a device"), (tmp_path, "is a folder"),
                      (tmp_path / "to-csv.jsonl", "not an rlm trace"),
                      (tmp_path / "dangling.jsonl", "symbolic link to nothing")):
        for overwrite in (False, True):
            with pytest.raises(UsageError, match=why):
                TraceRecorder(path, kind="stream", overwrite=overwrite)
    assert csv.read_text() == CSV and not (tmp_path / "created-by-rlm").exists()


def test_overwriting_through_a_link_replaces_the_link_not_what_it_points_at(tmp_path):
    kept = tmp_path / "kept.jsonl"
    "".join(RLM(ScriptedProvider("kept")).stream("Hi", record=kept))
    link = tmp_path / "link.jsonl"
    link.symlink_to(kept)
    TraceRecorder(link, kind="stream", overwrite=True).close()
    assert load(kept).text == "kept" and not link.is_symlink() and load(link).text == ""


def test_otlp_json_output_follows_the_same_rule(tmp_path):
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")
    from rlm_toolkit.otel import write_otlp_json

    run = tmp_path / "run.jsonl"
    "".join(RLM(ScriptedProvider("hi")).stream("Hi", record=run))
    csv = tmp_path / "data.csv"
    csv.write_text(CSV)
    for target in (csv, run):  # another file, and the trace itself
        before = target.read_bytes()
        with pytest.raises(UsageError, match="not an OTLP/JSON export"):
            write_otlp_json(run, target, overwrite=True)
        assert target.read_bytes() == before
    out = tmp_path / "spans.json"
    assert write_otlp_json(run, out) == out
    with pytest.warns(RecordingWarning, match="spans-2.json"):
        assert write_otlp_json(run, out) == tmp_path / "spans-2.json"
    assert write_otlp_json(run, out, overwrite=True) == out
    assert "resourceSpans" in json.loads(out.read_text())
