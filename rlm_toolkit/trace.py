"""Record a stream or an agent run to a JSONL trace, and replay it with its original timing.

::

    for chunk in rlm.stream("Tell a story", record="story.jsonl"):
        ...
    for event in agent.stream(task, record="run.jsonl"):
        ...
    for event in replay("run.jsonl"):              # same events, same order, same pauses
        ...
    load("run.jsonl").messages(2)                   # what the model was sent at step 2

A trace is plain JSON lines (format version 1, documented in docs/traces.md): a ``header``,
one ``event`` line per event with its time offset ``t`` in seconds, one ``step`` line per model
call with the exact request, and a ``footer`` with the provenance. Every string is passed
through :func:`~rlm_toolkit.errors.scrub` before it is written; values of keys named like
credentials are replaced; text that streams in pieces is scrubbed across piece boundaries.
This module writes traces; reading and replaying them (``load``, ``replay``, ``Trace``, which
checks every line of an untrusted file) is in :mod:`rlm_toolkit._replay` and re-exported here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, Union

from ._replay import MAX_SPEED, MIN_SPEED, VERSION, Replay, Trace, check_speed, load, replay
from .agents.events import AgentEvent
from .callbacks import StreamingCallback
from . import errors
from .errors import UsageError, scrub
from .events import ReasoningDelta, StreamEvent, TextDelta

__all__ = ["VERSION", "Trace", "TraceRecorder", "StreamRecorder", "AgentRecorder", "record", "load", "replay",
           "Replay", "check_writable", "check_speed", "MIN_SPEED", "MAX_SPEED"]

Kind = Literal["stream", "agent"]
Event = Union[StreamEvent, AgentEvent]
PathLike = Union[str, "os.PathLike[str]"]

#: Dict keys whose values are never written, whatever they hold.
_SECRET_KEYS = frozenset(
    {"authorization", "proxy-authorization", "api_key", "api-key", "x-api-key", "apikey"}
)
_SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


#: Held streamed text is written at the latest this many seconds (of the run) after it arrived.
FLUSH_AFTER = 0.2
#: ... or once this many characters are held.
_HOLD_CHARS = 4096
#: What a key, token or URL password could still be growing at the end of held text: it is held back
#: a little longer when the rest is written on time (text in other scripts, spaces, punctuation is not).
_KEY_TAIL = re.compile(r"(?i)(?:bearer\s+)?[A-Za-z0-9_\-*.…+/=]*$|://[^\s/?#@\"'<>]*$")
_KEY_TAIL_MAX = 512


def _unfinished_key_at(text: str, secrets: tuple[str, ...]) -> int:
    """Where the end of ``text`` that could still grow into a key begins (``len(text)``: nowhere): a
    trailing run of key characters (or ``Bearer …``), or the start of a known secret, whatever it holds."""
    tail = _KEY_TAIL.search(text)
    keep = tail.start() if tail is not None and len(text) - tail.start() <= _KEY_TAIL_MAX else len(text)
    known = (*errors._secrets, *secrets)  # the keys providers registered, and this trace's
    for secret in known:
        for size in range(min(len(secret) - 1, len(text)), 0, -1):
            if text.endswith(secret[:size]):
                keep = min(keep, len(text) - size)
                break
    if keep < len(text):  # never cut through a whole key either: the part written is scrubbed alone
        patterns = (errors._KEY_PATTERN, errors._BEARER_PATTERN, errors._USERINFO_PATTERN)
        spans = [(m.start(), m.end()) for pattern in patterns for m in pattern.finditer(text)]
        for secret in known:
            at = text.find(secret)
            while secret and at >= 0:
                spans.append((at, at + len(secret)))
                at = text.find(secret, at + 1)
        for start, end in sorted(spans, reverse=True):
            if start < keep < end:
                keep = start
    return keep


def _env_secrets() -> tuple[str, ...]:
    """Values of credential-like environment variables: scrubbed even if they look like nothing."""
    return tuple(v for k, v in os.environ.items() if k.upper().endswith(_SECRET_ENV_SUFFIXES) and len(v) >= 8)


def _clean(value: Any, secrets: tuple[str, ...]) -> Any:
    """A JSON-ready copy of ``value`` with every string scrubbed and credential keys blanked."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {
            str(k): "***" if str(k).lower() in _SECRET_KEYS else _clean(v, secrets) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_clean(v, secrets) for v in value]
    if hasattr(value, "to_dict"):
        return _clean(value.to_dict(), secrets)
    return scrub(repr(value), secrets)


def check_writable(path: PathLike) -> Path:
    """``path`` as a Path if a trace can be written there (its folder exists, it is not a folder).

    Callers check before a run starts (``%%rlm --record``), so a typo costs no model call.
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot record to {str(path)!r}: it is a folder; name a file in it, "
                         f"e.g. {str(target / 'run.jsonl')!r}")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"cannot record to {str(path)!r}: no folder {str(folder)!r} (create it first)")
    if not os.access(target if target.exists() else folder, os.W_OK):
        raise UsageError(f"cannot record to {str(path)!r}: not writable")
    return target


def _open_for_writing(path: Path) -> IO[str]:
    check_writable(path)
    try:
        return path.open("w", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot record to {str(path)!r}: {error.strerror or error}") from None


def _text_of(event: Any) -> str | None:
    """The streamed text an event carries (text and reasoning deltas, agent tokens and reasoning),
    else None."""
    if isinstance(event, TextDelta) or (isinstance(event, ReasoningDelta) and event.signature is None
                                        and event.redacted is None):
        return event.text
    if isinstance(event, AgentEvent) and event.type in ("token", "reasoning"):
        return event.content
    return None


def _with_text(event: Any, text: str) -> dict[str, Any]:
    data = event.to_dict()
    data["content" if isinstance(event, AgentEvent) else "text"] = text
    return data


class TraceRecorder:
    """Writes one trace file as a run happens: ``event()`` per event, ``step()``, then ``close()``.

    Streamed text is held back until a piece that starts a new word arrives, then the held
    pieces are scrubbed together, so a key split over several tokens is still removed. Text is
    never held longer than :data:`FLUSH_AFTER` seconds (or :data:`_HOLD_CHARS` characters), so an
    answer without spaces (Japanese, Chinese, a long URL) is on disk as it streams; only a
    trailing run that could still be part of a key waits for the next piece.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        kind: Kind,
        model: str | None = None,
        secrets: tuple[str, ...] = (),
        started: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.model = model
        self.secrets = (*_env_secrets(), *secrets)
        # ``started``: when the run began (``time.perf_counter()``), if that was before now.
        self._t0 = time.perf_counter() if started is None else started
        self.created = time.time() - (time.perf_counter() - self._t0)
        self._file: IO[str] | None = _open_for_writing(self.path)
        self._header_written = False
        self._pending: list[tuple[float, Any]] = []
        self._held = 0  # characters in _pending
        self.closed = False

    def now(self) -> float:
        """Seconds since the recording started."""
        return time.perf_counter() - self._t0

    def _write(self, obj: dict[str, Any]) -> None:
        assert self._file is not None
        if not self._header_written:
            self._header_written = True
            header = {"type": "header", "version": VERSION, "kind": self.kind, "model": self.model,
                      "created": self.created}
            self._file.write(json.dumps(_clean(header, self.secrets), ensure_ascii=False) + "\n")
        self._file.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._file.flush()  # a crashed or interrupted run still leaves every line written so far

    def event(self, event: Event | str, t: float | None = None) -> None:
        """Record one event (a ``str`` chunk is recorded as a text delta) at offset ``t``."""
        if self.closed:
            return
        if isinstance(event, str):
            event = TextDelta(text=event)
        t = self.now() if t is None else t
        text = _text_of(event)
        if text is None:
            self._flush_text()
            self._write({"type": "event", "t": round(t, 4), "event": _clean(event.to_dict(), self.secrets)})
            return
        if text[:1].isspace():
            self._flush_text()
        self._pending.append((t, event))
        self._held += len(text)
        if t - self._pending[0][0] >= FLUSH_AFTER or self._held >= _HOLD_CHARS:
            self._flush_text(on_time=True)

    def _flush_text(self, on_time: bool = False) -> None:
        """Write held text pieces, scrubbed as one text and split again at the same offsets.

        ``on_time``: written because it was held long enough, not at a word boundary; the trailing
        pieces that could still be the start of a key stay held (at most ``_KEY_TAIL_MAX`` characters).
        """
        if not self._pending:
            return
        pieces = [_text_of(e) or "" for _, e in self._pending]
        whole = "".join(pieces)
        count = len(pieces)
        if on_time:
            keep = _unfinished_key_at(whole, self.secrets)
            while count and len(whole) > keep:  # hold back every piece that reaches into the tail
                whole = whole[: len(whole) - len(pieces[count - 1])]
                count -= 1
            if count == 0:
                return
            pieces = pieces[:count]
        clean = scrub(whole, self.secrets)
        out: list[str] = pieces
        if clean != whole:
            out, start = [], 0
            for i, piece in enumerate(pieces):
                end = len(clean) if i == len(pieces) - 1 else min(len(clean), start + len(piece))
                out.append(clean[start:end])
                start = end
        for (t, event), text in zip(self._pending, out):
            data = _with_text(event, text)
            self._write({"type": "event", "t": round(t, 4), "event": _clean(data, self.secrets)})
        self._pending = self._pending[count:]
        self._held = sum(len(_text_of(e) or "") for _, e in self._pending)

    def step(self, number: int, data: dict[str, Any] | Any) -> None:
        """Record the request of one model call: the exact messages, tool specs, response."""
        if self.closed:
            return
        self._flush_text()
        body = data.to_dict() if hasattr(data, "to_dict") else dict(data)
        self._write({"type": "step", **_clean(body, self.secrets), "step": number})

    def close(
        self,
        *,
        state: str = "done",
        response: dict[str, Any] | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        """Write the footer (state, provenance, scrubbed error) and close the file; idempotent."""
        if self.closed:
            return
        self._flush_text()
        message = None
        if error is not None:
            message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._write({"type": "footer", "t": round(self.now(), 4), "state": state,
                     "response": _clean(response, self.secrets), "error": _clean(message, self.secrets)})
        self.closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


    def __del__(self) -> None:
        # A run dropped without an end (its stream closed early, an interrupt) still gets a footer.
        try:
            if not self.closed and self._file is not None:
                self.close(state="stopped")
        except Exception:
            pass


def _state_of(error: BaseException | None) -> str:
    if error is None or isinstance(error, GeneratorExit):
        return "stopped" if error is not None else "done"
    if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)):
        return "stopped"
    return "error"


class StreamRecorder(StreamingCallback):
    """A callback that records one model call (``rlm.stream(..., record=path)`` adds it)."""

    def __init__(self, path: PathLike, model: str | None = None) -> None:
        self.recorder = TraceRecorder(path, kind="stream", model=model)

    def on_llm_start(self, *, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> None:
        self.recorder.model = self.recorder.model or model
        self.recorder.step(1, {"messages": messages, "params": kwargs.get("params") or {}})

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.recorder.event(TextDelta(text=token))

    def on_llm_reasoning(self, text: str, **kwargs: Any) -> None:
        self.recorder.event(ReasoningDelta(text=text))

    def _end(self, response: Any, error: BaseException | None) -> None:
        from .events import Finish, ToolCallDelta, Usage

        if response is not None:
            for index, block in enumerate(response.reasoning_blocks):  # signatures are opaque: at the end
                if block.get("signature") or block.get("type") == "redacted_thinking":
                    self.recorder.event(ReasoningDelta(signature=block.get("signature"),
                                                       redacted=block.get("data"), index=index))
            for call in response.tool_calls:
                self.recorder.event(ToolCallDelta(index=call.index, call_id=call.call_id, name=call.name,
                                                  arguments=call.arguments))
            if response.prompt_tokens is not None or response.completion_tokens is not None:
                self.recorder.event(Usage(prompt_tokens=response.prompt_tokens,
                                          completion_tokens=response.completion_tokens))
            if response.finish_reason:
                self.recorder.event(Finish(reason=response.finish_reason))
        state = response.state if response is not None and response.state != "streaming" else _state_of(error)
        provenance = response.to_dict() if response is not None else None
        self.recorder.close(state=state, response=provenance, error=error)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self._end(response, None)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self._end(kwargs.get("response"), error)


class AgentRecorder(StreamingCallback):
    """A callback that records an agent run (``agent.stream(task, record=path)`` adds it).

    It sees every event through ``on_agent_event``; at the final event the run's steps are
    complete, so it writes them (``history``: the agent's step records) and the footer.
    An interrupted run (a model call stopped) is closed as ``stopped``.
    """

    def __init__(
        self, path: PathLike, model: str | None = None, history: Any = None, started: float | None = None
    ) -> None:
        self.recorder = TraceRecorder(path, kind="agent", model=model, started=started)
        self.history = history
        self._error: str | None = None

    def on_agent_event(self, event: Any, **kwargs: Any) -> None:
        self.recorder.event(event)
        if event.type == "error":
            self._error = event.content

    def on_agent_finish(self, final: Any, **kwargs: Any) -> None:
        steps = _steps_of(self.history) if self.history is not None else []
        for number, data in steps:
            self.recorder.step(number, data)
        self.recorder.close(state="error" if final.is_error else "done",
                            response=_agent_provenance(self.recorder.model, steps, final),
                            error=self._error if final.is_error else None)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        if _state_of(error) == "stopped":
            self.recorder.close(state="stopped", error=None)


def _agent_provenance(model: str | None, steps: list[tuple[int, Any]], final: Any) -> dict[str, Any]:
    """The footer of an agent run: model, steps, summed usage, elapsed time."""
    prompt = completion = 0
    for _, data in steps:
        usage = ((data.get("response") or {}).get("usage") or {}) if isinstance(data, dict) else {}
        prompt += usage.get("prompt_tokens") or 0
        completion += usage.get("completion_tokens") or 0
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {"model": model, "steps": len(steps), "usage": usage,
            "elapsed_s": None if final.duration is None else round(final.duration, 4)}


def _steps_of(history: Any) -> list[tuple[int, Any]]:
    items = history() if callable(history) else history
    out = []
    for i, item in enumerate(items or (), start=1):
        data = item.to_dict() if hasattr(item, "to_dict") else item
        out.append((int(data.get("step", i)) if isinstance(data, dict) else i, data))
    return out


def record(
    source: Any,
    path: PathLike,
    *,
    kind: Kind = "agent",
    model: str | None = None,
    history: Any = None,
    provenance: Callable[[], dict[str, Any] | None] | None = None,
) -> Any:
    """Wrap a sync or async iterator of events so each event is recorded as it passes.

    ``history``: the agent's per-step records (a list, or a callable returning one), written
    after the events; ``provenance``: a callable giving the footer's provenance dict.
    ``record(agent.astream(task), "run.jsonl", model=agent.model_id, history=lambda: agent.history)``
    """
    recorder = TraceRecorder(path, kind=kind, model=model)

    def finish(error: BaseException | None) -> None:
        try:
            if history is not None:
                for number, data in _steps_of(history):
                    recorder.step(number, data)
        finally:
            recorder.close(state=_state_of(error), response=provenance() if provenance else None, error=error)

    if hasattr(source, "__aiter__"):
        async def arecorded() -> AsyncIterator[Any]:
            error: BaseException | None = None
            try:
                async for event in source:
                    recorder.event(event)
                    yield event
            except BaseException as exc:
                error = exc
                raise
            finally:
                finish(error)
        return arecorded()

    def recorded() -> Iterator[Any]:
        error: BaseException | None = None
        try:
            for event in source:
                recorder.event(event)
                yield event
        except BaseException as exc:
            error = exc
            raise
        finally:
            finish(error)
    return recorded()


def diff(a: PathLike | Trace, b: PathLike | Trace) -> Any:
    """How two runs differ, steps aligned by their actions (:mod:`rlm_toolkit.trace_diff`).

    ``assert not diff("before.jsonl", "after.jsonl").changed_actions`` pins an agent's behaviour.
    """
    from .trace_diff import diff as _diff

    return _diff(a, b)


__all__ += ["diff"]
