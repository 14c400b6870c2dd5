"""``%%rlm --schema``: a typed answer from a prompt cell.

``--schema Person`` names a class (or ``list[Person]``, or a JSON Schema dict) in the notebook;
anything else is llm's concise form, ``--schema 'name, age int, bio: a short biography'``. The
answer is asked for in the provider's structured mode and streams as its JSON text; ``-o var``
then holds the validated object (an answer that was stopped: its partial object). An answer that
does not fit the schema fails the cell with one line; the raw text stays shown. With ``--agent``
the schema is the agent's ``output_type`` (rlm_toolkit.agents.output) and ``-o`` holds its answer.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError

__all__ = ["resolve_schema", "typed_answer", "typed_final"]

_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
_LIST = re.compile(r"^list\[\s*([A-Za-z_][\w.]*)\s*\]$")


def _lookup(name: str, namespace: dict[str, Any]) -> Any:
    head, *rest = name.split(".")
    if head not in namespace:
        raise KeyError(name)
    value = namespace[head]
    for part in rest:
        value = getattr(value, part)
    return value


def resolve_schema(spec: str | None, namespace: dict[str, Any]) -> Any:
    """The toolkit Schema ``--schema`` names, or None; a one-line UsageError for a bad one."""
    if spec is None:
        return None
    from rlm_toolkit.errors import UsageError as ToolkitUsageError
    from rlm_toolkit.typed import Schema

    spec = spec.strip()
    listed = _LIST.match(spec)
    target: Any = spec
    try:
        if listed:
            target = list[_lookup(listed[1], namespace)]  # type: ignore[misc]  # a type built from a name
        elif _NAME.match(spec) and (spec[0].isupper() or "." in spec or spec in namespace):
            target = _lookup(spec, namespace)
    except (KeyError, AttributeError):
        raise UsageError(f"--schema {spec}: no such class in the notebook (define it first, or give "
                         "fields: --schema 'name, age int')") from None
    try:
        return Schema.of(target)
    except ToolkitUsageError as error:
        raise UsageError(f"--schema: {error.message}") from None


def typed_final(view: Any, schema: Any) -> Any:
    """What ``-o`` holds after ``%%rlm --agent``: the final answer's text, or with ``--schema`` the
    validated object (the final event's JSON, which the agent validated; None when the run ended
    without one: it failed, was stopped, or ran out of steps)."""
    timeline = view.timeline
    if schema is None:
        return timeline.final or ""
    from rlm_toolkit.errors import StructuredOutputError

    if timeline.state != "done" or timeline.final is None:
        return None
    try:
        return schema.validate(timeline.final)
    except StructuredOutputError:  # a final that is no answer (max_steps' explanation)
        return None


def typed_answer(view: Any, schema: Any) -> tuple[Any, Exception | None]:
    """What ``-o`` holds for a typed answer that has ended: the validated object (and None), or
    the partial object of a stopped answer, or (None, the StructuredOutputError)."""
    from rlm_toolkit.errors import StructuredOutputError

    text = view.answer
    if view.state != "done":
        return schema.partial(text), None
    try:
        return schema.validate(text), None
    except StructuredOutputError as error:
        return None, error
