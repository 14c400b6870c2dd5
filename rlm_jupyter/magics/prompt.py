"""A prompt cell's text: ``{name}`` filled in from the notebook, images put where they belong.

::

    %%rlm -m openai:gpt-4o-mini   # {fig} of a Figure / PIL image / image bytes sends the image there
    What trend does {fig} show?   # (--image NAME sends one before the text)

``{In[3]}``, ``{Out[-1]}``, ``{Err[5]}``, ``{_}``: the notebook's history (rlm_jupyter.context).
Names only, never ``eval``; a mistake is a one-line :class:`IPython.core.error.UsageError`.
"""

from __future__ import annotations

import keyword
import re
from typing import Any

from IPython.core.error import UsageError

from ..context import History, Limits, render_value

__all__ = ["interpolate", "attach"]

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def interpolate(template: str, namespace: dict[str, Any], *, history: History | None = None,
                limits: Limits | None = None) -> str | list[dict[str, Any]]:
    """Replace ``{name}`` / ``{name.attr}`` with values from ``namespace``; ``{{`` / ``}}`` are braces.

    Names only, never ``eval``: ``{x + 1}`` or ``{f()}`` is a UsageError. ``{}`` and braces that
    span lines (code in the prompt) are left as they are. A value that is an image (a matplotlib
    Figure or Axes, a PIL image, image bytes, a ``Path`` to an image file) becomes an image part
    in its place: the result is then a list of content parts instead of a string. Other values are
    rendered for a model (:func:`rlm_jupyter.context.render_value`, capped by ``limits``);
    ``{In[n]}`` / ``{Out[n]}`` / ``{Err[n]}`` / ``{_}`` are read from ``history`` when given.
    """
    from rlm_toolkit.images import is_image

    pieces: list[str | dict[str, Any]] = []
    at = 0
    for m in _FIELD.finditer(template):
        pieces.append(template[at : m.start()])
        at = m.end()
        whole = m.group(0)
        field = (m.group(1) or "").strip()
        if whole in ("{{", "}}") or not field:
            pieces.append(whole[0] if whole in ("{{", "}}") else whole)
            continue
        if history is not None and history.handles(field):
            pieces.append(history.text(field, limits or Limits()))
            continue
        value = _lookup(field, namespace, f"{{{field}}}")
        pieces.append(_image_part(value, f"{{{field}}}") if is_image(value) else render_value(value, limits))
    pieces.append(template[at:])
    if all(isinstance(p, str) for p in pieces):
        return "".join(p for p in pieces if isinstance(p, str))
    parts: list[dict[str, Any]] = []
    for piece in pieces:  # neighbouring text becomes one part
        if isinstance(piece, dict):
            parts.append(piece)
        elif not piece:
            continue
        elif parts and parts[-1]["type"] == "text":
            parts[-1]["text"] += piece
        else:
            parts.append({"type": "text", "text": piece})
    return parts


def _lookup(field: str, namespace: dict[str, Any], where: str) -> Any:
    """The value a ``name`` or ``name.attr`` names in the notebook; a UsageError naming ``where`` if none."""
    braces = " (write {{ and }} for literal braces)" if where.startswith("{") else ""
    if not _DOTTED.match(field) or any(keyword.iskeyword(p) for p in field.split(".")):
        raise UsageError(f"{where}: only variable names (and .attributes) are filled in, not "
                         f"expressions; compute it in a cell first{braces}")
    head, *attrs = field.split(".")
    if head not in namespace:
        raise UsageError(f"{where}: no variable named {head!r} in the notebook{braces}")
    value = namespace[head]
    for attr in attrs:
        if attr.startswith("_"):
            raise UsageError(f"{where}: private attributes are not filled in")
        try:
            value = getattr(value, attr)
        except AttributeError:
            raise UsageError(f"{where}: {type(value).__name__} has no attribute {attr!r}") from None
    return value


def attach(prompt: str | list[dict[str, Any]], names: list[str], namespace: dict[str, Any]) -> Any:
    """The cell's prompt, stripped, after the images that ``--image NAME`` names (images first: what
    Anthropic's vision guide advises); a plain string when there is no image."""
    parts = [{"type": "text", "text": prompt}] if isinstance(prompt, str) else prompt
    if parts and parts[0]["type"] == "text":
        parts[0] = {"type": "text", "text": parts[0]["text"].lstrip()}
    if parts and parts[-1]["type"] == "text":
        parts[-1] = {"type": "text", "text": parts[-1]["text"].rstrip()}
    attached = [_image_part(_lookup(name, namespace, f"--image {name}"), f"--image {name}") for name in names]
    parts = attached + [p for p in parts if p["type"] != "text" or p["text"]]
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _image_part(value: Any, where: str) -> dict[str, Any]:
    from rlm_toolkit import image
    from rlm_toolkit.errors import UsageError as ToolkitUsageError

    from ..live.errors import one_line

    try:
        return image(value)
    except ToolkitUsageError as error:
        raise UsageError(f"{where}: {one_line(error, typed=False)}") from None
