"""``%%rlm`` with no model named, in JupyterLab: what a new user with no key sees — the embedded
SmolLM2 model answering, live, in place."""

from __future__ import annotations

import pytest

from tests.browser._stream import sample_growth
from tests.browser._ui import open_notebook, run_all_cells, wait_cells_done
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.timeout(300)]


def test_embedded_model_streams_in_place_with_no_model_named(jupyter_lab_server: JupyterServer,
                                                             browser_page: BrowserPage):
    """What a new user with no key sees: ``%%rlm`` with no ``-m`` answers from SmolLM2, live."""
    from tests.conftest import require
    from tests.fixtures.notebooks import embedded_model_missing

    missing = embedded_model_missing()
    if missing:
        if require("model"):
            pytest.fail(missing)
        pytest.skip(missing)
    server, page = jupyter_lab_server, browser_page.page
    try:
        server.write_notebook("embedded.ipynb", [
            "%load_ext rlm_jupyter",
            "%%rlm --max-tokens 48 --temperature 0\nWrite three short sentences about the sea.",
        ])
        open_notebook(browser_page, server, "embedded.ipynb")
        mark = browser_page.mark()
        run_all_cells(browser_page)
        samples = sample_growth(browser_page)
        streaming = [s for s in samples if s["state"] == "streaming" and s["length"] > 0]
        lengths = [s["length"] for s in streaming]
        assert len(lengths) >= 2, f"the answer was seen in only {len(lengths)} streaming states: {samples}"
        assert lengths == sorted(set(lengths))
        assert all(s["sameRoot"] and s["sameAnswer"] for s in streaming)
        page.wait_for_selector('.rlm-stream[data-state="done"] .rlm-footer', timeout=60_000)
        wait_cells_done(browser_page)
        browser_page.screenshot("embedded-done")
        assert page.inner_text(".rlm-stream .rlm-answer").strip()
        assert "smollm2" in page.inner_text(".rlm-stream .rlm-footer").lower()
        assert browser_page.errors_since(mark) == []
        assert browser_page.console_errors(mark) == []
    finally:
        server.shutdown_kernels()

