"""Driving a notebook in JupyterLab 4 / Notebook 7 from Playwright, the same way in both.

Both front ends are started with ``expose_app_in_browser`` so the tests can run JupyterLab
commands (``notebook:run-all-cells``, ``docmanager:save``) the way the menus do, and wait on
the kernel's status instead of sleeping.
"""

from __future__ import annotations

from typing import Any

from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

__all__ = [
    "open_notebook",
    "run_all_cells",
    "wait_cells_done",
    "save_notebook",
    "output_texts",
    "wait_for_output",
]

_PANEL = "(window.jupyterapp && window.jupyterapp.shell.currentWidget)"

_KERNEL_READY = f"""(path) => {{
  const panel = {_PANEL};
  if (!panel || !panel.sessionContext || !panel.content || panel.context.path !== path) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}}"""

_CELLS_DONE = f"""() => {{
  const panel = {_PANEL};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  return panel.content.widgets.every(
    c => c.model.type !== 'code' || (c.model.executionCount !== null && !c.hasClass('jp-mod-executing')));
}}"""


def open_notebook(bp: BrowserPage, server: JupyterServer, name: str, *, timeout: float = 90_000) -> None:
    """Open ``name`` and wait until its notebook panel has a connected, idle kernel."""
    bp.page.goto(server.page_url(name), wait_until="domcontentloaded")
    bp.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout)
    bp.page.wait_for_function(_KERNEL_READY, arg=name, timeout=timeout, polling=200)


def run_all_cells(bp: BrowserPage) -> None:
    """Run every cell, as Run ▸ Run All Cells does (returns once they are queued)."""
    # Not awaited: the command's promise settles only when every cell has finished.
    bp.page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def wait_cells_done(bp: BrowserPage, *, timeout: float = 60_000) -> None:
    """Wait until every code cell has run and the kernel is idle again."""
    bp.page.wait_for_function(_CELLS_DONE, timeout=timeout, polling=200)


def save_notebook(bp: BrowserPage) -> None:
    """Save through the UI command (File ▸ Save) and wait until the server has the new file.

    (Not until the document is clean: a live answer's display updates make it dirty again as
    soon as it is saved.)"""
    modified = f"{_PANEL}.context.contentsModel && {_PANEL}.context.contentsModel.last_modified"
    before = bp.page.evaluate(f"() => {modified}")
    bp.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    bp.page.wait_for_function(f"(before) => {{ const m = {modified}; return !!m && m !== before; }}",
                              arg=before, timeout=30_000, polling=200)


def output_texts(bp: BrowserPage) -> list[str]:
    """The visible text of every output area, in order."""
    texts: list[Any] = bp.page.locator(".jp-OutputArea-output").all_inner_texts()
    return [str(t) for t in texts]


_ERROR_OUTPUTS = (
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
    '.jp-OutputArea-output.jp-mod-error, .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'
)


def wait_for_output(bp: BrowserPage, selector: str, *, timeout: float = 60_000) -> None:
    """Wait until ``selector`` is in the page; fail at once, with the text, if a cell errs first."""
    found = bp.page.wait_for_function(
        "([wanted, errors]) => document.querySelector(wanted) ? 'ok'"
        " : (document.querySelector(errors) ? document.querySelector(errors).innerText : false)",
        arg=[selector, _ERROR_OUTPUTS], timeout=timeout, polling=100).json_value()
    if found != "ok":
        bp.screenshot("cell-error")
        raise AssertionError(f"a cell failed before {selector} appeared: {found}")
