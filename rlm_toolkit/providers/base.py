"""The provider protocol: one request in, an async stream of typed events out.

A provider knows one vendor's wire format and nothing else: no retries, no callbacks, no
accumulation (the RLM does those once for all providers). It must end a successful stream
with a :class:`~rlm_toolkit.events.Finish` event and raise an :mod:`rlm_toolkit.errors` error for
everything else; the RLM turns a stream that ends without ``Finish`` into
:class:`~rlm_toolkit.errors.IncompleteStreamError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .._decoders import SurrogatePairs
from .._inline import Halt
from ..events import StreamEvent

if TYPE_CHECKING:
    from ..typed.schema import Schema

__all__ = ["Request", "Provider"]


@dataclass(kw_only=True)
class Request:
    """What to send: OpenAI-style chat messages plus sampling parameters.

    ``messages`` are dicts with ``role`` and ``content`` (and, for tool use, the OpenAI shapes:
    ``tool_calls`` on assistant messages, ``tool_call_id`` on ``tool`` messages). Providers with
    another format convert from this one.
    """

    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The call's :class:`~rlm_toolkit.budget.Budget` (read by the RLM's drive loops, never sent).
    budget: Any = None
    #: A typed answer's schema: each provider asks for it in its own structured mode
    #: (``schema.wire``: an object at the root; ``schema.strict()``, ``schema.name``).
    schema: Schema | None = None

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters that are set, by their OpenAI names."""
        out = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "stop": self.stop,
            "seed": self.seed,
        }
        return {k: v for k, v in out.items() if v is not None}


class Provider(ABC):
    """One vendor's API. Subclasses set ``name`` and implement :meth:`stream`."""

    name: ClassVar[str] = "provider"
    #: Whether the provider streams native tool calls (else agents use the text ReAct format).
    supports_tools: ClassVar[bool] = False
    #: Whether a typed answer's structured mode (``Request.schema``) can ride beside tools the
    #: model may call: False where that mode is itself a forced tool (Anthropic), so an agent
    #: asks for its typed answer with an answer tool instead (rlm_toolkit.agents.output).
    schema_with_tools: ClassVar[bool] = True
    #: Whether :meth:`stream_sync` exists: sync callers make the provider's events in their own
    #: thread rather than take them over the bridge (a model run in this process; the HTTP
    #: providers, which decode there the bytes their async client reads on the bridge loop).
    inline: ClassVar[bool] = False

    def __init__(self, model: str) -> None:
        self.model = model

    @property
    def model_id(self) -> str:
        return f"{self.name}:{self.model}"

    @abstractmethod
    def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        """Send ``request`` and yield its events; closing the iterator closes the connection."""

    async def stream_batches(self, request: Request) -> AsyncIterator[list[StreamEvent]]:
        """The events of :meth:`stream` in non-empty lists, in order: what the RLM reads.

        A provider that decodes several events from one network read overrides this to yield
        them as one list (one async step per read instead of per event; see ``openai.py``),
        and yields what it decoded before an error before raising it. This default hands over
        one event per list, each mended (:class:`~rlm_toolkit._decoders.SurrogatePairs`: a
        character whose UTF-16 halves came in two events is joined, as HTTP providers do)."""
        events = self.stream(request)
        pairs = SurrogatePairs()
        try:
            async for event in events:
                batch = [event]
                pairs.mend(batch)
                if batch:
                    yield batch
        finally:
            await events.aclose()  # type: ignore[attr-defined]  # an async generator (the provider's stream)

    def stream_sync(self, request: Request, *, halt: Halt | None = None) -> Iterator[list[StreamEvent]]:
        """The batches of :meth:`stream_batches`, produced in the calling thread (only where
        ``inline``); closing the iterator closes the connection. ``halt``: the stream's stop
        signal, which a producer that waits on something may attach it to (:class:`Halt`)."""
        raise NotImplementedError(f"{type(self).__name__} has no sync stream")

    def before_wait(self) -> None:
        """Called in a thread that is about to wait while this provider's stream runs elsewhere
        (the agent's sync face); the local provider gives back that thread's idle OpenMP threads."""

    async def aclose(self) -> None:
        """Release connections or models held by the provider."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id}>"
