"""Sans-IO decoders for the wire formats providers stream: lines, Server-Sent Events, NDJSON.

Each decoder takes bytes as they arrive (``feed``) and returns whole items; ``flush`` is called
at the end of the body. No I/O happens here, so the same code serves sync and async readers and
is tested one byte at a time. Line ends may be LF, CRLF or CR, and a CR at the end of one chunk
followed by an LF at the start of the next is one line end. Lines are decoded as UTF-8 only when
whole, so a character split across chunks survives.

A character can also be split one layer up: JSON escapes a character outside the BMP as two UTF-16
halves (``"\\ud83d\\ude00"``), and a server may put them in two events. :class:`SurrogatePairs`
joins such halves across the events of one stream (and makes a lone half U+FFFD), so that no string
the toolkit hands on fails to encode.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, NamedTuple

from ._json_depth import loads
from .events import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, text_delta

__all__ = [
    "LineDecoder", "SSEDecoder", "ServerSentEvent", "NDJSONDecoder", "SurrogatePairs", "mend_surrogates",
]

_BOM = b"\xef\xbb\xbf"


class LineDecoder:
    """Split a byte stream into lines (without their line ends).

    Linear in the input: a piece without a line end is appended to a ``bytearray`` and only the
    new bytes are searched, so a long line fed in small pieces is copied once, not once per piece.
    """

    __slots__ = ("_buffer", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip_lf = False
        self._started = False

    def feed(self, data: bytes) -> list[str]:
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if not data:
            return []
        if not self._started:
            # A byte-order mark may arrive split across chunks: wait until it can be told.
            head = bytes(self._buffer) + data
            if len(head) < 3 and _BOM.startswith(head):
                self._buffer = bytearray(head)
                return []
            self._started = True
            self._buffer = bytearray()
            data = head[3:] if head.startswith(_BOM) else head
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if end < 0:
            self._buffer += data
            return []
        whole = bytes(self._buffer) + data[: end + 1] if self._buffer else data[: end + 1]
        self._buffer = bytearray(data[end + 1 :])
        if data[end : end + 1] == b"\r" and end == len(data) - 1:
            self._skip_lf = True
        if b"\r" not in whole:  # LF only, the usual case: one decode for the whole piece
            return whole.decode("utf-8", "replace").split("\n")[:-1]
        return [line.decode("utf-8", "replace") for line in whole.splitlines()]

    def flush(self) -> list[str]:
        """The last line, if the body did not end with a line end."""
        rest, self._buffer = bytes(self._buffer), bytearray()
        return [rest.decode("utf-8", "replace")] if rest else []


class ServerSentEvent(NamedTuple):
    """One event; a named tuple because the OpenAI stream makes one per token (cheap to build)."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return loads(self.data)


_event = functools.partial(tuple.__new__, ServerSentEvent)


class SSEDecoder:
    """Decode ``text/event-stream`` bytes into :class:`ServerSentEvent` objects (WHATWG rules)."""

    __slots__ = ("_lines", "_data", "_event", "_id", "_retry")

    def __init__(self) -> None:
        self._lines = LineDecoder()
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        lines = self._lines.feed(data)
        for line in lines:
            # Most lines are a ``data: `` line or the blank line after a one-line event: read here.
            if line.startswith("data: "):
                self._data.append(line[6:])
            elif not line and len(self._data) == 1 and not self._event:
                events.append(_event((self._data[0], "message", self._id, self._retry)))
                self._data = []
            else:
                self._line(line, events)
        return events

    def messages(self, data: bytes) -> list[ServerSentEvent | str]:
        """:meth:`feed`, except that a run of one-line ``message`` events (``data: …`` and a blank
        line: nearly every event of an OpenAI-style stream) comes as their data strings, cut out
        in one ``split`` (no line list, no event object: this runs per token)."""
        out: list[ServerSentEvent | str] = []
        if not self._between_events():  # a read starts mid-event: finish that one line by line
            cut = data.find(b"\n\n") + 2
            if cut < 2:
                return self.feed(data)  # type: ignore[return-value]  # feed returns the same list type at run time
            out += self.feed(data[:cut])
            data = data[cut:]
            if not self._between_events():
                return out + self.feed(data)
        end = data.rfind(b"\n\n")
        if end < 0 or not data.startswith(b"data: ") or b"\r" in data:
            return out + self.feed(data)
        text = data[6:end].decode("utf-8", "replace")
        datas = text.split("\n\ndata: ")
        if text.count("\n") != 2 * (len(datas) - 1):  # a line of another kind among them
            return out + self.feed(data)
        out += datas
        if end + 2 < len(data):  # the start of the next event
            out += self.feed(data[end + 2 :])
        return out

    def _between_events(self) -> bool:
        lines = self._lines
        return not (self._data or self._event or lines._buffer or lines._skip_lf) and lines._started

    def flush(self) -> list[ServerSentEvent]:
        """End of body: a last line is processed, but an event without its blank line is dropped."""
        events: list[ServerSentEvent] = []
        for line in self._lines.flush():
            self._line(line, events)
        self._data = []
        self._event = ""
        return events

    def _line(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            if self._data:
                events.append(
                    ServerSentEvent("\n".join(self._data), self._event or "message", self._id, self._retry)
                )
            self._data = []
            self._event = ""
            return
        if line[0] == ":":
            return
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)


class NDJSONDecoder:
    """Decode newline-delimited JSON (Ollama's native stream) into Python objects; a line that is
    not JSON, or is nested too deep, is a ValueError."""

    __slots__ = ("_lines",)

    def __init__(self) -> None:
        self._lines = LineDecoder()

    def feed(self, data: bytes) -> list[Any]:
        return [loads(line) for line in self._lines.feed(data) if line.strip()]

    def flush(self) -> list[Any]:
        return [loads(line) for line in self._lines.flush() if line.strip()]


_SURROGATE = re.compile("[\ud800-\udfff]")


def mend_surrogates(text: str) -> str:
    """``text`` with each UTF-16 surrogate pair joined into its character and each lone half made
    U+FFFD: a string that encodes (``json.loads`` gives halves for ``"\\ud83d"`` as it is)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class SurrogatePairs:
    """Mends the events of one stream, batch by batch (sans-IO): a high surrogate half that ends a
    piece of text, reasoning or tool-call arguments is held until the next piece of the same text
    (joined to its low half, or U+FFFD if none follows), and the halves still held when the model
    finishes come out as U+FFFD just before the :class:`~rlm_toolkit.events.Finish`. Every other
    lone half becomes U+FFFD where it is. Clean batches, nearly all of them, pass as they are.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], str] = {}  # (kind, index) → the high half it ends with

    def mend(self, batch: list[StreamEvent]) -> None:
        """Mend ``batch`` in place (an event whose text was all a held half is left out)."""
        for event in batch:
            if type(event) is TextDelta:
                if event.text.isascii():
                    continue
            elif event.type == "usage":
                continue
            if not all(_mend(text) is text for text in _strings(event)):
                break
        else:
            if not self._held:
                return
        batch[:] = [out for event in batch for out in self._event(event)]

    def _event(self, event: StreamEvent) -> list[StreamEvent]:
        if isinstance(event, TextDelta):
            text = self._piece(("text", 0), event.text)
            return [text_delta(text)] if text else []
        if isinstance(event, ReasoningDelta):
            text = self._piece(("reasoning", event.index), event.text)
            if event.text and not text and event.signature is None and event.redacted is None:
                return []
            return [dataclasses.replace(event, text=text, signature=_mend(event.signature),
                                        redacted=_mend(event.redacted))]
        if isinstance(event, ToolCallDelta):
            arguments = self._piece(("tool_call", event.index), event.arguments)
            if event.arguments and not arguments and event.name is None and event.call_id is None:
                return []
            return [dataclasses.replace(event, arguments=arguments, name=_mend(event.name),
                                        call_id=_mend(event.call_id))]
        if isinstance(event, Finish):
            return [*self._release(), dataclasses.replace(event, reason=mend_surrogates(event.reason))]
        return [event]

    def _piece(self, key: tuple[str, int], text: str) -> str:
        held = self._held.pop(key, "") if self._held else ""
        if held:
            text = held + text
        elif text.isascii() or _SURROGATE.search(text) is None:
            return text
        if "\ud800" <= text[-1:] <= "\udbff":  # its low half may be the next piece's first character
            self._held[key] = text[-1]
            text = text[:-1]
        return mend_surrogates(text)

    def _release(self) -> list[StreamEvent]:
        """The halves still held, as U+FFFD pieces: the model finished without their low halves."""
        out: list[StreamEvent] = []
        for kind, index in self._held:
            if kind == "text":
                out.append(text_delta("\ufffd"))
            elif kind == "reasoning":
                out.append(ReasoningDelta(text="\ufffd", index=index))
            else:
                out.append(ToolCallDelta(index=index, arguments="\ufffd"))
        self._held.clear()
        return out


def _strings(event: StreamEvent) -> tuple[str | None, ...]:
    """The strings a model writes into an event."""
    if isinstance(event, TextDelta):
        return (event.text,)
    if isinstance(event, ReasoningDelta):
        return event.text, event.signature or "", event.redacted or ""
    if isinstance(event, ToolCallDelta):
        return event.arguments, event.name or "", event.call_id or ""
    if isinstance(event, Finish):
        return (event.reason,)
    return ()


def _mend(text: str | None) -> str | None:
    return None if text is None else mend_surrogates(text)
