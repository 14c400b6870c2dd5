"""A tool's progress in the running step and its images in the observation: the model's operations
(sans-IO), the saved copy, and timeline.js in headless Chromium. Images are untrusted tool output:
only checked rasters become ``data:`` URLs, on the page and in the saved copy alike."""

from __future__ import annotations

import base64
import json

import pytest

from rlm_jupyter.live.drive import drive
from rlm_jupyter.timeline.html import timeline_html
from rlm_jupyter.timeline.model import IMAGES_BUDGET, TimelineModel, merge_ops
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit.events import AgentEvent
from tests.jupyter.timeline.test_timeline_js import PAGE

PNG = base64.b64encode(base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")).decode()
SVG = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=3"/>').decode()
HOSTILE_IMAGES = [
    {"mime_type": "image/svg+xml", "data": SVG},
    {"mime_type": "image/png", "data": SVG},
    {"mime_type": "image/png", "data": 'x" onerror="window.__pwned=1'},
    {"mime_type": "image/png", "data": "https://example.com/tracker.png"},
    {"mime_type": "image/png", "data": PNG},
]


def run_events(images=None) -> list[AgentEvent]:
    common = {"tool_name": "chart", "step": 1, "call_id": "c1", "server": "plots"}
    return [
        AgentEvent(type="action", input={"n": 3}, **common),
        AgentEvent(type="progress", content="drawing", progress=1, total=3, **common),
        AgentEvent(type="progress", content="drawing  the\naxes", progress=2, total=3, **common),
        AgentEvent(type="observation", content="[image image/png, 70 bytes]", duration=0.5,
                   images=HOSTILE_IMAGES if images is None else images, **common),
        AgentEvent(type="progress", content="late", progress=3, total=3, **common),  # after it ended
        AgentEvent(type="final", content="Here is the chart.", step=2, duration=1.0),
    ]


def test_progress_updates_the_running_action_and_images_reach_the_observation_checked():
    model = TimelineModel("m")
    ops = [op for event in run_events() for op in model.apply(event)]
    progress = [op for op in ops if op["op"] == "progress"]
    assert progress == [
        {"op": "progress", "step": 1, "id": "c1", "text": "1/3 · drawing", "done": 1, "total": 3},
        {"op": "progress", "step": 1, "id": "c1", "text": "2/3 · drawing the axes", "done": 2, "total": 3}]
    observation = next(op for op in ops if op["op"] == "observation")
    assert observation["images"] == [{"mime_type": "image/png", "data": PNG}]  # the rest left out
    # consecutive reports of one call collapse to the latest in a frame
    merged = merge_ops([op for op in ops if op["op"] == "progress"])
    assert [op["text"] for op in merged] == ["2/3 · drawing the axes"]
    # the transcript keeps the observation's text and never the bytes
    assert PNG not in model.text() and PNG not in model.markdown()
    assert "[image image/png, 70 bytes]" in model.text()


def test_progress_without_a_total_and_without_an_action_row():
    model = TimelineModel("m")
    ops = model.apply(AgentEvent(type="progress", content="x", progress=5, step=1, call_id="nope"))
    assert [op["op"] for op in ops] == ["step", "header"]  # no action to show it on: nothing
    model.apply(AgentEvent(type="action", tool_name="t", step=1, call_id="c1"))
    ops = model.apply(AgentEvent(type="progress", content="", progress=2.5, step=1, call_id="c1"))
    assert ops[0] == {"op": "progress", "step": 1, "id": "c1", "text": "2.5", "done": 2.5, "total": None}


def test_images_stop_at_the_runs_budget():
    model = TimelineModel("m")
    big = base64.b64encode(base64.b64decode(PNG) + bytes(700_000)).decode()  # ~0.9 MB of base64
    shown = 0
    for i in range(20):
        model.apply(AgentEvent(type="action", tool_name="t", step=i + 1, call_id=f"c{i}"))
        ops = model.apply(AgentEvent(type="observation", content="img", step=i + 1, call_id=f"c{i}",
                                     images=[{"mime_type": "image/png", "data": big}]))
        shown += len(ops[0].get("images", []))
    assert shown == IMAGES_BUDGET // len(big) and model.image_chars <= IMAGES_BUDGET


def test_the_saved_copy_shows_the_checked_image_as_a_data_url_only():
    model = TimelineModel("m")
    for event in run_events():
        model.apply(event)
    html = timeline_html(model, {})
    assert html.count("<img ") == 1
    assert f'src="data:image/png;base64,{PNG}"' in html
    assert "svg" not in html and "onerror" not in html and "example.com" not in html


def frames(events) -> tuple[list[dict], list[dict]]:
    view = TimelineView("scripted:scripted", frame=0.0)
    sent: list[dict] = []
    view.send = sent.append  # type: ignore[method-assign]
    drive(view, iter(events))
    return sent, view.snapshot


@pytest.mark.browser
def test_timeline_js_shows_progress_then_the_image_and_nothing_hostile(browser_page):
    page = browser_page.page
    page.set_content(PAGE)
    page.wait_for_function("typeof window.setup === 'function'")
    page.evaluate("source => window.setup(source)", TimelineView._esm)
    events = run_events()
    sent, snapshot = frames(events[:3])  # the call is running: two reports
    for msg in sent:
        page.evaluate("msg => window.model.deliver(msg)", msg)
    bar = page.locator("#a .rlm-action .rlm-progress")
    assert bar.locator(".rlm-progress-text").inner_text() == "2/3 · drawing the axes"
    assert page.evaluate("() => { const b = document.querySelector('#a .rlm-progress-bar');"
                         " return [b.value, b.max]; }") == [2, 3]
    # the observation, as a hostile kernel-side bug might send it: the page checks again
    observation = {"op": "observation", "step": 1, "id": "c1", "tool": "chart (plots)", "text": "[image]",
                   "length": 7, "error": False, "duration": 0.5, "outcome": None,
                   "images": HOSTILE_IMAGES + [{"mime_type": "image/png", "data": PNG + "!"}, None, "x"]}
    frame = {"type": "frame", "seq": len(sent) + 1, "ops": [observation]}
    page.evaluate("msg => window.model.deliver(msg)", frame)
    assert page.locator("#a .rlm-progress").count() == 0  # the call is over
    images = page.locator("#a .rlm-observation img")
    assert images.count() == 1
    assert images.first.get_attribute("src") == f"data:image/png;base64,{PNG}"
    assert page.evaluate("() => document.querySelector('#a .rlm-observation img').naturalWidth") == 1
    assert page.evaluate("window.__pwned") is None and browser_page.errors == []
    # a late view rebuilds from the kernel's snapshot: the checked image is there too
    _, snapshot = frames(events)
    page.evaluate("snap => window.model.set('snapshot', snap)", json.loads(json.dumps(snapshot)))
    page.evaluate("window.lateView()")
    assert page.locator("#b .rlm-observation img").get_attribute("src") == f"data:image/png;base64,{PNG}"
    assert page.locator("#b .rlm-progress").count() == 0
