"""Callbacks: hooks a caller attaches to watch a stream or an agent run.

Subclass :class:`StreamingCallback` and override what you need; every hook takes ``**kwargs``
so new keyword arguments never break old handlers. Hooks may be plain or ``async def``.
They run in the caller's thread (or task), in token order::

    class MyStreamer(StreamingCallback):
        def on_llm_new_token(self, token: str, **kwargs):
            print(token, end="", flush=True)

    RLM.from_openai("gpt-4o", callbacks=[MyStreamer()]).run("Tell a story")

Lifecycle of one model call: ``on_llm_start`` → ``on_llm_new_token``… (and ``on_llm_reasoning``…
for a model that streams its reasoning) → ``on_llm_end`` (or
``on_llm_error``, which also fires on interrupt and cancellation). An agent adds
``on_agent_action`` → ``on_tool_start`` → ``on_tool_end`` / ``on_tool_error`` per step, and
``on_agent_finish`` once; ``on_agent_event`` sees every agent event.

A handler that raises is reported by name with a ``CallbackWarning`` and the stream goes on;
set ``raise_errors = True`` on the handler to make its errors stop the stream instead.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import describe

__all__ = [
    "StreamingCallback",
    "AsyncStreamingCallback",
    "CallbackWarning",
    "CallbackManager",
    "HOOKS",
]

HOOKS = (
    "on_llm_start",
    "on_llm_new_token",
    "on_llm_reasoning",
    "on_llm_end",
    "on_llm_error",
    "on_tool_start",
    "on_tool_end",
    "on_tool_error",
    "on_agent_action",
    "on_agent_finish",
    "on_agent_event",
)


class CallbackWarning(UserWarning):
    """A callback handler raised; the message names the handler and the hook."""


class StreamingCallback:
    """Base class for callback handlers; every hook does nothing until overridden."""

    #: If true, an exception in this handler stops the stream instead of being reported.
    raise_errors: bool = False

    def on_llm_start(self, *, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        """A model call is about to be sent."""

    def on_llm_new_token(self, token: str, **kwargs: Any) -> Any:
        """One chunk of text arrived, exactly as the provider sent it."""

    def on_llm_reasoning(self, text: str, **kwargs: Any) -> Any:
        """One piece of the model's reasoning arrived (never passed to ``on_llm_new_token``)."""

    def on_llm_end(self, response: Any, **kwargs: Any) -> Any:
        """The model call finished; ``response`` carries text, usage and timings."""

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> Any:
        """The call failed, was interrupted or cancelled; ``kwargs['partial_text']`` is what came."""

    def on_tool_start(self, tool_name: str, input: dict[str, Any], **kwargs: Any) -> Any:
        """An agent is about to call a tool."""

    def on_tool_end(self, output: str, **kwargs: Any) -> Any:
        """A tool returned; ``kwargs['tool_name']`` says which."""

    def on_tool_error(self, error: BaseException, **kwargs: Any) -> Any:
        """A tool raised or timed out; the agent goes on with the error as its observation."""

    def on_agent_action(self, action: Any, **kwargs: Any) -> Any:
        """The agent decided to call a tool (an ``action`` event)."""

    def on_agent_finish(self, final: Any, **kwargs: Any) -> Any:
        """The agent produced its final answer (a ``final`` event)."""

    def on_agent_event(self, event: Any, **kwargs: Any) -> Any:
        """Every agent event, in order."""


class AsyncStreamingCallback(StreamingCallback):
    """Marker base for handlers written with ``async def`` hooks (plain ones work too)."""


def _overrides(handler: object, hook: str) -> bool:
    method = getattr(type(handler), hook, None)
    base = getattr(StreamingCallback, hook, None)
    return method is not None and method is not base


class CallbackManager:
    """Holds handlers and calls one hook on all of them, reporting handlers that raise."""

    __slots__ = ("handlers", "_by_hook", "_bound", "errors")

    def __init__(self, handlers: Iterable[Any] | None = None) -> None:
        self.handlers: list[Any] = list(handlers or [])
        # Per hook, only the handlers that override it: the token hook runs per chunk.
        self._by_hook: dict[str, list[Any]] = {
            hook: [h for h in self.handlers if _overrides(h, hook) or not isinstance(h, StreamingCallback)
                   and callable(getattr(h, hook, None))]
            for hook in HOOKS
        }
        # ... with their methods, bound once (``run`` calls them per token).
        self._bound: dict[str, list[tuple[Any, Any]]] = {
            hook: [(h, getattr(h, hook)) for h in handlers] for hook, handlers in self._by_hook.items()
        }
        self.errors: list[tuple[str, BaseException]] = []

    @classmethod
    def merge(cls, *groups: Sequence[Any] | None) -> CallbackManager:
        return cls([h for group in groups if group for h in group])

    def __bool__(self) -> bool:
        return bool(self.handlers)

    def wants(self, hook: str) -> bool:
        return bool(self._by_hook[hook])

    def call_all(self, hooks: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        """Call each ``(hook, args, kwargs)`` in order from sync code (the pumps, per token: no
        call per hook); an async hook's awaitable is awaited on the portal before the next handler."""
        self.resume(self.run(hooks))

    def resume(self, paused: Any) -> None:
        """Wait (on the portal) for the awaitable :meth:`run` stopped at, then go on with the rest."""
        while paused is not None:
            from ._bridge import run_sync

            awaitable, handler, rest, skip = paused

            async def wait(awaitable: Any = awaitable) -> Any:
                return await awaitable

            try:
                run_sync(wait)
            except Exception as error:
                self._report(handler, rest[0][0], error)
            paused = self.run(rest, skip)

    async def acall_all(self, hooks: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        """:meth:`call_all` from async code: an async hook's awaitable is awaited here."""
        await self.aresume(self.run(hooks))

    async def aresume(self, paused: Any) -> None:
        """Await the awaitable :meth:`run` stopped at, then go on with the rest, the same way."""
        while paused is not None:
            awaitable, handler, rest, skip = paused
            try:
                await awaitable
            except Exception as error:
                self._report(handler, rest[0][0], error)
            paused = self.run(rest, skip)

    def run(self, hooks: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]], skip: int = 0) -> Any:
        """Call each hook on its handlers, in order, until one returns an awaitable (an ``async def``
        hook); then return ``(awaitable, handler, hooks from that one on, its handlers called)``
        for :meth:`call_all` / :meth:`acall_all` to wait for it and go on. None when all ran."""
        bound = self._bound
        for item in hooks:
            hook, args, kwargs = item
            handlers = bound[hook]
            called = skip
            for handler, method in handlers[skip:] if skip else handlers:
                called += 1
                try:
                    result = method(*args, **kwargs)
                    if result is not None and inspect.isawaitable(result):
                        at = next(i for i, other in enumerate(hooks) if other is item)
                        return result, handler, hooks[at:], called
                except Exception as error:
                    self._report(handler, hook, error)
            skip = 0
        return None

    def _report(self, handler: Any, hook: str, error: Exception) -> None:
        name = f"{type(handler).__qualname__}.{hook}"
        if getattr(handler, "raise_errors", False):
            raise error
        self.errors.append((name, error))
        warnings.warn(
            f"callback {name} raised {describe(error)}",
            CallbackWarning,
            stacklevel=3,
        )
