"""What nbval does not check about the teaching notebooks: that each one is complete, honest
about its model, safe to publish, and renders where users read it (GitHub, nbviewer)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.execute import notebooks

NOTEBOOKS = notebooks()
EXPECTED = ["quickstart", "01_streaming_basics", "02_async_streaming", "03_callbacks", "04_rlm_magic_tour",
            "05_agents_and_timeline", "06_streaming_to_the_web", "07_providers_and_local_models",
            "08_reasoning_cost_and_budgets", "09_agents_in_practice", "10_images_in_prompts",
            "11_typed_answers", "12_mcp_tools", "13_notebook_context", "14_forking_a_run"]
_KEY_LIKE = re.compile(r"\b(sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]{12,})")
_MACHINE_PATHS = re.compile(r"(/work/|/root/|/home/\w+/|/tmp/|site-packages)")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_every_teaching_notebook_is_there():
    assert sorted(_ids(NOTEBOOKS)) == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_complete_and_publishable(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    runs_on = nb.metadata.get("rlm", {}).get("runs_on")
    assert runs_on in ("local", "scripted"), "metadata.rlm.runs_on names the model it runs on"

    intro = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and "**Runs on:**" in intro
    assert ("embedded local model" in intro) == (runs_on == "local")
    assert ("scripted provider" in intro) == (runs_on == "scripted")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"(?im)^#+ .*(real model|real key)", markdown), "a section shows how to switch to a real key"
    assert "_API_KEY" in markdown

    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert None not in counts and counts == sorted(counts) and counts[0] == 1, "run top to bottom, once, in order"
    for cell in code:
        tags = cell.metadata.get("tags", [])
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors or "raises-exception" in tags, f"unexpected error in {cell.source[:40]!r}"
        for output in cell.outputs:
            text = output.get("text", "") + "".join(str(v) for v in output.get("data", {}).values())
            assert not _KEY_LIKE.search(text), "something that looks like an API key was saved"
            assert not _MACHINE_PATHS.search(text), f"a path of this machine was saved: {text[:120]!r}"
            # A live widget left in a saved output shows "model not found" once the kernel is gone.
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {})

    # A lesson: exercises a learner can check, a page that goes deeper, public API only, and no notes
    # meant for maintainers (nbval, CI) in the learners' text — cell tags carry those.
    assert any("exercise-check" in c.metadata.get("tags", []) for c in code), "at least one checked exercise"
    assert re.search(r"(?m)^#+ Further reading", markdown) and "](../docs/" in markdown, "a link to docs/"
    assert not re.search(r"\b(nbval|NBVAL|in CI)\b", markdown), "maintainer notes belong in tags/metadata"
    assert not any(re.search(r"\brlm_toolkit\._", c.source) for c in code), "lessons use the public API"

    widgets = nb.metadata.get("widgets")
    if widgets is not None:  # GitHub refuses to render a notebook whose widget metadata lacks "state"
        assert "state" in widgets["application/vnd.jupyter.widget-state+json"]


def test_binder_opens_the_quickstart_with_the_package_installed():
    root = Path(__file__).resolve().parents[2]
    requirements = (root / "binder" / "requirements.txt").read_text()
    assert re.search(r"(?m)^\.\[[^\]]*\bjupyter\b[^\]]*\blocal\b[^\]]*\]$", requirements)
    assert (root / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    assert (root / "notebooks" / "quickstart.ipynb").exists()
