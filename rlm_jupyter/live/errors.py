"""Errors as the user sees them: one scrubbed line, the state an error settles a view in, and the
exception a magic raises so its cell fails with that line and no traceback.

:func:`one_line` is the one formatter of an error for a page, a footer or a ``UsageError``
(:func:`rlm_toolkit.errors.describe`, cut to its first line); :func:`settled_state` the one map
from how a run ended to ``done`` / ``stopped`` / ``error``.
"""

from __future__ import annotations

import asyncio

from rlm_toolkit.errors import RLMError, describe, scrub

__all__ = ["one_line", "settled_state", "Stopped", "cell_error", "AnswerFailed"]


def one_line(error: BaseException, *, typed: bool = True) -> str:
    """``Type: message``, scrubbed, first line only; ``typed=False``: a toolkit error's message
    alone (what a ``UsageError`` of a magic says: the type adds nothing to a mistake)."""
    if not typed and isinstance(error, RLMError) and error.message.strip():
        return scrub(error.message).strip().splitlines()[0]
    return describe(error).splitlines()[0]


class Stopped(asyncio.CancelledError):
    """How a stream stopped by its Stop button (or ``%rlm stop``) is settled: state ``stopped``."""


def settled_state(error: BaseException | None) -> str:
    """How a run that ended with ``error`` is settled: ``done`` (None), ``error`` (an
    ``Exception``), ``stopped`` (an interrupt, a cancellation, a Stop)."""
    if error is None:
        return "done"
    return "error" if isinstance(error, Exception) and not isinstance(error, Stopped) else "stopped"


class _OneLine:
    """Makes IPython show an exception as the given lines instead of a traceback."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __call__(self) -> list[str]:
        return self.lines


class AnswerFailed(Exception):
    """A failed answer that was not an ``rlm_toolkit`` error (e.g. a plain iterator raised)."""


def cell_error(error: BaseException, note: str = "") -> BaseException:
    """The exception a magic raises so that its cell ends with error status and one line.

    Toolkit errors keep their type (``AuthenticationError``, ``IncompleteStreamError`` …), so
    ``nbclient``'s ``CellExecutionError`` and papermill name it; anything else becomes
    :class:`AnswerFailed`. The line is scrubbed of keys; the traceback is dropped.
    """
    line = one_line(error) + note
    failed: BaseException = error
    if not isinstance(error, (RLMError, KeyboardInterrupt)):
        failed = AnswerFailed(scrub(line))
    failed.__traceback__ = None
    failed.__cause__ = None
    failed.__suppress_context__ = True
    # IPython's hook for an exception's own rendering; an instance attribute, as IPython reads it
    setattr(failed, "_render_traceback_", _OneLine([line]))  # noqa: B010
    return failed
