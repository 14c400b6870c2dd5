"""timeline.js in headless Chromium, on a bare page with a stand-in widget model (no Jupyter).

The operations fed to it are the ones the Python side really sends for a scripted run, so this
checks the two halves agree: rows appear in place, errors are marked, hostile text runs nothing,
clicking a step asks the kernel for its messages, and a late view rebuilds from the snapshot.
The same widget inside JupyterLab is covered by the browser tests of tests/browser.
"""

from __future__ import annotations

import json

import pytest

from rlm_jupyter.live.drive import drive
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit.events import AgentEvent

from .. import _page_libs as page_libs

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'

PAGE = """<!doctype html><html><body><div id="a"></div><div id="b"></div>
<script type="module">
const sent = [];
function fakeModel(state) {
  const handlers = {};
  return {
    handlers,
    on(name, fn) { (handlers[name] ||= []).push(fn); },
    get(key) { return state[key]; },
    set(key, value) { state[key] = value; for (const fn of handlers["change:" + key] || []) fn(); },
    send(msg) { sent.push(msg); },
    deliver(msg) { for (const fn of handlers["msg:custom"] || []) fn(msg, []); },
  };
}
window.setup = async (source) => {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const widget = (await import(url)).default;
  const model = fakeModel({ snapshot: [], seq: 0 });
  widget.initialize({ model });
  widget.render({ model, el: document.getElementById("a") });
  window.model = model; window.widget = widget; window.sent = sent;
};
window.lateView = () => window.widget.render({ model: window.model, el: document.getElementById("b") });
</script></body></html>"""


def recorded_messages() -> tuple[list[dict], list[dict]]:
    events = [
        AgentEvent(type="token", content="I will ", step=1),
        AgentEvent(type="token", content="search.", step=1),
        AgentEvent(type="thought", content="I will search.", step=1, streamed=True),
        AgentEvent(type="action", tool_name="search", input={"q": HOSTILE}, step=1, call_id="c1"),
        AgentEvent(type="observation", content=HOSTILE + "x" * 900, tool_name="search", step=1, call_id="c1",
                   duration=0.25),
        AgentEvent(type="action", tool_name="fetch", input={}, step=1, call_id="c2"),
        AgentEvent(type="observation", content="TimeoutError: too slow", tool_name="fetch", step=1,
                   call_id="c2", is_error=True, duration=1.5),
        AgentEvent(type="token", content="The answer ", step=2),
        AgentEvent(type="token", content="is " + HOSTILE, step=2),
        AgentEvent(type="final", content="The answer is " + HOSTILE, step=2, duration=2.0),
    ]
    asked = [{"role": "user", "content": HOSTILE}]
    view = TimelineView("scripted:scripted", steps=[
        {"messages": asked},
        {"messages": [*asked, {"role": "assistant", "content": "I will search."},
                      {"role": "tool", "content": HOSTILE}]},
    ])
    sent: list[dict] = []
    view.send = sent.append  # type: ignore[method-assign]
    drive(view, iter(events))
    view._on_page_message(view, {"type": "messages", "step": 2}, [])  # what the kernel replies to a click
    return sent, view.snapshot


def test_timeline_js_grows_rows_in_place_and_renders_nothing_hostile(browser_page):
    page = browser_page.page
    messages, snapshot = recorded_messages()
    step_2 = messages.pop()  # the kernel's reply when a page opens step 2's messages
    page.set_content(PAGE)
    page.wait_for_function("typeof window.setup === 'function'")
    page_libs.load(page)
    page.evaluate("source => window.setup(source)", TimelineView._esm)
    root = page.locator("#a .rlm-timeline")
    assert root.get_attribute("data-state") == "running"
    page.evaluate("msg => window.model.deliver(msg)", messages[0])
    assert page.locator("#a .rlm-step").count() == 1
    for msg in messages[1:]:
        page.evaluate("msg => window.model.deliver(msg)", msg)
    assert root.get_attribute("data-state") == "done"
    assert page.locator("#a .rlm-step").count() == 2
    assert page.locator("#a .rlm-step[data-step='1'] .rlm-thought").inner_text().endswith("I will search.")
    assert page.locator("#a .rlm-action").count() == 2
    assert "search" in page.locator("#a .rlm-action").first.inner_text()
    assert page.locator("#a .rlm-observation").count() == 2
    assert page.locator("#a .rlm-observation.rlm-error").count() == 1
    assert "TimeoutError" in page.locator("#a .rlm-observation.rlm-error").inner_text()
    final = page.locator("#a .rlm-step[data-step='2'] .rlm-final")
    assert "The answer is" in final.inner_text() and page.locator("#a .rlm-live").count() == 0
    # The long observation is cut to a preview and expands on click.
    first_obs = page.locator("#a .rlm-observation").first
    assert len(first_obs.locator("pre").inner_text()) < 500
    first_obs.locator(".rlm-more").click()
    assert len(first_obs.locator("pre").inner_text()) > 900
    # Nothing from the model or the tools became markup.
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#a img, #a script").count() == 0
    assert browser_page.dialogs == [] and browser_page.errors == []
    # Clicking a step asks the kernel for that step's messages; the reply is shown as text.
    page.locator("#a .rlm-step[data-step='1'] .rlm-step-title").click()
    # (nothing unasked before: a page message would show the kernel idle while a cell runs)
    assert page.evaluate("window.sent") == [{"type": "messages", "step": 1}]
    page.evaluate("msg => window.model.deliver(msg)",
                  {"type": "messages", "step": 1, "messages": [{"role": "user", "content": HOSTILE}]})
    panel = page.locator("#a .rlm-step[data-step='1'] .rlm-messages")
    assert HOSTILE in panel.inner_text() and page.locator("#a img").count() == 0
    # Step 2's panel shows what it added (the user's message is step 1's) and offers all of them.
    page.locator("#a .rlm-step[data-step='2'] .rlm-step-title").click()
    page.evaluate("msg => window.model.deliver(msg)", step_2)
    panel = page.locator("#a .rlm-step[data-step='2'] .rlm-messages")
    assert "1–1 as at step 1" in panel.inner_text() and "I will search." in panel.inner_text()
    assert panel.locator(".rlm-message").count() == 2 and page.locator("#a img").count() == 0
    panel.locator("button", has_text="show all 3").click()
    assert page.evaluate("window.sent")[-1] == {"type": "messages", "step": 2, "all": True}
    # A view rendered later (another output of the same widget) rebuilds from the snapshot.
    page.evaluate("snap => window.model.set('snapshot', snap)", json.loads(json.dumps(snapshot)))
    page.evaluate("window.lateView()")
    assert page.locator("#b .rlm-step").count() == 2
    assert page.locator("#b .rlm-timeline").get_attribute("data-state") == "done"
    assert page.locator("#b .rlm-final").inner_text() == page.locator("#a .rlm-final").inner_text()


def test_operations_lost_before_the_module_was_bound_are_asked_for_again(browser_page):
    """anywidget binds the module after the model exists: the first messages can be lost. The
    page asks nothing at once (the kernel sends a snapshot unasked a second in), and on a gap in
    the sequence asks once, 2.5 s later, unless a snapshot mended it; the reply restores them."""
    page = browser_page.page
    messages, _snapshot = recorded_messages()
    page.set_content(PAGE)
    page.wait_for_function("typeof window.setup === 'function'")
    page_libs.load(page)
    page.evaluate("source => window.setup(source)", TimelineView._esm)
    assert page.evaluate("window.sent") == []
    view = TimelineView("scripted:scripted")
    replies: list[dict] = []
    view.send = replies.append  # type: ignore[method-assign]
    lost, gap, *rest = messages
    for message in (lost, gap):  # what the kernel had sent when the page's request arrived
        view._ops.extend(op for op in message["ops"] if op["op"] != "header")
        view._seq = message["seq"]
    page.evaluate("msg => window.model.deliver(msg)", gap)  # the first one never arrived: a gap
    assert page.locator("#a .rlm-step").count() == 0 and page.evaluate("window.sent") == []
    page.wait_for_function("() => window.sent.length > 0", timeout=5_000)
    assert page.evaluate("window.sent") == [{"type": "sync", "seq": 0}]
    view._on_page_message(view, {"type": "sync", "seq": 0}, [])
    page.evaluate("msg => window.model.deliver(msg)", json.loads(json.dumps(replies[0])))
    assert page.locator("#a .rlm-step[data-step='1'] .rlm-action").count() >= 1
    for message in rest:
        page.evaluate("msg => window.model.deliver(msg)", message)
    full = page.locator("#a .rlm-timeline").inner_text()
    assert "search" in full and "fetch" in full and "TimeoutError" in full


def test_a_steps_reasoning_grows_in_its_thinking_row_then_folds(browser_page):
    """The operations of a thinking model's step: the reasoning grows as text in an open "Thinking"
    <details> of the step, which folds once the step's text begins; a late view rebuilds it folded."""
    events = [AgentEvent(type="reasoning", content=piece, step=1)
              for piece in ("I should ", "add ", HOSTILE, " then answer.")]
    events += [AgentEvent(type="token", content="The sum ", step=1),
               AgentEvent(type="token", content="is 3.", step=1),
               AgentEvent(type="final", content="The sum is 3.", step=1, duration=1.0)]
    view = TimelineView("scripted:scripted", frame=0.0)
    sent: list[dict] = []
    view.send = sent.append  # type: ignore[method-assign]
    drive(view, iter(events))
    page = browser_page.page
    page.set_content(PAGE)
    page.wait_for_function("typeof window.setup === 'function'")
    page_libs.load(page)
    page.evaluate("source => window.setup(source)", TimelineView._esm)
    seen = []
    for msg in sent:
        page.evaluate("msg => window.model.deliver(msg)", msg)
        seen.append(page.evaluate("""() => { const d = document.querySelector('#a .rlm-step .rlm-thinking');
            const answer = document.querySelector('#a .rlm-step .rlm-live, #a .rlm-step .rlm-final');
            if (!d) return null;
            return [d.querySelector('.rlm-thinking-text').textContent.length, d.open, !!answer]; }"""))
    growing = [s for s in seen if s is not None and not s[2]]
    assert len(growing) >= 3 and [s[0] for s in growing] == sorted(s[0] for s in growing)
    assert growing[0][0] < growing[-1][0] and all(s[1] for s in growing)  # open while it grows
    assert all(not s[1] for s in seen if s is not None and s[2])  # folded once the step's text began
    thinking = page.locator("#a .rlm-step[data-step='1'] .rlm-reasoning .rlm-thinking-text")
    assert thinking.text_content() == "I should add " + HOSTILE + " then answer."
    assert page.locator("#a img, #a script").count() == 0 and page.evaluate("window.__pwned") is None
    page.evaluate("snap => window.model.set('snapshot', snap)", json.loads(json.dumps(view.snapshot)))
    page.evaluate("window.lateView()")
    assert not page.evaluate("() => document.querySelector('#b .rlm-thinking').open")
    assert page.locator("#b .rlm-thinking-text").text_content() == thinking.text_content()
    assert browser_page.errors == []


def test_fork_from_here_sends_the_step_and_shows_the_kernels_answer(browser_page):
    """A recorded run's steps have a Fork from here button: a click sends the step's number only; the
    kernel's answers (its own replies, from a real view) say where the cell comes, the last queued
    click being the one that will, or the line to run; the line is shown as text."""
    from rlm_jupyter.timeline.forking import ForkSource

    page = browser_page.page
    messages, _snapshot = recorded_messages()
    view = TimelineView("scripted:scripted", steps={1: {"messages": []}, 2: {"messages": []}})
    replies: list[dict] = []
    view.send = replies.append  # type: ignore[method-assign]
    view.offer_forks(ForkSource(HOSTILE + ".jsonl"), cell_runs=True)
    view.apply(AgentEvent(type="thought", content="t", step=1))  # the steps a page can fork
    view.apply(AgentEvent(type="thought", content="t", step=2))
    page.set_content(PAGE)
    page.wait_for_function("typeof window.setup === 'function'")
    page.evaluate("source => window.setup(source)", TimelineView._esm)
    page.evaluate("() => window.model.set('forkable', true)")
    for msg in messages:
        page.evaluate("msg => window.model.deliver(msg)", msg)
    step = {n: page.locator(f"#a .rlm-step[data-step='{n}']") for n in (1, 2)}
    step[1].locator(".rlm-fork").click()
    assert page.evaluate("window.sent")[-1] == {"type": "fork", "step": 1}
    assert step[1].locator(".rlm-fork").is_disabled()
    for asked in (1, 2):  # the kernel's answers to two clicks while the cell runs
        view._on_page_message(view, {"type": "fork", "step": asked}, [])
        page.evaluate("msg => window.model.deliver(msg)", json.loads(json.dumps(replies[-1])))
    assert not step[1].locator(".rlm-fork-note").is_visible()  # only step 2's cell will come
    assert "will appear below this cell" in step[2].locator(".rlm-fork-note").inner_text()
    assert view.forks.close() == 2
    view._on_page_message(view, {"type": "fork", "step": 1}, [])  # the cell has ended: the line
    page.evaluate("msg => window.model.deliver(msg)", json.loads(json.dumps(replies[-1])))
    note = step[1].locator(".rlm-fork-note")
    assert note.locator("code").inner_text() == f"%rlm fork '{HOSTILE}.jsonl' --step 1"
    assert not step[1].locator(".rlm-fork").is_disabled()
    assert page.evaluate("window.__pwned") is None and page.locator("#a img").count() == 0
