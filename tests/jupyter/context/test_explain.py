"""``%rlm explain`` / ``%rlm fix`` in an in-process shell: the prompt sent, the code offered, the mistakes."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from rlm_jupyter.magics.context import EXPLAIN_SYSTEM, FIX_SYSTEM, extract_code


@pytest.fixture
def ip(shell):
    shell.history_manager.reset()
    shell.execution_count = 1
    shell.run_cell("from rlm_toolkit import RLM, ScriptedProvider\nsent = []\n"
                   "def answer(r):\n    sent.append(r.messages)\n    return reply\n"
                   "reply = 'Use a guard.\\n```python\\nprint(total / max(count, 1))\\n```'\n"
                   "model = RLM(ScriptedProvider(fn=answer))", store_history=True)  # cell 1
    offered = []
    shell.set_next_input = lambda text, replace=False: offered.append((text, replace))
    shell.offered = offered
    return shell


CELL = "total = 10\ncount = 0\nprint(total / count)"
PROMPT_BODY = ("\n\nCell [2]:\n```python\ntotal = 10\ncount = 0\nprint(total / count)\n```\n\nError:\n"
               "ZeroDivisionError: division by zero\nTraceback (most recent call last):\n"
               '  File "the cell", line 3, in <module>\n    print(total / count)\n\n'
               "The failing line: print(total / count)\nValues of the names in it:\n"
               "- total = 10\n- count = 0")


def test_explain_sends_the_cell_the_error_and_the_values_of_the_failing_line(ip):
    ip.run_cell(CELL, store_history=True)  # cell 2
    result = ip.run_cell("%rlm explain -m model --no-widget", store_history=True)
    assert result.error_in_exec is None
    (messages,) = ip.user_ns["sent"]
    assert messages == [{"role": "system", "content": EXPLAIN_SYSTEM},
                        {"role": "user", "content": "Explain this error." + PROMPT_BODY}]
    assert ip.offered == []  # explain offers no cell


def test_fix_offers_the_answers_code_as_the_next_cell_and_never_runs_it(ip):
    ip.run_cell(CELL, store_history=True)  # cell 2
    ip.run_cell("'between'", store_history=True)
    result = ip.run_cell("%rlm fix 2 -m model --no-widget", store_history=True)
    assert result.error_in_exec is None
    (messages,) = ip.user_ns["sent"]
    assert messages[0] == {"role": "system", "content": FIX_SYSTEM}
    assert messages[1]["content"] == "Fix this cell." + PROMPT_BODY
    assert ip.offered == [("print(total / max(count, 1))", False)]
    assert ip.history_manager.input_hist_raw[-1] == "%rlm fix 2 -m model --no-widget"  # nothing ran after


@pytest.mark.parametrize("line, message", [
    ("%rlm explain", "no cell has raised an error yet"),
    ("%rlm fix 1", "cell 1 raised no error"),
    ("%rlm fix 7", "cell 7: no cell 7 ran before this one"),
    ("%rlm explain x", "argument N: invalid int value: 'x'"),
])
def test_mistakes_are_one_line_usage_errors(ip, line, message):
    result = ip.run_cell(line, store_history=True)
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec).startswith(message) and "\n" not in str(result.error_in_exec)
    assert ip.user_ns["sent"] == []


@pytest.mark.parametrize("answer, code", [
    ("```python\na = 1\n```\ntext\n```python\nb = 2\n```", "b = 2"),  # the last python block
    ("```py\nc = 3\n```", "c = 3"),
    ("```bash\nls\n```\nplain", "```bash\nls\n```\nplain"),  # no python block: the whole answer
    ("  x = 1  \n", "x = 1"),
    ("```python\nunclosed", "```python\nunclosed"),
])
def test_extract_code(answer, code):
    assert extract_code(answer) == code
