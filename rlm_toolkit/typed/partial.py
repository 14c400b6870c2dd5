"""Partial objects of a typed answer as its JSON text arrives, in linear time (sans-IO).

pydantic's partial JSON parsing reads the whole text each time it is asked, so asking it at every
chunk costs O(object so far) per chunk: quadratic in the answer. Two things keep it linear:

- a :class:`Scanner` reads each new character once (strings skipped by a regex) and tracks the
  depth, whether the text ends inside a string, and, for a list schema, where each element of the
  list begins and ends: a complete element is parsed and validated once, on its own, and handed
  out at once (the list handed out is a :class:`Prefix` of one shared list, not a copy);
- any other schema is re-parsed whole only when the new text has paid for it: each new character
  earns ``CREDIT`` characters of parsing, and a parse of n characters spends n (small answers,
  up to ``ALWAYS`` characters, are parsed at every chunk). The parsing done is then at most
  ``CREDIT`` times the text plus ``ALWAYS`` per chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, overload

from .._json_depth import MAX_DEPTH
from .schema import Schema

__all__ = ["PartialParser", "Prefix", "Scanner", "CREDIT", "ALWAYS", "MAX_PARTIAL_CHARS"]

#: Characters of parsing each new character earns (a whole re-parse spends its length).
CREDIT = 16
#: Up to this many characters, the answer is parsed at every chunk.
ALWAYS = 4096
#: Past this, no more partial objects (the end is still validated, once).
MAX_PARTIAL_CHARS = 32_000_000

_OUTSIDE = re.compile(r'["\[\]{},]')
_INSIDE = re.compile(r'["\\]')
_NUMBER_TAIL = "0123456789.eE+-"


class Scanner:
    """JSON structure, one new piece at a time: depth, in a string or not, list elements' text.

    ``element_depth`` is the depth inside the list whose elements are wanted (1: the root is the
    list; 2: the list is the value of the root object's one key), or 0 for none."""

    __slots__ = ("depth", "in_string", "escaped", "too_deep", "_level", "_in_list", "_seen_list",
                 "_element", "elements")

    def __init__(self, element_depth: int = 0) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.too_deep = False
        self._level = element_depth
        self._in_list = False
        self._seen_list = False
        self._element: list[str] = []
        self.elements: list[str] = []  # complete elements found by the last feed

    def feed(self, text: str) -> None:
        self.elements = []
        pos, end = 0, len(text)
        start = 0 if self._in_list else -1  # where the current element's text starts in this piece
        while pos < end:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                    pos += 1
                    continue
                match = _INSIDE.search(text, pos)
                if match is None:
                    break
                pos = match.end()
                if match[0] == "\\":
                    self.escaped = True
                else:
                    self.in_string = False
                continue
            match = _OUTSIDE.search(text, pos)
            if match is None:
                break
            char, pos = match[0], match.end()
            if char == '"':
                self.in_string = True
            elif char in "[{":
                self.depth += 1
                if self.depth > MAX_DEPTH:
                    self.too_deep = True
                    return
                if char == "[" and self.depth == self._level and not self._seen_list:
                    self._in_list = self._seen_list = True
                    start = pos
            elif self._in_list and self.depth == self._level:  # , ] } at the list's own level
                self._element.append(text[start:match.start()])
                self._close_element()
                start = pos
                if char != ",":
                    self._in_list = False
                    self.depth -= 1
            elif char in "]}":
                self.depth -= 1
        if self._in_list and start >= 0:
            self._element.append(text[start:])

    def _close_element(self) -> None:
        element = "".join(self._element).strip()
        self._element = []
        if element:
            self.elements.append(element)


class Prefix(Sequence[Any]):
    """The first ``n`` items of a list that only grows: a partial list handed out in O(1)."""

    __slots__ = ("_items", "_n")

    def __init__(self, items: list[Any], n: int) -> None:
        self._items, self._n = items, n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self._items[: self._n][index]
        return self._items[range(self._n)[index]]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items[: self._n])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # a view of a list, unhashable as a list is

    def __repr__(self) -> str:
        return f"Prefix({list(self)!r})"


class PartialParser:
    """Chunks of a typed answer in, partial values out: :meth:`feed` returns the new partial value
    (or None when there is nothing new), each one more of the answer than the last."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.scanner = Scanner((2 if schema.wrapped else 1) if schema.is_list else 0)
        self._pieces: list[str] = []
        self._size = 0
        self._credit = 0
        self._items: list[Any] = []
        self._items_ok = True
        self.last: Any = None  #: the last partial value handed out

    def feed(self, text: str) -> Any:
        if not text or self.scanner.too_deep or self._size > MAX_PARTIAL_CHARS:
            return None
        self._size += len(text)
        self.scanner.feed(text)
        if self.schema.is_list:
            return self._list()
        self._pieces.append(text)
        self._credit += CREDIT * len(text)
        if self._size > ALWAYS and self._credit < self._size:
            return None
        self._credit = 0
        whole = "".join(self._pieces)
        self._pieces = [whole]
        if not self.scanner.in_string:  # a number at the end may still grow: 3 → 30
            whole = whole.rstrip(_NUMBER_TAIL)
        value = self.schema.partial(whole)
        if value is None or value == self.last:
            return None
        self.last = value
        return value

    def _list(self) -> Any:
        new = 0
        for element in self.scanner.elements:
            if not self._items_ok:
                break
            ok, value = self.schema.item(element)
            self._items_ok = ok  # an element that breaks the schema: no more; the end says why
            if ok:
                self._items.append(value)
                new += 1
        if not new:
            return None
        self.last = Prefix(self._items, len(self._items))
        return self.last
