"""What the agent's step loop yields besides events, the per-step history, and the two drivers.

The loop (:meth:`ReActAgent._loop`) is one async generator. It never calls a callback itself: it
yields :class:`_Hook` items (and events with the hooks they carry), and the driver the caller
uses — :class:`AgentStream` over the bridge for sync code, :class:`AsyncAgentStream` in the
caller's own loop — runs them in the caller's thread or task, in order, before the event is
handed out.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from .. import _bridge
from ..callbacks import CallbackManager
from .events import AgentEvent

__all__ = ["StepRecord", "AgentStream", "AsyncAgentStream"]

LLM_HOOKS = ("on_llm_start", "on_llm_new_token", "on_llm_reasoning", "on_llm_end", "on_llm_error")


class _Hook(NamedTuple):
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class _Emit(NamedTuple):
    """An event and the specific hooks it fires (after ``on_agent_event``)."""

    event: AgentEvent
    hooks: tuple[_Hook, ...] = ()


def hook(name: str, *args: Any, **kwargs: Any) -> _Hook:
    return _Hook(name, args, kwargs)


class _Relay:
    """Stands in as the model call's only callback handler: records the LLM hooks the caller
    wants, so the loop can hand them to the driver instead of running them on the bridge.
    Each relayed hook also gets ``step=``: a handler can tell an agent's model call from a plain one."""

    def __init__(self, wanted: frozenset[str], step: int | None = None) -> None:
        self.wanted = wanted
        self.step = step
        self.pending: list[_Hook] = []

    def _record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if name in self.wanted:
            self.pending.append(_Hook(name, args, {**kwargs, "step": self.step}))

    def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        self._record("on_llm_start", args, kwargs)

    def on_llm_new_token(self, *args: Any, **kwargs: Any) -> None:
        self._record("on_llm_new_token", args, kwargs)

    def on_llm_reasoning(self, *args: Any, **kwargs: Any) -> None:
        self._record("on_llm_reasoning", args, kwargs)

    def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        self._record("on_llm_end", args, kwargs)

    def on_llm_error(self, *args: Any, **kwargs: Any) -> None:
        self._record("on_llm_error", args, kwargs)

    def drain(self) -> list[_Hook]:
        out, self.pending = self.pending, []
        return out


@dataclass
class StepRecord:
    """One step, for debugging: the exact messages and tools sent, what came back, and timings."""

    step: int
    mode: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    params: dict[str, Any]
    started: float = field(default_factory=time.time)
    duration: float | None = None
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    final: str | None = None
    response: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def begin(cls, step: int, mode: str, request: Any) -> StepRecord:
        return cls(step=step, mode=mode, messages=copy.deepcopy(request.messages),
                   tools=copy.deepcopy(request.tools), params=dict(request.sampling()))

    def end(self, response: Any, started: float) -> None:
        self.text = response.text
        self.response = response.to_dict()
        self.duration = time.perf_counter() - started

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunState:
    """One run: its history and its final event (shared by the loop and the driver)."""

    history: list[StepRecord] = field(default_factory=list)
    final: AgentEvent | None = None
    started: float = field(default_factory=time.perf_counter)
    partial: str = ""  # the failed step's text, for the final event of a failed run
    budget: Any = None  # the run's rlm_toolkit.budget.Budget, summed over its steps


Loop = Callable[[RunState, frozenset[str]], AsyncIterator[Any]]


def _wanted(manager: CallbackManager) -> frozenset[str]:
    return frozenset(h for h in LLM_HOOKS if manager.wants(h))


class _Base:
    def __init__(self, loop: Loop, manager: CallbackManager, state: RunState) -> None:
        self.state = state

    @property
    def history(self) -> list[StepRecord]:
        """The steps so far (see :class:`StepRecord`)."""
        return self.state.history

    @property
    def final(self) -> AgentEvent | None:
        """The ``final`` event once the run has ended."""
        return self.state.final


class AgentStream(_bridge.BridgedIterator, _Base, Iterator[AgentEvent]):
    """Sync iterator of a run's :class:`AgentEvent` s (what ``ReActAgent.stream`` returns).

    Callbacks run in the iterating thread. ``close()`` (or leaving a ``with`` block, or
    breaking out of the loop) stops the run and closes the model's connection.
    """

    def __init__(self, loop: Loop, manager: CallbackManager, state: RunState) -> None:
        super().__init__(loop, manager, state)
        wanted = _wanted(manager)
        # The driver holds no reference back to this object, so a bare ``for … : break`` drops
        # the stream at once (refcount) and ``__del__`` stops the run without waiting for gc.
        self._lazy = _bridge.LazySource(lambda: _bridge.iterate_sync(lambda: loop(state, wanted)))
        self._iterator = _drive_sync(self._lazy, manager)

    def __iter__(self) -> AgentStream:
        return self

    def __next__(self) -> AgentEvent:
        return next(self._iterator)

    def __enter__(self) -> AgentStream:
        return self


def _drive_sync(lazy: _bridge.LazySource, manager: CallbackManager) -> Iterator[AgentEvent]:
    source = lazy.get()
    try:
        for item in source:
            if isinstance(item, _Hook):
                manager.call(item.name, *item.args, **item.kwargs)
                continue
            event, hooks = item if isinstance(item, _Emit) else (item, ())
            manager.call("on_agent_event", event)
            for h in hooks:
                manager.call(h.name, *h.args, **h.kwargs)
            yield event
    finally:
        source.close()


class AsyncAgentStream(_Base):
    """Async iterator of a run's events (what ``ReActAgent.astream`` returns); runs in your loop."""

    def __init__(self, loop: Loop, manager: CallbackManager, state: RunState) -> None:
        super().__init__(loop, manager, state)
        self._iterator = _drive_async(loop(state, _wanted(manager)), manager)

    def __aiter__(self) -> AsyncAgentStream:
        return self

    async def __anext__(self) -> AgentEvent:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await self._iterator.aclose()

    async def __aenter__(self) -> AsyncAgentStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _drive_async(source: AsyncIterator[Any], manager: CallbackManager) -> AsyncIterator[AgentEvent]:
    try:
        async for item in source:
            if isinstance(item, _Hook):
                await manager.acall(item.name, *item.args, **item.kwargs)
                continue
            event, hooks = item if isinstance(item, _Emit) else (item, ())
            await manager.acall("on_agent_event", event)
            for h in hooks:
                await manager.acall(h.name, *h.args, **h.kwargs)
            yield event
    finally:
        await source.aclose()  # type: ignore[attr-defined]
