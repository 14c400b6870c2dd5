"""Show an agent run: the timeline widget where a front end can show one, else printed; in the
foreground or in the background (``--bg``).

::

    from rlm_jupyter import display_agent
    view = display_agent(agent.astream("What is 2 + 40?"))   # or agent.stream(...), or replay(...)
    view.messages(2)                                          # what the model was sent at step 2
"""

from __future__ import annotations

import time
from typing import Any

from ..live import show
from .feed import RunView
from .forking import ForkSource, parent_text
from .plain import PlainTimeline
from .view import TimelineView

__all__ = ["display_agent"]


def _asks_here(view: RunView, source: Any) -> None:
    """``approve=True``, or a run without an approver whose tools may require approval (an MCP
    tool marked destructive): this view asks — the timeline with its buttons (``input()`` if no
    page shows it), the plain one with ``input()`` (see :mod:`rlm_jupyter.timeline.approvals`)."""
    run = getattr(source, "state", None)
    if run is None:
        return
    approver = getattr(run, "approver", None)
    if approver is True:
        run.approver = view.ask
    if approver in (True, None):
        if hasattr(run, "asker"):
            run.asker = view.ask
        view.timeline.asks = isinstance(view, TimelineView)


def display_agent(
    source: Any,
    *,
    model: str | None = None,
    steps: Any = None,
    started_at: float | None = None,
    widget: bool | None = None,
    keep_widget: bool = False,
    background: bool = False,
    replace: bool = False,
    fork: ForkSource | None = None,
    parent: dict[str, Any] | None = None,
) -> TimelineView | PlainTimeline:
    """Show an agent run live in the cell's output and return the finished view.

    ``background=True`` (``%%rlm --agent --bg``; ``source`` must be ``agent.astream(task)``):
    return at once with the live view; the run goes on on the toolkit's loop thread while other
    cells run, ``view.task`` is its ``concurrent.futures.Future`` (``cancel()`` from any thread).

    ``source``: ``agent.stream(task)``, ``agent.astream(task)``, a ``replay(...)`` or any iterable
    of :class:`~rlm_toolkit.agents.AgentEvent`. Errors end up in the timeline (scrubbed), an
    interrupt stops it and propagates. ``steps`` defaults to ``source.history`` (agent streams)
    or the trace's steps (replays), for :meth:`TimelineView.messages`. When the run ends the
    widget is replaced by its static twin (``keep_widget=True`` keeps it in front). With no
    widget front end (``widget=False``, a terminal) a :class:`PlainTimeline` prints the run as it
    happens and is returned (``replace=True``: in a kernel, the printed lines are then swapped for
    the static twin, as :func:`~rlm_jupyter.stream.display.display_stream` does).

    ``fork``: the run's trace (a :class:`~rlm_jupyter.timeline.forking.ForkSource`), for a "Fork from
    here" button on each step. ``parent``: a fork's ``{"file", "step"}`` (a replay's trace names its
    own), said in the header: "fork of run.jsonl at step 3". Example::

        view = display_agent(agent.astream("What is 2 + 40?"))
        view.state, view.messages(1)
    """
    trace = getattr(source, "trace", None)
    if steps is None:
        steps = getattr(source, "history", None)
        if steps is None and trace is not None:
            steps = trace.steps
    shown_parent = parent_text(parent)
    if trace is not None:
        model = model or trace.model
        started_at = trace.created if started_at is None else started_at
        shown_parent = shown_parent or parent_text(trace.parent)
    if hasattr(source, "history"):  # the agent's live list: read it when asked, it grows per step
        steps = (lambda s=source: s.history)
    run_started = getattr(getattr(source, "state", None), "started", None)  # an agent stream's RunState
    if started_at is None and isinstance(run_started, float):
        # The run's own start, which its trace also uses: a replay shows the same durations.
        started_at = time.time() - (time.perf_counter() - run_started)
    # A replay's elapsed time runs on the trace's clock (its own "now"), not on today's.
    clock = getattr(source, "clock", None)
    if not show.use_widget(widget):
        plain = PlainTimeline(model, started_at=started_at, steps=steps, clock=clock,
                              parent=shown_parent)
        plain.forks.open(fork, cell_runs=False)  # no buttons: its static copy says the line
        _asks_here(plain, source)
        if background:  # --bg --no-widget: printed as it happens, from the loop thread
            plain.task = show.run_plain(plain, source, background=True)
            return plain
        return show.run_plain(plain, source, replace=replace)
    view = TimelineView(model, started_at=started_at, steps=steps, stoppable=True, clock=clock,
                        parent=shown_parent)
    view.offer_forks(fork, cell_runs=not background)
    _asks_here(view, source)
    if background:
        view.task = show.run_live(view, source, keep_widget=keep_widget, background=True)
        return view
    try:
        return show.run_live(view, source, keep_widget=keep_widget)
    except BaseException:
        view.forks.close()  # the cell fails: a click while it ran gets no cell (later ones get the line)
        raise
