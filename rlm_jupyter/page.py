"""The page side of the widgets: each widget's ES module, joined at load time with the helpers
both widgets share.

anywidget loads a widget's ``_esm`` as one module from a ``blob:`` URL, so it cannot import a
file beside it; the shared files (``static/common.js``: DOM and number helpers;
``static/markdown.js``: the safe markdown renderer) are put in front of each widget's own module
here instead (``stream/static/stream.js``, ``timeline/static/timeline.js``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["esm", "SHARED"]

#: The helpers both widgets' modules use, in load order.
SHARED = (Path(__file__).parent / "static" / "common.js", Path(__file__).parent / "static" / "markdown.js")


def esm(*modules: Path, compact: bool = False) -> str:
    """The shared helpers and ``modules`` (the last one exports the widget) as one ES module's source.

    ``compact``: comment lines and indentation are dropped. anywidget sends ``_esm`` with every
    widget instance (it is a synced trait), so this keeps each display's fixed cost small
    (benchmarks/widget_wire.py).
    """
    source = "\n".join(path.read_text(encoding="utf-8") for path in (*SHARED, *modules))
    if not compact:
        return source
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))
