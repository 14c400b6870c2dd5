"""``%rlm fix`` in JupyterLab 4 and Notebook 7: the corrected code arrives as a new cell below, for the
user to read and run; rlm never runs it (issue 22)."""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, run_all_cells
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ANSWER = "Guard it:\n```python\ntotal = 10\ncount = 0\nprint(total / max(count, 1))\n```\nDone."
SETUP = f'''%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider
fixer = RLM(ScriptedProvider({ANSWER!r}, delay=0.01))'''
FAILING = "total = 10\ncount = 0\nprint(total / count)"

_PANEL = "window.jupyterapp.shell.currentWidget"
_CELLS = f"""() => {{
  const panel = {_PANEL};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {{ idle: !!kernel && kernel.status === 'idle',
           cells: panel.content.widgets.map(c => ({{ type: c.model.type,
             source: c.model.sharedModel.getSource(),
             count: c.model.type === 'code' ? c.model.executionCount : null,
             running: c.hasClass('jp-mod-executing') }})) }};
}}"""


def cells(bp: BrowserPage) -> dict:
    return bp.page.evaluate(_CELLS)


def test_fix_offers_the_corrected_cell_below_and_runs_nothing(jupyter_frontend: JupyterServer,
                                                              browser_page: BrowserPage):
    server, page = jupyter_frontend, browser_page.page
    name = f"fix_{server.flavor}.ipynb"
    try:
        server.write_notebook(name, [SETUP, FAILING, "%rlm fix -m fixer"])
        open_notebook(browser_page, server, name)
        mark = browser_page.mark()
        run_all_cells(browser_page)  # stops at the error of cell 2, as Run All does
        page.wait_for_function(f"() => {{ const s = ({_CELLS})(); return s.idle && s.cells[1].count !== null"
                               " && !s.cells.some(c => c.running); }", timeout=90_000, polling=200)
        assert cells(browser_page)["cells"][2]["count"] is None
        page.evaluate(f"() => {{ {_PANEL}.content.activeCellIndex = 2; "
                      "void window.jupyterapp.commands.execute('notebook:run-cell'); }")
        page.wait_for_selector('.rlm-stream[data-state="done"]', timeout=60_000)  # (cell 2's error is meant)
        page.wait_for_function(f"() => ({_CELLS})().cells.length === 4", timeout=60_000, polling=200)
        page.wait_for_function(f"() => ({_CELLS})().idle", timeout=60_000, polling=200)
        browser_page.screenshot(f"fix-next-cell-{server.flavor}")
        state = cells(browser_page)["cells"]
        assert [c["source"] for c in state[:3]] == [SETUP, FAILING, "%rlm fix -m fixer"]
        assert state[3] == {"type": "code", "source": "total = 10\ncount = 0\nprint(total / max(count, 1))",
                            "count": None, "running": False}  # offered below, never run
        assert state[2]["count"] is not None
        prompt = page.locator(".rlm-stream .rlm-prompt")
        assert not prompt.evaluate("d => d.open") and prompt.locator("summary").inner_text() == "Prompt"
        assert "Fix this cell." in prompt.locator(".rlm-prompt-text").text_content()
        assert browser_page.errors_since(mark) == []
        assert browser_page.console_errors(mark) == []
    finally:
        server.shutdown_kernels()
