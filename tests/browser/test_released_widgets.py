"""Finished widgets are closed in the kernel, in JupyterLab 4 and Notebook 7 (Chromium): the page
keeps showing each cell's static copy (an answer, an agent run, a failed answer), never "model
not found", and so does the page reloaded afterwards; a widget a reloaded page shows mid-stream
stays open and ends as that page's final view."""

from __future__ import annotations

import pytest

from tests.browser._ui import (
    open_notebook,
    output_texts,
    run_all_cells,
    save_notebook,
    wait_for_output,
)
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SETUP = '''
%load_ext rlm_jupyter
import gc
import comm
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, RateLimitError
from rlm_jupyter.stream.view import StreamView
from rlm_jupyter.timeline.view import TimelineView
story = " ".join(f"wave{i}" for i in range(60))
slow = RLM(ScriptedProvider(story, delay=0.01))
broken = RLM(ScriptedProvider(turns=[ScriptedTurn(chunks="Half an answer", error=RateLimitError(
    "over quota", status_code=429), error_after=2)]), max_retries=0)
def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b
agent_rlm = RLM(ScriptedProvider(turns=[
    ScriptedTurn(chunks="Adding.", tool_calls=[{"name": "add", "arguments": {"a": 20, "b": 22}}]),
    "The sum is 42."]))
'''

# the page libraries' one widget and its Layout (rlm_jupyter.page.PageAssets) stay: once per kernel
HELD = '''gc.collect()
from rlm_jupyter.page import page_assets
assets = page_assets(); assets_ids = {assets.comm.comm_id, assets.layout.comm.comm_id}
views = sum(isinstance(o, (StreamView, TimelineView)) for o in gc.get_objects())
comms = sum(c.target_name == "jupyter.widget" and c.comm_id not in assets_ids
            for c in comm.get_comm_manager().comms.values())
print(f"held: {views} views, {comms} comms")'''

_BROKEN = ("() => [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText)"
           ".filter(t => /model not found|Error displaying widget|Loading widget/.test(t))")


_FAILED_AND_IDLE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && [...document.querySelectorAll('.jp-OutputArea-output')]
    .some(e => e.innerText.includes('RateLimitError: over quota'));
}"""


def _shown(page) -> dict:
    return page.evaluate("""() => ({
      answer: [...document.querySelectorAll('.rlm-stream.rlm-static .rlm-answer')].map(e => e.innerText),
      live: document.querySelectorAll('.rlm-stream:not(.rlm-static)').length,
      hidden: [...document.querySelectorAll('.jp-OutputArea-output')].filter(e => e.offsetParent === null
        && e.closest('.jp-Cell')).length,
    })""")


def test_closed_widgets_leave_their_static_copies_also_after_a_reload(jupyter_frontend: JupyterServer,
                                                                      browser_page: BrowserPage):
    server, page = jupyter_frontend, browser_page.page
    name = f"released_{server.flavor}.ipynb"
    server.write_notebook(name, [SETUP, "%%rlm --bg -m slow\nAnd again, in the background.",
                                 "%%rlm -m slow\nTell me about the sea.",
                                 "%%rlm --agent --tools add -m agent_rlm\nWhat is 20 + 22?",
                                 "%%rlm -m broken\nhi", HELD])
    open_notebook(browser_page, server, name)
    mark = browser_page.mark()
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-stream .rlm-answer")
    page.wait_for_function(_FAILED_AND_IDLE, timeout=60_000, polling=200)  # Run All stops there
    assert any("Half an" in t for t in output_texts(browser_page))
    # the last cell ran on its own (Run All stopped at the failure): its start closed the others
    page.locator(".jp-Notebook .jp-Cell").last.click()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                           ".some(e => e.innerText.startsWith('held: '))", timeout=30_000)
    page.wait_for_timeout(500)  # the comm_close messages have been handled by the page
    browser_page.screenshot("released")
    held = next(t for t in output_texts(browser_page) if t.startswith("held: "))
    assert held.strip() == "held: 0 views, 0 comms"
    shown = _shown(page)
    assert shown["live"] == 0 and shown["hidden"] == 0, shown
    story = [f"wave{i}" for i in range(60)]
    assert [a.split() for a in shown["answer"][:2]] == [story, story]  # the --bg answer and the other
    assert shown["answer"][2].startswith("Half an")
    texts = output_texts(browser_page)
    assert any("The sum is 42." in t for t in texts), "the agent run's static copy"
    assert page.evaluate(_BROKEN) == []
    assert browser_page.errors_since(mark) == []

    save_notebook(browser_page)  # reloaded (the kernel still runs, the widgets are closed)
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector(".rlm-stream.rlm-static .rlm-answer", timeout=60_000)
    page.wait_for_timeout(2000)  # what a widget manager would do to a missing model, it has done
    browser_page.screenshot("reloaded")
    assert page.evaluate(_BROKEN) == []
    shown = _shown(page)
    assert len(shown["answer"]) == 3 and shown["hidden"] == 0, shown
    assert any("The sum is 42." in t for t in output_texts(browser_page))


def test_a_page_reloaded_mid_stream_keeps_its_live_widget_to_the_end(jupyter_lab_server: JupyterServer,
                                                                      browser_page: BrowserPage):
    """The reloaded page shows the live widget (its output came from the saved file, so the kernel's
    display update never reaches it): the widget it asked for stays open, and shows the end."""
    server, page = jupyter_lab_server, browser_page.page
    name = "released_reload.ipynb"
    server.write_notebook(name, [SETUP.replace("delay=0.01", "delay=0.05"), "%%rlm --bg -m slow\ngo",
                                 HELD])
    open_notebook(browser_page, server, name)
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-stream .rlm-answer")
    page.wait_for_function("() => document.querySelector('.rlm-stream .rlm-answer').innerText.length > 40",
                           timeout=30_000)
    save_notebook(browser_page)
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector('.rlm-stream[data-state="done"]', timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell").last.click()  # a later cell: it closes what may be closed
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                           ".some(e => e.innerText.startsWith('held: '))", timeout=30_000)
    page.wait_for_timeout(500)
    browser_page.screenshot("reloaded-mid-stream")
    assert page.inner_text('.rlm-stream[data-state="done"] .rlm-answer').split() == [
        f"wave{i}" for i in range(60)]
    held = next(t for t in output_texts(browser_page) if t.startswith("held: "))
    assert held.strip() == "held: 1 views, 2 comms", "the widget the reloaded page shows stays open"
    assert page.evaluate(_BROKEN) == []
