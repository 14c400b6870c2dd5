"""Cost and the budget stop where a notebook shows them: the stream footer and the agent timeline's header.

The Python halves run without a kernel; the page halves (stream.js, timeline.js) in headless
Chromium with the messages the widgets really send (marker ``browser``).
"""

from __future__ import annotations

import pytest

from rlm_jupyter import render
from rlm_jupyter.live.drive import drive
from rlm_jupyter.live.drive import drive as drive_timeline
from rlm_jupyter.stream.view import StreamView
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents.react import ReActAgent
from rlm_toolkit.cost import summed

pytest.importorskip("genai_prices")

WORDS = [f" w{i}" for i in range(100)]


def budget_stream_view() -> tuple[StreamView, list[dict]]:
    view = StreamView("scripted:scripted", frame=0.0)
    sent: list[dict] = []
    view.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    rlm = RLM(ScriptedProvider(WORDS, priced_as="openai:gpt-4o"))
    drive(view, rlm.stream("hello", max_tokens_total=12))
    return view, sent


def test_the_footer_shows_cost_and_the_budget_stop():
    view, _ = budget_stream_view()
    assert (view.state, view.answer) == ("stopped", "".join(WORDS[:11]))
    footer = view.summary()
    assert "stopped (budget)" in footer and "≈$0.0001" in footer, footer
    html = view.final_bundle()[0]["text/html"]
    assert "stopped (budget)" in html and "&#36;" in html and "$" not in html.split("rlm-footer")[1]
    assert view.final_bundle()[1]["rlm"]["cost"]["estimated"] is True


def test_footer_text_of_known_free_and_unknown_costs():
    base = {"model": "m", "state": "done"}
    assert "$0.0073" in render.footer_text({**base, "cost": {"total": 0.00725, "currency": "USD"}})
    assert "free" in render.footer_text({**base, "cost": {"total": 0.0, "note": "free: a scripted model"}})
    assert "cost unknown" in render.footer_text({**base, "cost": {"total": None, "note": "no price"}})
    assert "cost" not in render.footer_text(base) and "(" not in render.footer_text(base)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def budget_agent_view() -> tuple[TimelineView, ReActAgent, list[dict]]:
    call = {"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}
    turns = [ScriptedTurn(chunks="Let me add.", tool_calls=[call]),
             "The sum is 3." + " and more" * 100]
    agent = ReActAgent(RLM(ScriptedProvider(turns=turns, priced_as="openai:gpt-4o")), [add], mode="native")
    view = TimelineView("scripted:scripted", steps=lambda: agent.history)
    sent: list[dict] = []
    view.send = sent.append  # type: ignore[method-assign]
    drive_timeline(view, agent.stream("What is 1 + 2?", max_tokens_total=150))
    return view, agent, sent


def test_the_timeline_header_sums_the_steps_costs_and_says_budget():
    view, agent, _ = budget_agent_view()
    header = view.timeline.header()
    expected = summed(step.response for step in agent.history)
    assert len(agent.history) == 2 and expected.total > 0
    assert header["cost"] == str(expected) and header["cost"].startswith("≈$")  # step 2 was cut: estimated
    assert (header["state"], header["reason"]) == ("stopped", "budget")
    assert "stopped (budget)" in view.summary() and header["cost"] in view.summary()
    html = view.final_bundle()[0]["text/html"]
    assert 'data-state="stopped"' in html and "stopped (budget)" in html
    assert f'rlm-h-cost">{header["cost"].replace("$", "&#36;")}' in html


@pytest.mark.browser
def test_stream_js_footer_shows_the_cost_and_the_budget_stop(browser_page):
    from .stream.test_stream_js import settle, start

    page = browser_page.page
    view, sent = budget_stream_view()
    start(page, view)
    for msg in sent:
        page.evaluate("msg => window.model.deliver(msg)", msg)
    settle(page, view)
    footer = page.locator("#a .rlm-footer").inner_text()
    assert "stopped (budget)" in footer and "≈$0.0001" in footer, footer
    assert page.locator("#a .rlm-stream").get_attribute("data-state") == "stopped"
    assert browser_page.errors == []


@pytest.mark.browser
def test_timeline_js_header_shows_the_cost_and_the_budget_stop(browser_page):
    from .timeline.test_timeline_js import PAGE

    page = browser_page.page
    view, _, sent = budget_agent_view()
    page.set_content(PAGE)
    page.wait_for_function("typeof window.setup === 'function'")
    page.evaluate("source => window.setup(source)", TimelineView._esm)
    for msg in sent:
        page.evaluate("msg => window.model.deliver(msg)", msg)
    header = view.timeline.header()
    assert page.locator("#a .rlm-h-cost").inner_text() == header["cost"]
    assert page.locator("#a .rlm-h-state").inner_text() == "stopped (budget)"
    assert browser_page.errors == []


def test_replays_show_the_recorded_cost_and_stop(tmp_path):
    from rlm_toolkit.trace import load, replay

    rlm = RLM(ScriptedProvider(WORDS, priced_as="openai:gpt-4o"))
    rlm.run("hello", max_tokens_total=12, record=str(tmp_path / "call.jsonl"))
    view = StreamView("scripted:scripted", frame=0.0)
    view.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    drive(view, replay(tmp_path / "call.jsonl", speed=None))
    assert view.response.cost == rlm.last_response.cost  # what it cost then, as recorded
    assert "stopped (budget)" in view.summary() and str(rlm.last_response.cost) in view.summary()

    _, agent, _ = budget_agent_view()
    agent.run("What is 1 + 2?", max_tokens_total=150, record=str(tmp_path / "run.jsonl"))
    trace = load(tmp_path / "run.jsonl")
    timeline = TimelineView(trace.model, steps=trace.steps)
    timeline.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    drive_timeline(timeline, replay(trace, speed=None))
    assert timeline.timeline.header()["cost"] == str(summed(s.response for s in agent.history))
    assert timeline.timeline.state_text() == "stopped (budget)"


def test_the_footer_counts_reasoning_chunks_when_no_usage_was_reported():
    base = {"model": "openai:o-think", "chunks": 2, "state": "done"}
    assert "2 tokens" in render.footer_text(base)
    assert "5 tokens" in render.footer_text({**base, "reasoning_chunks": 3})
    reported = {**base, "reasoning_chunks": 3, "usage": {"completion_tokens": 9}}
    assert "9 tokens" in render.footer_text(reported)
