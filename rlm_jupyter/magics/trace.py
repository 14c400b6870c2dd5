"""``%rlm replay``, ``%rlm export`` and ``%rlm diff``: a recorded run shown again, sent to
OpenTelemetry, and two runs side by side.

::

    %rlm replay run.jsonl            # the same timeline again, at its original pace, no model needed
    %rlm replay run.jsonl --instant

    %rlm export run.jsonl --otlp http://127.0.0.1:6006/v1/traces    # Phoenix, Langfuse, any collector
    %rlm export run.jsonl --json spans.json --content               # OTLP/JSON file, with message content
    %rlm diff before.jsonl after.jsonl                              # steps aligned by action, word diffs

Collector credentials stay out of the cell: the exporter reads ``OTEL_EXPORTER_OTLP_HEADERS``
(``authorization=Bearer …``) from the environment itself. Also from Python: :func:`replay`
(exported as ``rlm_jupyter.replay``).
"""

from __future__ import annotations

import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from rlm_toolkit.errors import UsageError as ToolkitUsageError
from rlm_toolkit.trace import Trace, check_speed, load
from rlm_toolkit.trace import replay as replay_events

from ..live.errors import one_line

__all__ = ["EXPORT_USAGE", "DIFF_USAGE", "REPLAY_USAGE", "line", "replay", "replay_line"]

REPLAY_USAGE = "%rlm replay FILE [--instant] [--speed X]"

EXPORT_USAGE = "%rlm export FILE (--otlp URL | --json OUT [--overwrite]) [--content] [--agent-name NAME]"
DIFF_USAGE = "%rlm diff A.jsonl B.jsonl"


def _existing(path: str) -> str:
    if not Path(path).exists():
        raise UsageError(f"no trace file {path!r} (working directory: {Path.cwd()})")
    return path


def line(command: str, rest: str) -> Any:
    """Run ``%rlm export …`` or ``%rlm diff …`` (the words after the command); toolkit errors become
    one-line UsageErrors."""
    try:
        words = shlex.split(rest)
    except ValueError as error:
        raise UsageError(f"{EXPORT_USAGE if command == 'export' else DIFF_USAGE}: {error}") from None
    try:
        return export(words) if command == "export" else diff(words)
    except ToolkitUsageError as error:
        raise UsageError(one_line(error, typed=False)) from None


def diff(words: list[str]) -> Any:
    if len(words) != 2 or any(w.startswith("-") for w in words):
        raise UsageError(f"usage: {DIFF_USAGE}")
    from rlm_toolkit.trace_diff import diff as trace_diff

    return trace_diff(_existing(words[0]), _existing(words[1]))


def export(words: list[str]) -> None:
    options: dict[str, Any] = {"otlp": None, "json": None, "content": False, "agent-name": None,
                               "overwrite": False}
    paths = []
    i = 0
    while i < len(words):
        word = words[i]
        name = word[2:]
        if name in ("content", "overwrite") and word.startswith("--"):
            options[name] = True
        elif name in options and word.startswith("--"):
            if i + 1 >= len(words):
                raise UsageError(f"{word} needs a value; usage: {EXPORT_USAGE}")
            options[name] = words[i + 1]
            i += 1
        elif word.startswith("-"):
            raise UsageError(f"unknown option {word!r}; usage: {EXPORT_USAGE}")
        else:
            paths.append(word)
        i += 1
    if len(paths) != 1 or not (options["otlp"] or options["json"]):
        raise UsageError(f"usage: {EXPORT_USAGE}")
    from rlm_toolkit import otel

    source = _existing(paths[0])
    common = {"capture_content": options["content"], "agent_name": options["agent-name"]}
    if options["overwrite"] and not options["json"]:
        raise UsageError("--overwrite goes with --json OUT")
    if options["json"]:
        from rlm_toolkit.trace import RecordingWarning

        with warnings.catch_warnings():  # the line below says where the spans went
            warnings.simplefilter("ignore", RecordingWarning)
            written = otel.write_otlp_json(source, options["json"], overwrite=options["overwrite"], **common)
        kept = "" if str(written) == str(Path(options["json"])) else \
            f"; {options['json']} holds an earlier export (--overwrite replaces it)"
        print(f"Wrote the spans of {source} to {written} (OTLP/JSON){kept}.")
    if options["otlp"]:
        from rlm_toolkit.errors import scrub

        spans = otel.export_trace(source, endpoint=options["otlp"], **common)
        where = scrub(options["otlp"])  # a collector key in the URL's query is masked
        print(f"Sent {len(spans)} span{'s' if len(spans) != 1 else ''} of {source} to {where}.")


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
        from ..timeline.display import display_agent

        return display_agent(events, model=trace.model, steps=trace.steps, started_at=trace.created)
    from ..stream.display import display_stream  # the stream widget takes replayed events like live ones

    return display_stream(events, model=trace.model)


def _load(path: str | Path) -> Trace:
    if not Path(path).exists():
        raise ToolkitUsageError(f"no trace file {str(path)!r} (working directory: {Path.cwd()})")
    if Path(path).suffix.lower() == ".json":  # an OTLP/JSON export of GenAI spans, ours or another tool's
        from rlm_toolkit.otel_import import read_otlp_json

        traces = read_otlp_json(path)
        if len(traces) > 1:
            raise ToolkitUsageError(f"{path} holds {len(traces)} runs; replay one with "
                             f"rlm_jupyter.replay(read_otlp_json({str(path)!r})[i])")
        return traces[0]
    return load(path)


def replay_line(line: str) -> Any:
    """``%rlm replay FILE [--instant] [--speed X]`` (the words after ``replay``)."""
    try:
        words = shlex.split(line)
    except ValueError as error:
        raise ToolkitUsageError(f"{REPLAY_USAGE}: {error}") from None
    path: str | None = None
    speed: float | None = 1.0
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--instant":
            speed = None
        elif word == "--speed":
            if i + 1 >= len(words):
                raise ToolkitUsageError(f"--speed needs a number; usage: {REPLAY_USAGE}")
            try:
                speed = float(words[i + 1])
            except ValueError:
                raise ToolkitUsageError(f"--speed needs a number, not {words[i + 1]!r}") from None
            if speed <= 0:
                raise ToolkitUsageError("--speed must be positive (use --instant to replay at once)")
            check_speed(speed)
            i += 1
        elif word.startswith("-"):
            raise ToolkitUsageError(f"unknown option {word!r}; usage: {REPLAY_USAGE}")
        elif path is None:
            path = word
        else:
            raise ToolkitUsageError(f"one trace file at a time; usage: {REPLAY_USAGE}")
        i += 1
    if path is None:
        raise ToolkitUsageError(f"which trace? usage: {REPLAY_USAGE}")
    return replay(path, speed=speed)
