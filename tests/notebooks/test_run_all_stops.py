"""A failed ``%%rlm`` answer stops Run All: nbclient (what ``jupyter nbconvert --execute`` and
papermill run) raises at that cell and runs nothing after it; its output keeps the partial answer."""

from __future__ import annotations

import nbformat
import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

CELLS = [
    "%load_ext rlm_jupyter\n"
    "from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, AuthenticationError\n"
    "broken = RLM(ScriptedProvider(turns=[ScriptedTurn(chunks='Half an answer', error=AuthenticationError("
    "'bad key sk-abcdefghijklmnop1234', status_code=401), error_after=2)]), max_retries=0)",
    "%%rlm -m broken -o half\nhi",
    "print('after the failure')",
]


def test_nbclient_stops_at_a_failed_answer(tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as failure:
        client.execute()
    assert failure.value.ename == "AuthenticationError"
    assert "sk-abcdefghijklmnop1234" not in str(failure.value)
    failed = nb.cells[1].outputs
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in failed)
    # the answer keeps the partial text; the error is written once, as the cell's one error line
    assert shown.startswith("Half an") and "AuthenticationError" not in shown
    errors = [o for o in failed if o["output_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1
    assert "AuthenticationError" in errors[0]["traceback"][0] and "partial answer is kept" in errors[0]["traceback"][0]
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None, "Run All went past the failure"
