"""Approval of tool calls in JupyterLab: ``%%rlm --agent --approve`` shows Approve / Deny with the
tool and its arguments (as text, never markup); a click reaches the running cell, and the run
ends with one tool run and one denied, in the live timeline and in its static copy."""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, output_texts, run_all_cells, wait_cells_done
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SETUP = '''
%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
ran = []

def add(a: int, b: int) -> int:
    """Add two integers."""
    ran.append(("add", a, b))
    return a + b

def note(text: str) -> str:
    """Keep a note."""
    ran.append(("note", text))
    return "noted"

agent_model = RLM(ScriptedProvider(turns=[
    ScriptedTurn(chunks="First the sum.",
                 tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 2, "b": 40}}]),
    ScriptedTurn(chunks="Now a note.", tool_calls=[
        {"id": "c2", "name": "note", "arguments": {"text": "<img src=x onerror=\\"window.__pwned=1\\">"}}]),
    "The sum is 42; the note was not kept.",
], delay=0.02))
'''

RUN = "%%rlm --agent --approve --tools add,note -m agent_model -o out\nAdd 2 and 40, then keep a note."


def test_approve_then_deny_in_jupyterlab(jupyter_lab_server: JupyterServer, browser_page: BrowserPage):
    server, page = jupyter_lab_server, browser_page.page
    name = "approval.ipynb"
    server.write_notebook(name, [SETUP, RUN, "print(ran, repr(out))"])
    open_notebook(browser_page, server, name)
    mark = browser_page.mark()
    run_all_cells(browser_page)

    pending = '.rlm-timeline .rlm-approval[data-outcome="pending"]'
    page.wait_for_selector(f"{pending} .rlm-approve", timeout=60_000)
    assert page.inner_text(f"{pending} .rlm-tool") == "add"
    assert '"a": 2' in page.inner_text(f"{pending} .rlm-args")
    browser_page.screenshot("asking")
    page.click(f"{pending} .rlm-approve")
    page.wait_for_selector('.rlm-timeline .rlm-approval[data-outcome="approved"]', timeout=30_000)

    page.wait_for_selector(f"{pending} .rlm-deny", timeout=30_000)
    assert page.inner_text(f"{pending} .rlm-tool") == "note"
    args = page.inner_text(f"{pending} .rlm-args")
    assert "<img src=x" in args  # shown as text: no element was made from it
    assert page.locator(".rlm-timeline .rlm-approval img").count() == 0
    page.click(f"{pending} .rlm-deny")

    page.wait_for_selector('.rlm-timeline[data-state="done"]', timeout=60_000)
    wait_cells_done(browser_page)
    browser_page.screenshot("decided")
    # The static copy that replaced the widget keeps both decisions and what the model was told.
    assert page.locator('.rlm-static .rlm-approval[data-outcome="approved"]').count() == 1
    assert page.locator('.rlm-static .rlm-approval[data-outcome="denied"]').count() == 1
    denied = page.locator('.rlm-static .rlm-observation[data-outcome="denied"]')
    assert denied.count() == 1 and "denied it in the timeline" in denied.inner_text()
    assert "The sum is 42" in page.locator(".rlm-static .rlm-final").inner_text()
    assert "[('add', 2, 40)] 'The sum is 42; the note was not kept.'" in output_texts(browser_page)[-1]
    assert page.evaluate("window.__pwned") is None
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []
