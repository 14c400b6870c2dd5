"""A typed answer's objects as it streams: partial values, then the validated one.

::

    with rlm.stream_object("Extract the people: …", schema=list[Person]) as objects:
        for people in objects:       # partial values, each more than the last; the final one last
            print(len(people))
    objects.result                   # the validated value (also the last one yielded)

Both faces read one :class:`ObjectFeed` (sans-IO): an event stream's text in, partial values out,
and at the end the strict value or a :class:`~rlm_toolkit.errors.StructuredOutputError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..errors import ProviderError
from .partial import PartialParser
from .schema import Schema

__all__ = ["ObjectFeed", "ObjectStream", "AsyncObjectStream"]


class ObjectFeed:
    """One typed call's objects: :meth:`push` an event, get the new partial value or None;
    :meth:`end` the answer's text, get the strict value (kept as ``result``)."""

    def __init__(self, schema: Schema, provider: str | None = None, model: str | None = None) -> None:
        self.schema = schema
        self.parser = PartialParser(schema)
        self.where = {"provider": provider, "model": model}
        self.result: Any = None
        self.done = False

    @property
    def partial(self) -> Any:
        """The last partial value handed out (None before the first)."""
        return self.parser.last

    def push(self, event: Any) -> Any:
        return self.parser.feed(event.text) if event.type == "text" else None

    def end(self, text: str) -> Any:
        self.result = self.schema.validate(text, partial_object=self.parser.last, **self.where)
        self.done = True
        return self.result

    def failed(self, error: BaseException) -> None:
        """Keep the partial object on a provider's error (a cut stream, a bad event)."""
        if isinstance(error, ProviderError) and getattr(error, "partial_object", None) is None:
            error.partial_object = self.parser.last  # type: ignore[attr-defined]  # added for typed calls


class _Faces:
    """What both faces hold: the call's events and Response, and the feed that does the work.

    ``events`` is the call's event stream (callbacks see its text tokens as for any call);
    ``.response`` its Response; ``.partial`` the last partial value; ``.result`` the final one."""

    def __init__(self, events: Any, schema: Schema) -> None:
        self.events = events
        self.response = events.response
        self.feed = ObjectFeed(schema, self.response.provider, self.response.model)

    @property
    def result(self) -> Any:
        return self.feed.result

    @property
    def partial(self) -> Any:
        return self.feed.partial


class ObjectStream(_Faces, Iterator[Any]):
    """Sync iterator of a typed answer's values (what :meth:`RLM.stream_object` returns)."""

    def __iter__(self) -> ObjectStream:
        return self

    def __next__(self) -> Any:
        if self.feed.done:
            raise StopIteration
        try:
            for event in self.events:
                value = self.feed.push(event)
                if value is not None:
                    return value
        except ProviderError as error:
            self.feed.failed(error)
            raise
        return self.feed.end(self.response.text)

    def close(self) -> None:
        self.events.close()

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncObjectStream(_Faces):
    """Async twin of :class:`ObjectStream` (what :meth:`RLM.astream_object` returns)."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._values()

    async def _values(self) -> AsyncIterator[Any]:
        try:
            async for event in self.events:
                value = self.feed.push(event)
                if value is not None:
                    yield value
        except ProviderError as error:
            self.feed.failed(error)
            raise
        yield self.feed.end(self.response.text)

    async def aclose(self) -> None:
        await self.events.aclose()

    async def __aenter__(self) -> AsyncObjectStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
