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
before the call. Sync tools run in a worker thread, so a slow tool never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, overload

from ..errors import UsageError
from ._schema import ToolInputError, check_arguments, function_schema

__all__ = ["Tool", "tool", "as_tools", "ToolInputError", "observation_text"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(eq=False)
class Tool:
    """A callable the model may use: ``name``, ``description``, JSON-schema ``parameters``, ``fn``.

    Build one from a function with :func:`tool` (or just pass the function); build one by hand
    to give a schema yourself. Calling the Tool calls the function.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    is_async: bool = field(default=False)

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
        return cls(name=tool_name, description=text or tool_name.replace("_", " "), parameters=parameters, fn=fn)

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
            kind = schema.get("type") or ("one of " + json.dumps(schema["enum"]) if "enum" in schema else "any")
            part = f"{pname}: {kind}"
            if "default" in schema:
                part += f" = {json.dumps(schema['default'])}"
            parts.append(part)
        return f"{self.name}({', '.join(parts)}) - {self.description}"

    def validate(self, arguments: Any) -> dict[str, Any]:
        """Checked (and safely coerced) arguments; :class:`ToolInputError` says what is wrong."""
        return check_arguments(arguments, self.parameters)

    async def ainvoke(self, arguments: dict[str, Any], *, timeout: float | None = None) -> Any:
        """Call the tool with validated ``arguments``; TimeoutError after ``timeout`` seconds."""
        if self.is_async:
            call: Any = self.fn(**arguments)
        else:
            call = _in_thread(self.fn, arguments, self.name)
        result = await asyncio.wait_for(call, timeout) if timeout else await call
        if inspect.isawaitable(result):  # a sync function that returned a coroutine
            result = await (asyncio.wait_for(result, timeout) if timeout else result)
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


@overload
def tool(fn: Callable[..., Any], *, name: str | None = None, description: str | None = None) -> Tool: ...
@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None) -> Any:
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


def observation_text(result: Any) -> str:
    """What the model sees of a tool's return value: text as is, data as JSON."""
    if isinstance(result, str):
        return result
    if result is None:
        return "(no output)"
    if isinstance(result, bytes):
        return result.decode("utf-8", "replace")
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)


def _is_async(fn: Callable[..., Any]) -> bool:
    target = getattr(fn, "func", fn)  # functools.partial
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(getattr(target, "__call__", None))


async def _in_thread(fn: Callable[..., Any], arguments: dict[str, Any], name: str) -> Any:
    """Run a sync tool in a daemon thread (not the loop's executor, whose threads are joined at
    interpreter exit: a tool that hangs past its timeout must not keep the process alive)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def work() -> None:
        try:
            outcome = (True, context.run(fn, **arguments))
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
            outcome = (False, error)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop closed while the tool ran
            pass

    threading.Thread(target=work, name=f"rlm-tool-{name}", daemon=True).start()
    return await future
