"""Record a stream or an agent run to a JSONL trace, and replay it with its original timing.

::

    for chunk in rlm.stream("Tell a story", record="story.jsonl"):
        ...
    for event in agent.stream(task, record="run.jsonl"):
        ...
    for event in replay("run.jsonl"):              # same events, same order, same pauses
        ...
    load("run.jsonl").messages(2)                   # what the model was sent at step 2
    load("run.jsonl").fork(step=3, messages=edited, model=rlm, tools=[add])   # rerun from step 3, live

A trace is plain JSON lines (format version 1, documented in docs/traces.md): a ``header``,
one ``event`` line per event with its time offset ``t`` in seconds, one ``step`` line per model
call with the exact request, and a ``footer`` with the provenance. Every string is passed
through :func:`~rlm_toolkit.errors.scrub` before it is written; values of keys named like
credentials are replaced; text that streams in pieces is scrubbed across piece boundaries.
Recording never truncates an existing file: a name that holds an earlier trace gives ``run-2.jsonl``
(with a :class:`RecordingWarning`) unless ``overwrite=True``; any other file is refused.

This package names what users import; each job is its own module: the shared names of the
format (:mod:`~rlm_toolkit.trace.format`), writing a file (:mod:`~rlm_toolkit.trace.writer`), the
recorders a run adds as callbacks (:mod:`~rlm_toolkit.trace.recorders`), reading a file back,
checking every line of it (:mod:`~rlm_toolkit.trace.reader`), replaying it with its timing
(:mod:`~rlm_toolkit.trace.player`), comparing two runs (:mod:`~rlm_toolkit.trace.compare`), and
forking a run at a step to rerun it live from there with edits (``Trace.fork``; the agent's
:mod:`~rlm_toolkit.agents.fork`).
A recorded run goes to OpenTelemetry through :func:`rlm_toolkit.otel.export_trace`.
"""

from __future__ import annotations

from .._files import RecordingWarning
from .compare import diff
from .format import VERSION
from .player import MAX_SPEED, MIN_SPEED, Replay, check_speed, replay
from .reader import Trace, load
from .recorders import AgentRecorder, StreamRecorder, record
from .writer import TraceRecorder, check_writable

__all__ = ["VERSION", "Trace", "TraceRecorder", "StreamRecorder", "AgentRecorder", "record", "load", "replay",
           "Replay", "check_writable", "check_speed", "MIN_SPEED", "MAX_SPEED", "diff", "RecordingWarning"]
