"""Sans-IO decoders for the wire formats providers stream: lines, Server-Sent Events, NDJSON.

Each decoder takes bytes as they arrive (``feed``) and returns whole items; ``flush`` is called
at the end of the body. No I/O happens here, so the same code serves sync and async readers and
is tested one byte at a time. Line ends may be LF, CRLF or CR, and a CR at the end of one chunk
followed by an LF at the start of the next is one line end. Lines are decoded as UTF-8 only when
whole, so a character split across chunks survives.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from ._json_depth import loads

__all__ = ["LineDecoder", "SSEDecoder", "ServerSentEvent", "NDJSONDecoder"]

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
                return self.feed(data)  # type: ignore[return-value]
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
