"""The agent timeline in a 420 px window, JupyterLab and Notebook 7 (issue 26, item 6): its header
wraps, Stop stays inside the window and takes a click, and the header keeps its shape when the run
ends and the static copy takes the widget's place."""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, run_all_cells, wait_cells_done, wait_for_output
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

AGENT = '''
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn

def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b

narrow_model = RLM(ScriptedProvider(turns=[
    ScriptedTurn(chunks="I should add the two numbers, one word at a time.",
                 tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 40}}]),
    "The sum of 2 and 40 is 42, said slowly enough to watch.",
], delay=0.15))
'''

RUN = '''
%%rlm --agent --tools add -m narrow_model
What is 2 + 40?
'''

_HEADER = """(selector) => {
  const root = document.querySelector(selector);
  if (!root) return null;
  const header = root.querySelector('.rlm-timeline-header');
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height};
  };
  const fields = [...header.children].filter((el) => el.textContent);
  return {window: document.documentElement.clientWidth, root: box(root), header: box(header),
          lines: new Set(fields.map((el) => Math.round(el.getBoundingClientRect().top))).size,
          stop: header.querySelector('.rlm-stop') ? box(header.querySelector('.rlm-stop')) : null};
}"""


def test_a_narrow_window_wraps_the_header_keeps_stop_reachable_and_its_shape_at_the_end(
    jupyter_frontend: JupyterServer, browser_page: BrowserPage
):
    page = browser_page.page
    page.set_viewport_size({"width": 420, "height": 900})
    name = f"narrow_{jupyter_frontend.flavor}.ipynb"
    jupyter_frontend.write_notebook(name, ["%load_ext rlm_jupyter", AGENT, RUN])
    open_notebook(browser_page, jupyter_frontend, name)
    # As a user in a narrow window does: the file browser closed (JupyterLab opens with it).
    page.evaluate("() => { const s = window.jupyterapp.shell; if (s.collapseLeft) s.collapseLeft(); }")
    mark = browser_page.mark()
    run_all_cells(browser_page)

    live = '.rlm-timeline:not(.rlm-static)[data-state="running"]'
    wait_for_output(browser_page, live + " .rlm-row.rlm-action", timeout=60_000)
    running = page.evaluate(_HEADER, live)
    browser_page.screenshot("narrow-running")
    assert running is not None and running["window"] <= 420, running
    stop = running["stop"]
    # Stop is inside the window and inside the timeline's box, and it takes a click (nothing covers it).
    assert stop is not None and 0 <= stop["left"] and stop["right"] <= running["window"], running
    assert stop["right"] <= running["root"]["right"] + 0.5, running
    assert running["lines"] >= 2, running  # the fields wrapped instead of running out of the box
    page.locator(live + " .rlm-stop").click(trial=True, timeout=5_000)

    page.wait_for_selector(".rlm-timeline.rlm-static", timeout=60_000)
    wait_cells_done(browser_page)
    browser_page.screenshot("narrow-done")
    done = page.evaluate(_HEADER, ".rlm-timeline.rlm-static")
    assert done is not None and done["stop"] is None
    # The copy that replaced the widget has the header's shape: same box, same height, same lines.
    assert abs(done["header"]["height"] - running["header"]["height"]) <= 1, (running, done)
    assert abs(done["root"]["left"] - running["root"]["left"]) <= 1, (running, done)
    assert done["lines"] == running["lines"], (running, done)
    assert done["root"]["right"] <= done["window"], done
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []
