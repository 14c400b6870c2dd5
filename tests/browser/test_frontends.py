"""The test front ends themselves: JupyterLab 4 and Notebook 7 run a cell and render a widget,
offline, with nothing fetched from outside the machine."""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, output_texts, run_all_cells, wait_cells_done
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

_WIDGET = """
import anywidget, traitlets
class Probe(anywidget.AnyWidget):
    _esm = ("export default { render({ model, el }) "
            "{ el.className = 'probe'; el.textContent = model.get('v'); } }")
    v = traitlets.Unicode("widget-ok").tag(sync=True)
Probe()
"""


def test_front_end_runs_cells_and_renders_anywidget(
    jupyter_frontend: JupyterServer, browser_page: BrowserPage
):
    name = f"frontend_{jupyter_frontend.flavor}.ipynb"
    jupyter_frontend.write_notebook(name, ["print('kernel-ok', 6 * 7)", _WIDGET])
    open_notebook(browser_page, jupyter_frontend, name)
    mark = browser_page.mark()
    run_all_cells(browser_page)
    wait_cells_done(browser_page)
    browser_page.page.wait_for_selector(".probe", timeout=30_000)
    browser_page.screenshot("ran")

    texts = output_texts(browser_page)
    assert any("kernel-ok 42" in t for t in texts), texts
    assert browser_page.page.inner_text(".probe") == "widget-ok"
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []
    assert browser_page.dialogs == []
    assert browser_page.external_requests == []
