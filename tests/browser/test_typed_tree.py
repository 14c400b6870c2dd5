"""A typed answer in JupyterLab (Chromium, real kernel): ``%%rlm --schema 'list[Person]'`` shows the
object filling in as a tree (rows are added as elements arrive, strings grow), settles into the
static tree that is saved, and the saved notebook reopens showing the same readable tree, the raw
JSON one click away; model text is never markup (issue 24)."""

from __future__ import annotations

import json

import pytest

from tests.browser._ui import open_notebook, run_all_cells, save_notebook, wait_cells_done, wait_for_output
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PEOPLE = [{"name": "Ada Lovelace <img src=x onerror=\"window.__pwned='tree'\">", "age": 36},
          {"name": "Alan Turing", "age": 41}, {"name": "Grace Hopper", "age": 85}]
TEXT = json.dumps({"value": PEOPLE})

SETUP = f'''
%load_ext rlm_jupyter
from pydantic import BaseModel
from rlm_toolkit import RLM, ScriptedProvider
class Person(BaseModel):
    name: str
    age: int
typed = RLM(ScriptedProvider(list({TEXT!r}), delay=0.02))
'''

_SAMPLE = """() => {
  const root = document.querySelector('.rlm-stream');
  const tree = root && root.querySelector('.rlm-obj-tree');
  if (!tree) return null;
  const rows = tree.querySelectorAll(':scope > ol.rlm-arr > li');
  return {state: root.dataset.state, static: root.classList.contains('rlm-static'), rows: rows.length,
          text: tree.textContent.length};
}"""

_CHANGED = """(last) => {
  const root = document.querySelector('.rlm-stream');
  const tree = root && root.querySelector('.rlm-obj-tree');
  return !!tree && (root.dataset.state !== last.state || tree.textContent.length !== last.text
                    || root.classList.contains('rlm-static') !== last.static);
}"""

_TREE = """() => {
  const tree = document.querySelector('.rlm-stream .rlm-obj-tree');
  return {rows: [...tree.querySelectorAll(':scope > ol.rlm-arr > li')].map(li =>
            [...li.querySelectorAll('tr')].map(tr => [...tr.children].map(cell => cell.textContent))),
          raw: document.querySelector('.rlm-stream details.rlm-obj-raw pre').textContent,
          rawOpen: document.querySelector('.rlm-stream details.rlm-obj-raw').open,
          imgs: document.querySelectorAll('.rlm-stream img').length};
}"""

EXPECTED = [[["name", p["name"]], ["age", str(p["age"])]] for p in PEOPLE]


def test_the_tree_grows_live_then_is_saved_and_reopens_readable(jupyter_lab_server: JupyterServer,
                                                                 browser_page: BrowserPage):
    server, page = jupyter_lab_server, browser_page.page
    cell = "%%rlm -m typed --schema 'list[Person]' -o people\nThe people."
    server.write_notebook("typed.ipynb", [SETUP, cell])
    open_notebook(browser_page, server, "typed.ipynb")
    mark = browser_page.mark()
    run_all_cells(browser_page)
    wait_for_output(browser_page, ".rlm-stream .rlm-obj-tree", timeout=60_000)
    samples = []
    while True:
        sample = page.evaluate(_SAMPLE)
        samples.append(sample)
        if sample["static"]:
            break
        if len(samples) == 6:
            browser_page.screenshot("typed-tree-growing")
        page.wait_for_function(_CHANGED, arg=sample, timeout=60_000, polling="raf")
    live = [s for s in samples if not s["static"] and s["state"] == "streaming"]
    rows = [s["rows"] for s in live]
    assert len(set(rows)) >= 2 and rows == sorted(rows), f"the rows should be added as they arrive: {samples}"
    texts = [s["text"] for s in live]
    assert texts == sorted(texts) and len(set(texts)) >= 5, texts  # the tree grows, never shrinks
    wait_cells_done(browser_page)
    browser_page.screenshot("typed-tree-done")
    done = page.evaluate(_TREE)
    assert done["rows"] == EXPECTED and done["raw"] == TEXT and done["rawOpen"] is False
    assert done["imgs"] == 0 and page.evaluate("window.__pwned === undefined")
    assert browser_page.errors_since(mark) == []

    save_notebook(browser_page)
    saved = server.read_notebook("typed.ipynb")["cells"][1]["outputs"]
    html = "".join(o["data"]["text/html"] for o in saved if "text/html" in o.get("data", {}))
    assert "rlm-obj-tree" in html and "<img" not in html
    # reopened without running anything: the saved output alone shows the same tree
    server.shutdown_kernels()
    open_notebook(browser_page, server, "typed.ipynb")
    page.wait_for_selector(".rlm-stream.rlm-static .rlm-obj-tree li", timeout=60_000)
    again = page.evaluate(_TREE)
    assert again["rows"] == EXPECTED and again["raw"] == TEXT and again["imgs"] == 0
    page.click(".rlm-stream details.rlm-obj-raw summary")  # the raw JSON, one click away
    assert page.locator(".rlm-stream details.rlm-obj-raw pre").is_visible()
    browser_page.screenshot("typed-tree-reopened")
