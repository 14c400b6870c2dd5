"""The notebook as a model reads it: values rendered for a prompt, the history of cells and their errors.

- :mod:`.values`: one registry of renderers (``register_renderer``, ``_repr_llm_``), every
  rendering capped with a visible note of what was cut.
- :mod:`.errors`: :class:`ErrorLog`, each cell's error kept per execution count (``post_run_cell``).
- :mod:`.history`: ``{In[n]}``, ``{Out[n]}``, ``{Err[n]}``, ``{_}`` as lookups, never ``eval``.

No import of pandas, polars or numpy here: a renderer for them runs only on a value that is one.
"""

from __future__ import annotations

from .errors import ErrorLog, ErrorRecord
from .history import History
from .values import Limits, Renderer, cut, register_renderer, render_value

__all__ = ["ErrorLog", "ErrorRecord", "History", "Limits", "Renderer", "cut", "register_renderer",
           "render_value"]
