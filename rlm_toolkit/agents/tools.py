"""Tools an agent can call: plain functions (sync or async) or :class:`Tool` objects.

A function's name, docstring and type hints become the tool's name, description and JSON
schema, so a typed, documented function is a tool as it stands::

    def word_count(text: str, unique: bool = False) -> int:
        \"\"\"Count the words in a text.

        Args:
            text: The text to count.
            unique: Count each distinct word once.
        \"\"\"

    @tool(name="search", description="Search the documentation.")
    async def search_docs(query: str, limit: int = 3) -> list[str]: ...

    agent = ReActAgent.from_openai("gpt-4o", tools=[word_count, search_docs])

Arguments from the model are checked against the schema (and safely coerced: ``"3"`` → ``3``)
before the call. Every tool runs in a worker thread (an async one on an event loop of its own
there), so a slow or blocking tool never stalls the event loop and ``tool_timeout`` always ends the
step. A thread cannot be killed: a sync tool still running at its timeout runs on until it returns,
and what it returns then is dropped (:func:`call_in_thread`).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, overload

from ..errors import UsageError
from ..images import shown_images
from ._schema import ToolInputError, check_arguments, function_schema

__all__ = ["Tool", "tool", "as_tools", "ToolInputError", "ToolExit", "ToolResultError", "observation_text",
           "observe", "observe_output", "call_in_thread", "ToolOutput", "report_progress", "PROGRESS"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: Where :func:`report_progress` sends a running tool call's progress: set by the agent around the
#: call; a context variable, so it reaches the tool's thread and the tasks it starts (an MCP call's).
PROGRESS: contextvars.ContextVar[Callable[[float, float | None, str | None], None] | None] = \
    contextvars.ContextVar("rlm_tool_progress", default=None)


def report_progress(progress: float, total: float | None = None, message: str | None = None) -> None:
    """Say how far the running tool call is: the agent shows it in the running step (a ``progress``
    event). Callable from the tool's own thread or any task it starts; outside a tool call, nothing.

    ::

        def crawl(urls: list[str]) -> str:
            for i, url in enumerate(urls):
                report_progress(i, len(urls), url)
                ...
    """
    report = PROGRESS.get()
    if report is not None:
        report(progress, total, message)


@dataclass(frozen=True)
class ToolOutput:
    """What a tool may return to give the timeline more than the model sees: ``text`` goes to the
    model, ``images`` (``[{"mime_type", "data"}]``, base64) are shown in the observation's row,
    after :func:`rlm_toolkit.images.shown_images` has checked them. An MCP tool returns one."""

    text: str
    images: tuple[dict[str, str], ...] = ()


#: Seconds a cancelled async tool gets to run its cleanup before the agent moves on without it.
CANCEL_GRACE = 0.5


@dataclass(eq=False)
class Tool:
    """A callable the model may use: ``name``, ``description``, JSON-schema ``parameters``, ``fn``.

    Build one from a function with :func:`tool` (or just pass the function); build one by hand
    to give a schema yourself. Calling the Tool calls the function. ``requires_approval``: each
    call waits for a decision even when the agent has no ``approve=`` (it asks as ``approve=True``
    does; an MCP tool marked ``destructiveHint`` is one).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    is_async: bool = field(default=False)
    requires_approval: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise UsageError(
                f"tool name {self.name!r} is not allowed: use 1-64 letters, digits, '_' or '-' "
                "(set one with @tool(name=...))"
            )
        if not callable(self.fn):
            raise UsageError(f"tool {self.name!r}: fn must be callable, got {type(self.fn).__name__}")
        if not isinstance(self.parameters, dict) or self.parameters.get("type", "object") != "object":
            raise UsageError(f"tool {self.name!r}: parameters must be a JSON schema of type 'object'")
        self.is_async = self.is_async or _is_async(self.fn)

    @classmethod
    def from_function(
        cls, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> Tool:
        """A tool from a function's signature and docstring (``name``/``description`` override)."""
        if not callable(fn):
            raise UsageError(f"a tool must be a function, got {type(fn).__name__}: {fn!r:.60}")
        tool_name = name or getattr(fn, "__name__", None)
        if not tool_name or tool_name == "<lambda>":
            raise UsageError(f"{fn!r:.60} has no usable name; give it one with tool(fn, name='...')")
        doc_description, parameters = function_schema(fn, tool_name)
        text = description if description is not None else doc_description
        return cls(
            name=tool_name, description=text or tool_name.replace("_", " "), parameters=parameters, fn=fn
        )

    def spec(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def signature_text(self) -> str:
        """One line for a text prompt: ``name(a: integer, b: string = "x") - description``."""
        parts = []
        for pname, schema in (self.parameters.get("properties") or {}).items():
            kind = schema.get("type") or (
                "one of " + json.dumps(schema["enum"]) if "enum" in schema else "any"
            )
            part = f"{pname}: {kind}"
            if "default" in schema:
                part += f" = {json.dumps(schema['default'])}"
            parts.append(part)
        return f"{self.name}({', '.join(parts)}) - {self.description}"

    def validate(self, arguments: Any) -> dict[str, Any]:
        """Checked (and safely coerced) arguments; :class:`ToolInputError` says what is wrong."""
        return check_arguments(arguments, self.parameters)

    async def ainvoke(self, arguments: dict[str, Any], *, timeout: float | None = None) -> Any:
        """Call the tool with validated ``arguments``; ``TimeoutError`` after ``timeout`` seconds.

        The call runs on a daemon thread of its own, an async tool on an event loop of its own
        there, so a tool that blocks (``time.sleep`` in ``async def``) stalls no stream and a tool
        that ignores cancellation cannot outlive ``timeout``: it is asked to stop and abandoned.
        Whatever it raises comes back as an ``Exception`` (``SystemExit`` as :class:`ToolExit`).
        """
        return await call_in_thread(self.fn, arguments, self.name, timeout=timeout)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


@overload
def tool(fn: Callable[..., Any], *, name: str | None = None, description: str | None = None) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None
) -> Any:
    """Make a :class:`Tool`: ``@tool``, ``@tool(name=..., description=...)`` or ``tool(fn)``."""
    if fn is None:
        return lambda f: Tool.from_function(f, name=name, description=description)
    if isinstance(fn, str):
        raise UsageError("write @tool(name='...') with the name as a keyword argument")
    return Tool.from_function(fn, name=name, description=description)


def as_tools(tools: Any) -> list[Tool]:
    """Turn what a user passed as ``tools=`` into Tools, with a clear error for what cannot be one."""
    if tools is None:
        return []
    if tools is Ellipsis or (isinstance(tools, (list, tuple)) and any(t is Ellipsis for t in tools)):
        raise UsageError(
            "tools=[...] holds the `...` placeholder from the documentation example; pass your own "
            "functions instead, e.g. tools=[search, calculate] (plain functions with type hints and a "
            "docstring, or functions decorated with @tool), or tools=[] for none"
        )
    if isinstance(tools, (Tool,)) or callable(tools) and not isinstance(tools, type):
        tools = [tools]
    if isinstance(tools, (str, bytes, dict)) or not isinstance(tools, Iterable):
        raise UsageError(f"tools must be a list of functions or Tool objects, got {type(tools).__name__}")
    out: list[Tool] = []
    for item in tools:
        if isinstance(item, Tool):
            out.append(item)
        elif callable(item):
            out.append(Tool.from_function(item))
        else:
            raise UsageError(
                f"tools=[...] contains {type(item).__name__} {item!r:.60}, which is not callable; "
                "a tool is a function with type hints and a docstring, or a Tool"
            )
    seen: set[str] = set()
    for t in out:
        if t.name in seen:
            raise UsageError(f"two tools are named {t.name!r}; rename one with @tool(name='...')")
        seen.add(t.name)
    return out


async def call_in_thread(fn: Callable[..., Any], arguments: dict[str, Any], name: str, *,
                         timeout: float | None = None, then: Callable[[Any], Any] | None = None) -> Any:
    """``fn(**arguments)`` on a daemon thread of its own, as :meth:`Tool.ainvoke` describes (also
    how an agent's approver is asked); ``name`` names it in errors and in the thread's name.

    ``then(result)`` runs on that thread too, right after the call, and is guarded as the call is
    (an agent turns the result into its observation text there: a hostile ``__str__`` is the tool's
    failure, never the run's). A result that comes after ``timeout`` is dropped and the call is a
    ``TimeoutError``, however late the caller's loop saw it: a tool that holds the GIL (a long C
    call) keeps the loop from firing the timeout until it returns, result in hand.
    """
    worker = _Worker(fn, arguments, name, then)
    try:
        try:
            result = await (asyncio.wait_for(worker.future, timeout) if timeout else worker.future)
        except Exception as error:
            if timeout and (isinstance(error, asyncio.TimeoutError) or worker.late(timeout)):
                raise TimeoutError(f"tool {name!r} did not finish within {timeout:g} s") from None
            raise
        if timeout and worker.late(timeout):  # its result is dropped: the step has timed out
            raise TimeoutError(f"tool {name!r} did not finish within {timeout:g} s")
        return result
    finally:
        if worker.cancel():  # give its ``finally`` blocks a moment, never more
            await asyncio.wait({worker.ended}, timeout=CANCEL_GRACE)


async def observe(tool: Tool, arguments: dict[str, Any], *, timeout: float | None = None) -> str:
    """Call ``tool`` and turn what it returns into the text the model is shown, both on the tool's
    thread (:func:`call_in_thread`): a result that cannot be shown is a :class:`ToolResultError`."""
    return await call_in_thread(tool.fn, arguments, tool.name, timeout=timeout, then=observation_text)


async def observe_output(tool: Tool, arguments: dict[str, Any], *,
                         timeout: float | None = None) -> tuple[str, list[dict[str, str]]]:
    """As :func:`observe`, with the images a :class:`ToolOutput` carries, checked on the tool's
    thread (:func:`rlm_toolkit.images.shown_images`)."""
    return await call_in_thread(tool.fn, arguments, tool.name, timeout=timeout, then=_text_and_images)


def _text_and_images(result: Any) -> tuple[str, list[dict[str, str]]]:
    images = shown_images(list(result.images)) if isinstance(result, ToolOutput) else []
    return observation_text(result), images


def observation_text(result: Any) -> str:
    """What the model sees of a tool's return value: text as is, data as JSON.

    Always a plain ``str``: a ``str`` subclass's own ``__str__`` / ``__format__`` would otherwise
    run wherever the observation is formatted later."""
    if isinstance(result, ToolOutput):
        return observation_text(result.text)
    if isinstance(result, str):
        return str.__str__(result)
    if result is None:
        return "(no output)"
    if isinstance(result, bytes):
        return bytes.decode(result, "utf-8", "replace")
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str.__str__(str(result))


def safe_text(error: BaseException) -> str:
    """``str(error)``, or ``""`` when even that raises (an argument whose ``__str__`` fails)."""
    try:
        return str.__str__(str(error))
    except BaseException:  # noqa: BLE001 - SystemExit too: the text is lost, not the caller
        return ""


def _is_async(fn: Callable[..., Any]) -> bool:
    target = getattr(fn, "func", fn)  # functools.partial
    # A callable object is async when its class's __call__ is (callable() says nothing about that).
    call = getattr(type(target), "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(call)


class ToolExit(Exception):
    """A tool raised ``SystemExit``, ``KeyboardInterrupt`` or another ``BaseException`` that is
    not an ``Exception``; carried as an ordinary error, so it ends that tool call, not the agent,
    the caller's event loop or the bridge's."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.error = error
        detail = safe_text(error)
        super().__init__(f"tool {name!r} raised {type(error).__name__}{': ' + detail if detail else ''}")


class ToolResultError(Exception):
    """A tool returned, but its result could not be turned into text (its ``__str__``,
    ``__repr__`` or ``__format__`` raised, ``SystemExit`` included): that call's error, not the run's."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.error = error
        detail = safe_text(error)
        super().__init__(f"the result of tool {name!r} could not be shown: converting it to text raised "
                         f"{type(error).__name__}{': ' + detail if detail else ''}")


class _Worker:
    """One tool call on a daemon thread (not the loop's executor, whose threads are joined at
    interpreter exit: a tool that hangs past its timeout must not keep the process alive).

    ``future`` settles on the caller's loop with the result or an ``Exception``. An awaitable
    (an async tool, or a sync function returning a coroutine) runs on a fresh event loop in that
    thread; ``cancel()`` cancels it there, and a tool that swallows the cancellation is left to
    finish on its own thread while the caller has long moved on.
    """

    def __init__(self, fn: Callable[..., Any], arguments: dict[str, Any], name: str,
                 then: Callable[[Any], Any] | None = None) -> None:
        self._caller = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self._caller.create_future()
        self.ended: asyncio.Future[None] = self._caller.create_future()  # the thread is done with it
        self._name = name
        self._lock = threading.Lock()
        self._inner: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = None
        self._cancelled = False
        self.started = time.monotonic()
        self.finished = float("inf")  # when the call (and ``then``) returned, on the thread's clock
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._work, fn, arguments, then), name=f"rlm-tool-{name}",
                         daemon=True).start()

    def _work(self, fn: Callable[..., Any], arguments: dict[str, Any],
              then: Callable[[Any], Any] | None) -> None:
        outcome: tuple[bool, Any]
        try:
            result = fn(**arguments)
            outcome = (True, self._await(result) if inspect.isawaitable(result) else result)
        except BaseException as error:  # noqa: BLE001 - SystemExit too: handed over as an Exception
            outcome = (False, error if isinstance(error, Exception) else ToolExit(self._name, error))
        if outcome[0] and then is not None:
            try:
                outcome = (True, then(outcome[1]))
            except BaseException as error:  # noqa: BLE001 - as for the call itself
                outcome = (False, ToolResultError(self._name, error))
        self.finished = time.monotonic()
        try:
            self._caller.call_soon_threadsafe(self._settle, *outcome)
        except RuntimeError:  # the caller's loop closed while the tool ran
            pass

    def late(self, timeout: float) -> bool:
        """Whether the call returned (or raised) after ``timeout`` seconds."""
        return self.finished - self.started > timeout

    def _await(self, awaitable: Any) -> Any:
        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(_wrap(awaitable))
            with self._lock:
                self._inner = (loop, task)
                if self._cancelled:
                    task.cancel()
            return loop.run_until_complete(task)
        finally:
            with self._lock:
                self._inner = None
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _settle(self, ok: bool, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value) if ok else self.future.set_exception(value)
        if not self.ended.done():
            self.ended.set_result(None)

    def cancel(self) -> bool:
        """The caller stopped waiting (done, timed out or cancelled): cancel an async tool's task.
        True if one was still running and has been asked to stop."""
        with self._lock:
            self._cancelled = True
            if self._inner is None:
                return False
            loop, task = self._inner
            loop.call_soon_threadsafe(task.cancel)
            return True


async def _wrap(awaitable: Any) -> Any:
    return await awaitable
