"""What a typed answer must look like: one :class:`Schema` from whatever the caller gave.

``schema=`` takes a pydantic model, a dataclass, a TypedDict, ``list[Model]`` or any type
pydantic can validate (a validated instance comes back), a JSON Schema dict (a plain value comes
back, checked by ``jsonschema``), or llm's concise text (``"name, age int"``). Every provider is
sent the same *wire* schema, whose root is an object (OpenAI's strict mode and Anthropic's tool
input take nothing else): a schema whose root is not an object is sent wrapped as
``{"value": …}``, and the wrapper is taken off again here.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from typing import Any

from ..errors import MissingDependencyError, StructuredOutputError, UsageError
from .concise import concise_schema

__all__ = ["Schema", "WRAPPER", "MAX_SCHEMA_CHARS", "MAX_RETRIES", "MAX_FEEDBACK_CHARS",
           "MAX_FEEDBACK_ERRORS", "AGAIN", "check_retries"]

#: The key a schema whose root is not an object is wrapped in on the wire.
WRAPPER = "value"
#: A larger schema is a mistake (it would be sent with every request).
MAX_SCHEMA_CHARS = 256_000
#: More retries of an answer that does not fit than this is a mistake: each one is a whole model call.
MAX_RETRIES = 10
#: The validation errors sent back to the model are cut to this many characters...
MAX_FEEDBACK_CHARS = 2000
#: ... and this many errors (each cut to ``_ERROR_CHARS``).
MAX_FEEDBACK_ERRORS = 8
_ERROR_CHARS = 200
#: What a model is asked after the errors of an answer that did not fit.
AGAIN = "Answer again with only JSON that fits it."
_NAME = re.compile(r"[^A-Za-z0-9_-]")
_PARTIAL: typing.Literal["trailing-strings"] = "trailing-strings"

try:
    import pydantic
    import pydantic_core
except ImportError:  # pragma: no cover - the `schema` extra is missing
    pydantic = None  # type: ignore[assignment]  # checked by Schema.of before any use


@dataclass(frozen=True, eq=False)
class Schema:
    """A typed answer's schema: its name, the wire schema, and how to validate a value of it."""

    name: str
    json_schema: dict[str, Any]  #: the value's own schema
    wire: dict[str, Any]  #: what providers are sent: an object at the root
    wrapped: bool  #: whether ``wire`` wraps ``json_schema`` in ``{"value": …}``
    is_list: bool  #: a list at the root: its elements are handed out one by one
    adapter: Any = None  #: pydantic's TypeAdapter of the wire form; None for a JSON Schema dict
    item_adapter: Any = None  #: a list's element TypeAdapter

    @classmethod
    def of(cls, spec: Any) -> Schema:
        """The schema of ``spec``; a :class:`UsageError` before anything is sent if it cannot be one."""
        if isinstance(spec, Schema):
            return spec
        if pydantic is None:
            raise MissingDependencyError("typed answers need pydantic: pip install 'rlm[schema]'")
        if isinstance(spec, str):
            spec = concise_schema(spec)
        if isinstance(spec, dict):
            return cls._of_json_schema(spec)
        return cls._of_type(spec)

    @classmethod
    def _of_type(cls, spec: Any) -> Schema:
        try:
            adapter = pydantic.TypeAdapter(spec)
            own = adapter.json_schema()
        except (pydantic.PydanticUserError, pydantic.errors.PydanticSchemaGenerationError, TypeError,
                ValueError) as error:
            raise UsageError(f"cannot use {spec!r} as a schema: {str(error).splitlines()[0]}") from None
        origin = typing.get_origin(spec)
        args = typing.get_args(spec)
        is_list = origin is list and len(args) == 1
        name = getattr(spec, "__name__", None) if origin is None else None
        if is_list:
            name = f"list_of_{getattr(args[0], '__name__', 'item')}"
        wrapped = own.get("type") != "object"
        if wrapped:
            import typing_extensions  # pydantic's own dependency; it wants this TypedDict before 3.12

            wrapper = typing_extensions.TypedDict("Answer", {WRAPPER: spec})  # type: ignore[misc]  # made at run time
            adapter = pydantic.TypeAdapter(wrapper)
        wire = adapter.json_schema()
        item = pydantic.TypeAdapter(args[0]) if is_list else None
        return cls._checked(name or "answer", own, wire, wrapped, is_list, adapter, item)

    @classmethod
    def _of_json_schema(cls, spec: dict[str, Any]) -> Schema:
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(spec)
        except jsonschema.SchemaError as error:
            raise UsageError(f"not a JSON Schema: {error.message}") from None
        wrapped = spec.get("type") != "object"
        wire = spec
        if wrapped:
            inner = {k: v for k, v in spec.items() if k not in ("$defs", "definitions")}
            wire = {"type": "object", "properties": {WRAPPER: inner}, "required": [WRAPPER],
                    "additionalProperties": False}
            wire.update({k: v for k, v in spec.items() if k in ("$defs", "definitions")})
        is_list = spec.get("type") == "array"
        name = str(spec.get("title") or "answer")
        return cls._checked(name, spec, wire, wrapped, is_list, None, None)

    @classmethod
    def _checked(cls, name: str, own: dict[str, Any], wire: dict[str, Any], wrapped: bool, is_list: bool,
                 adapter: Any, item: Any) -> Schema:
        size = len(json.dumps(wire))
        if size > MAX_SCHEMA_CHARS:
            raise UsageError(f"a schema of {size:,} characters as JSON (the limit is {MAX_SCHEMA_CHARS:,})")
        name = _NAME.sub("_", name)[:64] or "answer"
        return cls(name, own, wire, wrapped, is_list, adapter, item)

    # -- for providers --------------------------------------------------------------------------

    def strict(self) -> dict[str, Any] | None:
        """The wire schema in OpenAI's strict form (every object closed, every property required),
        or None when the schema does not allow it (an optional property, open objects)."""
        return _strict(self.wire, 0)

    # -- validation ------------------------------------------------------------------------------

    def validate(self, text: str, **where: Any) -> Any:
        """The value of the whole answer, strictly; a :class:`StructuredOutputError` keeping ``text``."""
        if self.adapter is not None:
            try:
                value = self.adapter.validate_json(text)
            except pydantic.ValidationError as error:
                raise self.error(text, _errors(error), **where) from None
            return value[WRAPPER] if self.wrapped else value
        try:
            data = pydantic_core.from_json(text)
        except ValueError as error:
            found = [{"loc": (), "msg": str(error), "type": "json_invalid"}]
            raise self.error(text, found, **where) from None
        import jsonschema

        validator = jsonschema.Draft202012Validator(self.wire)
        found = [{"loc": tuple(e.absolute_path), "msg": e.message, "type": str(e.validator)}
                 for e in validator.iter_errors(data)]
        if found:
            raise self.error(text, found[:100], **where)
        return data[WRAPPER] if self.wrapped else data

    def partial(self, text: str) -> Any:
        """A lenient value of an unfinished answer (strings may be cut), or None if it has none yet.
        A JSON Schema dict's partial values are parsed, not validated (the end is)."""
        try:
            if self.adapter is not None:
                value = self.adapter.validate_json(text, experimental_allow_partial=_PARTIAL)
            else:
                value = pydantic_core.from_json(text, allow_partial=_PARTIAL)
        except ValueError:  # pydantic's ValidationError is a ValueError: not valid yet
            return None
        if self.wrapped:
            return value.get(WRAPPER) if isinstance(value, dict) else None
        return value

    def item(self, text: str) -> tuple[bool, Any]:
        """A list's complete element from its JSON text: (valid, value)."""
        try:
            if self.item_adapter is not None:
                return True, self.item_adapter.validate_json(text)
            return True, pydantic_core.from_json(text)
        except ValueError:
            return False, None

    def error(self, text: str, errors: list[dict[str, Any]], *, partial_object: Any = None,
              provider: str | None = None, model: str | None = None) -> StructuredOutputError:
        first = errors[0] if errors else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != WRAPPER or not self.wrapped)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return StructuredOutputError(
            f"the answer does not fit the schema {self.name}: {where + ': ' if where else ''}"
            f"{first['msg']}{more}",
            raw_text=text, errors=errors, partial_object=partial_object, provider=provider, model=model)

    def to_dict(self) -> dict[str, Any]:
        """What traces, spans and web streams record of it: ``{"name", "json_schema"}`` (the
        value's own schema; a root that is not an object went out wrapped in ``{"value": …}``)."""
        return {"name": self.name, "json_schema": self.json_schema}

    def feedback(self, error: StructuredOutputError, again: str = AGAIN) -> str:
        """What a model is told when its answer did not fit: the validator's messages (never the
        answer itself), at most ``MAX_FEEDBACK_ERRORS`` of them, each and all cut; then ``again``."""
        lines = []
        for found in error.errors[:MAX_FEEDBACK_ERRORS]:
            loc = ".".join(str(p) for p in found.get("loc", ()) if p != WRAPPER or not self.wrapped)
            line = f"- {loc + ': ' if loc else ''}{found.get('msg', 'invalid')}"
            lines.append(line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 1] + "…")
        more = len(error.errors) - len(lines)
        if more > 0:
            lines.append(f"- (and {more} more)")
        body = "\n".join(lines)
        head = f"Your answer does not fit the schema {self.name}:\n"
        room = MAX_FEEDBACK_CHARS - len(head) - len(again) - 2
        if len(body) > room:
            body = body[: max(0, room - 1)] + "…"
        return f"{head}{body}\n{again}"[:MAX_FEEDBACK_CHARS]

    def __repr__(self) -> str:
        return f"Schema({self.name!r})"


def check_retries(retries: Any) -> int:
    """``output_retries`` checked: a whole number from 0 to ``MAX_RETRIES``, else a UsageError."""
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        raise UsageError(f"output_retries must be a whole number from 0 to {MAX_RETRIES}, not {retries!r}")
    return retries


def _errors(error: Any) -> list[dict[str, Any]]:
    return [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]}
            for e in error.errors(include_url=False, include_input=False)][:100]


def _strict(node: Any, depth: int) -> Any:
    """OpenAI's strict form of a schema node, or None if it cannot be strict."""
    if depth > 64:
        return None
    if isinstance(node, list):
        out = [_strict(n, depth + 1) for n in node]
        return None if any(o is None for o in out) else out
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            inner = {k: _strict(v, depth + 1) for k, v in value.items()}
            if any(v is None for v in inner.values()):
                return None
            result[key] = inner
        elif key in ("items", "anyOf", "allOf", "oneOf", "additionalProperties", "prefixItems") \
                and isinstance(value, (dict, list)):
            inner_value = _strict(value, depth + 1)
            if inner_value is None:
                return None
            result[key] = inner_value
        else:
            result[key] = value
    if node.get("type") == "object" or "properties" in node:
        properties = node.get("properties") or {}
        if set(node.get("required") or ()) != set(properties) or node.get("additionalProperties", False):
            return None
        result["additionalProperties"] = False
    return result
