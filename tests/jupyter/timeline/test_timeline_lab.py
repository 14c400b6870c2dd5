"""The live timeline inside JupyterLab: rows appear while the agent runs (the live widget, not the
static twin), and with ``keep_widget`` clicking a step asks the kernel for its messages.

(tests/browser/test_agent_timeline.py checks the end state in JupyterLab and Notebook 7.)
"""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, run_all_cells, wait_cells_done
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SETUP = '''
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn

def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b

slow_model = RLM(ScriptedProvider(turns=[
    ScriptedTurn(chunks="I should add the two numbers, slowly.",
                 tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 40}}]),
    "The sum of <b>2</b> and 40 is **42**, and then some more words to stream.",
], delay=0.25))
%config RLMMagics.keep_widget = True
'''

_SAMPLE = """() => {
  const root = document.querySelector('.rlm-timeline');
  if (!root) return {state: null, rows: 0, observations: 0, finals: 0, static: 0};
  return {state: root.dataset.state, rows: root.querySelectorAll('.rlm-row').length,
          observations: root.querySelectorAll('.rlm-observation').length,
          finals: root.querySelectorAll('.rlm-final').length,
          static: document.querySelectorAll('.rlm-timeline.rlm-static').length,
          text: root.innerText.length};
}"""
_CHANGED = "(before) => { const now = (" + _SAMPLE + ")(); return now.state !== before.state || " \
           "now.rows !== before.rows || now.text !== before.text; }"

RUN = '''
%%rlm --agent --tools add -m slow_model
What is 2 + 40?
'''


@pytest.mark.parametrize("jupyter_frontend", ["lab"], indirect=True)
def test_live_timeline_grows_then_shows_step_messages(
    jupyter_frontend: JupyterServer, browser_page: BrowserPage
):
    jupyter_frontend.write_notebook("live_timeline.ipynb", ["%load_ext rlm_jupyter", SETUP, RUN])
    open_notebook(browser_page, jupyter_frontend, "live_timeline.ipynb")
    mark = browser_page.mark()
    run_all_cells(browser_page)
    page = browser_page.page

    # Sample the page each time it changes until the run ends: the live widget must show rows
    # (an observation) while its state is still "running".
    seen = []
    while True:
        sample = page.evaluate(_SAMPLE)
        seen.append(sample)
        if sample["state"] in ("done", "error", "stopped"):
            break
        page.wait_for_function(_CHANGED, arg=sample, timeout=60_000, polling="raf")
    running = [s for s in seen if s["state"] == "running"]
    assert any(s["observations"] for s in running), seen
    assert not any(s["finals"] for s in running), seen
    rows = [s["rows"] for s in running]
    assert rows == sorted(rows) and len(set(rows)) >= 3, seen  # it grew in place, several times
    assert all(s["static"] == 0 for s in running)
    page.wait_for_selector('.rlm-timeline:not(.rlm-static)[data-state="done"]', timeout=60_000)
    wait_cells_done(browser_page)

    timeline = page.locator(".rlm-timeline:not(.rlm-static)").last
    final = timeline.locator(".rlm-final").inner_text()
    assert "<b>2</b>" in final  # the HTML in the answer is shown as text, not made markup
    assert timeline.locator(".rlm-final strong").inner_text() == "42"  # the markdown is rendered
    assert timeline.locator("img, script, .rlm-final b").count() == 0
    timeline.locator('.rlm-step[data-step="2"] .rlm-step-title').click()
    panel = timeline.locator('.rlm-step[data-step="2"] .rlm-messages')
    panel.locator(".rlm-message").first.wait_for(timeout=15_000)
    text = panel.inner_text()  # what step 2 added: the model's call and its result
    assert "1–2 as at step 1" in text and "tool" in text.lower() and "42" in text
    assert "What is 2 + 40?" not in text
    panel.locator("button", has_text="show all 4").click()  # and the whole conversation, one click away
    panel.get_by_text("What is 2 + 40?").wait_for(timeout=15_000)
    browser_page.screenshot("messages")
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []
