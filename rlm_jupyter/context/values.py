"""Values as a model should read them: one registry of renderers, every rendering capped.

::

    from rlm_jupyter.context import register_renderer, render_value

    register_renderer(Molecule, lambda m, limits: f"Molecule {m.formula}, {len(m.atoms)} atoms")
    # or, on the class itself:  def _repr_llm_(self) -> str: ...

A value is rendered by the first of: its ``_repr_llm_()`` method; a renderer registered for its
type (or a base class, by the MRO); a renderer registered by qualified name (``"pandas.DataFrame"``:
pandas, polars and numpy are known this way, so none of them is imported unless the value is one);
the built-in renderers for ``str``, ``bytes`` and containers; else ``str()``. Whatever renders it,
the text is cut at :attr:`Limits.chars` with a visible note of what was cut, and a renderer that
raises gives the value's type name and the error instead (the cell does not fail).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Limits", "Renderer", "register_renderer", "render_value", "cut"]


@dataclass(frozen=True)
class Limits:
    """The caps of one rendering: characters in all, rows of a table, items of a container."""

    chars: int = 4000
    rows: int = 5
    items: int = 20
    columns: int = 20
    cell_chars: int = 60


Renderer = Callable[[Any, Limits], str]

_BY_TYPE: dict[type, Renderer] = {}
_BY_NAME: dict[str, Renderer] = {}


def register_renderer(kind: type | str, renderer: Renderer) -> None:
    """Render values of ``kind`` (a class, or a qualified name such as ``"polars.DataFrame"``, which
    imports nothing) with ``renderer(value, limits) -> str``; a later registration replaces one."""
    if isinstance(kind, str):
        _BY_NAME[kind] = renderer
    elif isinstance(kind, type):
        _BY_TYPE[kind] = renderer
    else:
        raise TypeError(f"register_renderer needs a class or a qualified name, not {type(kind).__name__}")


def cut(text: str, chars: int) -> str:
    """``text``, or its first ``chars`` characters and a note of how many were cut."""
    if len(text) <= chars:
        return text
    return f"{text[:chars]}… [{len(text):,} characters; first {chars:,} shown]"


def render_value(value: Any, limits: Limits | None = None) -> str:
    """``value`` as text for a prompt (see the module docstring); never raises for the value's sake."""
    limits = limits or Limits()
    try:
        text = _renderer(value)(value, limits)
        if not isinstance(text, str):
            raise TypeError(f"the renderer returned {type(text).__name__}, not str")
    except Exception as error:  # noqa: BLE001  a value that will not render is named, not fatal
        text = f"<{_type_name(value)}: rendering failed: {type(error).__name__}: {_safe_str(error)}>"
    return cut(text, limits.chars)


def _renderer(value: Any) -> Renderer:
    method = getattr(type(value), "_repr_llm_", None)
    if callable(method):
        return lambda v, _limits: method(v)
    for klass in type(value).__mro__:
        if klass in _BY_TYPE:
            return _BY_TYPE[klass]
        for name in (f"{klass.__module__}.{klass.__qualname__}", f"{klass.__module__.split('.')[0]}."
                     f"{klass.__qualname__}"):
            if name in _BY_NAME:
                return _BY_NAME[name]
    return _plain


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)[:200]
    except Exception:  # noqa: BLE001
        return "(its message would not render either)"


def _plain(value: Any, limits: Limits) -> str:
    # str() of a huge object is cut afterwards; its cost is the object's. Containers and strings are
    # cut before they are turned into text, so a 10 MB string or a 1e6-item list costs its head only.
    return str(value)


def _text(value: str, limits: Limits) -> str:
    return value


def _bytes(value: bytes | bytearray, limits: Limits) -> str:
    shown = max(limits.chars // 5, 1)  # a byte's repr is up to 4 characters: the note stays inside the cap
    head = repr(bytes(value[:shown]))
    return head if len(value) <= shown else f"{head} [{len(value):,} bytes; first {shown:,} shown]"


def _short(value: Any, limits: Limits) -> str:
    """An item inside a container: its rendering, one line, cut at ``cell_chars``."""
    if isinstance(value, str):
        return cut(repr(value), limits.cell_chars)
    inner = Limits(chars=limits.cell_chars, rows=2, items=3, columns=3, cell_chars=limits.cell_chars)
    return cut(" ".join(render_value(value, inner).split()), limits.cell_chars)


def _sequence(value: list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any], limits: Limits) -> str:
    open_, close = "[]" if isinstance(value, list) else "()" if isinstance(value, tuple) else "{}"
    head: list[Any] = []
    for item in value:  # never more than `items` are read, a set's included
        if len(head) == limits.items:
            break
        head.append(item)
    body = ", ".join(_short(item, limits) for item in head)
    note = "" if len(value) <= limits.items else f" [{len(value):,} items; first {limits.items} shown]"
    return f"{open_}{body}{', …' if note else ''}{close}{note}"


def _mapping(value: Mapping[Any, Any], limits: Limits) -> str:
    pairs: list[str] = []
    for key in value:
        if len(pairs) == limits.items:
            break
        pairs.append(f"{_short(key, limits)}: {_short(value[key], limits)}")
    note = "" if len(value) <= limits.items else f" [{len(value):,} keys; first {limits.items} shown]"
    return "{" + ", ".join(pairs) + (", …" if note else "") + "}" + note


def _cell(value: Any, limits: Limits) -> str:
    text = " ".join(str(value).split())
    return cut(text, limits.cell_chars).replace("|", "\\|")


def _table(columns: list[str], rows: list[list[Any]], limits: Limits) -> str:
    """A markdown table of the given rows (already cut to ``limits.rows``)."""
    header = "| " + " | ".join(_cell(c, limits) for c in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_cell(v, limits) for v in row) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def _pandas_frame(frame: Any, limits: Limits) -> str:
    n_rows, n_cols = frame.shape
    shown_cols = list(frame.columns[: limits.columns])
    head = frame.iloc[: limits.rows, : limits.columns]
    index_name = frame.index.name or ""
    rows = [[index, *values] for index, values in zip(head.index, head.itertuples(index=False, name=None))]
    dtypes = ", ".join(f"{c}: {frame.dtypes.iloc[i]}" for i, c in enumerate(shown_cols))
    lines = [f"pandas.DataFrame: {n_rows:,} rows × {n_cols:,} columns", f"dtypes: {dtypes}"]
    notes = []
    if n_rows > limits.rows:
        notes.append(f"{n_rows:,} rows; first {limits.rows} shown")
    if n_cols > limits.columns:
        notes.append(f"{n_cols:,} columns; first {limits.columns} shown")
    table = _table([str(index_name), *map(str, shown_cols)], rows, limits)
    return "\n".join(lines + [table] + ([f"[{'; '.join(notes)}]"] if notes else []))


def _pandas_series(series: Any, limits: Limits) -> str:
    n = len(series)
    head = series.iloc[: limits.rows]
    rows = [[index, value] for index, value in zip(head.index, head.tolist())]
    title = f"pandas.Series {series.name!r}: {n:,} values, dtype {series.dtype}"
    note = [f"[{n:,} rows; first {limits.rows} shown]"] if n > limits.rows else []
    columns = [str(series.index.name or ""), str(series.name or "value")]
    return "\n".join([title, _table(columns, rows, limits), *note])


def _polars_frame(frame: Any, limits: Limits) -> str:
    n_rows, n_cols = frame.shape
    shown = frame.columns[: limits.columns]
    schema = frame.schema
    rows = [list(r) for r in frame.select(shown).head(limits.rows).rows()]
    notes = []
    if n_rows > limits.rows:
        notes.append(f"{n_rows:,} rows; first {limits.rows} shown")
    if n_cols > limits.columns:
        notes.append(f"{n_cols:,} columns; first {limits.columns} shown")
    return "\n".join([f"polars.DataFrame: {n_rows:,} rows × {n_cols:,} columns",
                      "dtypes: " + ", ".join(f"{c}: {schema[c]}" for c in shown),
                      _table(list(shown), rows, limits)] + ([f"[{'; '.join(notes)}]"] if notes else []))


def _polars_series(series: Any, limits: Limits) -> str:
    n = len(series)
    rows = [[v] for v in series.head(limits.rows).to_list()]
    note = [f"[{n:,} rows; first {limits.rows} shown]"] if n > limits.rows else []
    return "\n".join([f"polars.Series {series.name!r}: {n:,} values, dtype {series.dtype}",
                      _table([series.name or "value"], rows, limits), *note])


def _numpy_array(array: Any, limits: Limits) -> str:
    import numpy  # the value is an ndarray: numpy is imported already

    edge = max(1, limits.rows // 2 + 1)
    body = numpy.array2string(array, threshold=limits.items, edgeitems=edge, max_line_width=120)
    note = ""
    if array.size > limits.items:
        note = f"\n[{array.size:,} elements; the first and last {edge} of each axis shown]"
    return f"numpy.ndarray shape {array.shape}, dtype {array.dtype}\n{body}{note}"


_BUILTIN: tuple[tuple[type | str, Renderer], ...] = (
    (str, _text), (bytes, _bytes), (bytearray, _bytes), (list, _sequence), (tuple, _sequence),
    (set, _sequence), (frozenset, _sequence), (dict, _mapping),
    # by name: the library is never imported here, only its values are recognised
    ("pandas.DataFrame", _pandas_frame), ("pandas.Series", _pandas_series),
    ("polars.DataFrame", _polars_frame), ("polars.Series", _polars_series), ("numpy.ndarray", _numpy_array))
for _kind, _render in _BUILTIN:
    register_renderer(_kind, _render)
