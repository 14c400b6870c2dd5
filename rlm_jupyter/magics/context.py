"""``%rlm explain [N]`` and ``%rlm fix [N]``: the last error (or cell N's) put to the model.

::

    1 / 0                  # cell 7 raises
    %rlm explain           # streams why, from the cell's source, the error and its traceback,
                           # and the values of the names in the failing line
    %rlm fix               # streams a corrected cell and offers it as the next cell

The prompt is built here from :mod:`rlm_jupyter.context` (the error as it was recorded, every text
scrubbed and capped) and streamed like a ``%%rlm`` cell. ``fix`` takes the answer's last
```` ```python ```` block (else the whole answer) and hands it to IPython's
``shell.set_next_input(code, replace=False)`` — JupyterLab, Notebook 7 and VS Code put it in a new
cell below. rlm never runs it.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError

from ..context import ErrorLog, ErrorRecord, History

__all__ = ["attach_context", "explain", "fix", "extract_code", "error_prompt", "EXPLAIN_SYSTEM", "FIX_SYSTEM"]

EXPLAIN_SYSTEM = ("You help a Python programmer working in a Jupyter notebook. Explain the error "
                  "briefly: what went wrong, in which line and why, and how to fix it.")
FIX_SYSTEM = ("You fix Python code in a Jupyter notebook. Answer with the whole corrected cell in one "
              "```python block, then one sentence on what changed.")

_FENCE = re.compile(r"^```[ \t]*(python3?|py)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S | re.I)


def attach_context(magics: Any) -> tuple[ErrorLog, History]:
    """The magics' error log (hooked to the shell's ``post_run_cell``) and its history lookups."""
    errors = ErrorLog(magics.limits)
    if magics.shell is not None:
        errors.attach(magics.shell)
    return errors, History(magics.shell, errors)


def extract_code(answer: str) -> str:
    """The last ```` ```python ```` (or ``py``) fenced block of ``answer``, else the whole answer."""
    blocks = _FENCE.findall(answer)
    return (blocks[-1][1] if blocks else answer).strip()


def _record(magics: Any, number: int | None) -> tuple[ErrorRecord, str]:
    """The error ``%rlm explain N`` names (the last one when N is None) and its cell's source."""
    history: History = magics.notebook
    if number is None:
        record = magics.errors.last(before=history.current)
        if record is None:
            raise UsageError("no cell has raised an error yet (since rlm_jupyter was loaded)")
    else:
        count = history.resolve(number, f"cell {number}")
        record = magics.errors.get(count)
        if record is None:
            raise UsageError(f"cell {count} raised no error")
    return record, history.text(f"In[{record.count}]", magics.limits())


def error_prompt(record: ErrorRecord, source: str, task: str) -> str:
    """The prompt of ``explain`` / ``fix``: the task, the cell, the error, the failing line's values."""
    parts = [task, "", f"Cell [{record.count}]:", "```python", source.rstrip(), "```", "",
             "Error:", record.text()]
    if record.line:
        parts += ["", f"The failing line: {record.line}"]
    if record.values:
        parts += ["Values of the names in it:"]
        parts += [f"- {name} = {value}" for name, value in record.values.items()]
    return "\n".join(parts)


def _args(magics: Any, args: Any) -> Any:
    """``%%rlm``'s defaults, with the model of the ``%rlm`` line: what ``run_prompt`` reads."""
    options = magics.rlm.parser.parse_args([])  # the cell magic's parser (magic_arguments)
    options.model = args.model
    options.no_widget = args.no_widget
    options.budget = {}  # what run_prompt reads (the cell magic parses --budget into this)
    return options


def explain(magics: Any, args: Any) -> Any:
    """``%rlm explain [N]``: stream an explanation of cell N's error (the last error by default)."""
    record, source = _record(magics, args.cell)
    options = _args(magics, args)
    options.system = EXPLAIN_SYSTEM
    magics.run_prompt(error_prompt(record, source, "Explain this error."), options)


def fix(magics: Any, args: Any) -> Any:
    """``%rlm fix [N]``: stream a corrected cell N and offer its code as the next cell."""
    record, source = _record(magics, args.cell)
    options = _args(magics, args)
    options.system = FIX_SYSTEM
    view = magics.run_prompt(error_prompt(record, source, "Fix this cell."), options)
    code = extract_code(getattr(view, "answer", "") or "")
    if not code:
        print("rlm: the answer had no code to offer as the next cell")
        return
    magics.shell.set_next_input(code, replace=False)
