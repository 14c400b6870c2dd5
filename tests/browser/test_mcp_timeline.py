"""One MCP tool call in the JupyterLab timeline: a real stdio server (the SDK's MCPServer, started by
``%%rlm --agent --mcp``), its name on the action row, its progress on the running row, the image it
returns shown as a picture, then ``%rlm mcp stop``."""

from __future__ import annotations

import json
import sys

import pytest

from tests.browser._ui import open_notebook, run_all_cells, save_notebook, wait_cells_done, wait_for_output
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytest.importorskip("mcp")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SETUP = '''
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn

servers = {{"mcpServers": {{"demo": {entry}}}}}
agent_model = RLM(ScriptedProvider(turns=[
    ScriptedTurn(chunks="I will draw it in steps.", tool_calls=[
        {{"name": "steps", "arguments": {{"count": 8, "pause": 0.5}}}},
        {{"name": "picture", "arguments": {{}}}},
    ]),
    "Drawn.",
], delay=0.05))
'''

RUN = '''
%%rlm --agent --mcp servers -m agent_model
Draw it.
'''


def test_an_mcp_call_in_the_lab_timeline_with_its_server_progress_and_image(
        jupyter_lab_server: JupyterServer, browser_page: BrowserPage, mcp_script):
    entry = mcp_script("demo")
    assert entry["command"] == sys.executable
    jupyter_lab_server.write_notebook("mcp_timeline.ipynb", [
        "%load_ext rlm_jupyter", SETUP.format(entry=json.dumps(entry)), RUN, "%rlm mcp stop"])
    open_notebook(browser_page, jupyter_lab_server, "mcp_timeline.ipynb")
    mark = browser_page.mark()
    run_all_cells(browser_page)
    page = browser_page.page

    wait_for_output(browser_page, ".rlm-timeline .rlm-row.rlm-action", timeout=90_000)
    # while the tool runs, its row shows the server's progress notifications
    page.wait_for_selector(".rlm-timeline .rlm-action .rlm-progress", timeout=30_000)
    running = page.locator(".rlm-timeline .rlm-action .rlm-progress-text").first.inner_text()
    assert running.startswith(tuple(f"{i}/8 · step {i} of 8" for i in range(1, 9))), running
    browser_page.screenshot("mcp-progress")
    page.wait_for_selector('.rlm-timeline[data-state="done"]', timeout=90_000)
    wait_cells_done(browser_page, timeout=90_000)
    browser_page.screenshot("mcp-done")

    actions = page.locator(".rlm-timeline .rlm-row.rlm-action")
    assert "steps (demo)" in actions.nth(0).inner_text() and "picture (demo)" in actions.nth(1).inner_text()
    assert page.locator(".rlm-timeline .rlm-progress").count() == 0  # gone once the call ended
    observations = page.locator(".rlm-timeline .rlm-row.rlm-observation")
    assert "did 8 steps" in observations.nth(0).inner_text()
    picture = observations.nth(1)
    assert "[image image/png, " in picture.inner_text()
    image = picture.locator("img.rlm-image")
    assert image.count() == 1 and image.get_attribute("src").startswith("data:image/png;base64,iVBOR")
    assert page.evaluate("() => document.querySelector('.rlm-observation img.rlm-image').naturalWidth") == 1
    assert "Drawn." in page.locator(".rlm-timeline .rlm-row.rlm-final").last.inner_text()
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []
    # the saved copy shows the same picture, as a data: URL, and the server was stopped
    save_notebook(browser_page)
    cells = jupyter_lab_server.read_notebook("mcp_timeline.ipynb")["cells"]
    saved = [o for o in cells[2]["outputs"] if "text/html" in o.get("data", {})]
    html = "".join(saved[-1]["data"]["text/html"])
    assert html.count('<img class="rlm-image"') == 1 and 'src="data:image/png;base64,iVBOR' in html
    assert "Stopped every MCP server." in "".join(cells[3]["outputs"][0]["text"])
