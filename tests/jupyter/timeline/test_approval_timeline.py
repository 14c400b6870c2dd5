"""The timeline's approvals without a kernel: the rows and operations a decision makes, its static
copy and transcript, and the view's approver (a page's click, no page, a run that ends)."""

from __future__ import annotations

import threading
import time

import pytest

from rlm_jupyter.live.drive import drive
from rlm_jupyter.timeline.html import timeline_html
from rlm_jupyter.timeline.model import TimelineModel
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ApprovalRequest, ReActAgent


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def run_events(approve):
    provider = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}},
                                 {"id": "c2", "name": "add", "arguments": {"a": 5, "b": 5}}]),
        "Three."])
    return list(ReActAgent(RLM(provider), tools=[add], approve=approve).stream("x"))


def test_an_approval_is_one_row_updated_in_place_and_the_static_copy_keeps_the_decision():
    model = TimelineModel("m")
    events = run_events(lambda r: True if r.call_id == "c1" else "too big <b>")
    ops = [op for e in events for op in model.apply(e)]
    approvals = [op for op in ops if op["op"] == "approval"]
    assert [(op["id"], op["state"], op["reason"]) for op in approvals] == [
        ("c1", "pending", ""), ("c1", "approved", ""), ("c2", "pending", ""), ("c2", "denied", "too big <b>")]
    assert not any(op["ask"] for op in approvals)  # a function decides: no buttons
    assert [r.outcome for r in model.steps[1].rows if r.kind == "approval"] == ["approved", "denied"]
    denied = [op for op in ops if op["op"] == "observation" and op["outcome"] == "denied"]
    assert len(denied) == 1 and denied[0]["id"] == "c2"
    html = timeline_html(model)
    assert html.count('data-outcome="approved"') == 1 and html.count('data-outcome="denied"') == 2
    assert "too big &lt;b&gt;" in html and "<b>" not in html.split("too big")[1][:20]
    assert "Approval: approved" in model.text() and "Approval: denied: too big <b>" in model.text()
    assert "**Approval:** denied: too big" in model.markdown()


def test_the_views_approver_waits_for_the_page_and_a_click_decides():
    view = TimelineView("m")
    view.timeline.asks = True
    request = ApprovalRequest(tool_name="add", arguments={"a": 1}, call_id="c1", step=1)
    answers = []
    asking = threading.Thread(target=lambda: answers.append(view.ask(request)))
    asking.start()
    view._on_page_message(view, {"type": "sync", "seq": 0}, [])  # a page shows the timeline
    time.sleep(0.1)
    assert answers == []  # still waiting for a click
    view._on_page_message(view, {"type": "decide", "id": "c1", "approved": False}, [])
    view._on_page_message(view, {"type": "decide", "id": "c1", "approved": True}, [])  # too late: ignored
    asking.join(5)
    assert answers == ["the user denied it in the timeline"]


def test_without_a_page_the_view_asks_with_input(monkeypatch):
    view = TimelineView("m")
    view.page_wait = 0.05
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert view.ask(ApprovalRequest(tool_name="add", arguments={}, call_id="c1", step=1)) is True


def test_a_run_that_ends_denies_what_waits_and_the_buttons_drive_a_real_run():
    view = TimelineView("m")
    clicks = []

    def click_when_asked(message, *args):  # the page: each pending approval with buttons is clicked
        for op in message.get("ops", ()):
            if op["op"] == "approval" and op["ask"]:
                clicks.append(op["id"])
                click = {"type": "decide", "id": op["id"], "approved": op["id"] == "c1"}
                view._on_page_message(view, click, [])

    view.send = click_when_asked  # type: ignore[method-assign]
    view.approvals.page_seen()
    provider = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}},
                                 {"id": "c2", "name": "add", "arguments": {"a": 5, "b": 5}}]), "Three."])
    stream = ReActAgent(RLM(provider), tools=[add], approve=True).stream("x")
    stream.state.approver, view.timeline.asks = view.ask, True  # what display_agent does
    drive(view, stream)
    assert clicks == ["c1", "c2"] and view.timeline.state == "done"
    assert [r.outcome for r in view.timeline.steps[1].rows if r.kind in ("approval", "observation")] == [
        "approved", None, "denied", "denied"]

    ended = TimelineView("m")
    ended.approvals.page_seen()
    ended.finish()
    assert ended.ask(ApprovalRequest(tool_name="add", arguments={}, call_id="c9", step=1)) == (
        "the run ended before anyone decided")


def test_approve_goes_with_agent(shell):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="--approve goes with --agent"):
        shell.run_cell_magic("rlm", "--approve -m scripted", "hi")


@pytest.mark.parametrize("page", [True, False], ids=["page-shown", "before-any-page"])
def test_stop_denies_a_waiting_approval_with_stopped_and_its_thread_ends(page):
    """Stop (the button, ``%rlm stop``, ■) while the approver waits — for a click, or for a page to
    show itself — denies it at once with "stopped", and nothing is asked with ``input()`` after."""
    view = TimelineView("m")
    view.page_wait = 30.0
    view.on_stop = lambda: None  # what run_live sets: the run's cancel
    view.timeline.apply(_running_event())
    if page:
        view.approvals.page_seen()
    answers = []
    asking = threading.Thread(target=lambda: answers.append(view.ask(
        ApprovalRequest(tool_name="add", arguments={}, call_id="c1", step=1))))
    asking.start()
    time.sleep(0.1)
    assert answers == []
    view.request_stop()
    asking.join(2)
    assert not asking.is_alive() and answers == ["stopped"]


def _running_event():
    from rlm_toolkit.agents import AgentEvent

    return AgentEvent(type="token", content="x", step=1)


def test_a_tool_that_requires_approval_asks_with_the_timelines_buttons_when_no_approver_is_set():
    from rlm_jupyter.timeline.display import _asks_here
    from rlm_toolkit.agents import Tool

    wipe = Tool(name="wipe", description="Wipes.", parameters={"type": "object", "properties": {}},
                fn=lambda: "wiped", requires_approval=True)  # an MCP tool marked destructiveHint is one
    view = TimelineView("m")
    clicks = []

    def click_when_asked(message, *args):
        for op in message.get("ops", ()):
            if op["op"] == "approval" and op["ask"]:
                clicks.append(op["id"])
                view._on_page_message(view, {"type": "decide", "id": op["id"], "approved": True}, [])

    view.send = click_when_asked  # type: ignore[method-assign]
    view.approvals.page_seen()
    provider = ScriptedProvider(turns=[
        ScriptedTurn(tool_calls=[{"id": "c1", "name": "wipe", "arguments": {}},
                                 {"id": "c2", "name": "add", "arguments": {"a": 1, "b": 2}}]), "Done."])
    stream = ReActAgent(RLM(provider), tools=[wipe, add]).stream("x")
    _asks_here(view, stream)  # what display_agent does
    assert stream.state.approver is None and stream.state.asker == view.ask and view.timeline.asks
    drive(view, stream)
    assert clicks == ["c1"]  # only the tool that requires approval asked
    assert [r.outcome for r in view.timeline.steps[1].rows if r.kind == "approval"] == ["approved"]

    decided = ReActAgent(RLM(ScriptedProvider(turns=["ok"])), tools=[wipe],
                         approve=lambda r: True).stream("x")
    other = TimelineView("m")
    _asks_here(other, decided)  # a function decides: no buttons, no asker
    assert decided.state.asker is None and not other.timeline.asks
