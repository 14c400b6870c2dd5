"""The page libraries (rlm_jupyter/static/vendor/page.js) loaded into a bare test page as the
PageAssets widget's model would load them: the module imported, its initialize() given the key."""

from __future__ import annotations

from typing import Any

from rlm_jupyter.page import BUNDLE, KEY

LOAD = """async ([source, key]) => {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  (await import(url)).default.initialize({ model: { get: (name) => (name === "key" ? key : undefined) } });
}"""


def load(page: Any) -> None:
    page.evaluate(LOAD, [BUNDLE.read_text(encoding="utf-8"), KEY])
