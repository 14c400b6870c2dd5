"""RLM: one model, streamed as text chunks, from sync or async code.

::

    rlm = RLM.from_openai("gpt-4o")
    for chunk in rlm.stream("Tell a story"):
        print(chunk, end="", flush=True)
    rlm.last_response.ttft, rlm.last_response.tokens_per_second

A call's events come from one producer (:meth:`RLM._produce`: the provider's events, a batch per
network read, with retries before the first); they go through one step function
(:class:`~rlm_toolkit._pump.ModelCall`: Response, hooks, what to hand out), driven by the thin
pumps of :mod:`rlm_toolkit._pump` — ``astream`` in the caller's task, ``stream`` in the caller's
thread. A sync caller makes an ``inline`` provider's events in its own thread (a model run in this
process; HTTP, whose bytes come over the bridge: :meth:`RLM._produce_sync`, the same retries and
checks; :mod:`rlm_toolkit._inline`), any other's over the background-loop bridge in
:mod:`rlm_toolkit._bridge`.
"""

from __future__ import annotations

import asyncio
import operator
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Union

from ._bridge import SyncIterator, iterate_sync, run_sync
from ._inline import Halt, InlineSource
from ._pump import ModelCall, SyncPump, apump, wanted
from .budget import BUDGET_PARAMS, Budget
from .callbacks import CallbackManager
from .cost import basis_for
from .errors import IncompleteStreamError, ProviderError, StructuredOutputError, UsageError
from .events import StreamEvent
from .images import parts as image_parts
from .providers import openai_model_id, resolve
from .providers.base import Provider, Request
from .response import Response

if TYPE_CHECKING:
    from .typed.stream import AsyncObjectStream, ObjectStream

__all__ = ["RLM", "Prompt", "TextStream", "AsyncTextStream", "EventStream", "AsyncEventStream"]

Prompt = Union[str, Sequence[Any]]  # a string, messages, or the content parts of one user message

#: Keyword arguments that are sampling parameters (everything else configures the provider).
#: ``extra``: vendor parameters merged into the request body as given (Anthropic's ``thinking``,
#: Ollama's ``think``, OpenAI's ``reasoning_effort``); a call's ``extra`` replaces the default's.
PARAMS = ("system", "temperature", "max_tokens", "top_p", "stop", "seed", "extra")


class RLM:
    """A model with streaming, callbacks, retries and timings.

    ``RLM()`` uses ``$RLM_MODEL`` or else the embedded local model; ``RLM("openai:gpt-4o")``
    takes a ``provider:model`` id; ``RLM(provider)`` takes a :class:`Provider` instance.
    Keyword arguments named in ``PARAMS`` are defaults for every call.
    """

    def __init__(
        self,
        model: str | Provider | None = None,
        *,
        callbacks: Sequence[Any] | None = None,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        **kwargs: Any,
    ) -> None:
        params = {k: kwargs.pop(k) for k in PARAMS if k in kwargs}
        if isinstance(model, Provider):
            if kwargs:
                raise UsageError(f"unexpected arguments for an existing provider: {', '.join(kwargs)}")
            self.provider = model
        else:
            self.provider = resolve(model, **kwargs)
        self.params = {k: v for k, v in params.items() if v is not None}
        self.callbacks = list(callbacks or [])
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.last_response: Response | None = None

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def from_model(cls, model_id: str, *, callbacks: Sequence[Any] | None = None, **kwargs: Any) -> RLM:
        """``RLM.from_model("openai:gpt-4o")``, ``"local:smollm2"``, ``"ollama:llama3.2"``, an alias…"""
        return cls(model_id, callbacks=callbacks, **kwargs)

    @classmethod
    def from_openai(cls, model: str = "gpt-4o-mini", *, api: str = "chat", **kwargs: Any) -> RLM:
        """OpenAI, or any OpenAI-compatible server through ``base_url`` / ``$OPENAI_BASE_URL``;
        ``api="responses"`` speaks OpenAI's Responses API (reasoning summaries) instead of Chat
        Completions."""
        return cls(openai_model_id(model, api), **kwargs)

    @classmethod
    def from_anthropic(cls, model: str = "claude-sonnet-4-5", **kwargs: Any) -> RLM:
        """Anthropic's Messages API (key in ``$ANTHROPIC_API_KEY``)."""
        return cls(f"anthropic:{model}", **kwargs)

    @classmethod
    def from_ollama(cls, model: str = "llama3.2", **kwargs: Any) -> RLM:
        """A model served by Ollama (``$OLLAMA_HOST``, default http://127.0.0.1:11434)."""
        return cls(f"ollama:{model}", **kwargs)

    @classmethod
    def from_local(cls, model_path: str | None = None, **kwargs: Any) -> RLM:
        """A GGUF model run in this process by llama-cpp-python; no path: embedded SmolLM2."""
        if model_path is not None:
            kwargs["model_path"] = model_path
        return cls("local:smollm2" if model_path is None else "local:custom", **kwargs)

    @classmethod
    def from_scripted(cls, *args: Any, callbacks: Sequence[Any] | None = None, **kwargs: Any) -> RLM:
        """A deterministic scripted model (see :class:`~rlm_toolkit.providers.scripted.ScriptedProvider`)."""
        from .providers.scripted import ScriptedProvider

        params = {k: kwargs.pop(k) for k in PARAMS if k in kwargs}
        return cls(ScriptedProvider(*args, **kwargs), callbacks=callbacks, **params)

    # -- the public calls -----------------------------------------------------------------------

    def stream(
        self, prompt: Prompt, *, callbacks: Sequence[Any] | None = None, record: Any = None, **params: Any
    ) -> TextStream:
        """Stream the answer as ``str`` chunks. Closing or breaking out closes the connection.

        ``record="run.jsonl"`` writes the call to a trace (see :mod:`rlm_toolkit.trace`);
        ``max_cost=`` / ``max_tokens_total=`` stop it cleanly past a budget
        (see :mod:`rlm_toolkit.budget`)."""
        return TextStream(self, self.request(prompt, **params), self._recording(callbacks, record))

    def astream(
        self, prompt: Prompt, *, callbacks: Sequence[Any] | None = None, record: Any = None, **params: Any
    ) -> AsyncTextStream:
        """Async twin of :meth:`stream`; works in any running loop (a Jupyter cell's too)."""
        return AsyncTextStream(self, self.request(prompt, **params), self._recording(callbacks, record))

    def run(self, prompt: Prompt, *, callbacks: Sequence[Any] | None = None, schema: Any = None,
            output_retries: int = 0, **params: Any) -> Any:
        """The whole answer; callbacks still see every token as it arrives.

        With ``schema=`` (a pydantic model, dataclass, TypedDict, ``list[Model]``, a JSON Schema
        dict or ``"name, age int"``) the answer is asked for in the provider's structured mode and
        comes back validated: ``rlm.run("Extract the people", schema=list[Person])``.
        ``output_retries=N``: an answer that does not fit is sent back with its validation errors
        and asked again, up to N times (each a whole call its callbacks see), before the
        :class:`~rlm_toolkit.errors.StructuredOutputError` is raised."""
        if schema is not None:
            schema, retries = _typed(schema, output_retries)
            for attempt in range(retries + 1):
                with self.stream_object(prompt, schema=schema, callbacks=callbacks, **params) as objects:
                    try:
                        for _ in objects:
                            pass
                        return objects.result
                    except StructuredOutputError as error:
                        if attempt == retries:
                            raise
                        prompt = _sent_back(objects.events.request, schema, error)
        elif output_retries:
            raise UsageError("output_retries goes with schema=: it retries an answer that does not fit one")
        with self.stream(prompt, callbacks=callbacks, **params) as chunks:
            for _ in chunks:
                pass
            return chunks.response.text

    async def arun(self, prompt: Prompt, *, callbacks: Sequence[Any] | None = None, schema: Any = None,
                   output_retries: int = 0, **params: Any) -> Any:
        if schema is not None:
            schema, retries = _typed(schema, output_retries)
            for attempt in range(retries + 1):
                objects = self.astream_object(prompt, schema=schema, callbacks=callbacks, **params)
                async with objects:
                    try:
                        async for _ in objects:
                            pass
                        return objects.result
                    except StructuredOutputError as error:
                        if attempt == retries:
                            raise
                        prompt = _sent_back(objects.events.request, schema, error)
        elif output_retries:
            raise UsageError("output_retries goes with schema=: it retries an answer that does not fit one")
        async with self.astream(prompt, callbacks=callbacks, **params) as chunks:
            async for _ in chunks:
                pass
            return chunks.response.text

    def stream_object(self, prompt: Prompt, *, schema: Any, callbacks: Sequence[Any] | None = None,
                      record: Any = None, **params: Any) -> ObjectStream:
        """Partial values of a typed answer as its JSON arrives (each more than the last; a list's
        element as soon as it is complete), then the validated value; ``.result`` holds it.
        A last value that does not validate is a :class:`~rlm_toolkit.errors.StructuredOutputError`
        keeping the raw text. See :mod:`rlm_toolkit.typed`."""
        from .typed.stream import ObjectStream

        request = self.request(prompt, schema=schema, **params)
        assert request.schema is not None  # set from schema=
        return ObjectStream(EventStream(self, request, self._recording(callbacks, record)), request.schema)

    def astream_object(self, prompt: Prompt, *, schema: Any, callbacks: Sequence[Any] | None = None,
                       record: Any = None, **params: Any) -> AsyncObjectStream:
        """Async twin of :meth:`stream_object`."""
        from .typed.stream import AsyncObjectStream

        request = self.request(prompt, schema=schema, **params)
        assert request.schema is not None  # set from schema=
        return AsyncObjectStream(AsyncEventStream(self, request, self._recording(callbacks, record)),
                                 request.schema)

    def stream_events(
        self, prompt: Prompt | Request, *, callbacks: Sequence[Any] | None = None, record: Any = None,
        **params: Any,
    ) -> EventStream:
        """Every typed event (text, tool-call pieces, usage, finish), for agents and widgets."""
        request = prompt if isinstance(prompt, Request) else self.request(prompt, **params)
        return EventStream(self, request, self._recording(callbacks, record))

    def astream_events(
        self, prompt: Prompt | Request, *, callbacks: Sequence[Any] | None = None, record: Any = None,
        **params: Any,
    ) -> AsyncEventStream:
        request = prompt if isinstance(prompt, Request) else self.request(prompt, **params)
        return AsyncEventStream(self, request, self._recording(callbacks, record))

    def close(self) -> None:
        """Close every client the provider opened: sync calls' one, and one per loop it was used on
        (the bridge loop's, ``arun``'s on the caller's); a later call opens a new one."""
        run_sync(self.provider.aclose)

    async def aclose(self) -> None:
        await self.provider.aclose()

    @property
    def model_id(self) -> str:
        return self.provider.model_id

    def __repr__(self) -> str:
        return f"RLM({self.model_id!r})"

    # -- internals -------------------------------------------------------------------------------

    def _recording(self, callbacks: Sequence[Any] | None, record: Any) -> Sequence[Any] | None:
        """The call's callbacks, plus a trace recorder when ``record`` names a file."""
        if record is None:
            return callbacks
        from .trace.recorders import StreamRecorder

        return [*(callbacks or ()), StreamRecorder(record, self.model_id)]

    def request(self, prompt: Prompt, **params: Any) -> Request:
        """Build the :class:`Request` for a prompt: per-call parameters over the RLM's defaults.

        The system prompt (``system=``, the operator's) goes first, always: a system message in a
        list of messages follows it, never replaces it (one that repeats it is not sent twice)."""
        budget = Budget.of(**{k: params.pop(k, None) for k in BUDGET_PARAMS}, provider=self.provider)
        schema = params.pop("schema", None)
        if schema is not None:
            from .typed.schema import Schema

            schema = Schema.of(schema)
        unknown = set(params) - set(PARAMS) - {"tools", "tool_choice"}
        if unknown:
            known = ", ".join(PARAMS)
            raise UsageError(f"unknown parameter(s): {', '.join(sorted(unknown))}; known: {known}")
        merged = {**self.params, **{k: v for k, v in params.items() if v is not None}}
        system = merged.pop("system", None)
        listed = isinstance(prompt, (list, tuple))
        roles = [isinstance(m, dict) and "role" in m for m in prompt] if listed else []
        if isinstance(prompt, str):
            messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        elif listed and all(roles):
            given: list[dict[str, Any]] = [m for m in prompt if isinstance(m, dict)]  # all, by `roles`
            messages = [{**m, "content": image_parts(m["content"])} if isinstance(m.get("content"), list)
                        else dict(m) for m in given]
        elif listed and not any(roles):  # the parts of one user message: text, figures, images
            messages = [{"role": "user", "content": image_parts(prompt)}]
        else:
            raise UsageError("a prompt is a string, a list of {'role': …, 'content': …} messages, or a list "
                             "of content parts (text and images: rlm_toolkit.image)")
        operator = {"role": "system", "content": system}
        if system and (not messages or messages[0] != operator):  # first, always; never twice
            messages.insert(0, operator)
        stop = merged.get("stop")
        if isinstance(stop, str):
            merged["stop"] = [stop]
        return Request(messages=messages, budget=budget, schema=schema, **merged)

    def _call(self, request: Request, wanted: frozenset[str], *, text_only: bool = False,
              step: int | None = None) -> ModelCall:
        """The step function of one call of ``request``, owing the ``wanted`` LLM hooks (its
        Response becomes ``last_response``)."""
        response = Response(model=self.provider.model, provider=self.provider.name, params=request.sampling(),
                            cost_basis=basis_for(self.provider, request.messages))
        self.last_response = response
        start: dict[str, Any] = {"model": self.model_id, "messages": request.messages,
                                 "params": response.params}
        if request.schema is not None:  # a typed call: recorders and spans say which schema
            start["schema"] = request.schema
        return ModelCall(response, wanted, start, text_only=text_only, step=step, budget=request.budget)

    def _caller_call(self, request: Request, callbacks: Sequence[Any] | None,
                     text_only: bool) -> tuple[CallbackManager, ModelCall]:
        """A caller's call of ``request``: its handlers (the RLM's, then the call's) and the step
        function owing the hooks they want (what both ``stream`` faces start from)."""
        manager = CallbackManager.merge(self.callbacks, callbacks)
        return manager, self._call(request, wanted(manager), text_only=text_only)

    async def _produce(self, request: Request) -> AsyncIterator[list[StreamEvent]]:
        """The provider's events in batches (what one network read gave: one async step per read,
        not per event; see ``Provider.stream_batches``), retried with backoff while nothing has
        been yielded yet. Every decision is :class:`_Attempt`'s; this face only does the I/O."""
        tries = 0
        while True:
            attempt = _Attempt()
            try:
                batches = self.provider.stream_batches(request)
                try:
                    async for batch in batches:
                        if attempt.hands_on(batch):
                            yield batch
                finally:
                    await batches.aclose()  # type: ignore[attr-defined]  # an async generator: it has aclose
                attempt.ended(self)
                return
            except ProviderError as error:
                tries += 1
                await asyncio.sleep(self._retry_delay(error, attempt.started, tries))

    def _produce_sync(self, request: Request, halt: Halt) -> Iterator[list[StreamEvent]]:
        """:meth:`_produce` for an ``inline`` provider, run in the calling thread (the same
        :class:`_Attempt`); a backoff wakes at once on a Stop, through ``halt``."""
        tries = 0
        while True:
            attempt = _Attempt()
            try:
                batches = self.provider.stream_sync(request, halt=halt)
                try:
                    for batch in batches:
                        if attempt.hands_on(batch):
                            yield batch
                finally:
                    batches.close()  # type: ignore[attr-defined]  # a generator: it has close
                attempt.ended(self)
                return
            except ProviderError as error:
                tries += 1
                if not halt.sleep(self._retry_delay(error, attempt.started, tries)):
                    raise asyncio.CancelledError("stopped") from None

    def _retry_delay(self, error: ProviderError, started: bool, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` after ``error``; raises it if none is due."""
        if started or not error.retryable or attempt > self.max_retries:
            raise error
        delay = min(8.0, self.retry_backoff * 2 ** (attempt - 1)) * random.uniform(0.75, 1.0)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > 30:
                raise error
            delay = retry_after
        return delay

    def _incomplete(self) -> IncompleteStreamError:
        return IncompleteStreamError(
            f"the stream from {self.model_id} ended before the model finished "
            "(connection closed without a finish reason)",
            provider=self.provider.name,
            model=self.provider.model,
        )


#: An event's ``type``, read in C over a batch (:meth:`_Attempt.hands_on`'s finish check).
_TYPE = operator.attrgetter("type")


class _Attempt:
    """One try of a call, sans-IO, driven by both producers: which batches are handed on (the
    non-empty ones), whether one was (then no retry: no token is replayed), and whether the
    stream ended with a finish (else it is incomplete)."""

    __slots__ = ("started", "finished")

    def __init__(self) -> None:
        self.started = False
        self.finished = False

    def hands_on(self, batch: list[StreamEvent]) -> bool:
        if not batch:
            return False
        self.started = True
        if not self.finished:
            self.finished = "finish" in map(_TYPE, batch)
        return True

    def ended(self, rlm: RLM) -> None:
        """The provider's stream has ended: raise if it ended before the model finished."""
        if not self.finished:
            raise rlm._incomplete()


def _typed(schema: Any, retries: Any) -> tuple[Any, int]:
    """A typed call's Schema (built once for every try) and its checked ``output_retries``."""
    from .typed.schema import Schema, check_retries

    return Schema.of(schema), check_retries(retries)


def _sent_back(request: Request, schema: Any, error: StructuredOutputError) -> list[dict[str, Any]]:
    """The next try of a typed call: its messages, the answer that did not fit, and the errors."""
    return [*request.messages, {"role": "assistant", "content": error.raw_text},
            {"role": "user", "content": schema.feedback(error)}]


class EventStream(SyncPump, Iterator[StreamEvent]):
    """Sync iterator of a call's events; a context manager; ``.response`` fills in as it goes."""

    _text_only = False

    def __init__(self, rlm: RLM, request: Request, callbacks: Sequence[Any] | None) -> None:
        self.request = request
        manager, call = rlm._caller_call(request, callbacks, self._text_only)
        self.response = call.response

        def open_source() -> SyncIterator | InlineSource[StreamEvent]:
            if rlm.provider.inline:
                halt = Halt()
                return InlineSource(rlm._produce_sync(request, halt), halt)
            return iterate_sync(lambda: rlm._produce(request), batches=True)

        self._pump_over(open_source, call, manager)

    def __enter__(self) -> EventStream:
        return self


class TextStream(EventStream):
    """Sync iterator of ``str`` chunks (what :meth:`RLM.stream` returns)."""

    _text_only = True

    def __iter__(self) -> TextStream:
        return self

    def __enter__(self) -> TextStream:
        return self


class AsyncEventStream:
    """Async iterator of a call's events; ``async with`` closes it."""

    _text_only = False

    def __init__(self, rlm: RLM, request: Request, callbacks: Sequence[Any] | None) -> None:
        self.request = request
        manager, call = rlm._caller_call(request, callbacks, self._text_only)
        self.response = call.response
        # The pump holds no reference back to this object (no cycle).
        self._iterator = apump(lambda: rlm._produce(request), call, manager, batches=True)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterator  # ``async for`` drives the pump itself: one await less per event

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await self._iterator.aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncTextStream(AsyncEventStream):
    """Async iterator of ``str`` chunks (what :meth:`RLM.astream` returns)."""

    _text_only = True

    async def __aenter__(self) -> AsyncTextStream:
        return self
