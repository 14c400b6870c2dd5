"""The spans of an OTLP/JSON export, read as untrusted input: typed access to every field a GenAI
span carries (times, ids, attributes and their values), a span of the wrong shape refused as
:class:`BadSpan` (skipped and named by the caller), and each span's agent found once.

:mod:`rlm_toolkit.otel.otlp_import` builds traces from what this module reads.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from .._json_depth import CUT_DEPTH, TOO_DEEP, loads
from .genai import names

__all__ = ["Span", "BadSpan", "spans_of", "agents_of", "shown", "MAX_PROBLEMS"]

_CHAT_OPERATIONS = {"chat", "text_completion", "generate_content"}

MAX_PROBLEMS = 20  # problems listed one by one; the rest are counted
_MAX_NANOS = 2**64  # OTLP times are fixed64 nanoseconds since the epoch
_INT64 = 2**63
_INT_TEXT = re.compile(r"-?[0-9]{1,20}")


class BadSpan(Exception):
    """What is wrong with one span: it is skipped and listed in ``problems``."""


def shown(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 128:
        return "a very large integer"
    text = repr(value) if isinstance(value, (str, int, float)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _hex(value: Any, field: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise BadSpan(f"{field!r} must be a hex or base64 string, not {shown(value)}")
    if len(value) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    try:  # protobuf's generic JSON mapping writes ids as base64
        return base64.b64decode(value).hex()
    except (ValueError, binascii.Error):
        return value


def _seconds(value: Any, field: str) -> float | None:
    """A time in nanoseconds (a count, or its decimal text, as the JSON mapping writes uint64) → seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _MAX_NANOS:
        raise BadSpan(f"{field!r} must be nanoseconds since 1970 (a count), not {shown(value)}")
    return value / 1e9


def _int(value: Any) -> int | None:
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64:
        return value
    return None


def _value(any_value: Any, key: str, levels: int = CUT_DEPTH) -> Any:
    """An attribute's ``AnyValue`` as a Python value; lists and maps nested deeper than
    ``CUT_DEPTH`` are cut to a marker."""
    if any_value is None:
        return None
    if not isinstance(any_value, dict):
        raise BadSpan(f"attribute {key!r}: the value must be an AnyValue object, not {shown(any_value)}")
    for name, kinds in (("stringValue", str), ("boolValue", bool)):
        if name in any_value:
            if not isinstance(any_value[name], kinds):
                raise BadSpan(f"attribute {key!r}: {name} cannot be {shown(any_value[name])}")
            return any_value[name]
    if "doubleValue" in any_value:
        raw = any_value["doubleValue"]
        if isinstance(raw, str) and raw in ("NaN", "Infinity", "-Infinity"):
            return float(raw)
        if isinstance(raw, float) or (_is_int(raw) and raw.bit_length() < 1000):
            return float(raw)
        raise BadSpan(f"attribute {key!r}: doubleValue cannot be {shown(raw)}")
    if "intValue" in any_value:
        number = _int(any_value["intValue"])
        if number is None:
            raise BadSpan(f"attribute {key!r}: intValue must be a 64-bit integer, not "
                           f"{shown(any_value['intValue'])}")
        return number
    for name in ("arrayValue", "kvlistValue"):
        if name in any_value:
            if levels <= 0:
                return TOO_DEEP
            values = any_value[name].get("values") if isinstance(any_value[name], dict) else None
            if not isinstance(values, list) and values is not None:
                raise BadSpan(f"attribute {key!r}: {name} must hold a list of values")
            if name == "arrayValue":
                return [_value(v, key, levels - 1) for v in values or ()]
            return dict(_pair(kv, key, levels - 1) for kv in values or ())
    return None


def _pair(kv: Any, key: str, levels: int = CUT_DEPTH) -> tuple[str, Any]:
    """One ``{key, value}`` of a span's attributes or of a kvlistValue."""
    if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
        raise BadSpan(f"attributes must be {{key, value}} objects with a string key, not {shown(kv)}")
    return kv["key"], _value(kv.get("value"), kv["key"], levels)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _attribute_checks() -> dict[str, tuple[str, Any]]:
    """The GenAI attributes rlm reads, and what each must hold (another type skips the span)."""
    n = names()
    text = ("a string", lambda v: isinstance(v, str))
    number = ("a number", _is_number)
    count = ("a whole number", _is_count)
    return {
        n.GEN_AI_OPERATION_NAME: text, n.GEN_AI_REQUEST_MODEL: text, n.GEN_AI_RESPONSE_MODEL: text,
        n.GEN_AI_PROVIDER_NAME: text, "gen_ai.system": text, n.GEN_AI_TOOL_NAME: text,
        n.GEN_AI_TOOL_CALL_ID: text, n.ERROR_TYPE: text, n.MCP_SERVER_NAME: text,
        n.GEN_AI_REQUEST_TEMPERATURE: number, n.GEN_AI_REQUEST_TOP_P: number,
        n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: number,
        n.GEN_AI_REQUEST_MAX_TOKENS: count, n.GEN_AI_REQUEST_SEED: ("a whole number", _is_int),
        n.GEN_AI_USAGE_INPUT_TOKENS: count, n.GEN_AI_USAGE_OUTPUT_TOKENS: count,
        n.GEN_AI_RESPONSE_FINISH_REASONS: (
            "a list of strings", lambda v: isinstance(v, list) and all(isinstance(r, str) for r in v)
        ),
        n.GEN_AI_INPUT_MESSAGES: ("JSON text or a list", lambda v: isinstance(v, (str, list))),
        n.GEN_AI_OUTPUT_MESSAGES: ("JSON text or a list", lambda v: isinstance(v, (str, list))),
    }


class Span:
    __slots__ = ("id", "parent", "name", "start", "end", "attrs", "failed", "status", "operation")

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise BadSpan(f"a span must be a JSON object, not {shown(raw)}")
        self.id = _hex(raw.get("spanId"), "spanId")
        self.parent = _hex(raw.get("parentSpanId"), "parentSpanId")
        name = raw.get("name", "")
        if not isinstance(name, str):
            raise BadSpan(f"'name' must be a string, not {shown(name)}")
        self.name = name
        start = _seconds(raw.get("startTimeUnixNano"), "startTimeUnixNano")
        end = _seconds(raw.get("endTimeUnixNano"), "endTimeUnixNano")
        self.start = start or 0.0
        self.end = end if end is not None else self.start
        attributes = raw.get("attributes")
        if not isinstance(attributes, list) and attributes is not None:
            raise BadSpan(f"'attributes' must be a list, not {shown(attributes)}")
        self.attrs = dict(_pair(a, "attributes") for a in attributes or ())
        for key, (what, check) in _attribute_checks().items():
            if self.attrs.get(key) is not None and not check(self.attrs[key]):
                raise BadSpan(f"attribute {key!r} must be {what}, not {shown(self.attrs[key])}")
        status = raw.get("status")
        if status is None:
            status = {}
        if not isinstance(status, dict) or not isinstance(status.get("message") or "", str):
            raise BadSpan(f"'status' must be an object with a string message, not {shown(status)}")
        error_type = names().ERROR_TYPE
        self.failed = status.get("code") in (2, "STATUS_CODE_ERROR") or error_type in self.attrs
        self.status = str(status.get("message") or self.attrs.get(error_type) or "")
        operation = self.attrs.get(names().GEN_AI_OPERATION_NAME) or self.name.split(" ", 1)[0]
        self.operation = "chat" if operation in _CHAT_OPERATIONS else operation

    def get(self, attribute: str, default: Any = None) -> Any:
        return self.attrs.get(attribute, default)

    def output_parts(self) -> list[dict[str, Any]] | None:
        """The parts of the output messages, each a dict whose ``id`` and ``name`` are strings or None."""
        raw = self.get(names().GEN_AI_OUTPUT_MESSAGES)
        if raw is None:
            return None
        try:
            messages = loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return None
        parts = [
            p
            for m in (messages if isinstance(messages, list) else ())
            if isinstance(m, dict) and isinstance(m.get("parts"), list)
            for p in m["parts"]
            if isinstance(p, dict)
        ]
        return [
            {**p, "id": p.get("id") if isinstance(p.get("id"), str) else None,
             "name": p.get("name") if isinstance(p.get("name"), str) else None}
            for p in parts
        ]


def spans_of(data: dict[str, Any], problems: list[str]) -> list[Span]:
    """The readable spans of one export request; what cannot be read goes to ``problems``."""
    out = []

    def items(value: Any, where: str) -> list[Any]:
        if isinstance(value, list):
            return value
        if value is not None:
            problems.append(f"{where}: must be a list, not {shown(value)}")
        return []

    for r, resource in enumerate(items(data.get("resourceSpans"), "resourceSpans")):
        where = f"resourceSpans[{r}]"
        if not isinstance(resource, dict):
            problems.append(f"{where}: must be an object, not {shown(resource)}")
            continue
        scopes = resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans")
        for s, scope in enumerate(items(scopes, f"{where}.scopeSpans")):
            if not isinstance(scope, dict):
                problems.append(f"{where}.scopeSpans[{s}]: must be an object, not {shown(scope)}")
                continue
            for k, raw in enumerate(items(scope.get("spans"), f"{where}.scopeSpans[{s}].spans")):
                try:
                    out.append(Span(raw))
                except BadSpan as problem:
                    name = raw.get("name") if isinstance(raw, dict) else None
                    label = f" ({name[:40]!r})" if isinstance(name, str) and name else ""
                    problems.append(f"{where}.scopeSpans[{s}].spans[{k}]{label}: {problem}")
    return out


def agents_of(spans: list[Span]) -> dict[str, Span | None]:
    """Each span's nearest ``invoke_agent`` ancestor, by the span's parent id; linear in the spans
    (each span's ancestry is walked once, and a cycle of parents ends the walk)."""
    by_id = {s.id: s for s in spans}
    above: dict[str, Span | None] = {}  # span id → the agent at or above that span

    def at_or_above(span_id: str) -> Span | None:
        path: list[str] = []
        seen: set[str] = set()
        found: Span | None = None
        node = by_id.get(span_id)
        while node is not None and node.id not in seen:
            if node.id in above:
                found = above[node.id]
                break
            if node.operation == "invoke_agent":
                found = node
                break
            seen.add(node.id)
            path.append(node.id)
            node = by_id.get(node.parent)
        for passed in path:
            above[passed] = found
        return found

    return {s.parent: at_or_above(s.parent) for s in spans}
