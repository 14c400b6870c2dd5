"""Hostile and damaged trace files: one clear UsageError, or a replay of what is readable."""

from __future__ import annotations

import json

import pytest

from rlm_toolkit.errors import UsageError
from rlm_toolkit.trace import MAX_SPEED, MIN_SPEED, load, replay

HEADER = {"type": "header", "version": 1, "kind": "agent", "model": "m", "created": 1_700_000_000.0}
EVENT = {"type": "event", "t": 0.1, "event": {"type": "thought", "content": "hmm", "step": 1,
                                              "timestamp": 1_700_000_000.1}}
FOOTER = {"type": "footer", "t": 0.2, "state": "done", "response": None, "error": None}


def write(path, *rows, raw: bytes = b""):
    path.write_bytes(b"".join((json.dumps(r) + "\n").encode() for r in rows) + raw)
    return path


@pytest.mark.parametrize("header, message", [
    ({**HEADER, "version": "abc"}, r"t\.jsonl:1: .*'version' must be a whole number, not 'abc'"),
    ({**HEADER, "version": 1.5}, "'version' must be a whole number"),
    ({**HEADER, "created": "yesterday"}, r"t\.jsonl:1: .*'created' must be a Unix time .*'yesterday'"),
    ({**HEADER, "kind": "story"}, "'kind' must be"),
    ({**HEADER, "model": ["a"]}, "'model' must be text"),
    ({"type": "event"}, "not an rlm trace"),
    ([1, 2], r"t\.jsonl:1: not a trace line"),
])
def test_a_header_of_the_wrong_shape_is_one_usage_error_naming_file_and_line(tmp_path, header, message):
    path = write(tmp_path / "t.jsonl", header, EVENT, FOOTER)
    with pytest.raises(UsageError, match=message):
        load(path)


def test_a_folder_a_missing_file_and_bytes_that_are_not_utf8_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="is a folder"):
        load(tmp_path)
    with pytest.raises(UsageError, match="no trace file"):
        load(tmp_path / "missing.jsonl")
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(UsageError, match=r"b\.jsonl:1: not UTF-8 text \(byte 0xff"):
        load(binary)


BAD_LINES = [
    ({"type": "event", "t": "soon", "event": EVENT["event"]}, "'t' must be seconds"),
    ({"type": "event", "t": float("inf"), "event": EVENT["event"]}, "'t' must be seconds"),
    ({"type": "event", "t": 0.1}, "'event' must be a JSON object"),
    ({"type": "event", "t": 0.1, "event": [1, 2]}, "'event' must be a JSON object"),
    ({"type": "event", "t": 0.1, "event": {**EVENT["event"], "step": "one"}}, "field 'step' cannot be 'one'"),
    ({"type": "event", "t": 0.1, "event": {**EVENT["event"], "timestamp": "soon"}}, "field 'timestamp'"),
    ({"type": "event", "t": 0.1, "event": {**EVENT["event"], "content": 5}}, "field 'content'"),
    ({"type": "event", "t": 0.1, "event": {**EVENT["event"], "type": "dance"}}, "unknown agent event type"),
    ({"type": "step", "step": "one", "messages": []}, "'step' must be a step number"),
    ({"type": "step", "step": 2, "messages": ["hi"]}, "'messages' must be a list of message objects"),
    ({"type": "footer", "state": "exploded"}, "footer 'state'"),
    ("not json at all", "not a trace line"),
]


@pytest.mark.parametrize("bad, why", BAD_LINES)
def test_a_bad_line_is_skipped_named_and_the_rest_replays(tmp_path, bad, why):
    path = tmp_path / "t.jsonl"
    rows = [HEADER, EVENT, bad, {**EVENT, "t": 0.15, "event": {**EVENT["event"], "content": "after"}}, FOOTER]
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    trace = load(path)
    assert [e.content for e in trace.events] == ["hmm", "after"]
    assert trace.skipped == 1 and trace.problems[0].startswith(f"{path}:3: ") and why in trace.problems[0]
    assert "1 line could not be read" in trace.problem_summary()
    assert [e.content for e in replay(trace, speed=None)] == ["hmm", "after"]


def test_unknown_stream_event_types_and_wrong_fields_are_skipped(tmp_path):
    header = {**HEADER, "kind": "stream"}
    rows = [header,
            {"type": "event", "t": 0.0, "event": {"type": "text", "text": "ok"}},
            {"type": "event", "t": 0.0, "event": {"type": "sparkle", "text": "x"}},
            {"type": "event", "t": 0.0, "event": {"type": "text"}},
            {"type": "event", "t": 0.0, "event": {"type": "text", "text": 5}},
            {"type": "event", "t": 0.0, "event": {"type": "tool_call", "index": 100_000_000}},
            {"type": "event", "t": 0.0, "event": {"type": "usage", "prompt_tokens": "many"}},
            {"type": "mystery"},  # an unknown line type is a newer writer's: ignored, not a problem
            FOOTER]
    trace = load(write(tmp_path / "s.jsonl", *rows))
    assert trace.text == "ok" and trace.skipped == 5
    assert "unknown stream event type 'sparkle'" in trace.problems[0]
    assert "without 'text'" in trace.problems[1]


def test_many_bad_lines_are_counted_not_all_listed(tmp_path):
    path = write(tmp_path / "t.jsonl", HEADER, *([{"type": "event", "t": "x"}] * 50), FOOTER)
    trace = load(path)
    assert trace.skipped == 50 and len(trace.problems) == 20 and "(and 30 more)" in trace.problem_summary()


@pytest.mark.parametrize("speed", [1e-300, 0.0, -1.0, float("nan"), float("inf"), 1e300])
def test_replay_speed_out_of_range_is_a_usage_error_up_front(tmp_path, speed):
    path = write(tmp_path / "t.jsonl", HEADER, EVENT, FOOTER)
    with pytest.raises(UsageError, match=f"between {MIN_SPEED:g} and {MAX_SPEED:g}"):
        replay(path, speed=speed)


def test_a_huge_offset_waits_in_bounded_sleeps_instead_of_overflowing(tmp_path, monkeypatch):
    path = write(tmp_path / "t.jsonl", HEADER, {**EVENT, "t": 1e12}, FOOTER)
    slept = []

    def fake_sleep(seconds):
        slept.append(seconds)
        if len(slept) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("rlm_toolkit.trace.player.time.sleep", fake_sleep)
    with pytest.raises(KeyboardInterrupt):
        next(iter(replay(path, speed=MIN_SPEED)))
    assert len(slept) == 3 and max(slept) <= 3600
