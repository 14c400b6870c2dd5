"""Live while the kernel is busy and the page reloads, in JupyterLab 4 and Notebook 7 (Chromium):
``--bg`` keeps streaming while another cell sleeps, Stop ends a foreground cell within a second,
a reload or a second tab mid-stream shows the whole text so far and then the rest, and a notebook
saved mid-stream keeps the text."""

from __future__ import annotations

import time

import pytest

from tests.browser._ui import open_notebook, run_all_cells, save_notebook, wait_cells_done, wait_for_output
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

WORDS = 400
SETUP = f'''
%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider
story = " ".join(f"word{{i}}" for i in range({WORDS}))
slow = RLM(ScriptedProvider(story, delay=0.02))
endless = RLM(ScriptedProvider(" ".join(f"w{{i}}" for i in range(100000)), delay=0.01))
longer = RLM(ScriptedProvider(" ".join(f"word{{i}}" for i in range(1000)), delay=0.02))
'''

_LENGTH = """() => { const a = document.querySelector('.rlm-stream:not(.rlm-static) .rlm-answer');
                     return a ? a.textContent.length : -1; }"""
_STATE = "() => { const r = document.querySelector('.rlm-stream'); return r ? r.dataset.state : null; }"
_BUSY_CELL = """() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
  const cells = p ? p.content.widgets : [];
  // not the kernel's status: a subshell's comm messages publish busy/idle of their own
  return !!k && cells.length > 2 && cells[2].model.executionState === 'running'; }"""


_WATCH_STOP = """() => {
  document.addEventListener('click', (e) => {
    if (e.target.closest('.rlm-stop')) window.__rlmClickAt = performance.now();
  }, true);
  const seen = () => {
    if (window.__rlmStoppedAt === undefined && document.querySelector('.rlm-stream[data-state="stopped"]'))
      window.__rlmStoppedAt = performance.now();
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, attributes: true, childList: true,
                                                     attributeFilter: ['data-state']});
}"""


def _answer(page) -> str:
    """The answer's text (markdown-it ends each rendered block with a newline: not the model's)."""
    return page.evaluate(
        "() => document.querySelector('.rlm-stream .rlm-answer').textContent.replace(/\\n+$/, '')")


def _story(words: int = WORDS) -> str:
    return " ".join(f"word{i}" for i in range(words))


def test_bg_keeps_streaming_while_another_cell_sleeps(
    jupyter_frontend: JupyterServer, browser_page: BrowserPage
):
    server, page = jupyter_frontend, browser_page.page
    name = f"bg_busy_{server.flavor}.ipynb"
    server.write_notebook(name, [SETUP, "%%rlm --bg -m slow\nA long story.", "import time\ntime.sleep(6)"])
    open_notebook(browser_page, server, name)
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-stream .rlm-answer")
    page.wait_for_function(_BUSY_CELL, timeout=30_000)
    page.wait_for_timeout(500)
    seen = []
    for _ in range(5):  # while the sleeping cell holds the kernel's main thread
        assert page.evaluate(_BUSY_CELL), "the sleeping cell should still be running"
        seen.append(page.evaluate(_LENGTH))
        page.wait_for_timeout(600)
    browser_page.screenshot("bg-while-busy")
    assert all(b > a for a, b in zip(seen, seen[1:])), f"the answer froze while another cell ran: {seen}"
    page.wait_for_selector('.rlm-stream[data-state="done"]', timeout=60_000)
    wait_cells_done(browser_page)
    assert _story() in page.inner_text(".rlm-stream")


def test_stop_ends_a_foreground_cell_within_a_second(
    jupyter_frontend: JupyterServer, browser_page: BrowserPage
):
    server, page = jupyter_frontend, browser_page.page
    name = f"fg_stop_{server.flavor}.ipynb"
    server.write_notebook(
        name, [SETUP, "%%rlm -m endless -o cut\nGo on forever.", "print('after', len(cut) > 0)"]
    )
    open_notebook(browser_page, server, name)
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-stream .rlm-stop")
    page.wait_for_function(f"() => ({_LENGTH})() > 200", timeout=30_000)
    stop = page.locator(".rlm-stream .rlm-stop")
    assert stop.is_visible(), "a foreground answer has a Stop button"
    page.evaluate(_WATCH_STOP)  # times taken in the page: the click itself, and the widget's state
    stop.click()
    page.wait_for_selector('.rlm-stream[data-state="stopped"]', timeout=10_000)
    page.wait_for_function("() => window.__rlmStoppedAt !== undefined", timeout=10_000)
    stopped_after = page.evaluate("() => (window.__rlmStoppedAt - window.__rlmClickAt) / 1000")
    wait_cells_done(browser_page, timeout=30_000)
    browser_page.screenshot("stopped")
    assert 0 < stopped_after < 1.0, f"Stop took {stopped_after:.2f} s"
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert any("after True" in t for t in texts), "a stopped answer does not fail its cell; -o keeps the text"


# the answer shown (markdown-it ends each rendered block with a newline: not the model's)
_SHOWN = """() => {
  const a = [...document.querySelectorAll('.rlm-answer')].find(e => e.offsetParent !== null);
  return a ? a.textContent.replace(/\\n+$/, '') : null; }"""


@pytest.mark.parametrize("mode", ["bg", "fg"])
def test_reload_mid_stream_shows_the_text_at_once_then_the_rest(jupyter_frontend: JupyterServer,
                                                                browser_page: BrowserPage, mode: str):
    server, page = jupyter_frontend, browser_page.page
    name = f"reload_{mode}_{server.flavor}.ipynb"
    flag = "--bg " if mode == "bg" else ""
    server.write_notebook(name, [SETUP, f"%%rlm {flag}-m longer\nA long story."])  # 20 s
    open_notebook(browser_page, server, name)
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-stream .rlm-answer")
    page.wait_for_function(f"() => ({_LENGTH})() > 300", timeout=30_000)
    page.wait_for_timeout(2_500)  # a saved copy is at most two seconds older than the text
    save_notebook(browser_page)  # the reloaded page shows the saved outputs: widget and saved copy
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell .jp-OutputArea-output", timeout=30_000)
    waited = time.monotonic()
    page.wait_for_function(f"() => ({_SHOWN})()", timeout=10_000, polling="raf")
    shown_after = time.monotonic() - waited
    first = page.evaluate(_SHOWN)
    browser_page.screenshot("reloaded")
    assert len(first) > 300 and _story(1000).startswith(first), "a prefix of the answer, in order, at once"
    assert shown_after < 1.5, f"the text showed {shown_after:.2f} s after the outputs"
    if mode == "bg":  # the widget's model comes from the kernel at once: live from there
        page.wait_for_function(f"() => ({_LENGTH})() > {len(first)}", timeout=10_000, polling="raf")
        assert page.evaluate(_STATE) == "streaming", "the widget took over while the answer streams"
    # (a foreground cell holds the main shell, where the front end asks for the widget's model:
    # the widget shows when the cell ends, the saved copy until then; docs/architecture.md)
    page.wait_for_selector('.rlm-stream[data-state="done"]', timeout=60_000)
    assert _story(1000) in page.evaluate(_SHOWN), "and then the rest, once"


def test_a_second_tab_mid_stream_shows_the_whole_text(jupyter_lab_server: JupyterServer,
                                                      browser_page: BrowserPage):
    server, page = jupyter_lab_server, browser_page.page
    name = "second_tab.ipynb"
    server.write_notebook(name, [SETUP, "%%rlm --bg -m slow\nA long story."])
    open_notebook(browser_page, server, name)
    run_all_cells(browser_page)
    page.wait_for_function(f"() => ({_LENGTH})() > 300", timeout=30_000)
    save_notebook(browser_page)
    other = page.context.new_page()
    try:
        before = page.evaluate(_LENGTH)
        other.goto(server.page_url(name), wait_until="domcontentloaded")
        other.wait_for_selector(".rlm-stream .rlm-answer", timeout=60_000)
        other.wait_for_function(f"() => ({_LENGTH})() >= {before}", timeout=10_000, polling="raf")
        assert _story().startswith(_answer(other))
        other.wait_for_selector('.rlm-stream[data-state="done"]', timeout=60_000)
        assert _story() in other.inner_text(".rlm-stream")
    finally:
        other.close()


_VISIBLE_TEXT = """() => [...document.querySelectorAll('.jp-OutputArea-child')]
  .filter(c => c.offsetParent !== null).map(c => c.innerText).join('\\n')"""


@pytest.mark.parametrize("mode", ["bg", "fg"])
def test_a_notebook_saved_mid_stream_reopens_with_the_text_so_far(jupyter_frontend: JupyterServer,
                                                                  browser_page: BrowserPage, mode: str):
    server, page = jupyter_frontend, browser_page.page
    name = f"saved_mid_stream_{mode}_{server.flavor}.ipynb"
    flag = "--bg " if mode == "bg" else ""
    server.write_notebook(name, [SETUP, f"%%rlm {flag}-m slow\nA long story."])
    open_notebook(browser_page, server, name)
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-stream .rlm-answer")
    page.wait_for_timeout(3_000)
    assert page.evaluate(_STATE) == "streaming"
    assert page.locator(".rlm-saved").count() == 1 and not page.locator(".rlm-saved").is_visible(), (
        "while the widget shows, its saved copy is hidden")
    save_notebook(browser_page)
    outputs = server.read_notebook(name)["cells"][1]["outputs"]
    copy = [o for o in outputs if "rlm-saved" in o.get("data", {}).get("text/html", "")]
    assert len(copy) == 1, outputs
    plain = copy[0]["data"]["text/plain"]
    assert len(plain) > 100 and _story().startswith(plain), plain[:200]
    server.shutdown_kernels()  # the kernel, and with it the widget's model, is gone
    reopened = BrowserPage(page=page.context.new_page(), name=f"{browser_page.name}-reopened")
    page.close()  # (unsaved changes since: not asked about, not saved)
    again = reopened.page
    try:
        open_notebook(reopened, server, name)
        again.wait_for_selector(".rlm-saved .rlm-answer", state="visible", timeout=30_000)
        again.wait_for_timeout(4_000)  # past the widget manager's restore ("model not found" comes then)
        shown = again.evaluate(_VISIBLE_TEXT)
        reopened.screenshot("reopened")
        assert "model not found" not in shown and "Loading widget" not in shown, shown[:300]
        assert plain[:100] in shown and again.locator(".rlm-saved").is_visible()
    finally:
        again.close()


_KERNEL_STATUS = """() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
  return k ? k.status : null; }"""


_SLEEPING = """() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const cells = p ? p.content.widgets : [];
  // (a queued cell is 'running' already: the sleep has begun once the cell before it has a count)
  return cells.length > 3 && cells[2].model.executionCount !== null
    && cells[3].model.executionState === 'running'; }"""


def test_the_kernel_stays_busy_while_a_cell_runs_beside_a_bg_stream(jupyter_frontend: JupyterServer,
                                                                    browser_page: BrowserPage):
    server, page = jupyter_frontend, browser_page.page
    name = f"busy_status_{server.flavor}.ipynb"
    # A first answer opens the widgets' comm subshell: the front end creates it on the control
    # channel when the first widget appears, and takes that request's busy/idle for the kernel's
    # (docs/architecture.md, "Honest status"); that one is not rlm's to avoid.
    server.write_notebook(name, [SETUP + "\nquick = RLM(ScriptedProvider('ok'))", "%%rlm -m quick\nHi.",
                                 "%%rlm --bg -m slow\nA long story.", "import time\ntime.sleep(5)"])
    open_notebook(browser_page, server, name)
    # The set-up and the first answer first, until the page has drawn it (a loaded machine may draw
    # it only after Run All has moved on, and the subshell's creation would then land in the sleep);
    # then the --bg answer and the sleeping cell.
    run_next = "() => window.jupyterapp.commands.execute('notebook:run-cell-and-select-next')"
    page.evaluate(run_next)
    page.evaluate(run_next)
    wait_for_output(browser_page, ".rlm-stream.rlm-static .rlm-answer")  # drawn, and settled
    page.wait_for_timeout(1_000)
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-below'); }")
    page.wait_for_function(_SLEEPING, timeout=30_000)
    statuses, lengths = [], []
    while page.evaluate(_SLEEPING):  # the page's kernel indicator, sampled through the sleep
        statuses.append(page.evaluate(_KERNEL_STATUS))
        lengths.append(page.evaluate(_LENGTH))
        page.wait_for_timeout(100)
    wait_cells_done(browser_page, timeout=60_000)
    assert len(statuses) >= 20, statuses
    assert lengths[-1] > lengths[0], "the answer streamed meanwhile"
    # (the last samples may see the cell end: its idle comes a moment before its count)
    assert set(statuses[:-2]) == {"busy"}, "".join(s[0] for s in statuses)


@pytest.fixture(scope="module")
def lab_without_widgets(tmp_path_factory: pytest.TempPathFactory):
    """JupyterLab with its widget manager extension disabled: widget outputs cannot render."""
    import json

    from tests.fixtures.jupyter_server import start_jupyter

    base = tmp_path_factory.mktemp("jupyter-nowidgets")
    labconfig = base / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyter-widgets/jupyterlab-manager": True}}))
    server = start_jupyter("lab", base)
    try:
        yield server
    finally:
        server.stop()


def test_without_a_widget_manager_the_answer_still_grows_and_ends_static(lab_without_widgets: JupyterServer,
                                                                         browser_page: BrowserPage):
    server, page = lab_without_widgets, browser_page.page
    name = "no_widgets.ipynb"
    server.write_notebook(name, [SETUP, "%%rlm -m slow\nA long story."])
    open_notebook(browser_page, server, name)
    run_all_cells(browser_page)
    outputs = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea")
    page.wait_for_selector(".rlm-saved .rlm-answer :text('word0')", timeout=30_000)
    lengths = []
    for _ in range(4):  # the saved copy grows while the answer streams
        lengths.append(len(outputs.inner_text()))
        page.wait_for_timeout(1_200)
    browser_page.screenshot("no-widgets-streaming")
    assert lengths == sorted(lengths) and lengths[-1] > lengths[0], lengths
    shown = outputs.inner_text()
    assert "<rlm stream" not in shown and "No renderer" not in shown, (
        "the widget's output (its placeholder) is hidden beside the copy")
    assert page.locator(".rlm-stream:not(.rlm-static) .rlm-answer").count() == 0, "no live widget here"
    wait_cells_done(browser_page, timeout=60_000)
    page.wait_for_selector('.rlm-stream.rlm-static, .rlm-stream[data-state="done"]', timeout=30_000)
    assert _story() in page.locator(".jp-Cell").nth(1).inner_text()


AGENT = '''
from rlm_toolkit import ScriptedTurn
import time
def slow_add(a: int, b: int) -> int:
    "Add two numbers, slowly."
    time.sleep(30)
    return a + b
agent_rlm = RLM(ScriptedProvider(turns=[
    ScriptedTurn(tool_calls=[{"id": "c1", "name": "slow_add", "arguments": {"a": 2, "b": 40}}]),
    ScriptedTurn(chunks="The answer is 42.")]))
'''


def test_the_agent_timeline_shows_its_header_at_once_and_stops(jupyter_lab_server: JupyterServer,
                                                               browser_page: BrowserPage):
    server, page = jupyter_lab_server, browser_page.page
    name = "agent_stop.ipynb"
    server.write_notebook(name, [SETUP, AGENT, "%%rlm --agent --tools slow_add -m agent_rlm -o out\n2 + 40?",
                                 "print('after', repr(out))"])
    open_notebook(browser_page, server, name)
    run_all_cells(browser_page)
    page.wait_for_selector(".rlm-timeline .rlm-h-state", timeout=30_000)
    assert page.inner_text(".rlm-timeline .rlm-h-state") == "running"
    page.wait_for_selector(".rlm-timeline .rlm-action", timeout=30_000)  # the tool is running now
    assert "1 step" in page.inner_text(".rlm-timeline .rlm-timeline-header")
    page.click(".rlm-timeline .rlm-step-title")  # the messages of the step that is running
    page.wait_for_selector(".rlm-timeline .rlm-messages .rlm-message", timeout=10_000)
    page.click(".rlm-timeline .rlm-stop")
    page.wait_for_selector('.rlm-timeline[data-state="stopped"]', timeout=10_000)
    wait_cells_done(browser_page, timeout=60_000)
    browser_page.screenshot("agent-stopped")
    assert page.locator("details.rlm-messages[open]").count() == 1, (
        "the opened step stays open in the static copy"
    )
