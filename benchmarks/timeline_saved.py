"""What a finished agent run leaves in the notebook, and crosses the wire for its cell, at 50 and 200 steps.

::

    .venv/bin/python -m benchmarks.timeline_saved

A scripted run (one tool call a step, then the answer) is shown in the timeline widget, with no
kernel: every custom message the widget sends is counted as JSON, then its final display (the
static copy that replaces it: ``text/html``, ``text/markdown``, ``text/plain``). The page's panel
of the last step is asked for too. The baseline, measured in the same run, is the copy that
repeats each step's whole message history (what the static twin did before issue 26: the same
HTML with :func:`~rlm_jupyter.timeline.html.new_from` answering 0, so the 200,000-character
messages budget cuts it). Then the seconds it takes to show a run, against the agent alone on the
same scripted turns, with the run cost kept as steps finish and, as before, summed over every
step on every event.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any
from unittest import mock

from rlm_jupyter.live.drive import drive
from rlm_jupyter.timeline import feed as timeline_feed
from rlm_jupyter.timeline import html as timeline_html
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agent(steps: int) -> ReActAgent:
    turns: list[Any] = [
        ScriptedTurn(chunks=f"Step {i}: I add {i} and 1.",
                     tool_calls=[{"name": "add", "arguments": {"a": i, "b": 1}, "id": f"c{i}"}])
        for i in range(1, steps)]
    return ReActAgent(RLM(ScriptedProvider(turns=[*turns, "The end."])), tools=[add], max_steps=steps + 1)


def seconds(steps: int, before: bool) -> tuple[float, float]:
    """CPU seconds (every thread of this process: the scripted model is read over the bridge) the
    agent alone takes (the baseline), and the same run shown in the timeline and settled into its
    static copy; ``before``: the run cost summed over every step on every event."""
    started = time.process_time()
    list(agent(steps).stream("go"))
    alone = time.process_time() - started
    with contextlib.ExitStack() as patches:
        if before:
            def every_time(cost: timeline_feed.RunCost, records: Any) -> Any:
                cost.counted, cost.total = 0, None
                return original(cost, records)

            original = timeline_feed.RunCost.update
            patches.enter_context(mock.patch.object(timeline_feed.RunCost, "update", every_time))
        stream = agent(steps).stream("go")
        view = TimelineView(steps=lambda: stream.history)
        view.send = lambda content, buffers=None: None  # type: ignore[method-assign]  # no comm here
        started = time.process_time()
        drive(view, stream)
        view.final_bundle()
        shown = time.process_time() - started
    return alone, shown


def run(steps: int) -> tuple[TimelineView, int, int]:
    """The run shown in a widget; the bytes of the custom messages it sent during the run, and of
    its reply to a page that opens the last step's messages."""
    stream = agent(steps).stream("go")
    view = TimelineView(steps=lambda: stream.history)
    sent: list[int] = []

    def send(content: Any, buffers: Any = None) -> None:
        sent.append(len(json.dumps(content, ensure_ascii=False)))

    view.send = send  # type: ignore[method-assign]  # count what the widget would put on its comm
    drive(view, stream)
    view._on_page_message(view, {"type": "messages", "step": steps}, [])  # the last step's panel
    return view, sum(sent) - sent[-1], sent[-1]


def measure(steps: int, before: bool) -> dict[str, float]:
    with contextlib.ExitStack() as patches:
        if before:  # every step shows every message it sent, in the saved copy and the page's panel
            for module in (timeline_html, timeline_feed):
                patches.enter_context(mock.patch.object(module, "new_from", lambda _previous, _messages: 0))
        view, frames, panel = run(steps)
        data, _ = view.final_bundle()
    sizes = {mime: len(text.encode()) for mime, text in data.items()}
    return {"html": sizes["text/html"], "markdown": sizes["text/markdown"], "cell": sum(sizes.values()),
            "pre": data["text/html"].count("<pre"), "wire": frames + sum(sizes.values()), "panel": panel}


def main(argv: Sequence[str] | None = None) -> None:
    print("| steps | copy | text/html KB | `<pre>` | text/markdown KB | html / markdown "
          "| saved cell / markdown | wire KB (frames + final display) | last step's panel KB |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = {}
    for steps in (50, 200):
        for before in (True, False):
            m = results[steps, before] = measure(steps, before)
            label = "whole history per step (before)" if before else "what each step added"
            print(f"| {steps} | {label} | {m['html'] / 1000:,.1f} | {m['pre']:,} | "
                  f"{m['markdown'] / 1000:,.1f} | {m['html'] / m['markdown']:.1f}× | "
                  f"{m['cell'] / m['markdown']:.1f}× | {m['wire'] / 1000:,.1f} | {m['panel'] / 1000:,.1f} |",
                  flush=True)
    now = {steps: results[steps, False] for steps in (50, 200)}
    print(f"\n200 / 50 steps (4× the steps), what each step added: text/html "
          f"{now[200]['html'] / now[50]['html']:.2f}×, wire {now[200]['wire'] / now[50]['wire']:.2f}×, "
          f"the last step's panel {now[200]['panel'] / now[50]['panel']:.2f}×")
    print()
    print("| steps | run cost | agent alone (CPU s) | shown in the timeline + static copy (CPU s) "
          "| shown / alone |")
    print("|---|---|---|---|---|")
    for steps in (200, 800):
        for before in (True, False):
            alone, shown = seconds(steps, before)
            label = "summed on every event (before)" if before else "kept as steps finish"
            print(f"| {steps} | {label} | {alone:.2f} | {shown:.2f} | {shown / alone:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
