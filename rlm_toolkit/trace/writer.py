"""Writing one trace file: :class:`TraceRecorder` (used by the recorders, :mod:`rlm_toolkit.trace.recorders`).

Every string is passed through :func:`~rlm_toolkit.errors.scrub_data` before it is written, and
text that streams in pieces is scrubbed across piece boundaries: a key split over several tokens
is still removed. Reading a trace back is :mod:`rlm_toolkit.trace.reader`.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from .._decoders import mend_surrogates
from .._files import create, is_trace_head, target
from .._json_depth import cut_deep
from ..errors import describe, scrub, scrub_data, unfinished_key_at
from ..events import AgentEvent, ReasoningDelta, TextDelta
from ..images import for_trace
from .format import VERSION, Event, Kind, PathLike

__all__ = ["TraceRecorder", "check_writable", "env_secrets", "FLUSH_AFTER"]

_SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


#: Held streamed text is written at the latest this many seconds (of the run) after it arrived.
FLUSH_AFTER = 0.2
#: ... or once this many characters are held.
_HOLD_CHARS = 4096
def env_secrets() -> tuple[str, ...]:
    """Values of credential-like environment variables: scrubbed even if they look like nothing."""
    return tuple(v for k, v in os.environ.items() if k.upper().endswith(_SECRET_ENV_SUFFIXES) and len(v) >= 8)


def check_writable(path: PathLike, *, overwrite: bool = False) -> Path:
    """The file a trace named ``path`` will be written to, or a UsageError saying why it cannot be.

    The rule (docs/traces.md): a new name is created; an existing rlm trace gives a numbered sibling
    (``run.jsonl`` → ``run-2.jsonl``) unless ``overwrite=True`` replaces it; any other existing file
    (a CSV, a FIFO, a device, a folder) is refused and left as it is. Callers check before a run
    starts (``%%rlm --record``), so a typo costs no model call.
    """
    return target(path, _WHAT, is_trace_head, overwrite=overwrite)[0]


_WHAT = "an rlm trace"
_OVERWRITE_NOTE = " (overwrite=True replaces it)"


def _open_for_writing(path: Path, overwrite: bool) -> tuple[IO[str], Path]:
    raw, chosen = create(path, _WHAT, is_trace_head, overwrite=overwrite, note=_OVERWRITE_NOTE)
    return io.TextIOWrapper(raw, encoding="utf-8"), chosen


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

    A prompt's images are written as their media type, size, dimensions and sha256, not their bytes
    (``keep_images=True`` writes them whole).

    An existing file is never truncated (:func:`check_writable` has the rule): if ``path`` holds an
    earlier trace, the run goes to a numbered sibling (``self.path`` says which, and a
    :class:`~rlm_toolkit._files.RecordingWarning` says so) unless ``overwrite=True`` replaces it.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        kind: Kind,
        model: str | None = None,
        secrets: tuple[str, ...] = (),
        started: float | None = None,
        keep_images: bool = False,
        overwrite: bool = False,
        header: dict[str, Any] | None = None,
    ) -> None:
        self.keep_images = keep_images
        self.header_extra = cut_deep(dict(header or {}))  # more header fields (a fork's ``parent``)
        self.kind = kind
        self.model = model
        self.secrets = (*env_secrets(), *secrets)
        # ``started``: when the run began (``time.perf_counter()``), if that was before now.
        self._t0 = time.perf_counter() if started is None else started
        self.created = time.time() - (time.perf_counter() - self._t0)
        self._file: IO[str] | None
        self._file, self.path = _open_for_writing(Path(path), overwrite)
        self._header_written = False
        self._pending: list[tuple[float, Any]] = []
        self._held = 0  # characters in _pending
        self.closed = False

    def now(self) -> float:
        """Seconds since the recording started."""
        return time.perf_counter() - self._t0

    def _write(self, *objs: dict[str, Any]) -> None:
        """Write ``objs`` as lines, in one write: an error leaves none of them half done.

        A lone UTF-16 half (a caller's own event, a tool's text: a provider's stream is mended
        before it gets here) cannot be encoded; it is written as U+FFFD instead of failing."""
        assert self._file is not None
        lines = [json.dumps(obj, ensure_ascii=False) for obj in objs]
        if not self._header_written:
            header = {"type": "header", "version": VERSION, "kind": self.kind, "model": self.model,
                      "created": self.created, **self.header_extra}
            lines.insert(0, json.dumps(scrub_data(header, self.secrets), ensure_ascii=False))
        self._file.write(mend_surrogates("\n".join(lines) + "\n"))
        self._header_written = True
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
            data = event.to_dict()
            data.pop("images", None)  # a tool's images: the observation's text names them, as prompts' are
            data = scrub_data(data, self.secrets)
            self._write({"type": "event", "t": round(t, 4), "event": data})
            return
        self._pending.append((t, event))
        self._held += len(text)
        if text[:1].isspace() and len(self._pending) > 1:  # a new word: the text before it is written
            self._flush_text(before=len(self._pending) - 1)  # (this piece is held even if that fails)
        if t - self._pending[0][0] >= FLUSH_AFTER or self._held >= _HOLD_CHARS:
            self._flush_text(on_time=True)

    def _flush_text(self, on_time: bool = False, before: int | None = None) -> None:
        """Write held text pieces, scrubbed as one text and split again at the same offsets.

        ``on_time``: written because it was held long enough, not at a word boundary; the trailing
        pieces that could still be the start of a key stay held (at most ``errors.KEY_TAIL_MAX`` characters).
        ``before``: only the pieces before this one.
        """
        if not self._pending:
            return
        pieces = [_text_of(e) or "" for _, e in self._pending[:before]]
        whole = "".join(pieces)
        count = len(pieces)
        if on_time:
            keep = unfinished_key_at(whole, self.secrets)
            size = len(whole)
            while count and size > keep:  # hold back every piece that reaches into the tail
                size -= len(pieces[count - 1])
                count -= 1
            if count == 0:
                return
            pieces, whole = pieces[:count], whole[:size]
        clean = scrub(whole, self.secrets)
        out: list[str] = pieces
        if clean != whole:
            out, start = [], 0
            for i, piece in enumerate(pieces):
                end = len(clean) if i == len(pieces) - 1 else min(len(clean), start + len(piece))
                out.append(clean[start:end])
                start = end
        lines = [{"type": "event", "t": round(t, 4),
                  "event": scrub_data(_with_text(event, text), self.secrets)}
                 for (t, event), text in zip(self._pending, out)]
        # Taken off before the write: a write that fails must not write these pieces again later.
        self._pending = self._pending[count:]
        self._held = sum(len(_text_of(e) or "") for _, e in self._pending)
        self._write(*lines)

    def step(self, number: int, data: dict[str, Any] | Any) -> None:
        """Record the request of one model call: the exact messages, tool specs, response."""
        if self.closed:
            return
        self._flush_text()
        # cut before any walker below recurses
        body = cut_deep(data.to_dict() if hasattr(data, "to_dict") else dict(data))
        if not self.keep_images:
            body = for_trace(body)
        self._write({"type": "step", **scrub_data(body, self.secrets), "step": number})

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
        message = error if error is None or isinstance(error, str) else describe(error)
        footer = {"state": state, "response": response, "error": message}
        self._write({"type": "footer", "t": round(self.now(), 4), **scrub_data(footer, self.secrets)})
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
