"""``{In[n]}``, ``{Out[n]}``, ``{Err[n]}``, ``{_}``, ``{__}``, ``{___}``: the notebook's history in a prompt.

Parsed, never evaluated: a field is one of these shapes or it is not history (then
:mod:`rlm_jupyter.magics.prompt` treats it as a variable name). ``n`` is a cell's execution
count; a negative ``n`` counts back from the cell being run (``{In[-1]}`` is the cell before
this one). ``{_}``, ``{__}`` and ``{___}`` are the last three outputs, as IPython's own ``_``
names mean. Sources and outputs are read from IPython's history manager (``input_hist_raw``,
``output_hist``: what ``In`` and ``Out`` name, even if a cell rebinds those names); errors from
:class:`~.errors.ErrorLog`. A field that names nothing is a one-line ``UsageError`` that says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError

from .errors import ErrorLog
from .values import Limits, cut, render_value

__all__ = ["History", "HISTORY_FIELD"]

#: The fields this module answers; any other ``In[...]`` / ``Out[...]`` / ``Err[...]`` is a mistake.
HISTORY_FIELD = re.compile(r"^(?:(In|Out|Err)\s*\[\s*([+-]?\d{1,9})\s*\]|(_{1,3}))$")
_LOOKS_LIKE = re.compile(r"^(In|Out|Err)\s*\[")


@dataclass
class History:
    """The history of ``shell`` and its :class:`ErrorLog`, answering prompt fields as text."""

    shell: Any
    errors: ErrorLog

    def handles(self, field: str) -> bool:
        """Whether ``field`` is a history field (a malformed ``In[…]`` included: it gets the error)."""
        return bool(HISTORY_FIELD.match(field) or _LOOKS_LIKE.match(field))

    @property
    def current(self) -> int:
        """The execution count of the cell being run (its source is the last of the history)."""
        return len(self._inputs()) - 1

    def _inputs(self) -> list[str]:
        manager = getattr(self.shell, "history_manager", None)
        return list(getattr(manager, "input_hist_raw", None) or [""])

    def _outputs(self) -> dict[int, Any]:
        manager = getattr(self.shell, "history_manager", None)
        return dict(getattr(manager, "output_hist", None) or {})

    def text(self, field: str, limits: Limits) -> str:
        """The text ``{field}`` stands for; a UsageError naming the field if there is none."""
        from rlm_toolkit.errors import scrub

        where = f"{{{field}}}"
        m = HISTORY_FIELD.match(field)
        if m is None:
            raise UsageError(f"{where}: history is In[n], Out[n] or Err[n] with a whole number n "
                             "(In[3], Out[-1]), or _ / __ / ___")
        kind, number, underscores = m.groups()
        if underscores:
            outputs = self._outputs()
            earlier = sorted(n for n in outputs if n < self.current)
            back = len(underscores)
            if len(earlier) < back:
                raise UsageError(f"{where}: only {len(earlier)} cell(s) have produced an output so far")
            return scrub(render_value(outputs[earlier[-back]], limits))
        count = self.resolve(int(number), where)
        if kind == "In":
            return scrub(cut(self._inputs()[count], limits.chars))
        if kind == "Out":
            outputs = self._outputs()
            if count not in outputs:
                raise UsageError(f"{where}: cell {count} produced no output (Out has "
                                 f"{_listing(sorted(outputs))})")
            return scrub(render_value(outputs[count], limits))
        record = self.errors.get(count)
        if record is None:
            raise UsageError(f"{where}: cell {count} raised no error (errors are kept for "
                             f"{_listing(sorted(self.errors.records))})")
        return cut(record.text(), limits.chars)

    def resolve(self, number: int, where: str) -> int:
        """The execution count ``number`` names (negative: back from this cell), or a UsageError."""
        current = self.current
        count = current + number if number < 0 else number
        if count < 1 or count >= current:
            if current <= 1:
                raise UsageError(f"{where}: no cell ran before this one")
            raise UsageError(f"{where}: no cell {number} ran before this one (this is cell {current}; "
                             f"cells 1 to {current - 1}, or -1 to -{current - 1}, can be named)")
        return count


def _listing(counts: list[int]) -> str:
    if not counts:
        return "none yet"
    shown = ", ".join(map(str, counts[-8:]))
    return ("cells " if len(counts) > 1 else "cell ") + ("…, " if len(counts) > 8 else "") + shown
