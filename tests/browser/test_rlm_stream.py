"""``%%rlm`` in JupyterLab 4 and Notebook 7, in headless Chromium: the answer widget appears,
grows in place, ends with the full answer and its footer, survives save and reopen, and a
hostile answer runs nothing."""

from __future__ import annotations

import re

import pytest

from tests.browser._stream import sample_growth, widget_dom_report
from tests.browser._ui import (
    open_notebook,
    output_texts,
    run_all_cells,
    save_notebook,
    wait_cells_done,
    wait_for_output,
)
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

STORY = ("The lighthouse keeper counted the waves every night. Each one arrived a little after "
         "the one before, and each one left something on the sand: a shell, a rope, a bottle "
         "with a letter nobody could read. In the morning she wrote down what the sea had said.")

SETUP = f'''
%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider
slow = RLM(ScriptedProvider({STORY!r}, delay=0.07))
'''

HOSTILE = ("Here you go: <script>document.title='pwned'; window.__pwned='script'</script> "
           "<img src=x onerror=\"document.title='pwned'; window.__pwned='img'\"> "
           "[click me](javascript:document.title='pwned') "
           "<a href=\"javascript:window.__pwned='a'\">a link</a> "
           "<svg onload=\"window.__pwned='svg'\"></svg> "
           "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) done.")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_rlm_widget_streams_in_place_and_survives_reopen(jupyter_frontend: JupyterServer,
                                                         browser_page: BrowserPage):
    server, page = jupyter_frontend, browser_page.page
    name = f"stream_{server.flavor}.ipynb"
    server.write_notebook(name, [SETUP, "%%rlm -m slow\nTell me a story about the sea."])
    open_notebook(browser_page, server, name)
    mark = browser_page.mark()
    run_all_cells(browser_page)

    samples = sample_growth(browser_page)
    streaming = [s for s in samples if s["state"] == "streaming" and s["length"] > 0]
    lengths = [s["length"] for s in streaming]
    assert len(lengths) >= 3, f"the answer was seen in only {len(lengths)} streaming states: {samples}"
    assert lengths == sorted(set(lengths)), f"the answer did not grow strictly: {lengths}"
    assert all(s["sameRoot"] and s["sameAnswer"] for s in streaming), (
        "the widget was replaced while streaming"
    )
    assert all(s["widgets"] == 1 for s in samples)

    page.wait_for_selector('.rlm-stream[data-state="done"] .rlm-footer', timeout=30_000)
    wait_cells_done(browser_page)
    browser_page.screenshot("done")
    assert _norm(page.inner_text(".rlm-stream .rlm-answer")) == _norm(STORY)
    footer = page.inner_text(".rlm-stream .rlm-footer")
    assert "scripted" in footer and "done" in footer.lower(), footer
    assert page.locator(".rlm-stream").count() == 1
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []

    # Saved through the UI, the file holds the answer as text for readers without the widget.
    save_notebook(browser_page)
    saved = server.read_notebook(name)["cells"][1]["outputs"]
    saved_text = " ".join(str(o.get("data", {}).get(k, "")) for o in saved
                          for k in ("text/markdown", "text/plain"))
    assert "lighthouse keeper counted the waves" in saved_text

    # Reopened with no kernel that remembers the widget, the page still shows the answer.
    server.shutdown_kernels()
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".some(e => e.innerText.includes('In the morning she wrote down what the sea had said'))",
        timeout=60_000, polling=250)
    browser_page.screenshot("reopened")
    assert any("lighthouse keeper" in t for t in output_texts(browser_page))


def test_hostile_answer_runs_nothing(jupyter_frontend: JupyterServer, browser_page: BrowserPage):
    server, page = jupyter_frontend, browser_page.page
    name = f"hostile_{server.flavor}.ipynb"
    # Tags are cut across chunks, as a model would send them.
    chunks = [HOSTILE[i:i + 7] for i in range(0, len(HOSTILE), 7)]
    setup = ("%load_ext rlm_jupyter\nfrom rlm_toolkit import RLM, ScriptedProvider\n"
             f"evil = RLM(ScriptedProvider({chunks!r}, delay=0.01))")
    server.write_notebook(name, [setup, "%%rlm -m evil\nSay something."])
    open_notebook(browser_page, server, name)
    title_before = page.title()
    mark = browser_page.mark()
    run_all_cells(browser_page)
    wait_for_output(browser_page, '.rlm-stream[data-state="done"]')
    wait_cells_done(browser_page)
    browser_page.screenshot("hostile")

    report = widget_dom_report(browser_page)
    assert report["widgets"] == 1
    assert "pwned" not in report["title"] and "pwned" not in page.title()
    assert page.title() == title_before or "pwned" not in page.title()
    assert report["pwned"] is None, f"hostile code ran: window.__pwned = {report['pwned']}"
    assert report["scripts"] == 0
    assert report["handlers"] == [], report["handlers"]
    assert report["badHref"] == [], report["badHref"]
    assert report["embeds"] == [], report["embeds"]
    assert "Here you go:" in report["text"] and "done." in report["text"]
    assert browser_page.dialogs == []
    assert browser_page.errors_since(mark) == []
    assert browser_page.console_errors(mark) == []
    assert browser_page.external_requests == []


def test_hostile_checks_catch_raw_html(jupyter_lab_server: JupyterServer, browser_page: BrowserPage):
    """Negative control: the same checks flag the same text when a front end renders it as raw HTML
    (JupyterLab runs handlers in trusted live output), so their silence above means something."""
    server, page = jupyter_lab_server, browser_page.page
    try:
        server.write_notebook("raw_html.ipynb", [
            "from IPython.display import HTML\n"
            f"HTML('<div class=\"rlm-stream\"><div class=\"rlm-answer\">' + {HOSTILE!r} + '</div></div>')"])
        open_notebook(browser_page, server, "raw_html.ipynb")
        run_all_cells(browser_page)
        wait_for_output(browser_page, ".rlm-stream .rlm-answer")
        wait_cells_done(browser_page)
        page.wait_for_function("() => window.__pwned !== undefined", timeout=10_000)
        report = widget_dom_report(browser_page)
        assert report["pwned"] is not None
        assert report["handlers"] and report["badHref"] and report["embeds"]
    finally:
        server.shutdown_kernels()
