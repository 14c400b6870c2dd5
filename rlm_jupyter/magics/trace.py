"""``%rlm replay``, ``%rlm export`` and ``%rlm diff``: a recorded run shown again, sent to
OpenTelemetry, and two runs side by side (their options are parsed by :mod:`.line`).

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

import sys
import warnings
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from rlm_toolkit.errors import UsageError as ToolkitUsageError
from rlm_toolkit.trace import Trace, check_speed, load
from rlm_toolkit.trace import replay as replay_events

__all__ = ["diff", "export", "replay"]


def _existing(path: str) -> str:
    if not Path(path).exists():
        raise UsageError(f"no trace file {path!r} (working directory: {Path.cwd()})")
    return path


def diff(a: str, b: str) -> Any:
    """``%rlm diff A B``: the structured difference of two traces (shown as a table)."""
    from rlm_toolkit.trace_diff import diff as trace_diff

    return trace_diff(_existing(a), _existing(b))


def export(source: str, *, otlp: str | None = None, json: str | None = None, overwrite: bool = False,
           content: bool = False, agent_name: str | None = None) -> None:
    """``%rlm export FILE``: the trace's spans sent to ``otlp`` and/or written to ``json``."""
    from .line import usage_error

    if not (otlp or json):
        usage_error("export", "the spans go to --otlp URL or --json OUT (or both)")
    from rlm_toolkit import otel

    source = _existing(source)
    if overwrite and not json:
        raise UsageError("--overwrite goes with --json OUT")
    if json:
        from rlm_toolkit.trace import RecordingWarning

        with warnings.catch_warnings():  # the line below says where the spans went
            warnings.simplefilter("ignore", RecordingWarning)
            written = otel.write_otlp_json(source, json, overwrite=overwrite, capture_content=content,
                                             agent_name=agent_name)
        kept = "" if str(written) == str(Path(json)) else \
            f"; {json} holds an earlier export (--overwrite replaces it)"
        print(f"Wrote the spans of {source} to {written} (OTLP/JSON){kept}.")
    if otlp:
        from rlm_toolkit.errors import scrub

        spans = otel.export_trace(source, endpoint=otlp, capture_content=content, agent_name=agent_name)
        where = scrub(otlp)  # a collector key in the URL's query is masked
        print(f"Sent {len(spans)} span{'s' if len(spans) != 1 else ''} of {source} to {where}.")


def replay(path: str | Path | Trace, *, speed: float | None = 1.0) -> Any:
    """Show a recorded run again in the widget it was recorded from, with no model; return the view.

    Agent traces replay into the timeline (``view.messages(n)`` works, and Fork from here forks
    the trace's steps); stream traces into the stream widget. ``speed=None`` replays at once.
    """
    check_speed(speed)
    trace = path if isinstance(path, Trace) else _load(path)  # checked whole before any widget shows
    events = replay_events(trace, speed)
    if trace.problem_summary():  # a partly readable trace: replay what is readable, and say so
        print(f"rlm: {trace.problem_summary()}", file=sys.stderr)
    if trace.kind == "agent":
        from ..timeline.display import display_agent
        from ..timeline.forking import ForkSource
        from .fork import offer_fork

        # %rlm fork reads a JSONL trace (an OTLP/JSON export replays, but forks from its own trace)
        jsonl = bool(trace.path) and Path(str(trace.path)).suffix.lower() != ".json" and bool(trace.steps)
        view = display_agent(events, model=trace.model, steps=trace.steps, started_at=trace.created,
                             fork=ForkSource(str(trace.path)) if jsonl else None)
        offer_fork(view)  # a Fork from here clicked while the replay went on
        return view
    from ..stream.display import display_stream  # the stream widget takes replayed events like live ones

    if trace.schema is not None:  # a typed call: its JSON as the tree it was shown as (wrapped: a root
        wrapped = trace.schema["json_schema"].get("type") != "object"  # that is not an object, typed.schema)
        return display_stream(events, model=trace.model, fmt="object", unwrap=wrapped)
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
