"""``{In[n]}`` / ``{Out[n]}`` / ``{Err[n]}`` / ``{_}`` in an in-process IPython shell; the error log."""

from __future__ import annotations

import pytest

from rlm_jupyter.context import ErrorLog
from rlm_jupyter.context import errors as errors_module

KEY = "sk-QoS0U7f3Zq9WmB2xYc4Lh8Tn1Rv6Pd5Gs0Ja3KCxR"


@pytest.fixture
def ip(shell):
    shell.history_manager.reset()
    shell.execution_count = 1
    run(shell, "from rlm_toolkit import RLM, ScriptedProvider\n"
               "echo = RLM(ScriptedProvider(fn=lambda r: r.messages[-1]['content']))")  # cell 1
    return shell


def run(shell, code):
    return shell.run_cell(code, store_history=True)


def ask(shell, prompt):
    """The prompt the model received (the echo model answers with it)."""
    result = run(shell, f"%%rlm -m echo --no-widget -o answer\n{prompt}")
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return shell.user_ns["answer"]


def test_sources_outputs_and_errors_by_number_and_from_the_end(ip):
    run(ip, "x = 41\nx + 1")  # cell 2
    run(ip, "d = {'a': 0}\nd['a'] / d['a']")  # cell 3
    prompt = ask(ip, "{In[2]}|{Out[2]}|{_}|{Out[-2]}|{In[-1]}")
    assert prompt == "x = 41\nx + 1|42|42|42|d = {'a': 0}\nd['a'] / d['a']"
    assert ask(ip, "{Err[3]}") == ("ZeroDivisionError: division by zero\nTraceback (most recent call last):\n"
                                   '  File "the cell", line 2, in <module>\n    d[\'a\'] / d[\'a\']')
    run(ip, "'second'")
    assert ask(ip, "{_} {__}") == "second 42"


@pytest.mark.parametrize("field, message", [
    ("{In[99]}", "{In[99]}: no cell 99 ran before this one (this is cell 4; cells 1 to 3"),
    ("{In[0]}", "{In[0]}: no cell 0 ran before this one"),
    ("{In[-9]}", "{In[-9]}: no cell -9 ran before this one (this is cell 4; cells 1 to 3, or -1 to -3,"),
    ("{Out[__import__('os')]}", "{Out[__import__('os')]}: history is In[n]"),
    ("{Out[3]}", "{Out[3]}: cell 3 produced no output (Out has cell 2)"),
    ("{Err[2]}", "{Err[2]}: cell 2 raised no error (errors are kept for cell 3)"),
    ("{In[x]}", "{In[x]}: history is In[n], Out[n] or Err[n] with a whole number n"),
    ("{Out[1:3]}", "{Out[1:3]}: history is In[n]"),
    ("{___}", "{___}: only 1 cell(s) have produced an output so far"),
])
def test_a_field_that_names_nothing_is_one_usage_error_naming_it(ip, field, message):
    from IPython.core.error import UsageError

    run(ip, "41 + 1")  # cell 2
    run(ip, "1 / 0")  # cell 3
    with pytest.raises(UsageError) as caught:
        ask(ip, field)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_rebinding_In_and_Out_does_not_change_what_history_reads(ip):
    run(ip, "'kept'")  # cell 2
    run(ip, "In = Out = None")
    assert ask(ip, "{In[2]} {Out[2]}") == "'kept' kept"


def test_keys_are_scrubbed_from_sources_outputs_and_errors(ip):
    run(ip, f"key = '{KEY}'\nkey")  # cell 2
    run(ip, "raise ValueError(key)")  # cell 3
    prompt = ask(ip, "{In[2]} {Out[2]} {Err[3]}")
    assert KEY not in prompt and "***" in prompt


def test_outputs_are_rendered_and_capped_by_the_settings(ip):
    run(ip, "list(range(1000))")  # cell 2
    run(ip, "%config RLMMagics.context_rows = 2")
    assert ask(ip, "{Out[2]}") == "[0, 1, 2, 3, 4, 5, 6, 7, …] [1,000 items; first 8 shown]"
    run(ip, "%config RLMMagics.context_chars = 100")
    assert ask(ip, "{In[2]}") == "list(range(1000))"
    run(ip, "long = 'y' * 5000")
    assert ask(ip, "{long}") == "y" * 100 + "… [5,000 characters; first 100 shown]"


def test_the_failing_line_and_its_values_are_kept_when_the_error_happens(ip):
    run(ip, "def f(n):\n    return 1 / n\nitems = [0, 1]\nf(items[0])")  # cell 2
    record = ip.magics_manager.registry["RLMMagics"].errors.get(2)
    assert record.type == "ZeroDivisionError" and record.line == "return 1 / n"
    assert record.values == {"n": "0"}  # f's local, the innermost frame of the cell's code
    assert 'File "the cell", line 4, in <module>' in record.traceback
    run(ip, "items = None\nitems.append(1)")  # cell 3
    record = ip.magics_manager.registry["RLMMagics"].errors.get(3)
    assert record.values == {"items": "None"} and record.type == "AttributeError"
    run(ip, "def broken(:\n  pass")  # a syntax error: no frames, the line from the error
    record = ip.magics_manager.registry["RLMMagics"].errors.get(4)
    assert record.type == "SyntaxError" and record.line == "def broken(:"


def test_a_magic_usage_error_is_not_an_error_of_the_code(ip):
    run(ip, "%rlm model")  # a mistake in the command: UsageError
    assert ip.magics_manager.registry["RLMMagics"].errors.records == {}


def test_the_log_is_bounded_and_keeps_the_latest(monkeypatch):
    log = ErrorLog()
    for count in range(errors_module.MAX_ERRORS + 10):
        try:
            raise KeyError(count)
        except KeyError as error:
            log.add(count, error)
    assert len(log.records) == errors_module.MAX_ERRORS
    assert min(log.records) == 10 and log.last().count == errors_module.MAX_ERRORS + 9
    assert log.last(before=20).count == 19


def test_a_deep_traceback_keeps_its_innermost_frames():
    def down(n):
        if n == 0:
            raise RecursionError("deep")
        down(n - 1)

    log = ErrorLog()
    try:
        down(40)
    except RecursionError as error:
        record = log.add(1, error)
    assert record.traceback.count("File ") == errors_module.MAX_FRAMES
    assert "outer frames cut]" in record.traceback


def test_unloading_removes_the_hook(shell):
    magics = shell.magics_manager.registry["RLMMagics"]
    assert magics.errors.post_run_cell in shell.events.callbacks["post_run_cell"]
    shell.run_line_magic("unload_ext", "rlm_jupyter")
    assert magics.errors.post_run_cell not in shell.events.callbacks["post_run_cell"]
    shell.run_line_magic("load_ext", "rlm_jupyter")
