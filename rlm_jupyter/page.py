"""The page side of the widgets: the page libraries, sent once per page, and each widget's small
ES module.

anywidget sends a widget's ``_esm`` with every instance (it is a synced trait, saved in the
notebook's widget state too), so the libraries the widgets render with — markdown-it, KaTeX,
highlight.js, bundled by ``js/build.mjs`` into ``static/vendor/page.js`` — travel in one widget of
their own instead, :class:`PageAssets`, created once per kernel (:func:`page_assets`). Its module
hands the renderer over under a key named after the build (:data:`KEY`); each widget's module
(``static/common.js`` in front of ``stream/static/stream.js`` or ``timeline/static/timeline.js``)
waits for it with ``rlmPage()`` and shows plain text until it comes.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import anywidget
import traitlets

__all__ = ["esm", "SHARED", "BUNDLE", "KEY", "PageAssets", "page_assets"]

_STATIC = Path(__file__).parent / "static"
#: The helpers every widget's module uses, put in front of it.
SHARED = (_STATIC / "common.js",)
#: The vendored page libraries (built by js/build.mjs from js/package-lock.json; committed).
BUNDLE = _STATIC / "vendor" / "page.js"
#: The name the bundle's renderer is handed over under in the page: one per build, so two
#: versions of rlm in one page (two kernels) each get their own.
KEY = "__rlm_page_" + hashlib.sha256(BUNDLE.read_bytes()).hexdigest()[:12]


def esm(*modules: Path, compact: bool = False) -> str:
    """The shared helpers and ``modules`` (the last one exports the widget) as one ES module's
    source (the page libraries are not in it: :func:`page_assets` sends them once).

    ``compact``: comment lines and indentation are dropped, to keep each display's fixed cost
    small (benchmarks/widget_wire.py).
    """
    source = "\n".join([f"const RLM_PAGE_KEY = {KEY!r};",
                        *(path.read_text(encoding="utf-8") for path in (*SHARED, *modules))])
    if not compact:
        return source
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


class PageAssets(anywidget.AnyWidget):
    """The page libraries as a widget with no view: its module runs once when the page creates its
    model (at the comm's opening, on a reload, when a saved notebook is reopened)."""

    _esm = BUNDLE.read_text(encoding="utf-8")
    key = traitlets.Unicode(KEY).tag(sync=True)

    def __repr__(self) -> str:
        return f"<PageAssets {KEY}>"


_lock = threading.Lock()
_assets: PageAssets | None = None


def page_assets() -> PageAssets:
    """The kernel's one :class:`PageAssets` widget, opened on first use (again if it was closed).
    Every widget that renders markdown calls this when it is made, so the page has the libraries
    before its first view asks for them."""
    global _assets
    with _lock:
        if _assets is None or _assets.comm is None:
            _assets = PageAssets()
        return _assets
