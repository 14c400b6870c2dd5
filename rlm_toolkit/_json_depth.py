"""JSON nested to a bounded depth: the one way rlm parses JSON it did not write, and cuts deep values.

``json.loads`` recurses once per ``[`` or ``{``, and so does every walker over what it returns
(scrubbing, writing a trace, rendering arguments, diffing), so ``[[[[…]]]]`` a few thousand deep
gives a bare :class:`RecursionError` wherever it lands, and a few hundred deep passes the parser
only to fail later in a walker or come out as megabytes of indentation. So:

* :func:`loads` refuses text nested deeper than :data:`MAX_DEPTH` with :class:`TooDeepError`, a
  :class:`ValueError` (each caller already turns a ValueError into its own typed error: a
  :class:`~rlm_toolkit.errors.MalformedResponseError` for a stream chunk, a skipped trace line, an
  error observation for tool arguments). The depth is counted before parsing, by a linear scan of
  the brackets outside strings, not by catching RecursionError: that one depends on how deep the
  caller's stack already is, and a value that just passed would still break the walkers after it.
* Walkers keep :data:`CUT_DEPTH` levels and put :data:`TOO_DEEP` in place of anything deeper
  (:func:`cut_deep` does it for any JSON-like value). CUT_DEPTH is below MAX_DEPTH so that a cut value
  wrapped in a few levels (a trace line around an event) still reads back.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

__all__ = ["MAX_DEPTH", "CUT_DEPTH", "TOO_DEEP", "TooDeepError", "loads", "depth", "cut_deep"]

#: Deepest nesting of ``[``/``{`` that :func:`loads` accepts.
MAX_DEPTH = 128
#: Levels that walkers keep before cutting; leaves room for the few levels a trace line adds.
CUT_DEPTH = 100
#: What a walker writes in place of a list or object nested deeper than :data:`CUT_DEPTH`.
TOO_DEEP = f"[cut: nested deeper than {CUT_DEPTH} levels]"

# A string, escapes and all; an unterminated one runs to the end (so every match succeeds and the
# scan never starts again from a later quote: linear in the text, whatever it holds).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}.__getitem__


class TooDeepError(ValueError):
    """JSON text nested deeper than the limit; a ValueError, like the parser's own errors."""


def depth(text: str) -> int:
    """The deepest nesting of brackets outside strings in ``text`` (at least what ``json`` would
    recurse to while parsing it), in linear time."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP, brackets)), default=0)


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, refusing text nested deeper than ``max_depth`` with :class:`TooDeepError`."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    if not isinstance(text, str):
        return json.loads(text)  # the TypeError json gives for anything else
    if (
        len(text) > max_depth  # shorter text cannot be deeper; most stream chunks stop here
        and text.count("[") + text.count("{") > max_depth
        and depth(text) > max_depth
    ):
        raise TooDeepError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:  # only if the caller's own stack is nearly full
        raise TooDeepError(f"nested too deep to read here (limit {max_depth} levels)") from None


def cut_deep(value: Any, limit: int = CUT_DEPTH) -> Any:
    """``value`` with every list or dict below ``limit`` levels replaced by :data:`TOO_DEEP` (a
    copy where something was cut; tuples become lists). Safe to hand to ``json.dumps``."""
    if isinstance(value, (dict, list, tuple)):
        if limit <= 0:
            return TOO_DEEP
        if isinstance(value, dict):
            return {k: cut_deep(v, limit - 1) for k, v in value.items()}
        return [cut_deep(v, limit - 1) for v in value]
    return value
