"""The notebook in the prompt, through a real ipykernel: ``{In[n]}`` / ``{Out[n]}`` / ``{Err[n]}``,
``%rlm explain`` and ``%rlm fix``; the loopback OpenAI-compatible server shows the exact request, and the
execute reply carries ``fix``'s ``set_next_input`` payload."""

from __future__ import annotations

import pytest

from rlm_jupyter.magics.context import EXPLAIN_SYSTEM, FIX_SYSTEM
from tests.fixtures.openai_server import TEST_KEY, Stream

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

SETUP = """
%load_ext rlm_jupyter
from rlm_toolkit import RLM
model = RLM.from_openai("gpt-4o", base_url={base_url!r}, api_key={api_key!r})
"""


@pytest.fixture
def kernel(ipy_kernel, openai_server):
    run = ipy_kernel.execute(SETUP.format(base_url=openai_server.base_url, api_key=openai_server.api_key))
    assert run.ok, run.errors or run.stderr
    return ipy_kernel


def cell(kernel, code, ok=True):
    """Run ``code``; its execution count."""
    run = kernel.execute(code)
    assert run.ok is ok, run.errors or run.stderr
    return run.reply["content"]["execution_count"]


def sent(openai_server):
    request = openai_server.requests[-1]
    assert request["model"] == "gpt-4o" and request["stream"] is True
    return request["messages"]


def test_sources_outputs_and_errors_by_number_reach_the_model_exactly(kernel, openai_server):
    a = cell(kernel, "x = 41\nx + 1")
    b = cell(kernel, f"config = {{'key': {TEST_KEY!r}, 'n': 0}}\n1 / config['n']", ok=False)
    run = kernel.execute(f"%%rlm -m model --no-widget\nsource: {{In[{a}]}}\nout: {{Out[{a}]}} {{_}}\n"
                         f"error: {{Err[{b}]}}\nbefore: {{In[-1]}}")
    assert run.ok, run.errors
    source_b = "config = {'key': '***', 'n': 0}\n1 / config['n']"
    assert sent(openai_server) == [{"role": "user", "content": (
        f"source: x = 41\nx + 1\nout: 42 42\nerror: ZeroDivisionError: division by zero\n"
        'Traceback (most recent call last):\n  File "the cell", line 2, in <module>\n'
        f"    1 / config['n']\nbefore: {source_b}")}]
    assert TEST_KEY not in str(openai_server.requests)


def test_a_field_that_names_nothing_sends_nothing(kernel, openai_server):
    a = cell(kernel, "None")
    run = kernel.execute(f"%%rlm -m model\n{{Out[{a}]}}")
    assert run.usage_error.startswith(f"{{Out[{a}]}}: cell {a} produced no output (Out has cell")
    assert openai_server.requests == []


def test_a_million_row_dataframe_goes_in_as_a_head_under_the_cap(kernel, openai_server):
    pytest.importorskip("pandas")
    assert kernel.execute("import pandas, numpy\nframe = pandas.DataFrame({'v': numpy.arange(1_000_000)})").ok
    run = kernel.execute("%%rlm -m model --no-widget\nDescribe {frame}")
    assert run.ok, run.errors
    (message,) = sent(openai_server)
    assert message["content"].startswith("Describe pandas.DataFrame: 1,000,000 rows × 1 columns\n")
    assert message["content"].endswith("| 4 | 4 |\n[1,000,000 rows; first 5 shown]")
    assert len(message["content"]) < 4000


FAILING = "total = 10\ncount = 0\nprint(total / count)"
BODY = ("Cell [{n}]:\n```python\ntotal = 10\ncount = 0\nprint(total / count)\n```\n\nError:\n"
        "ZeroDivisionError: division by zero\nTraceback (most recent call last):\n"
        '  File "the cell", line 3, in <module>\n    print(total / count)\n\n'
        "The failing line: print(total / count)\nValues of the names in it:\n- total = 10\n- count = 0")


def test_explain_streams_an_explanation_of_the_last_error(kernel, openai_server):
    n = cell(kernel, FAILING, ok=False)
    cell(kernel, "'a cell between'")
    openai_server.script(Stream("count is 0."))
    run = kernel.execute("%rlm explain -m model --no-widget")
    assert run.ok, run.errors
    assert "count is 0." in run.stdout
    assert sent(openai_server) == [{"role": "system", "content": EXPLAIN_SYSTEM},
                                   {"role": "user", "content": "Explain this error.\n\n" + BODY.format(n=n)}]
    assert run.reply["content"]["payload"] == []


def test_fix_offers_the_corrected_cell_as_the_next_input(kernel, openai_server):
    n = cell(kernel, FAILING, ok=False)
    openai_server.script(Stream("Guard it:\n```python\nprint(total / max(count, 1))\n```\nDone."))
    run = kernel.execute(f"%rlm fix {n} -m model")
    assert run.ok, run.errors
    assert sent(openai_server) == [{"role": "system", "content": FIX_SYSTEM},
                                   {"role": "user", "content": "Fix this cell.\n\n" + BODY.format(n=n)}]
    assert run.reply["content"]["payload"] == [
        {"source": "set_next_input", "text": "print(total / max(count, 1))", "replace": False}]
    assert kernel.value("count") == 0  # offered, never run


def test_fix_with_nothing_to_fix_is_one_usage_error(kernel, openai_server):
    n = cell(kernel, "'fine'")
    run = kernel.execute(f"%rlm fix {n} -m model")
    assert run.usage_error == f"cell {n} raised no error"
    assert openai_server.requests == [] and run.reply["content"]["payload"] == []
