"""The errors the notebook's cells raised, kept per execution count, bounded, scrubbed of keys.

:class:`ErrorLog` listens to IPython's public ``post_run_cell`` event: its ``ExecutionResult``
names the cell (``execution_count``) and the exception (``error_in_exec``, or
``error_before_exec`` for a syntax error), whose ``__traceback__`` holds the frames. At that moment
the record is made: type, message, the traceback without IPython's own frames (the last
:data:`MAX_FRAMES`), the failing line of the cell and the values of the names in it, rendered by
:mod:`.values` — so ``%rlm explain`` later sees them as they were when the error happened, and no
frame is kept alive. Every text is passed through :func:`rlm_toolkit.errors.scrub`.
"""

from __future__ import annotations

import builtins
import io
import keyword
import tokenize
import traceback
import types
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import IPython

from .values import Limits, cut, render_value

__all__ = ["ErrorLog", "ErrorRecord", "MAX_ERRORS", "MAX_FRAMES", "MAX_NAMES"]

MAX_ERRORS = 50  #: errors kept (the most recent cells')
MAX_FRAMES = 8  #: frames of a traceback kept (the innermost)
MAX_NAMES = 8  #: names of the failing line whose values are kept
MAX_TRACEBACK_CHARS = 4000

_IPYTHON_DIR = str(Path(IPython.__file__ or "IPython").parent)  # its frames are not the cell's


@dataclass(frozen=True)
class ErrorRecord:
    """One cell's error, as text only (scrubbed)."""

    count: int  #: the cell's execution count
    type: str  #: the exception's qualified type name (``ZeroDivisionError``, ``pandas.errors.…``)
    message: str
    traceback: str  #: the frames from the cell inward, trimmed
    line: str = ""  #: the cell's failing line ("" when unknown)
    values: dict[str, str] = field(default_factory=dict)  #: name → rendered value, of the failing line

    def text(self) -> str:
        """What ``{Err[n]}`` puts in a prompt: the error's one line, then the trimmed traceback."""
        head = f"{self.type}: {self.message}" if self.message else self.type
        return f"{head}\n{self.traceback}".rstrip()


class ErrorLog:
    """The errors of a shell's cells; :meth:`attach` hooks it to ``post_run_cell``."""

    def __init__(self, limits: Callable[[], Limits] = Limits) -> None:
        self.records: OrderedDict[int, ErrorRecord] = OrderedDict()
        self._limits = limits
        self._shell: Any = None

    def attach(self, shell: Any) -> ErrorLog:
        shell.events.register("post_run_cell", self.post_run_cell)
        self._shell = shell
        return self

    def detach(self) -> None:
        if self._shell is not None:
            try:
                self._shell.events.unregister("post_run_cell", self.post_run_cell)
            except ValueError:
                pass
            self._shell = None

    def post_run_cell(self, result: Any) -> None:
        error = result.error_in_exec or result.error_before_exec
        count = result.execution_count
        if error is None or not isinstance(count, int) or _is_usage_error(error):
            return  # a magic's one-line UsageError is a mistake in a command, not the code's error
        try:
            self.add(count, error)
        except Exception:  # noqa: BLE001  the log must never break the cell that failed
            pass

    def add(self, count: int, error: BaseException) -> ErrorRecord:
        """Record ``error`` as cell ``count``'s (the oldest record goes beyond :data:`MAX_ERRORS`)."""
        from rlm_toolkit.errors import scrub

        record = _record(count, error, self._limits(), scrub)
        self.records[count] = record
        self.records.move_to_end(count)
        while len(self.records) > MAX_ERRORS:
            self.records.popitem(last=False)
        return record

    def get(self, count: int) -> ErrorRecord | None:
        return self.records.get(count)

    def last(self, before: int | None = None) -> ErrorRecord | None:
        """The most recent error of a cell numbered below ``before`` (all cells if None)."""
        for count in reversed(self.records):
            if before is None or count < before:
                return self.records[count]
        return None


def _is_usage_error(error: BaseException) -> bool:
    from IPython.core.error import UsageError

    return isinstance(error, UsageError)


def _type_name(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _record(count: int, error: BaseException, limits: Limits, scrub: Callable[[str], str]) -> ErrorRecord:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(_IPYTHON_DIR)]
    tb = error.__traceback__
    cell_file = frames[0].filename if frames else None
    failing: types.FrameType | None = None
    line = ""
    while tb is not None:  # the innermost frame of the cell's own code: its line and its names
        if tb.tb_frame.f_code.co_filename == cell_file:
            failing = tb.tb_frame
        tb = tb.tb_next
    if failing is not None:
        line = next((f.line or "" for f in reversed(frames) if f.filename == cell_file), "")
    elif isinstance(error, SyntaxError) and error.text:
        line = error.text.strip()
    shown = frames[-MAX_FRAMES:]
    lines = ["Traceback (most recent call last):"] if shown else []
    if len(frames) > len(shown):
        lines.append(f"  [{len(frames) - len(shown)} outer frames cut]")
    for frame in shown:
        where = "the cell" if frame.filename == cell_file else frame.filename
        lines.append(f'  File "{where}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    values: dict[str, str] = {}
    if failing is not None and line:
        small = Limits(chars=min(limits.chars, 1000), rows=limits.rows, items=limits.items,
                       columns=limits.columns, cell_chars=limits.cell_chars)
        for name in _names(line)[:MAX_NAMES]:
            found, value = _value(name, failing)
            if found:
                values[name] = scrub(render_value(value, small))
    message = _message(error)
    return ErrorRecord(count=count, type=_type_name(error), message=scrub(cut(message, 1000)),
                       traceback=scrub(cut("\n".join(lines), MAX_TRACEBACK_CHARS)), line=scrub(line.strip()),
                       values=values)


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # noqa: BLE001
        return "(the message would not render)"


def _names(line: str) -> list[str]:
    """The variable names a line reads (not keywords, not attributes after a dot), in order, once."""
    names: dict[str, None] = {}
    previous = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            if token.type == tokenize.NAME and not keyword.iskeyword(token.string) and previous != ".":
                names[token.string] = None
            previous = token.string
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return list(names)


def _value(name: str, frame: types.FrameType) -> tuple[bool, Any]:
    for scope in (frame.f_locals, frame.f_globals):
        if name in scope:
            value = scope[name]
            if isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)):
                return False, None  # modules, functions and classes: their names say enough
            return True, value
    return False, getattr(builtins, name, None)
