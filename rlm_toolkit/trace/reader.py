"""Reading a trace back: :func:`load` checks a trace file line by line into a :class:`Trace`.

A trace file is untrusted input: it may be hand-edited, cut by a crash, or not a trace at all.
:func:`load` checks every line against the format (docs/traces.md) before anything is shown, so
a widget never starts on a trace that fails half-way. A file that cannot be a trace (no header,
a header of the wrong shape, a folder, unreadable) is one :class:`~rlm_toolkit.errors.UsageError`
naming the file and line; lines of the wrong shape after a good header are skipped and listed in
``trace.problems``, so a partly readable trace replays what is readable and says what it left out.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from .._files import MAX_LINE_BYTES, MB, lines
from .._json_depth import TooDeepError, loads
from ..errors import UsageError
from ..events import EVENT_TYPES, AgentEvent, TextDelta, event_from_dict
from .format import VERSION, Event, PathLike

__all__ = ["Trace", "load", "is_number"]

_MAX_PROBLEMS = 20  # problems listed one by one; the rest are counted


def is_number(v: Any) -> TypeGuard[float]:
    """A finite int or float (not a bool): what every time, count and price of a trace must be."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _tool_index(v: Any) -> bool:
    return _whole(v) and 0 <= v < 10_000


_USAGE_COUNTS = ("prompt_tokens", "completion_tokens", "cached_input_tokens", "reasoning_tokens",
                 "cache_write_tokens")
_MAX_COUNT = 2**63  # a token count past this fits no OTel attribute (int64) and no real run


def _count(v: Any) -> bool:
    return _whole(v) and 0 <= v < _MAX_COUNT


_USAGE_FIELDS: dict[str, Callable[[Any], bool]] = {name: _optional(_count) for name in _USAGE_COUNTS}
#: Each event type's fields and what they must hold (a missing field takes its default; the ones
#: in _REQUIRED must be there). Unknown fields are ignored, as the format says.
_STREAM_FIELDS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "text": {"text": _str},
    "reasoning": {"text": _str, "signature": _optional(_str), "redacted": _optional(_str),
                  "index": _tool_index},
    "tool_call": {"index": _tool_index, "call_id": _optional(_str), "name": _optional(_str),
                  "arguments": _str},
    "usage": _USAGE_FIELDS,
    "finish": {"reason": _str},
}
_AGENT_FIELDS: dict[str, Callable[[Any], bool]] = {
    "content": _str, "tool_name": _optional(_str), "input": _optional(lambda v: isinstance(v, dict)),
    "step": lambda v: _whole(v) and v >= 0, "call_id": _optional(_str), "timestamp": is_number,
    "duration": _optional(is_number), "is_error": lambda v: isinstance(v, bool),
    "streamed": lambda v: isinstance(v, bool), "stop_reason": _optional(_str), "server": _optional(_str),
    "progress": _optional(is_number), "total": _optional(is_number),
}
_REQUIRED: dict[str, tuple[str, ...]] = {"text": ("text",), "tool_call": ("index",), "finish": ("reason",)}
_STATES = ("done", "stopped", "error")


class _Bad(Exception):
    """One line's problem (becomes ``file:line: message``)."""


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_fields(data: dict[str, Any], fields: dict[str, Callable[[Any], bool]], what: str) -> None:
    for name, check in fields.items():
        if name in data and not check(data[name]):
            raise _Bad(f"{what} field {name!r} cannot be {_shown(data[name])}")


def _event(obj: dict[str, Any], kind: str) -> tuple[float, Event]:
    """The offset and event of an ``event`` line, or _Bad saying what is wrong with it."""
    t, data = obj.get("t", 0.0), obj.get("event")
    if not is_number(t):
        raise _Bad(f"'t' must be seconds (a number), not {_shown(t)}")
    if not isinstance(data, dict):
        raise _Bad(f"'event' must be a JSON object, not {_shown(data)}")
    etype = data.get("type")
    if kind == "agent":
        if etype not in EVENT_TYPES:
            raise _Bad(f"unknown agent event type {_shown(etype)} (known: {', '.join(EVENT_TYPES)})")
        _check_fields(data, _AGENT_FIELDS, f"{etype} event")
        data.pop("images", None)  # rlm never writes them: a file that has them is not taken at its word
        return float(t), AgentEvent.from_dict(data)
    if not isinstance(etype, str) or etype not in _STREAM_FIELDS:
        raise _Bad(f"unknown stream event type {_shown(etype)} (known: {', '.join(_STREAM_FIELDS)})")
    fields = _STREAM_FIELDS[etype]
    missing = [name for name in _REQUIRED.get(etype, ()) if name not in data]
    if missing:
        raise _Bad(f"{etype} event without {missing[0]!r}")
    _check_fields(data, fields, f"{etype} event")
    return float(t), event_from_dict(data)


def _cost(v: Any) -> bool:
    if isinstance(v, dict):
        return all(_optional(is_number)(v.get(k)) for k in ("total", "input", "output"))
    return is_number(v)


#: What a step's or a footer's ``response`` may hold (rlm_toolkit.Response.to_dict(), an agent's
#: provenance): the fields the diff, the OTel export and the footers read, so each reader can trust them.
_RESPONSE_FIELDS: dict[str, Callable[[Any], bool]] = {
    "usage": _optional(lambda v: isinstance(v, dict)), "elapsed_s": _optional(is_number),
    "ttft_s": _optional(is_number), "cost": _optional(_cost), "cost_usd": _optional(is_number),
    "tokens_per_s": _optional(is_number), "steps": _optional(_count),
}
_STEP_FIELDS: dict[str, Callable[[Any], bool]] = {
    "response": _optional(lambda v: isinstance(v, dict)), "params": _optional(lambda v: isinstance(v, dict)),
    "duration": _optional(is_number), "started": _optional(is_number), "error": _optional(_str),
}


def _check_response(response: Any, what: str) -> None:
    if not isinstance(response, dict):
        return
    _check_fields(response, _RESPONSE_FIELDS, f"{what} response")
    _check_fields(response.get("usage") or {}, _USAGE_FIELDS, f"{what} usage")


def _step(obj: dict[str, Any]) -> int:
    number, messages = obj.get("step"), obj.get("messages", [])
    if not _whole(number) or number < 1:
        raise _Bad(f"'step' must be a step number (1, 2, …), not {_shown(number)}")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise _Bad("'messages' must be a list of message objects")
    _check_fields(obj, _STEP_FIELDS, "step")
    _check_response(obj.get("response"), "step")
    return number


def _footer(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("state", "done") not in _STATES:
        raise _Bad(f"footer 'state' must be one of {', '.join(_STATES)}, not {_shown(obj.get('state'))}")
    if not _optional(_str)(obj.get("error")) or not isinstance(obj.get("response") or {}, dict):
        raise _Bad("footer 'error' must be text and 'response' an object")
    if not _optional(is_number)(obj.get("t")):
        raise _Bad(f"footer 't' must be seconds (a number), not {_shown(obj.get('t'))}")
    _check_response(obj.get("response"), "footer")
    return obj


def _header(obj: dict[str, Any], where: str) -> dict[str, Any]:
    if obj.get("type") != "header":
        raise UsageError(f"{where}: not an rlm trace (the first line is not a header)")
    version = obj.get("version", VERSION)
    if not _whole(version) or version < 1:
        raise UsageError(f"{where}: not a trace header: 'version' must be a whole number, "
                         f"not {_shown(version)}")
    if version > VERSION:
        raise UsageError(f"{where}: trace format version {version} is newer than this rlm_toolkit reads "
                         f"({VERSION}); upgrade rlm")
    if obj.get("kind") not in ("stream", "agent"):
        raise UsageError(f"{where}: not a trace header: 'kind' must be \"stream\" or \"agent\", "
                         f"not {_shown(obj.get('kind'))}")
    if not _optional(is_number)(obj.get("created")):
        raise UsageError(f"{where}: not a trace header: 'created' must be a Unix time (seconds), "
                         f"not {_shown(obj.get('created'))}")
    if not _optional(_str)(obj.get("model")):
        raise UsageError(f"{where}: not a trace header: 'model' must be text, not {_shown(obj.get('model'))}")
    return obj


@dataclass
class Trace:
    """A trace read back: header, events with their offsets, step requests and footer.

    ``problems``: lines that were skipped because they do not fit the format (``file:line: why``,
    the first few), ``skipped``: how many there were.
    """

    header: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    steps: dict[int, dict[str, Any]] = field(default_factory=dict)
    footer: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    skipped: int = 0
    path: str | None = None

    @property
    def kind(self) -> str:
        return str(self.header.get("kind"))

    @property
    def model(self) -> str | None:
        return self.header.get("model")

    @property
    def created(self) -> float:
        """When the recorded run started (Unix time); from its first agent event if the header has none."""
        created = self.header.get("created")
        if created is not None:
            return float(created)
        for event, t in zip(self.events, self.times):
            if isinstance(event, AgentEvent):
                return event.timestamp - t
        return 0.0

    @property
    def complete(self) -> bool:
        """Whether the recording was closed (a crashed run leaves no footer)."""
        return self.footer is not None

    @property
    def state(self) -> str:
        return self.footer.get("state", "done") if self.footer else "stopped"

    @property
    def text(self) -> str:
        """The answer: the streamed text, or an agent's final answer."""
        if self.kind == "agent":
            finals = [e.content for e in self.events if isinstance(e, AgentEvent) and e.type == "final"]
            return finals[-1] if finals else ""
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    @property
    def reasoning(self) -> str:
        """The model's streamed reasoning ("" when it streamed none); an agent's, over all its steps."""
        return "".join(e.text if e.type == "reasoning" and not isinstance(e, AgentEvent) else e.content
                       for e in self.events if e.type == "reasoning")

    @property
    def duration(self) -> float:
        """Seconds the recorded run took, by its own clock (the footer's, else the last event's offset)."""
        if self.footer is not None and is_number(self.footer.get("t")):
            return float(self.footer["t"])
        return self.times[-1] if self.times else 0.0

    @property
    def parent(self) -> dict[str, Any] | None:
        """A fork's parent: ``{"file": …, "step": N, "edits": {…}}`` (None for a run that is no fork,
        or a header field of another shape)."""
        parent = self.header.get("parent")
        if isinstance(parent, dict) and _str(parent.get("file")) and _whole(parent.get("step")):
            return parent
        return None

    @property
    def schema(self) -> dict[str, Any] | None:
        """A typed run's schema, ``{"name": …, "json_schema": {…}}`` (``schema=`` / ``output_type=``);
        None for a text run, a trace written before typed answers, or a header field of another shape."""
        schema = self.header.get("schema")
        if isinstance(schema, dict) and _str(schema.get("name")) \
                and isinstance(schema.get("json_schema"), dict):
            return schema
        return None

    @property
    def output(self) -> Any:
        """A typed run's answer as JSON data: an agent's from its final event (validated when it
        ran), a call's parsed from its text (None when it is not JSON: the run failed). None for a
        text run."""
        schema = self.schema
        if schema is None:
            return None
        if self.kind == "agent":
            finals = [e for e in self.events if isinstance(e, AgentEvent) and e.type == "final"]
            return finals[-1].output if finals and not finals[-1].is_error else None
        try:
            data = loads(self.text)
        except ValueError:
            return None
        if schema["json_schema"].get("type") != "object":  # sent wrapped (rlm_toolkit.typed.schema)
            return data.get("value") if isinstance(data, dict) else None
        return data

    def fork(self, step: int | None = None, **options: Any) -> Any:
        """Fork this run at ``step``: an agent stream (see :func:`rlm_toolkit.agents.fork.fork`)."""
        return _forks().fork(self, step, **options)

    def afork(self, step: int | None = None, **options: Any) -> Any:
        """Async twin of :meth:`fork` (see :func:`rlm_toolkit.agents.fork.afork`)."""
        return _forks().afork(self, step, **options)

    def messages(self, step: int) -> list[dict[str, Any]]:
        """The exact messages sent to the model at ``step`` (1-based): a copy, to edit freely (a fork's)."""
        if step not in self.steps:
            raise UsageError(f"the trace has no step {step}; steps: {sorted(self.steps) or 'none'}")
        return copy.deepcopy(list(self.steps[step].get("messages") or []))

    def problem_summary(self) -> str | None:
        """One line saying which lines were skipped, or None when every line was read."""
        if not self.skipped:
            return None
        more = f" (and {self.skipped - len(self.problems)} more)" if self.skipped > len(self.problems) else ""
        return (f"{self.path or 'trace'}: {self.skipped} line{'s' if self.skipped != 1 else ''} could not be "
                f"read and {'were' if self.skipped != 1 else 'was'} left out of the replay; first: "
                f"{self.problems[0]}{more}")


def _forks() -> Any:
    """:mod:`rlm_toolkit.agents.fork`, imported only when a trace is forked: a fork runs an agent,
    and traces must not import the agent (they are read by exporters and replays that need none;
    tests/toolkit/test_pump.py holds that). The one edge from traces to agents, at run time."""
    return importlib.import_module("rlm_toolkit.agents.fork")


def _lines(path: PathLike) -> Any:
    """The file's lines as bytes (None: a line over MAX_LINE_BYTES); a folder, a FIFO, a device, an
    unreadable file or one over MAX_TRACE_BYTES is a UsageError (rlm_toolkit._files)."""
    try:
        yield from lines(path, "a trace file")
    except OSError as error:  # a read failing half-way
        raise UsageError(f"cannot read the trace {str(path)!r}: {error.strerror or error}") from None


def load(path: PathLike) -> Trace:
    """Read a trace file, checking every line; see the module's docstring for what is an error.

    ``trace.problems`` lists the lines that were skipped. A last line cut mid-write (a crash) is
    not a problem: the trace is then incomplete (``trace.complete`` is False).
    """
    trace: Trace | None = None
    for number, raw in enumerate(_lines(path), start=1):
        where = f"{path}:{number}"
        if raw is None:  # skipped unread: a whole line, never a crash's cut (so raw is "\n")
            line, bad, raw = None, f"a line over {MAX_LINE_BYTES // MB} MB", b"\n"
        else:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                line, bad = None, f"not UTF-8 text (byte {raw[error.start]:#04x} at column {error.start + 1})"
        if line is not None and not line.strip():
            continue
        obj: Any = None
        if line is not None:
            bad = "not a trace line (JSON object with a 'type')"
            try:
                obj = loads(line)
            except TooDeepError as error:
                bad = f"JSON {error}"
            except ValueError:
                obj = None
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            if trace is None:
                raise UsageError(f"{where}: {bad}")
            if trace.footer is None and not raw.endswith(b"\n"):
                break  # a run that crashed mid-write: keep what was complete
            _skip(trace, where, bad)
            continue
        if trace is None:
            trace = Trace(header=_header(obj, where), path=str(path))
            continue
        try:
            _read_line(trace, obj)
        except _Bad as problem:
            _skip(trace, where, str(problem))
    if trace is None:
        raise UsageError(f"{path}: empty file, not an rlm trace")
    return trace


def _read_line(trace: Trace, obj: dict[str, Any]) -> None:
    kind = obj["type"]
    if kind == "event":
        t, event = _event(obj, trace.kind)
        trace.events.append(event)
        trace.times.append(t)
    elif kind == "step":
        trace.steps[_step(obj)] = obj
    elif kind == "footer":
        trace.footer = _footer(obj)
    elif kind == "header":
        raise _Bad("a second header (two traces in one file?)")
    # other line types: a newer writer's addition, ignored as the format says


def _skip(trace: Trace, where: str, why: str) -> None:
    trace.skipped += 1
    if len(trace.problems) < _MAX_PROBLEMS:
        trace.problems.append(f"{where}: {why}")
