"""A thinking model in JupyterLab (Chromium, real kernel): its reasoning grows live in the widget's
"Thinking" section above the answer, which folds as soon as the answer starts; the static output
keeps it folded; in the agent timeline a step's reasoning is in its Thinking row, folded once the
step's text begins. Reasoning is text: markup in it is never built."""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, run_all_cells, wait_cells_done, wait_for_output
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

REASONING = ("The user asks for a haiku about the sea. Five syllables, then seven, then five. "
             "<img src=x onerror=\"window.__pwned='thinking'\"> Waves, salt, a gull; keep it calm and short.")
ANSWER = "Grey waves fold and fold,\nsalt wind carries a gull's cry,\nthe tide keeps its time."

SETUP = f'''
%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent
thinker = RLM(ScriptedProvider(turns=[ScriptedTurn(reasoning={REASONING!r}, chunks={ANSWER!r})], delay=0.06))

def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b

agent_model = RLM(ScriptedProvider(turns=[
    ScriptedTurn(reasoning="Two plus forty: the add tool does that exactly.", chunks="Let me add.",
                 tool_calls=[{{"name": "add", "arguments": {{"a": 2, "b": 40}}}}]),
    ScriptedTurn(reasoning="It said 42.", chunks="The sum is 42."),
], delay=0.1))
'''

_SAMPLE = """() => {
  const root = document.querySelector('.rlm-stream');
  if (!root) return null;
  const details = root.querySelector('.rlm-thinking');
  const answer = root.querySelector('.rlm-answer');
  const text = details && !details.hidden ? details.querySelector('.rlm-thinking-text') : null;
  return {state: root.dataset.state, static: root.classList.contains('rlm-static'),
          thinking: text ? text.textContent.length : 0,
          open: details ? details.open : null, answer: answer ? answer.textContent.trim().length : 0};
}"""

_CHANGED = """(last) => {
  const root = document.querySelector('.rlm-stream');
  if (!root) return false;
  const details = root.querySelector('.rlm-thinking');
  const answer = root.querySelector('.rlm-answer');
  const text = details && !details.hidden ? details.querySelector('.rlm-thinking-text') : null;
  const thinking = text ? text.textContent.length : 0;
  return root.dataset.state !== last.state || thinking !== last.thinking
      || (answer ? answer.textContent.trim().length : 0) !== last.answer;
}"""


def test_thinking_grows_live_then_folds_when_the_answer_starts(jupyter_lab_server: JupyterServer,
                                                               browser_page: BrowserPage):
    server, page = jupyter_lab_server, browser_page.page
    server.write_notebook("thinking.ipynb", [SETUP, "%%rlm -m thinker\nA haiku about the sea."])
    open_notebook(browser_page, server, "thinking.ipynb")
    mark = browser_page.mark()
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-stream .rlm-thinking:not([hidden])", timeout=60_000)
    samples = []
    while True:
        sample = page.evaluate(_SAMPLE)
        samples.append(sample)
        if sample["state"] != "streaming":
            break
        if len(samples) == 4:
            browser_page.screenshot("thinking")
        page.wait_for_function(_CHANGED, arg=sample, timeout=60_000, polling="raf")
    live = [s for s in samples if s["state"] == "streaming" and not s["static"]]
    thinking = [s for s in live if s["answer"] == 0]
    answering = [s for s in live if s["answer"] > 0]
    assert len(thinking) >= 3, f"the reasoning was seen in too few states: {samples}"
    lengths = [s["thinking"] for s in thinking]
    assert lengths == sorted(set(lengths)) and lengths[-1] == len(REASONING), lengths
    assert all(s["open"] for s in thinking), "the Thinking section should be open while it streams"
    assert answering and not any(s["open"] for s in answering), "it should fold once the answer starts"
    assert all(s["thinking"] == len(REASONING) for s in answering)

    page.wait_for_selector(".rlm-stream.rlm-static", timeout=60_000)  # the static output that is saved
    wait_cells_done(browser_page)
    browser_page.screenshot("done")
    static = page.locator(".rlm-stream.rlm-static details.rlm-thinking")
    assert static.count() == 1 and static.get_attribute("open") is None
    assert static.locator(".rlm-thinking-text").text_content() == REASONING
    assert " ".join(page.inner_text(".rlm-stream .rlm-answer").split()) == " ".join(ANSWER.split())
    assert page.locator(".rlm-stream img").count() == 0 and page.evaluate("window.__pwned === undefined")
    assert browser_page.errors_since(mark) == []


def test_agent_steps_show_their_reasoning_in_the_thought_row(jupyter_lab_server: JupyterServer,
                                                             browser_page: BrowserPage):
    server, page = jupyter_lab_server, browser_page.page
    server.write_notebook("thinking_agent.ipynb",
                          [SETUP, "%%rlm --agent --tools add -m agent_model\nWhat is 2 + 40?"])
    open_notebook(browser_page, server, "thinking_agent.ipynb")
    mark = browser_page.mark()
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-timeline .rlm-reasoning details[open]", timeout=60_000)
    browser_page.screenshot("agent-thinking")
    # Folded once the step's text begins, while the run goes on.
    page.wait_for_selector(".rlm-timeline .rlm-step[data-step='1'] .rlm-reasoning details:not([open])",
                           timeout=30_000)
    page.wait_for_selector('.rlm-timeline[data-state="done"]', timeout=60_000)
    wait_cells_done(browser_page)
    rows = page.locator(".rlm-timeline .rlm-reasoning details.rlm-thinking")
    assert rows.count() == 2 and all(rows.nth(i).get_attribute("open") is None for i in range(2))
    first = rows.nth(0).locator(".rlm-thinking-text").text_content()
    assert first == "Two plus forty: the add tool does that exactly."
    assert rows.nth(1).locator(".rlm-thinking-text").text_content() == "It said 42."
    assert "The sum is 42." in page.locator(".rlm-timeline .rlm-row.rlm-final").last.inner_text()
    assert browser_page.errors_since(mark) == []
