"""A saved agent run grows as its steps, not as their square (issue 26, item 7).

Every step's messages repeat the whole conversation so far; the saved copy and the live page's panel
show what each step added to it, so the saved HTML, the bytes that cross the wire for the cell and
the page's messages per step stay linear in the run. Measured at 50 and 200 steps: four times the
steps may cost at most five times the bytes, and the HTML stays within ten times the markdown copy
(before: 114× at 50 steps, and 200 steps stayed under 1.3 MB only because a cap cut the messages).
"""

from __future__ import annotations

import json

import pytest

from rlm_jupyter.live.drive import drive
from rlm_jupyter.timeline.html import new_from, timeline_html
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent
from tests.fixtures.kernel import Kernel

LINEAR = 5.0  # 4× the steps: bytes may grow 5× (a quadratic copy grows 16×)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def turns(steps: int) -> list[ScriptedTurn | str]:
    """A run of ``steps`` steps: one tool call each, then the answer."""
    calls: list[ScriptedTurn | str] = [
        ScriptedTurn(chunks=f"Step {i}: I add {i} and 1.",
                     tool_calls=[{"name": "add", "arguments": {"a": i, "b": 1}, "id": f"c{i}"}])
        for i in range(1, steps)]
    return [*calls, "The end."]


def run(steps: int) -> tuple[TimelineView, list[dict]]:
    agent = ReActAgent(RLM(ScriptedProvider(turns=turns(steps))), tools=[add], max_steps=steps + 1)
    stream = agent.stream("go")
    view = TimelineView(steps=lambda: stream.history)
    sent: list[dict] = []
    view.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    drive(view, stream)
    assert view.state == "done" and len(view.timeline.steps) == steps
    return view, sent


def test_the_saved_copy_of_a_run_grows_linearly_and_each_step_shows_what_it_added():
    small, _ = run(50)
    large, sent = run(200)
    sizes = {}
    for view in (small, large):
        data, _ = view.final_bundle()
        sizes[len(view.timeline.steps)] = {mime: len(text) for mime, text in data.items()}
    html = large.final_bundle()[0]["text/html"]
    assert sizes[200]["text/html"] < LINEAR * sizes[50]["text/html"], sizes
    assert all(size["text/html"] < 10 * size["text/markdown"] for size in sizes.values()), sizes
    assert sum(sizes[200].values()) < 10 * sizes[200]["text/markdown"], sizes  # the whole saved output
    assert html.count("<pre") < 6 * 200, html.count("<pre")  # 3,875 at 50 steps before
    # Step 200 sent 400 messages; its copy shows the two it added (the model's call and its result)
    # and says the rest are step 199's; view.messages(200) has every one.
    assert len(large.messages(200)) == 400
    step = html[html.index('data-step="200"'):]
    assert "400 messages sent, 2 new" in step and "1–398 as at step 199" in step
    assert step.count('class="rlm-message"') == 2 and "Step 199: I add 199 and 1." in step
    # The live page's panel: what a step added, the same size at step 20 and at step 200.
    replies = {}
    for number in (20, 200):
        large._on_page_message(large, {"type": "messages", "step": number}, [])
        replies[number] = sent[-1]
    assert [replies[n]["first"] for n in (20, 200)] == [38, 398]
    assert [len(replies[n]["messages"]) for n in (20, 200)] == [2, 2]
    assert len(json.dumps(replies[200])) < 1.2 * len(json.dumps(replies[20]))
    large._on_page_message(large, {"type": "messages", "step": 200, "all": True}, [])  # "show all"
    assert sent[-1]["first"] == 0 and len(sent[-1]["messages"]) == sent[-1]["total"] == 400


def test_new_from_is_the_shared_opening_and_a_forks_edit_shows_from_where_it_differs():
    a = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    b = [*a, {"role": "assistant", "content": "x"}, {"role": "tool", "content": "1"}]
    assert new_from(None, b) == 0 and new_from(a, b) == 2 and new_from(b, b) == 4
    edited = [a[0], {"role": "user", "content": "edited"}, *b[2:]]
    assert new_from(b, edited) == 1  # the edited message and everything after it
    from rlm_jupyter.timeline.model import TimelineModel
    from rlm_toolkit.events import AgentEvent

    model = TimelineModel("m")
    for number in (1, 2, 3):
        model.apply(AgentEvent(type="thought", content=f"t{number}", step=number))
    html = timeline_html(model, {1: a, 2: b, 3: edited})
    assert "the 2 messages sent to the model" in html and "4 messages sent, 2 new" in html
    assert "1–1 as at step 2" in html and "edited" in html


@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_the_bytes_a_cell_sends_grow_linearly_with_its_steps():
    """Everything that crosses the wire for an agent's cell (the widget's messages and
    state, the static copy that replaces it) in a real kernel, at 50 and 200 steps."""
    setup = """
%load_ext rlm_jupyter
from rlm_jupyter import display_agent
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent

def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b

def turns(steps):
    return [ScriptedTurn(chunks=f"Step {i}: I add {i} and 1.",
                         tool_calls=[{"name": "add", "arguments": {"a": i, "b": 1}, "id": f"c{i}"}])
            for i in range(1, steps)] + ["The end."]

def agent(steps):
    return ReActAgent(RLM(ScriptedProvider(turns=turns(steps))), tools=[add], max_steps=steps + 1)
"""
    kernel = Kernel()
    try:
        ready = kernel.execute(setup)
        assert ready.ok, ready.errors
        sizes = {}
        for steps in (50, 200):
            cell = kernel.execute(f"display_agent(agent({steps}).stream('go'));", timeout=120)
            assert cell.ok, cell.errors
            final = [m for m in cell.of("display_data", "update_display_data")
                     if "text/markdown" in m["content"]["data"]][-1]["content"]["data"]
            assert f"{steps} steps" in final["text/plain"]
            assets = sum(m["_bytes"] for m in cell.page_assets())  # the page libraries: once per kernel
            sizes[steps] = (cell.iopub_bytes() - assets, len(final["text/html"]), len(final["text/markdown"]))
        # Before: 1.13 MB at 50 steps, 1.57 MB at 200 (a cap cut the repeated messages): 132× and 45×
        # the markdown copy; now about 20× and 17×.
        for wire, html, markdown in sizes.values():
            assert wire < 30 * markdown and html < 10 * markdown, sizes
        assert sizes[200][0] < LINEAR * sizes[50][0], sizes
    finally:
        kernel.shutdown()


def test_the_run_cost_reads_each_step_once(monkeypatch):
    """The header's cost is the steps' summed cost: kept as steps finish, each step's cost read once
    (summing every step on every event was 18 of the 19 s a 400-step run took to show)."""
    from rlm_toolkit.cost import Cost

    reads = []
    original = Cost.from_dict.__func__  # type: ignore[attr-defined]  # the classmethod's function, to wrap

    def counted(cls, data):
        reads.append(data)
        return original(cls, data)

    monkeypatch.setattr(Cost, "from_dict", classmethod(counted))
    for steps in (20, 80):
        reads.clear()
        view, _ = run(steps)
        assert len(reads) == steps, (steps, len(reads))  # the steps' costs, once each
        assert view.timeline.header()["cost"] == "free"
