"""Reading untrusted JSON from a model's stream, one field at a time.

A server may send valid JSON of the wrong shape (``{"choices": [null]}``, ``"content": 5``, a
tool-call ``"index": "a"``). The parsers read every field through :func:`get`, so such a chunk is
a :class:`~rlm_toolkit.errors.MalformedResponseError` naming the field, never a raw
``AttributeError`` or ``TypeError`` and never a non-``str`` chunk handed to the caller.
"""

from __future__ import annotations

import json
from typing import Any, Union

from ..errors import MalformedResponseError

__all__ = ["get", "expect_object", "shape_error"]

Kind = Union[type, tuple[type, ...]]
_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "an array", dict: "an object"}


def get(container: dict[str, Any], key: str, kind: Kind, whole: Any, where: str | None = None) -> Any:
    """``container[key]`` if it is of ``kind``; None if absent or null; else a shape error.

    ``bool`` does not pass for an integer (JSON ``true`` is no index or token count).
    """
    value = container.get(key)
    if value is None or _is(value, kind):
        return value
    raise shape_error(where or key, value, kind, whole)


def expect_object(value: Any, where: str, whole: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else a shape error."""
    if isinstance(value, dict):
        return value
    raise shape_error(where, value, dict, whole)


def shape_error(where: str, value: Any, kind: Kind, whole: Any) -> MalformedResponseError:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    expected = " or ".join(_NAMES.get(k, k.__name__) for k in kinds)
    return MalformedResponseError(
        f"a chunk of the wrong shape: {where} is {type(value).__name__} {_dump(value, 40)}, "
        f"expected {expected}: {_dump(whole, 200)}"
    )


def _is(value: Any, kind: Kind) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def _dump(value: Any, limit: int) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)[:limit]
    except (TypeError, ValueError):
        return repr(value)[:limit]
