"""A notebook with ``%%rlm`` executed headless (nbclient) and exported (nbconvert): the saved file
and the HTML hold the answer, safely, with provenance, and no widget is needed to read it."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

SETUP = """%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider
answer = "The **sea** is wide <img src=x onerror=alert(1)> and costs $5."
m = RLM(ScriptedProvider(answer, delay=0.001))"""


def test_executed_notebook_keeps_a_static_safe_answer(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell("%%rlm -m m\nTell me about the sea."),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = nb.cells[1].outputs
    # the answer, and its saved copy, emptied once the answer settled (front ends show nothing for it)
    assert len(outputs) == 2 and outputs[1]["data"] == {} and outputs[1]["metadata"]["rlm"]["copy"], outputs
    data, metadata = outputs[0]["data"], outputs[0]["metadata"]
    assert "application/vnd.jupyter.widget-view+json" not in data  # readable without the widget
    assert data["text/plain"] == "The **sea** is wide <img src=x onerror=alert(1)> and costs $5."
    assert "&lt;img" in data["text/markdown"] and r"\$5" in data["text/markdown"]
    assert "<strong>sea</strong>" in data["text/html"] and "<img" not in data["text/html"]
    assert metadata["rlm"]["model"] == "scripted:scripted" and metadata["rlm"]["state"] == "done"
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    nbformat.validate(nbformat.read(path, as_version=4))
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    assert widgets is None or "state" in widgets  # GitHub refuses widget metadata without "state"
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "<strong>sea</strong>" in html and "<img src=x" not in html and "&lt;img src=x onerror" in html
