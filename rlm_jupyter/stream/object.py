"""A typed answer shown as a tree: the stream widget's ``fmt="object"`` (``%%rlm --schema``).

The live tree is ``static/object.js`` (an incremental parser that builds the page's DOM as the JSON
arrives); this is its static twin, for the saved output: objects as tables of fields, lists as
numbered rows, every string escaped, the raw JSON one click away in a ``<details>``. An answer
that was stopped or cut is shown as far as it got (pydantic's partial JSON parsing). Past
``MAX_DEPTH`` levels or ``MAX_NODES`` values the tree says what it left out; the raw JSON keeps it.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["OBJECT", "object_html", "MAX_DEPTH", "MAX_NODES"]

#: The stream widget's format for a typed answer (beside rlm_jupyter.render.FORMATS).
OBJECT = "object"
#: Deeper than this, a value is shown as "…" (the live tree stops there too).
MAX_DEPTH = 128
#: More values than this and the rest of the tree is left out (the raw JSON keeps them).
MAX_NODES = 20_000
_WRAPPER = "value"  # rlm_toolkit.typed.schema.WRAPPER: a root that is not an object goes out in it
_CELL = "border:1px solid #ddd;padding:1px 6px;vertical-align:top;text-align:left"


def _parsed(text: str) -> tuple[bool, Any]:
    try:
        import pydantic_core  # the `schema` extra, there whenever a typed answer was asked for
    except ImportError:  # pragma: no cover - no typed answer without it
        return False, None
    try:
        return True, pydantic_core.from_json(text, allow_partial="trailing-strings")
    except ValueError:  # not JSON (or nested past the parser's own limit): the raw text alone
        return False, None


class _Tree:
    def __init__(self) -> None:
        self.nodes = 0
        self.left_out = 0

    def html(self, value: Any, depth: int = 0) -> str:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.left_out += 1
            return ""
        if depth >= MAX_DEPTH and isinstance(value, (dict, list)):
            return '<span class="rlm-obj-deep">…</span>'
        if isinstance(value, dict):
            rows = "".join(f'<tr class="rlm-obj-field"><th class="rlm-obj-key" style="{_CELL}">'
                           f'{html.escape(str(k))}</th><td class="rlm-obj-value" style="{_CELL}">'
                           f"{self.html(v, depth + 1)}</td></tr>" for k, v in value.items())
            return f'<table class="rlm-obj" style="border-collapse:collapse">{rows}</table>'
        if isinstance(value, list):
            items = "".join(f'<li class="rlm-obj-item">{self.html(v, depth + 1)}</li>' for v in value)
            return f'<ol class="rlm-arr" start="0">{items}</ol>'
        if isinstance(value, str):
            return f'<span class="rlm-obj-str">{html.escape(value)}</span>'
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f'<span class="rlm-obj-num">{html.escape(str(value))}</span>'
        shown = "null" if value is None else "true" if value is True else "false"
        return f'<span class="rlm-obj-lit">{shown}</span>'


def object_html(text: str, unwrap: bool = False) -> str:
    """Safe HTML of a typed answer's JSON ``text``: the tree, then the raw JSON folded.
    ``unwrap``: the text is ``{"value": …}`` and the tree shows the value."""
    ok, value = _parsed(text)
    if ok and unwrap:
        ok = isinstance(value, dict) and _WRAPPER in value
        value = value[_WRAPPER] if ok else None
    tree = _Tree()
    body = tree.html(value) if ok else ""
    if tree.left_out:
        body += f'<div class="rlm-obj-more">… {tree.left_out:,} more values (the JSON below has them)</div>'
    raw = f'<pre class="rlm-code">{html.escape(text)}</pre>'
    return (f'<div class="rlm-obj-tree">{body}</div><details class="rlm-obj-raw"><summary '
            f'class="rlm-obj-raw-title">JSON</summary>{raw}</details>')
