"""What the agent's step loop yields besides events, the per-step history, and the two faces.

The loop (:meth:`ReActAgent._loop`) is one async generator. It never calls a callback itself: it
yields :class:`~rlm_toolkit._pump.Hook` items (a model call's LLM hooks, forwarded by
:func:`~rlm_toolkit._pump.apump`) and events with the hooks they carry. :class:`AgentStep` is the
step function that turns those into hooks and events; the pumps of :mod:`rlm_toolkit._pump` run
it — :class:`AgentStream` over the bridge for sync code, :class:`AsyncAgentStream` in the
caller's own loop — so every hook runs in the caller's thread or task, in order, before the
event is handed out.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from .._bridge import iterate_sync
from .._pump import SKIP, Hook, SyncPump, apump, wanted
from ..callbacks import CallbackManager
from ..events import AgentEvent

__all__ = ["StepRecord", "AgentStream", "AsyncAgentStream", "AgentStep"]


class _Emit(NamedTuple):
    """An event and the specific hooks it fires (after ``on_agent_event``)."""

    event: AgentEvent
    hooks: tuple[Hook, ...] = ()


def hook(name: str, *args: Any, **kwargs: Any) -> Hook:
    return Hook(name, args, kwargs)


class AgentStep:
    """The agent's step function: a :class:`Hook` is owed as it is; an event owes
    ``on_agent_event`` (and the hooks it carries) and is handed out."""

    __slots__ = ("hooks", "_every")
    stopped = False  # the loop ends the run itself (a budget: a final event)

    def __init__(self, manager: CallbackManager) -> None:
        self.hooks: list[Hook] = []
        self._every = manager.wants("on_agent_event")

    def begin(self) -> None:
        pass

    def step(self, item: Any) -> Any:
        if isinstance(item, Hook):
            self.hooks.append(item)
            return SKIP
        event, carried = item if isinstance(item, _Emit) else (item, ())
        if self._every:
            self.hooks.append(Hook("on_agent_event", (event,), {}))
        self.hooks.extend(carried)
        return event

    def end(self, error: BaseException | None) -> None:
        pass


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
    schema: str | None = None  #: the typed answer's schema the request carried (its name), if any

    @classmethod
    def begin(cls, step: int, mode: str, request: Any) -> StepRecord:
        return cls(step=step, mode=mode, messages=copy.deepcopy(request.messages),
                   tools=copy.deepcopy(request.tools), params=dict(request.sampling()),
                   schema=request.schema.name if request.schema is not None else None)

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
    approver: Any = None  # who decides on tool calls (agents.approval); a front end may replace it
    # Who asks about a tool that requires approval when there is no approver: None is ask_user
    # (input()); a front end that shows the run puts its own asker here (the timeline's buttons).
    asker: Any = None
    budget: Any = None  # the run's rlm_toolkit.budget.Budget, summed over its steps
    output: Any = None  # a typed run's validated answer (ReActAgent(output_type=…))
    schema: Any = None  # that answer's rlm_toolkit.typed.Schema (None: a text answer)


Loop = Callable[[RunState, frozenset[str]], AsyncIterator[Any]]


class _Base:
    state: RunState

    @property
    def history(self) -> list[StepRecord]:
        """The steps so far (see :class:`StepRecord`)."""
        return self.state.history

    @property
    def final(self) -> AgentEvent | None:
        """The ``final`` event once the run has ended."""
        return self.state.final

    @property
    def schema(self) -> Any:
        """The run's :class:`~rlm_toolkit.typed.Schema` (``output_type=``), or None; web streams
        read it to name the answer's schema."""
        return self.state.schema

    @property
    def output(self) -> Any:
        """A typed run's validated answer once it has ended (``output_type=``), else None."""
        return self.state.output


class AgentStream(SyncPump, _Base, Iterator[AgentEvent]):
    """Sync iterator of a run's :class:`AgentEvent` s (what ``ReActAgent.stream`` returns).

    Callbacks run in the iterating thread. ``close()`` (or leaving a ``with`` block, or
    breaking out of the loop) stops the run and closes the model's connection.
    """

    def __init__(self, loop: Loop, manager: CallbackManager, state: RunState) -> None:
        self.state = state
        llm = wanted(manager)  # not the manager: see rlm_toolkit._pump.wanted
        self._pump_over(lambda: iterate_sync(lambda: loop(state, llm)), AgentStep(manager), manager)

    def __iter__(self) -> AgentStream:
        return self

    def __enter__(self) -> AgentStream:
        return self


class AsyncAgentStream(_Base):
    """Async iterator of a run's events (what ``ReActAgent.astream`` returns); runs in your loop."""

    def __init__(self, loop: Loop, manager: CallbackManager, state: RunState) -> None:
        self.state = state
        llm = wanted(manager)
        self._iterator = apump(lambda: loop(state, llm), AgentStep(manager), manager)

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
