"""The widget-less renderings: an answer or an agent run printed on stdout as it happens.

Chosen where no widget front end can show the live view (a terminal IPython, a script; see
:func:`rlm_jupyter._display.use_widget`) or asked for (``widget=False``, ``%%rlm --no-widget``).
They take the same drive loop and frame pacing as the widgets (:mod:`rlm_jupyter._feeds`), so a
terminal gets at most ~30 writes a second and nothing waits longer than a frame; and they end
with the same static bundle, which :func:`rlm_jupyter._display.run_plain` can put in place of
the printed text in a kernel::

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

import sys
from typing import Any

from ._coalesce import FRAME
from ._feeds import RunFeed, TextFeed
from ._live import error_line

__all__ = ["PlainStream", "PlainTimeline", "OBSERVATION_SHOWN", "THINKING", "DONE_THINKING"]

#: A printed observation is cut after this many characters (the static bundle keeps more).
OBSERVATION_SHOWN = 300
#: The lines around a thinking model's reasoning printed before its answer.
THINKING, DONE_THINKING = "Thinking…", "…done thinking."


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class PlainStream(TextFeed):
    """The stream widget's driving interface without a widget: each frame's text goes to stdout."""

    def __init__(self, model: str | None, *, fmt: str = "markdown", frame: float = FRAME) -> None:
        self._start(model, frame, None)
        self.fmt, self.error, self.state = fmt, "", "streaming"
        self._thinking = self._answering = False

    def _emit(self, delta: str | None, thought: str | None = None) -> None:
        # A thinking model's reasoning is printed as it comes, between markers (as Ollama's CLI
        # does), until the answer starts; the final bundle keeps all of it, folded.
        if thought and not self._answering:
            _write(thought if self._thinking else f"{THINKING}\n{thought}")
            self._thinking = True
        if delta:
            if self._thinking and not self._answering:
                _write(f"\n{DONE_THINKING}\n\n")
            self._answering = True
            _write(delta)

    def finish(self, error: BaseException | None = None) -> None:
        """Print what is left, settle the state, end the line (with the error, if one ended it)."""
        self.flush(force=True)
        self.response.settle(error)
        self.state = self.response.state
        if error is not None and self.state == "error":
            self.error = error_line(error)
        _write((f"\n[{self.error}]" if self.error else "") + "\n")

    def __repr__(self) -> str:
        return f"<PlainStream {self.summary()}>"


class PlainTimeline(RunFeed):
    """The timeline widget's driving interface without a widget: each frame's operations are
    printed as lines (a step's streamed text as it comes), and the run's summary at the end.

    ``view.timeline``, ``view.messages(step)`` and ``view.final_bundle()`` work as on the widget.
    """

    page_wait = 0.0  # no page will ever show it: an approval asks with input() at once

    def __init__(self, model: str | None = None, *, started_at: float | None = None, steps: Any = None,
                 frame: float = FRAME, clock: Any = None) -> None:
        self._start(model, started_at=started_at, steps=steps, frame=frame, clock=clock)
        self._streamed: set[int] = set()  # steps whose text was printed as it streamed
        self._thinking: int | None = None  # the step whose reasoning is being printed

    @property
    def state(self) -> str:
        """running, done, error or stopped."""
        return self.timeline.state

    def _emit(self, ops: list[dict[str, Any]]) -> None:
        _write("".join(self._line(op) for op in ops))

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
            self._streamed.add(step)  # type: ignore[arg-type]
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
        super().finish(error)
        _write(f"\n[{self.timeline.summary()}]\n")

    def __repr__(self) -> str:
        return f"<PlainTimeline {self.timeline.summary()}>"
