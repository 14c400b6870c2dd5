"""JSON schema from a Python signature and docstring, and argument checking against it.

Only the subset tools need: str/int/float/bool, list/tuple/set[...], dict[...], Optional/Union,
Literal, Enum, Annotated[X, "description"] and defaults. Docstrings may be Google style
(``Args:``), NumPy style (``Parameters`` + ``----------``) or Sphinx style (``:param x:``).
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._json_depth import loads
from ..errors import UsageError, describe

__all__ = ["function_schema", "parse_docstring", "check_arguments", "ToolInputError"]

_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_SECTION = re.compile(
    r"^(args|arguments|parameters|params|keyword args|returns?|yields?|raises|examples?|notes?|"
    r"see also|attributes|references)\s*:?\s*$",
    re.I,
)
_PARAM_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args"}


class ToolInputError(ValueError):
    """The arguments a model gave do not fit the tool's schema (the message says how)."""


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """``(description, {param: description})`` from a Google, NumPy or Sphinx docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    i, in_summary = 0, True
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        sphinx = re.match(r":param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)", stripped)
        if sphinx:
            params[sphinx.group(1)] = sphinx.group(2).strip()
            in_summary = False
            i += 1
            continue
        numpy = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip() or "x")
        header = _SECTION.match(stripped) if (stripped.endswith(":") or numpy) else None
        if header:
            in_summary = False
            name = header.group(1).lower()
            i += 2 if numpy else 1
            body: list[str] = []
            while i < len(lines) and not _ends_section(lines, i, bool(numpy)):
                body.append(lines[i])
                i += 1
            if name in _PARAM_SECTIONS:
                params.update(_param_entries(body))
            continue
        if in_summary and not stripped.startswith(":"):
            summary.append(stripped)
        i += 1
    text = "\n".join(summary).strip()
    description = re.sub(r"(?<!\n)\n(?!\n)", " ", text)  # unwrap paragraphs, keep blank lines
    return description, params


def _ends_section(lines: list[str], i: int, numpy: bool) -> bool:
    line = lines[i]
    if not line.strip():
        return False
    nxt_rule = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip() or "x")
    if numpy:
        return bool(nxt_rule)
    return not line[:1].isspace() and bool(_SECTION.match(line.strip()) or line.strip().startswith(":"))


def _param_entries(body: list[str]) -> dict[str, str]:
    """Entries like ``name (type): text`` / ``name : type`` with indented continuation lines."""
    body = [b for b in body]
    indents = [len(b) - len(b.lstrip()) for b in body if b.strip()]
    base = min(indents) if indents else 0
    out: dict[str, str] = {}
    current: str | None = None
    for line in body:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        text = line.strip()
        entry = re.match(r"\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$", text) if indent == base else None
        if entry:
            current = entry.group(1)
            rest = entry.group(3).strip()
            # NumPy "name : type" puts the type after the colon and the text on the next lines.
            out[current] = "" if (not entry.group(2) and " : " in text and _looks_like_type(rest)) else rest
        elif indent == base and re.fullmatch(r"\w+", text):
            current = text
            out[current] = ""
        elif current is not None:
            out[current] = f"{out[current]} {text}".strip()
    return out


def _looks_like_type(text: str) -> bool:
    return bool(re.fullmatch(r"[\w\[\], .|]*(optional)?", text, re.I))


def type_schema(tp: Any, where: str) -> dict[str, Any]:
    """The JSON schema of one annotation; ``where`` names it in the error for unsupported types."""
    if tp is inspect.Parameter.empty or tp is Any or tp is object:
        return {}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        inner = type_schema(args[0], where)
        notes = [a for a in args[1:] if isinstance(a, str)]
        return {**inner, "description": notes[0]} if notes else inner
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if origin is typing.Literal:
        kinds = {_SCALARS.get(type(a)) for a in args}
        schema: dict[str, Any] = {"enum": list(args)}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if origin is typing.Union or origin is getattr(types, "UnionType", None):
        options = [type_schema(a, where) for a in args]
        return {"anyOf": options}
    if tp in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset, Sequence):
        homogeneous = origin is not tuple or (len(args) == 2 and args[1] is Ellipsis) or len(set(args)) == 1
        item = args[0] if args and homogeneous else None
        return {"type": "array", **({"items": type_schema(item, where)} if item is not None else {})}
    if tp is dict or origin in (dict, Mapping):
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = type_schema(args[1], where)
        return schema
    raise UsageError(
        f"{where} is annotated {tp!r}, which has no JSON schema; use str, int, float, bool, list[...], "
        "dict[...], Optional[...] or Literal[...]"
    )


def function_schema(fn: Callable[..., Any], name: str) -> tuple[str, dict[str, Any]]:
    """``(description, parameters schema)`` for a tool function; UsageError if it cannot be one."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as error:
        raise UsageError(f"tool {name!r}: cannot read its signature ({error})") from None
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as error:
        raise UsageError(f"tool {name!r}: its type hints do not resolve ({describe(error)})") from None
    description, docs = parse_docstring(inspect.getdoc(fn))
    properties: dict[str, Any] = {}
    required: list[str] = []
    open_ended = False
    for param in signature.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            open_ended = True
            continue
        if param.kind is param.VAR_POSITIONAL:
            raise UsageError(f"tool {name!r}: *{param.name} cannot be filled from JSON; use a list parameter")
        schema = dict(
            type_schema(hints.get(param.name, param.annotation), f"parameter {param.name!r} of tool {name!r}")
        )
        if docs.get(param.name) and "description" not in schema:
            schema["description"] = docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif _jsonable(param.default):
            schema["default"] = param.default.value if isinstance(param.default, enum.Enum) else param.default
        properties[param.name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if open_ended:
        parameters["additionalProperties"] = True
    return description, parameters


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value.value if isinstance(value, enum.Enum) else value)
    except (TypeError, ValueError):
        return False
    return True


def check_arguments(args: Any, schema: Mapping[str, Any]) -> dict[str, Any]:
    """Validate (and safely coerce: "3" → 3, 3 → 3.0, "true" → True) a tool call's arguments."""
    if not isinstance(args, dict):
        raise ToolInputError(f"arguments must be a JSON object, got {_kind(args)}")
    properties = schema.get("properties") or {}
    missing = [p for p in schema.get("required", ()) if p not in args]
    if missing:
        raise ToolInputError(f"missing required argument(s): {', '.join(missing)}")
    unknown = [k for k in args if k not in properties]
    if unknown and not schema.get("additionalProperties"):
        known = ", ".join(properties) or "none"
        raise ToolInputError(f"unknown argument(s): {', '.join(unknown)} (known: {known})")
    return {k: _check(v, properties.get(k, {}), k) for k, v in args.items()}


def _check(value: Any, schema: Mapping[str, Any], path: str) -> Any:
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                return _check(value, option, path)
            except ToolInputError as error:
                errors.append(str(error))
        raise ToolInputError(f"argument {path!r}: {_kind(value)} fits none of the allowed types")
    if "enum" in schema:
        for option in schema["enum"]:
            if value == option and type(value) is type(option) or str(value) == str(option):
                return option
        raise ToolInputError(f"argument {path!r}: {value!r} is not one of {schema['enum']!r}")
    kind = schema.get("type")
    if kind is None:
        return value
    coerced = _coerce(value, kind)
    if coerced is _BAD:
        raise ToolInputError(f"argument {path!r}: expected {kind}, got {_kind(value)}")
    if kind == "array" and "items" in schema:
        return [_check(v, schema["items"], f"{path}[{i}]") for i, v in enumerate(coerced)]
    if (
        kind == "object"
        and "additionalProperties" in schema
        and isinstance(schema["additionalProperties"], dict)
    ):
        return {k: _check(v, schema["additionalProperties"], f"{path}.{k}") for k, v in coerced.items()}
    return coerced


_BAD = object()


def _coerce(value: Any, kind: str) -> Any:
    if kind == "string":
        if isinstance(value, str):
            return value
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _BAD
    if kind == "integer":
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return int(value)
        return _BAD
    if kind == "number":
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return _BAD
        return _BAD
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return _BAD
    if kind == "array":
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                parsed = loads(value)
            except ValueError:
                return _BAD
            return parsed if isinstance(parsed, list) else _BAD
        return _BAD
    if kind == "object":
        return value if isinstance(value, dict) else _BAD
    if kind == "null":
        return None if value is None else _BAD
    return value


def _kind(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "an array",
             dict: "an object", type(None): "null"}
    text = json.dumps(value, default=str)
    return f"{names.get(type(value), type(value).__name__)} {text[:60]}"
