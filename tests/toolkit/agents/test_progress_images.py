"""A tool's progress (``report_progress``, a ``progress`` event of the running step) and images
(``ToolOutput``: checked, shown beside the text, never sent to the model, left out of traces)."""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
import time
import zlib

import pytest

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent, ToolOutput, report_progress
from rlm_toolkit.images import SHOWN_IMAGE_BYTES, SHOWN_IMAGES, shown_images
from rlm_toolkit.trace import load

pytestmark = pytest.mark.timeout(60)


def png(width: int = 1, height: int = 1, extra: int = 0) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\0" + b"\0\0\0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"tEXt", b"x" * extra) + chunk(b"IEND", b""))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def run(tool, **kwargs):
    provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[
        {"name": tool.__name__, "arguments": kwargs, "id": "c1"}]), "done"])
    return list(ReActAgent(RLM(provider), tools=[tool]).stream("go"))


# -- images ------------------------------------------------------------------------------------

def test_shown_images_keeps_only_real_rasters_within_limits():
    good = png()
    jpeg, gif = b"\xff\xd8\xff\xe0" + bytes(20), b"GIF89a" + bytes(20)
    webp = b"RIFF\0\0\0\0WEBPVP8 " + bytes(8)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    items = [
        {"mime_type": "image/svg+xml", "data": b64(svg)},
        {"mime_type": "image/png", "data": b64(svg)},                      # claims png, is svg
        {"mime_type": "image/png", "data": "javascript:alert(1)"},         # not base64
        {"mime_type": "image/png", "data": "https://example.com/a.png"},   # a URL is never fetched
        {"mime_type": "image/png", "data": b64(png(extra=SHOWN_IMAGE_BYTES))},  # over the limit
        {"mime_type": "image/png", "data": "A" * 50_000_000},  # huge: refused by its length, never decoded
        "not a dict", {"data": 42}, None,
        {"mime_type": "text/html", "data": b64(good)},                     # a png whatever it says
        {"data": base64.encodebytes(jpeg).decode()},  # in MIME lines: base64 still
        {"data": b64(gif)}, {"data": b64(webp)},
    ]
    assert shown_images(items) == [
        {"mime_type": "image/png", "data": b64(good)}, {"mime_type": "image/jpeg", "data": b64(jpeg)},
        {"mime_type": "image/gif", "data": b64(gif)}, {"mime_type": "image/webp", "data": b64(webp)}]
    assert len(shown_images([{"data": b64(good)}] * 50)) == SHOWN_IMAGES
    assert shown_images({"data": b64(good)}) == [] and shown_images("x") == []


def test_a_huge_bad_item_is_refused_quickly():
    started = time.perf_counter()
    assert shown_images([{"data": "!" * 40_000_000}] * 16) == []
    assert time.perf_counter() - started < 1.0


def test_a_tool_output_gives_the_model_text_and_the_observation_checked_images(tmp_path):
    good = png(2, 2)

    def picture() -> ToolOutput:
        """A picture."""
        return ToolOutput("[a picture]", images=({"mime_type": "image/png", "data": b64(good)},
                                                 {"mime_type": "image/svg+xml", "data": b64(b"<svg/>")}))

    path = tmp_path / "run.jsonl"
    provider = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"name": "picture", "arguments": {}, "id": "c1"}]), "done"])
    agent = ReActAgent(RLM(provider), tools=[picture])
    events = list(agent.stream("go", record=path))
    observation = next(e for e in events if e.type == "observation")
    assert observation.content == "[a picture]"
    assert observation.images == [{"mime_type": "image/png", "data": b64(good)}]
    sent = json.dumps([record.messages for record in agent.history], default=str)
    assert "[a picture]" in sent and b64(good) not in sent  # the model gets the text only
    # traces leave the bytes out; the observation's text names the image
    assert b64(good) not in path.read_text()
    loaded = [e for e in load(path).events if getattr(e, "type", "") == "observation"]
    assert loaded[0].content == "[a picture]" and loaded[0].images is None


def test_a_trace_that_claims_images_is_not_taken_at_its_word(tmp_path):
    path = tmp_path / "run.jsonl"
    provider = ScriptedProvider(turns=[ScriptedTurn(tool_calls=[{"name": "f", "arguments": {}, "id": "c1"}]),
                                       "done"])

    def f() -> str:
        """f."""
        return "x"

    list(ReActAgent(RLM(provider), tools=[f]).stream("go", record=path))
    lines = path.read_text().splitlines()
    hostile = []
    for line in lines:
        obj = json.loads(line)
        if obj.get("type") == "event" and obj["event"].get("type") == "observation":
            obj["event"]["images"] = [{"mime_type": "image/svg+xml", "data": "PHN2Zy8+"}]
        hostile.append(json.dumps(obj))
    path.write_text("\n".join(hostile) + "\n")
    observation = next(e for e in load(path).events if getattr(e, "type", "") == "observation")
    assert observation.images is None


def test_events_without_images_or_progress_serialize_as_before():
    from rlm_toolkit.events import AgentEvent

    data = AgentEvent(type="observation", content="x").to_dict()
    assert not {"images", "progress", "total"} & set(data)


# -- progress ----------------------------------------------------------------------------------

def test_a_python_tool_reports_progress_from_its_thread():
    seen = []

    def crawl(n: int) -> str:
        """Crawl n pages."""
        seen.append(threading.current_thread().name)
        for i in range(1, n + 1):
            report_progress(i, n, f"page {i}")
            time.sleep(0.15)
        return "crawled"

    events = run(crawl, n=4)
    progress = [e for e in events if e.type == "progress"]
    types = [e.type for e in events if e.type in ("action", "progress", "observation")]
    assert types[0] == "action" and types[-1] == "observation" and set(types[1:-1]) == {"progress"}
    assert len(progress) >= 3 and progress[-1].progress == 4.0 and progress[-1].total == 4.0
    assert progress[-1].content == "page 4" and seen[0].startswith("rlm-tool-")
    assert all(e.call_id == "c1" and e.tool_name == "crawl" and e.step == 1 for e in progress)


def test_progress_values_that_are_not_numbers_are_dropped_and_messages_cut():
    def odd() -> str:
        """Odd reports."""
        report_progress(math.nan, 3, "nan")
        report_progress(float("inf"), None, "inf")
        report_progress("3", None, "a string")  # type: ignore[arg-type]  # what a careless tool sends
        report_progress(True, None, "a bool")
        report_progress(1, math.inf, "y" * 10_000)
        return "ok"

    progress = [e for e in run(odd) if e.type == "progress"]
    assert [(e.progress, e.total, len(e.content)) for e in progress] == [(1.0, None, 500)]


def test_report_progress_outside_a_tool_call_does_nothing():
    report_progress(1, 2, "nobody listens")


def test_a_report_from_a_tool_still_running_after_its_timeout_is_harmless():
    def stubborn() -> str:
        """Keeps reporting after its timeout."""
        for i in range(20):
            report_progress(i, 20)
            time.sleep(0.05)
        return "late"

    provider = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"name": "stubborn", "arguments": {}, "id": "c1"}]), "done"])
    events = list(ReActAgent(RLM(provider), tools=[stubborn], tool_timeout=0.3).stream("go"))
    observation = next(e for e in events if e.type == "observation")
    assert observation.is_error and "did not finish within 0.3 s" in observation.content
    assert events[-1].type == "final"
    time.sleep(1.2)  # the abandoned thread reports into a feed nobody reads: no error anywhere


def test_progress_events_are_recorded_and_a_bad_one_in_a_file_is_skipped(tmp_path):
    def slow() -> str:
        """Reports twice."""
        report_progress(1, 2, "half")
        time.sleep(0.2)
        report_progress(2, 2, "all")
        return "done"

    path = tmp_path / "run.jsonl"
    provider = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"name": "slow", "arguments": {}, "id": "c1"}]), "ok"])
    list(ReActAgent(RLM(provider), tools=[slow]).stream("go", record=path))
    recorded = [e for e in load(path).events if getattr(e, "type", "") == "progress"]
    assert [(e.progress, e.total, e.content) for e in recorded][-1] == (2.0, 2.0, "all")
    lines = path.read_text().splitlines()
    bad = [json.loads(line) for line in lines]
    for obj in bad:
        if obj.get("type") == "event" and obj["event"].get("type") == "progress":
            obj["event"]["progress"] = "lots"
    path.write_text("\n".join(json.dumps(obj) for obj in bad) + "\n")
    trace = load(path)
    assert not [e for e in trace.events if getattr(e, "type", "") == "progress"]
    named = [p for p in trace.problems if "'progress' cannot be" in p and "lots" in p]
    assert named, trace.problems
