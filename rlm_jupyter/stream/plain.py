"""The widget-less rendering of an answer: printed on stdout as it streams.

Chosen where no widget front end can show the live view (a terminal IPython, a script; see
:func:`rlm_jupyter.live.show.use_widget`) or asked for (``widget=False``, ``%%rlm --no-widget``).
It has the same feed and frame pacing as the widget (:mod:`rlm_jupyter.stream.feed`), so a
terminal gets at most ~30 writes a second and nothing waits longer than a frame; and it ends with
the same static bundle, which :func:`rlm_jupyter.live.show.run_plain` can put in place of the
printed text in a kernel. A thinking model's reasoning is printed first, between
:data:`THINKING` and :data:`DONE_THINKING` (as Ollama's CLI shows it); the agent timeline's plain
twin (:mod:`rlm_jupyter.timeline.plain`) prints a step's reasoning the same way.
"""

from __future__ import annotations

import sys
from typing import Any

from rlm_toolkit.errors import scrub

from ..live.pacing import FRAME
from ..live.stop import StopSwitch
from .feed import AnswerView, TextFeed

__all__ = ["PlainStream", "THINKING", "DONE_THINKING", "write"]

#: The lines around a thinking model's reasoning printed before its answer.
THINKING, DONE_THINKING = "Thinking…", "…done thinking."


def write(text: str) -> None:
    """Print ``text`` at once (no newline added)."""
    sys.stdout.write(text)
    sys.stdout.flush()


class PlainStream(AnswerView):
    """The stream widget's driving interface without a widget: each frame's text goes to stdout."""

    def __init__(self, model: str | None, *, fmt: str = "markdown", frame: float = FRAME,
                 prompt: str = "") -> None:
        self.frames = TextFeed(model, frame=frame, sink=self._print)
        self.stop = StopSwitch()
        self.fmt, self.error, self.state = fmt, "", "streaming"
        self.sent_prompt = scrub(prompt)
        self._thinking = self._answering = False

    def _print(self, delta: str | None, thought: str | None = None) -> None:
        # A thinking model's reasoning is printed as it comes, between markers, until the answer
        # starts; the final bundle keeps all of it, folded.
        if thought and not self._answering:
            write(thought if self._thinking else f"{THINKING}\n{thought}")
            self._thinking = True
        if delta:
            if self._thinking and not self._answering:
                write(f"\n{DONE_THINKING}\n\n")
            self._answering = True
            write(delta)

    def finish(self, error: BaseException | None = None) -> None:
        """Print what is left, settle the state, end the line (with the error, if one ended it)."""
        self.state = self.settle(error)
        write((f"\n[{self.error}]" if self.error else "") + "\n")

    def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the answer (there is no widget to put in front)."""
        return self.static_bundle()

    def __repr__(self) -> str:
        return f"<PlainStream {self.summary()}>"
