"""The agent timeline in JupyterLab 4 and Notebook 7: it appears, shows its rows as the agent
thinks, acts and observes, and ends on the final answer."""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, run_all_cells, wait_cells_done, wait_for_output
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

AGENT = '''
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent

def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b

agent_model = RLM(ScriptedProvider(turns=[
    ScriptedTurn(chunks="I should add the two numbers.",
                 tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 40}}]),
    "The sum of 2 and 40 is 42.",
], delay=0.1))
'''

RUN = '''
%%rlm --agent --tools add -m agent_model
What is 2 + 40?
'''


def test_agent_timeline_shows_its_rows(jupyter_frontend: JupyterServer, browser_page: BrowserPage):
    name = f"timeline_{jupyter_frontend.flavor}.ipynb"
    jupyter_frontend.write_notebook(name, ["%load_ext rlm_jupyter", AGENT, RUN])
    open_notebook(browser_page, jupyter_frontend, name)
    mark = browser_page.mark()
    run_all_cells(browser_page)
    page = browser_page.page

    wait_for_output(browser_page, ".rlm-timeline")
    # While it runs the rows come one after another; at the end all of them are there.
    wait_for_output(browser_page, ".rlm-timeline .rlm-row.rlm-action", timeout=30_000)
    browser_page.screenshot("acting")
    page.wait_for_selector('.rlm-timeline[data-state="done"]', timeout=60_000)
    wait_cells_done(browser_page)
    browser_page.screenshot("done")

    action = page.locator(".rlm-timeline .rlm-row.rlm-action").first.inner_text()
    observation = page.locator(".rlm-timeline .rlm-row.rlm-observation").first.inner_text()
    final = page.locator(".rlm-timeline .rlm-row.rlm-final").last.inner_text()
    assert "add" in action and "40" in action
    assert "42" in observation
    assert "The sum of 2 and 40 is 42." in final
    assert page.locator(".rlm-timeline .rlm-row").count() >= 3
    assert page.locator(".rlm-timeline .rlm-step").count() == 2
    assert page.locator(".rlm-timeline").count() == 1
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []
