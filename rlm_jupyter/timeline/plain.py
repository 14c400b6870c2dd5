"""The widget-less rendering of an agent run: printed on stdout as it happens.

Chosen where no widget front end can show the timeline (a terminal IPython, a script) or asked
for (``widget=False``, ``%%rlm --agent --no-widget``). It has the same feed and pacing as the
widget (:mod:`rlm_jupyter.timeline.feed`) and ends with the same static bundle::

    >>> display_agent(agent.stream("add 1 and 2"))     # in a terminal IPython or a script

    [step 1]
    Let me add.
    -> add({ "a": 1, "b": 2 })
    <- 3

    [step 2]
    The **sum** is 3.
    [scripted:scripted · 2 steps · 7 tokens · 0.1 s · done]
"""

from __future__ import annotations

from typing import Any

from ..live.pacing import FRAME
from ..live.stop import StopSwitch
from ..stream.plain import DONE_THINKING, THINKING, write
from .approvals import Approvals
from .feed import RunFeed, RunView
from .forking import Forks

__all__ = ["PlainTimeline", "OBSERVATION_SHOWN"]

#: A printed observation is cut after this many characters (the static bundle keeps more).
OBSERVATION_SHOWN = 300


class PlainTimeline(RunView):
    """The timeline widget's driving interface without a widget: each frame's operations are
    printed as lines (a step's streamed text as it comes), and the run's summary at the end.

    ``view.timeline``, ``view.messages(step)`` and ``view.final_bundle()`` work as on the widget.
    """

    page_wait = 0.0  # no page will ever show it: an approval asks with input() at once

    def __init__(self, model: str | None = None, *, started_at: float | None = None, steps: Any = None,
                 frame: float = FRAME, clock: Any = None, parent: str | None = None) -> None:
        self.frames = RunFeed(model, started_at=started_at, steps=steps, frame=frame, clock=clock,
                              sink=self._print, parent=parent)
        self.stop = StopSwitch()
        self.approvals = Approvals()
        self.forks = Forks()
        self.task: Any = None  # with --bg: the run's concurrent.futures.Future
        self._streamed: set[int] = set()  # steps whose text was printed as it streamed
        self._thinking: int | None = None  # the step whose reasoning is being printed

    @property
    def state(self) -> str:
        """running, done, error or stopped."""
        return self.timeline.state

    def _print(self, ops: list[dict[str, Any]]) -> None:
        write("".join(self._line(op) for op in ops))

    def _line(self, op: dict[str, Any]) -> str:
        """What one page operation prints (nothing for the header: the summary ends the run); a
        step's reasoning between the same markers as a plain answer's."""
        kind, step = op["op"], op.get("step")
        if kind == "reasoning":
            opening = "" if self._thinking == step else f"{THINKING}\n"
            self._thinking = step
            return opening + str(op["delta"])
        if kind == "header" or self._thinking is None:
            return self._row(kind, step, op)
        self._thinking = None
        return f"\n{DONE_THINKING}\n" + self._row(kind, step, op)

    def _row(self, kind: str, step: Any, op: dict[str, Any]) -> str:
        if kind == "step":
            return f"\n[step {step}]\n"
        if kind == "live":
            self._streamed.add(step)
            return str(op["delta"])
        if kind == "thought" and step not in self._streamed:
            return f"Thought: {op['text']}\n"
        if kind == "action":
            return f"\n-> {op['tool']}({' '.join(op['args'].split())})\n"
        if kind == "observation":
            text = op["text"]
            text = text if len(text) <= OBSERVATION_SHOWN else text[:OBSERVATION_SHOWN] + "…"
            return f"<- {'error: ' if op['error'] else ''}{text}\n"
        if kind == "approval" and op["state"] != "pending":
            return f"   {op['state']}{': ' + op['reason'] if op['reason'] else ''}\n"
        if kind == "error":
            return f"! {op['text']}\n"
        if kind == "final" and step not in self._streamed:
            return f"Answer: {op['text']}\n"
        return ""

    def finish(self, error: BaseException | None = None) -> None:
        """Settle the run, print what is left and the run's summary line."""
        self.end_run(error)
        write(f"\n[{self.timeline.summary()}]\n")

    def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the run (there is no widget to put in front)."""
        return self.static_bundle()

    def __repr__(self) -> str:
        return f"<PlainTimeline {self.timeline.summary()}>"
