"""The timeline's "Fork from here": what a click may do, and what the kernel builds from its own record.

A widget cannot create a cell. JupyterLab and Notebook 7 put a cell below only for the
``set_next_input`` payload of an execute reply, and a page's comm message is no execute request;
anywidget gives the page no handle on the notebook either. So a click does what is reachable
honestly:

- while the cell that shows the run is still running (a foreground run), the click is remembered,
  and when the run ends that cell's own execute reply carries the fork's cell
  (``magics/fork.py: offer_fork``, IPython's ``set_next_input``): the cell appears below;
- once that cell has ended (``--bg``, a kept widget), the page is told the one line that does it,
  ``%rlm fork FILE --step N``, to run in any cell.

The page sends only a step number (checked against the run's steps); the cell's code and the line
are built by the kernel from the trace it recorded (``--record FILE``), never from text a page sent.
Only a recorded run offers the button: a fork replays from a trace.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, field
from typing import Any

from ..render import NAME_LIMIT, clip

__all__ = ["ForkSource", "Forks", "parent_text"]


@dataclass
class ForkSource:
    """Where a run's forks come from: its trace file, and how the run named its model and tools (so
    the fork's cell names the same variables: ``model=slow_model``, ``tools=[add]``)."""

    path: str
    model: str | None = None  # an id, or the name of a variable holding an RLM (model_is_name)
    model_is_name: bool = False
    tools: list[str] = field(default_factory=list)  # names of the notebook's functions
    approve: bool = False

    def line(self, step: int | str) -> str:
        """The ``%rlm fork`` line that puts the fork of ``step`` below the cell it runs in."""
        parts = ["%rlm fork", shlex.quote(self.path), f"--step {step}"]
        if self.model:
            parts.append(f"--model {shlex.quote(self.model)}")
        if self.tools:
            parts.append(f"--tools {','.join(self.tools)}")
        if self.approve:
            parts.append("--approve")
        return " ".join(parts)


class Forks:
    """A view's Fork from here: its source (None: the run was not recorded, no button), whether the
    cell showing the run still runs, and the step a click asked for while it did."""

    def __init__(self) -> None:
        self.source: ForkSource | None = None
        self._lock = threading.Lock()  # clicks come on a subshell's thread, the cell ends on the main one
        self._open = False
        self._asked: int | None = None

    def open(self, source: ForkSource | None, *, cell_runs: bool) -> None:
        self.source, self._open = source, cell_runs and source is not None

    def ask(self, step: int, steps: Any) -> dict[str, Any]:
        """A click on step ``step``'s button: the reply the page shows (``queued``: the cell comes when
        this cell ends; ``line``: run this line in a cell; ``error``)."""
        if self.source is None:
            return {"step": step, "state": "error",
                    "error": "this run was not recorded (%%rlm --record FILE)"}
        if step not in steps:
            return {"step": step, "state": "error", "error": f"the run has no step {step}"}
        with self._lock:
            queued = self._open
            if queued:
                self._asked = step  # IPython keeps one next input: the last click wins
        return {"step": step, "state": "queued" if queued else "line", "line": self.source.line(step)}

    def close(self) -> int | None:
        """The cell that shows the run ends: the step a click asked for (None if none); later clicks
        get the line."""
        with self._lock:
            self._open, asked, self._asked = False, self._asked, None
        return asked


def parent_text(parent: Any) -> str | None:
    """A fork's parent as its header shows it (``fork of run.jsonl at step 3``), from a trace header
    (untrusted: only a file name and a step number are taken, cut like a name)."""
    if not isinstance(parent, dict):
        return None
    file, step = parent.get("file"), parent.get("step")
    if not isinstance(file, str) or not isinstance(step, int) or isinstance(step, bool):
        return None
    return clip(f"fork of {file} at step {step}", NAME_LIMIT)
