"""Fork from here in the timeline creates the cell (issue 25), in JupyterLab and Notebook 7: a click
on a step's button while the run goes on puts, when the cell ends, a new cell below it holding that
step's messages and a call of rlm_jupyter.fork — IPython's set_next_input in the cell's own reply;
running that cell streams the fork, whose header names its parent."""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, run_all_cells, wait_for_output
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SETUP = '''
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn

def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b

def slow():
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(chunks="I should add the two numbers.",
                     tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 40}}]),
        "The sum of 2 and 40 is 42, said slowly enough to click meanwhile.",
    ], delay=0.2))

slow_model = slow()
'''

_CELLS = "window.jupyterapp.shell.currentWidget.content.widgets"
_SOURCES = f"() => {_CELLS}.map(c => c.model.sharedModel.getSource())"
# The run's cell has run and the kernel is idle (the new cell below has not run: wait_cells_done waits
# for every cell).
_RAN = f"""(index) => {{
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cell = {_CELLS}[index];
  return !!kernel && kernel.status === 'idle' && cell.model.executionCount !== null
    && !cell.hasClass('jp-mod-executing');
}}"""


def test_fork_from_here_creates_the_cell(jupyter_frontend: JupyterServer, browser_page: BrowserPage):
    trace = f"run_{jupyter_frontend.flavor}.jsonl"
    run = f"%%rlm --agent --tools add -m slow_model --record {trace}\nWhat is 2 + 40?"
    name = f"fork_{jupyter_frontend.flavor}.ipynb"
    jupyter_frontend.write_notebook(name, ["%load_ext rlm_jupyter", SETUP, run])
    open_notebook(browser_page, jupyter_frontend, name)
    mark = browser_page.mark()
    page = browser_page.page
    run_all_cells(browser_page)

    live = '.rlm-timeline:not(.rlm-static)[data-state="running"]'
    wait_for_output(browser_page, live + ' .rlm-step[data-step="1"] .rlm-observation', timeout=60_000)
    page.locator(live + ' .rlm-step[data-step="1"] .rlm-fork').click()
    note = page.locator('.rlm-step[data-step="1"] .rlm-fork-note')
    note.wait_for(timeout=15_000)
    assert "will appear below this cell when it ends" in note.inner_text()
    browser_page.screenshot("fork-clicked")
    page.wait_for_selector(".rlm-timeline.rlm-static", timeout=60_000)
    page.wait_for_function(_RAN, arg=2, timeout=60_000, polling=200)
    page.wait_for_function(f"() => ({_SOURCES})().length === 4", timeout=15_000)
    sources = page.evaluate(_SOURCES)
    assert sources[:3] == ["%load_ext rlm_jupyter", SETUP, run]  # the new cell is right below the run
    cell = sources[3]
    assert cell.startswith(f"# Fork of {trace} at step 1") and "from rlm_jupyter import fork" in cell
    assert "What is 2 + 40?" in cell and "model=slow_model" in cell and "tools=[add]" in cell
    browser_page.screenshot("fork-cell")

    # The cell is the user's to edit and run: a fresh scripted model (the first one has said all its
    # turns), then run it, and the fork streams, naming its parent.
    page.evaluate("""(source) => {
      const notebook = window.jupyterapp.shell.currentWidget.content;
      notebook.widgets[3].model.sharedModel.setSource(source);
      notebook.activeCellIndex = 3;
    }""", "slow_model = slow()\n" + cell)
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-cell'); }")
    page.wait_for_selector(f'.rlm-timeline.rlm-static .rlm-h-parent:has-text("fork of {trace} at step 1")',
                           timeout=60_000)
    page.wait_for_function(_RAN, arg=3, timeout=60_000, polling=200)
    browser_page.screenshot("fork-ran")
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []
