"""What ``%%rlm --agent``, ``%%rlm --record`` and ``%rlm replay`` do; magics.py parses and dispatches here.

::

    %%rlm --agent --tools add,search -m openai:gpt-4o --record run.jsonl
    What is 2 + 40? Then look up who said it.

    %rlm replay run.jsonl            # the same timeline again, at its original pace, no model needed
    %rlm replay run.jsonl --instant

Also from Python: :func:`replay` (exported as ``rlm_jupyter.replay``).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlm_toolkit.errors import UsageError
from rlm_toolkit.trace import AgentRecorder, Trace, check_speed, load
from rlm_toolkit.trace import replay as replay_events

from .timeline import PlainTimeline, TimelineView, display_agent

__all__ = ["resolve_tools", "run_agent", "replay", "replay_line", "REPLAY_USAGE"]

REPLAY_USAGE = "%rlm replay FILE [--instant] [--speed X]"


def resolve_tools(names: str | None, namespace: Mapping[str, Any]) -> list[Any]:
    """The functions named in ``--tools a,b`` from the user's namespace; an unknown name is a UsageError."""
    tools = []
    for name in (n.strip() for n in (names or "").split(",")):
        if not name:
            continue
        if name not in namespace:
            known = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_")
                           and getattr(v, "__module__", None) == "__main__")
            hint = f"; functions defined here: {', '.join(known)}" if known else ""
            raise UsageError(f"--tools: no function named {name!r} in the notebook{hint}")
        value = namespace[name]
        if not callable(value) and not hasattr(value, "spec"):
            raise UsageError(f"--tools: {name!r} is a {type(value).__name__}, not a function")
        tools.append(value)
    return tools


def run_agent(
    task: str,
    rlm: Any,
    tools: list[Any],
    *,
    record: str | None = None,
    overwrite: bool = False,
    max_steps: int | None = None,
    system: str | None = None,
    widget: bool | None = None,
    keep_widget: bool = False,
    background: bool = False,
    budget: dict[str, Any] | None = None,
    approve: bool = False,
) -> TimelineView | PlainTimeline:
    """Run ``task`` with a :class:`~rlm_toolkit.agents.ReActAgent` and show it as a live timeline
    (``background=True``: on the toolkit's loop thread, returning at once; with no widget front
    end, printed as it happens and then, in a kernel, replaced by the static twin; ``budget``: the
    run's ``max_cost`` / ``max_tokens_total``; ``approve=True``: each tool call waits for the
    timeline's Approve / Deny, or ``input()`` where there are no widgets)."""
    from rlm_toolkit.agents import ReActAgent

    if not task.strip():
        raise UsageError("%%rlm --agent: the cell is the task; it is empty")
    options: dict[str, Any] = {"max_steps": max_steps} if max_steps else {}
    agent = ReActAgent(rlm, tools=tools, system_prompt=system, approve=approve, **options)
    # Recording through our own recorder lets the live timeline start when the recording does, so
    # a replay shows the same durations.
    recorder = AgentRecorder(record, agent.rlm.model_id, history=lambda: agent.history,
                             overwrite=overwrite) if record else None
    callbacks = [recorder] if recorder else None
    started_at = recorder.recorder.created if recorder else None
    if background and widget is not False:
        view = display_agent(agent.astream(task.strip(), callbacks=callbacks, **(budget or {})),
                             model=agent.rlm.model_id,
                             keep_widget=keep_widget, started_at=started_at, steps=lambda: agent.history,
                             background=True)
        if recorder is not None:  # closed once the run has ended, however it ended
            view.task.add_done_callback(lambda _f: recorder.recorder.close(state="stopped"))
        return view
    stream = agent.stream(task.strip(), callbacks=callbacks, **(budget or {}))
    try:
        return display_agent(stream, model=agent.rlm.model_id, widget=widget, keep_widget=keep_widget,
                             started_at=started_at, replace=True)
    finally:
        if recorder is not None:  # an interrupted run never reaches its final event: close it here
            recorder.recorder.close(state="stopped")


def replay(path: str | Path | Trace, *, speed: float | None = 1.0) -> Any:
    """Show a recorded run again in the widget it was recorded from, with no model; return the view.

    Agent traces replay into the timeline (``view.messages(n)`` works); stream traces into the
    stream widget. ``speed=None`` replays at once.
    """
    check_speed(speed)
    trace = path if isinstance(path, Trace) else _load(path)  # checked whole before any widget shows
    events = replay_events(trace, speed)
    if trace.problem_summary():  # a partly readable trace: replay what is readable, and say so
        print(f"rlm: {trace.problem_summary()}", file=sys.stderr)
    if trace.kind == "agent":
        return display_agent(events, model=trace.model, steps=trace.steps, started_at=trace.created)
    from .stream_view import display_stream  # the stream widget consumes replayed events like a live stream

    return display_stream(events, model=trace.model)


def _load(path: str | Path) -> Trace:
    if not Path(path).exists():
        raise UsageError(f"no trace file {str(path)!r} (working directory: {Path.cwd()})")
    if Path(path).suffix.lower() == ".json":  # an OTLP/JSON export of GenAI spans, ours or another tool's
        from rlm_toolkit.otel_import import read_otlp_json

        traces = read_otlp_json(path)
        if len(traces) > 1:
            raise UsageError(f"{path} holds {len(traces)} runs; replay one with "
                             f"rlm_jupyter.replay(read_otlp_json({str(path)!r})[i])")
        return traces[0]
    return load(path)


def replay_line(line: str) -> Any:
    """``%rlm replay FILE [--instant] [--speed X]`` (the words after ``replay``)."""
    try:
        words = shlex.split(line)
    except ValueError as error:
        raise UsageError(f"{REPLAY_USAGE}: {error}") from None
    path, speed = None, 1.0
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--instant":
            speed = None
        elif word == "--speed":
            if i + 1 >= len(words):
                raise UsageError(f"--speed needs a number; usage: {REPLAY_USAGE}")
            try:
                speed = float(words[i + 1])
            except ValueError:
                raise UsageError(f"--speed needs a number, not {words[i + 1]!r}") from None
            if speed <= 0:
                raise UsageError("--speed must be positive (use --instant to replay at once)")
            check_speed(speed)
            i += 1
        elif word.startswith("-"):
            raise UsageError(f"unknown option {word!r}; usage: {REPLAY_USAGE}")
        elif path is None:
            path = word
        else:
            raise UsageError(f"one trace file at a time; usage: {REPLAY_USAGE}")
        i += 1
    if path is None:
        raise UsageError(f"which trace? usage: {REPLAY_USAGE}")
    return replay(path, speed=speed)
