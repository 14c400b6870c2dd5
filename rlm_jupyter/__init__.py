"""rlm_jupyter: the IPython extension — ``%%rlm``, the live stream widget, the agent timeline.

::

    %load_ext rlm_jupyter
    %%rlm -m openai:gpt-4o-mini
    Explain {topic} in three sentences.

From Python: ``display_stream(rlm.astream(...))`` shows any stream live, ``display_agent(...)``
an agent run, ``replay("run.jsonl")`` a recorded one, ``fork("run.jsonl", step=3, …)`` a recorded run
rerun live from a step with edits. Loading the extension imports only the
magics; widgets, markdown and provider SDKs are imported when first used (``%load_ext`` < 0.3 s).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "load_ipython_extension",
    "unload_ipython_extension",
    "display_stream",
    "adisplay_stream",
    "StreamView",
    "display_agent",
    "TimelineView",
    "replay",
    "fork",
]

_LAZY = {
    "display_stream": ".stream.display",
    "adisplay_stream": ".stream.display",
    "StreamView": ".stream.view",
    "display_agent": ".timeline.display",
    "TimelineView": ".timeline.view",
    "replay": ".magics.trace",
    "fork": ".magics.fork",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'rlm_jupyter' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext rlm_jupyter``: register ``%%rlm`` / ``%rlm`` (loading twice is harmless)."""
    from .magics.rlm import RLMMagics

    if any(isinstance(m, RLMMagics) for m in ipython.magics_manager.registry.values()):
        return
    ipython.register_magics(RLMMagics(shell=ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext rlm_jupyter``: remove the magics and their settings object."""
    from .magics.rlm import RLMMagics

    registry = ipython.magics_manager.registry
    for name, magics in list(registry.items()):
        if isinstance(magics, RLMMagics):
            magics.errors.detach()  # the post_run_cell hook of rlm_jupyter.context
            for kind in ("line", "cell"):
                table = ipython.magics_manager.magics[kind]
                for magic_name, fn in list(table.items()):
                    if getattr(fn, "__self__", None) is magics:
                        del table[magic_name]
            del registry[name]
            if magics in getattr(ipython, "configurables", []):
                ipython.configurables.remove(magics)
