"""One step function per kind of stream, and the two thin pumps that drive them.

A *step* object is sans-IO: ``begin()``, ``step(item)`` and ``end(error)`` update its state and
append the callback hooks they owe to ``hooks``; ``step`` returns what to hand out (or ``SKIP``).
Two are written: :class:`ModelCall` (one model call: feeds the :class:`~rlm_toolkit.response.Response`,
owes the LLM hooks) and the agent's ``AgentStep`` (``rlm_toolkit.agents._driver``). The pumps own
the I/O and nothing else, as httpx's sync and async clients drive one auth generator:

- :class:`SyncPump`, the sync face of ``RLM.stream`` and ``ReActAgent.stream``: takes *batches*
  from a source (the bridge's :class:`~rlm_toolkit._bridge.SyncIterator`: everything decoded
  between two network reads crosses threads at once; or an inline source), steps each item and
  runs its hooks in the calling thread, in order, as it hands the item out;
- :func:`apump`, the async twin, in the caller's task; with no manager it hands the hooks out as
  :class:`Hook` items instead (the agent's loop forwards a model call's hooks to its own driver).
"""

from __future__ import annotations

import functools
import queue
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .callbacks import CallbackManager
from .response import Response

if TYPE_CHECKING:
    from .budget import Budget

__all__ = ["SKIP", "Hook", "Step", "ModelCall", "SyncPump", "apump", "LLM_HOOKS", "wanted"]

LLM_HOOKS = ("on_llm_start", "on_llm_new_token", "on_llm_reasoning", "on_llm_end", "on_llm_error")

#: What ``step`` returns for an item that hands nothing out (usage and finish in a text stream).
SKIP: Any = object()


class Hook(NamedTuple):
    """One callback to run: ``manager.call(name, *args, **kwargs)`` (a list of them: ``call_all``)."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


#: ``Hook(name, args, kwargs)`` without the named tuple's Python-level ``__new__`` (per token).
_hook = functools.partial(tuple.__new__, Hook)


class Step(Protocol):
    """What a pump drives (see the module docstring). ``stopped``: the step wants the stream to
    end cleanly after the item just handed out (a budget); the pumps close the source and end it."""

    hooks: list[Hook]
    stopped: bool

    def begin(self) -> None: ...
    def step(self, item: Any) -> Any: ...
    def end(self, error: BaseException | None) -> None: ...


def wanted(manager: CallbackManager) -> frozenset[str]:
    """The LLM hooks some handler of ``manager`` has. A step holds this set, not the manager: a
    stopped call's Response keeps its error, whose traceback keeps the step's frames, and they
    must not keep the handlers alive (a trace recorder writes its footer when it is dropped)."""
    return frozenset(h for h in LLM_HOOKS if manager.wants(h))


class ModelCall:
    """The step function of one model call: apply each event to the Response, owe the LLM hooks
    (``on_llm_start`` → ``on_llm_new_token`` / ``on_llm_reasoning``… → ``on_llm_end`` or
    ``on_llm_error``; each with ``step=`` when an agent makes the call) and say what to hand out:
    the event, or with ``text_only`` its answer text."""

    __slots__ = ("response", "hooks", "stopped", "_feed", "_wanted", "_token", "_start", "_text_only",
                 "_extra", "_budget")
    # _token: the keyword arguments of every on_llm_new_token (one dict: a call copies it), or None

    def __init__(self, response: Response, wanted: frozenset[str], start: dict[str, Any], *,
                 text_only: bool = False, step: int | None = None, budget: Budget | None = None) -> None:
        self.response = response
        self.hooks: list[Hook] = []
        self.stopped = False
        self._budget = budget
        self._feed = response.feed
        self._wanted = wanted
        self._start = start
        self._text_only = text_only
        self._extra = {} if step is None else {"step": step}
        self._token = {"response": response, **self._extra} if "on_llm_new_token" in wanted else None

    def _owe(self, name: str, *args: Any, **kwargs: Any) -> None:
        if name in self._wanted:
            self.hooks.append(Hook(name, args, {**kwargs, **self._extra}))

    def begin(self) -> None:
        self._owe("on_llm_start", **self._start)

    def step(self, event: Any) -> Any:
        text = self._feed(event)
        if self._budget is not None and self._budget.over(self.response, event):
            self.stopped = True  # this event is handed out, then the call ends: "stopped", "budget"
        if text is not None:
            if self._token is not None:
                self.hooks.append(_hook(("on_llm_new_token", (text,), self._token)))
            return text if self._text_only else event
        if event.type == "reasoning" and event.text:
            self._owe("on_llm_reasoning", event.text, response=self.response)
        return SKIP if self._text_only else event

    def end(self, error: BaseException | None) -> None:
        """Settle the Response (done / stopped / error) and owe ``on_llm_end`` or ``on_llm_error``."""
        response = self.response
        response.settle(error)
        if error is None or isinstance(error, GeneratorExit):
            self._owe("on_llm_end", response)
        else:
            self._owe("on_llm_error", error, partial_text=response.text, response=response)


def _run(manager: CallbackManager, hooks: list[Hook]) -> None:
    try:
        if (paused := manager.run(hooks)) is not None:  # an async hook: wait for it
            manager.resume(paused)
    finally:
        hooks.clear()


class SyncPump:
    """The sync face shared by ``RLM.stream`` and ``ReActAgent.stream``: an iterator that steps
    each item of its source's batches and runs the hooks in the calling thread before handing it out.

    ``next(timeout)`` and ``take(timeout)`` wake on a deadline (widgets flush on a timer);
    ``cancel()`` asks the producer to stop from any thread without waiting; ``close()`` (or a
    ``with`` block, or dropping the iterator) stops now, the HTTP response closed before it returns.
    Subclasses call :meth:`_pump_over` and hold no reference cycle, so a bare ``for … : break``
    drops the stream at once by refcount and ``__del__`` closes the connection.
    """

    _source: Any = None
    _done = True

    def _pump_over(self, open_source: Callable[[], Any], step: Step, manager: CallbackManager) -> None:
        self._open, self._step, self._manager = open_source, step, manager
        self._apply, self._hooks, self._run_hooks = step.step, step.hooks, manager.run
        self._items: list[Any] = []  # the batch being handed out, from index _at on
        self._at = 0
        self._done = False

    def _started(self) -> Any:
        """The source, opened on first use, after the ``begin`` hooks."""
        if self._source is None:
            self._step.begin()
            _run(self._manager, self._hooks)
            self._source = self._open()
        return self._source

    def _ended(self) -> None:
        self._done = True
        self._step.end(None)
        _run(self._manager, self._hooks)

    def _failed(self, error: BaseException) -> None:
        """End after ``error`` (``GeneratorExit``: closed early): close the source, settle, run the hooks."""
        if self._done:
            return
        self._done = True
        try:
            if self._source is not None:
                self._source.close()
        finally:
            self._step.end(error)
            _run(self._manager, self._hooks)

    def _hand_out(self, one: bool, timeout: float | None) -> Any:
        """The one loop of both faces: step each item of the current batch and run its hooks;
        fetch the next batch when it is used up (``queue.Empty`` if none comes within
        ``timeout`` s); end at a step's ``stopped``, at the source's end or error (settled once).
        ``one``: return the first item that hands something out (``__next__``); else what the
        rest of the current batch, or the next one, hands out (``take``)."""
        if self._done:
            raise StopIteration
        out: list[Any] = []
        fetched = self._at < len(self._items)  # take: a batch is being handed out, fetch none
        try:
            while True:
                if self._step.stopped:
                    if out:  # what came before the cut goes out first; the next call ends
                        return out
                    self._source.close()
                    raise StopIteration
                items, at = self._items, self._at
                if at < len(items):
                    self._at = at + 1
                    got = self._apply(items[at])
                    if self._hooks:  # _run, inlined: this runs per token
                        try:
                            if (paused := self._run_hooks(self._hooks)) is not None:
                                self._manager.resume(paused)
                        finally:
                            self._hooks.clear()
                    if got is not SKIP:
                        if one:
                            return got
                        out.append(got)
                elif fetched and not one:
                    return out
                else:
                    source = self._started()
                    if timeout is not None and not source.wait(timeout):
                        raise queue.Empty
                    self._items, self._at = source.take(), 0
                    fetched = True
        except queue.Empty:
            raise
        except StopIteration:
            self._ended()
            raise
        except BaseException as error:
            self._failed(error)
            raise

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        return self._hand_out(True, None)

    def next(self, timeout: float | None = None) -> Any:
        """Like ``next()``, but raise ``queue.Empty`` if nothing arrives within ``timeout`` s."""
        return self._hand_out(True, timeout)

    def take(self, timeout: float | None = None) -> list[Any]:
        """What the rest of the current batch, or else the next one, hands out (possibly nothing),
        its hooks run (``__next__`` per item, this per batch: a consumer that wakes on a timer
        takes everything that has arrived). ``queue.Empty`` if no batch arrives within
        ``timeout`` s, ``StopIteration`` at the end."""
        return self._hand_out(False, timeout)  # a list when not ``one``

    def cancel(self) -> None:
        """Ask the stream to stop from any thread, without waiting: the consumer's next ``next()``
        ends it (the HTTP response is closed by then)."""
        if self._source is not None:
            self._source.cancel()

    def close(self) -> None:
        """Stop now; the HTTP response is closed before this returns. (Never started: nothing to do.)"""
        if self._source is None:
            self._done = True
        self._failed(GeneratorExit())

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


async def _owed(hooks: list[Hook], manager: CallbackManager | None) -> AsyncIterator[Hook]:
    """Run the hooks owed so far in order, or with no manager hand them out."""
    try:
        if manager is None:
            for hook in hooks:
                yield hook
        else:
            await manager.acall_all(hooks)
    finally:
        hooks.clear()


async def _one_each(source: AsyncIterator[Any]) -> AsyncIterator[tuple[Any]]:
    """A source of single items as a source of one-item batches."""
    try:
        async for item in source:
            yield (item,)
    finally:
        await source.aclose()  # type: ignore[attr-defined]  # an async generator: every source is (RLM._produce, stream_batches)


async def apump(
    open_source: Callable[[], AsyncIterator[Any]], step: Step, manager: CallbackManager | None = None,
    *, batches: bool = False,
) -> AsyncGenerator[Any, None]:
    """Async twin of :class:`SyncPump`, in the caller's task. With ``batches`` the source yields
    lists of items (``RLM._produce``: one per network read, so one async step per read), else
    single items. With ``manager`` None the hooks are handed out as :class:`Hook` items, in
    order, instead of being run (those owed after a cancellation or a close are dropped: nobody
    reads on)."""
    hooks = step.hooks
    source: Any = None
    try:
        step.begin()
        async for hook in _owed(hooks, manager):
            yield hook
        source = open_source() if batches else _one_each(open_source())
        apply = step.step
        async for items in source:
            for item in items:
                out = apply(item)
                if hooks:  # _owed, inlined: this runs per token
                    if manager is None:
                        for hook in hooks:
                            yield hook
                    elif (paused := manager.run(hooks)) is not None:  # an async hook: wait for it
                        await manager.aresume(paused)
                    hooks.clear()
                if out is not SKIP:
                    yield out
                if step.stopped:
                    break
            if step.stopped:  # a budget: cut at the item that crossed it, mid-batch too
                await source.aclose()
                break
    except BaseException as error:
        hooks.clear()
        if source is not None:
            await source.aclose()
        step.end(error)
        if manager is not None or isinstance(error, Exception):
            async for hook in _owed(hooks, manager):
                yield hook
        hooks.clear()
        raise
    step.end(None)
    async for hook in _owed(hooks, manager):
        yield hook
