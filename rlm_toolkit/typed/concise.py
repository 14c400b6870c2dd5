"""simonw/llm's concise schema syntax: ``"name, age int, bio: a short biography"``.

Fields are separated by commas, or by newlines when there are any (then a description may hold
commas). Each field is ``name [type][: description]``; the types are ``str`` (the default),
``int``, ``float`` and ``bool``. Every field is required. The result is a JSON Schema dict.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError

__all__ = ["concise_schema", "MAX_FIELDS"]

#: More fields than this is not a concise schema; write a class.
MAX_FIELDS = 200
_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_FIELD = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]{0,63})(?:\s+(?P<type>\w+))?\s*(?::\s*(?P<doc>.*))?$")


def concise_schema(spec: str) -> dict[str, Any]:
    """The JSON Schema of a concise spec; a :class:`UsageError` naming the field it cannot read.

    >>> concise_schema("name, age int")["properties"]["age"]
    {'type': 'integer'}
    """
    parts = [p.strip() for p in (spec.splitlines() if "\n" in spec else spec.split(","))]
    parts = [p for p in parts if p]
    if not parts:
        raise UsageError("an empty schema: name the fields, e.g. 'name, age int, bio: a short biography'")
    if len(parts) > MAX_FIELDS:
        raise UsageError(f"a concise schema of {len(parts)} fields (the limit is {MAX_FIELDS}): "
                         "write a class")
    properties: dict[str, Any] = {}
    for part in parts:
        match = _FIELD.match(part)
        kind = match and (match["type"] or "str")
        if match is None or kind not in _TYPES:
            raise UsageError(f"cannot read the schema field {part[:80]!r}: write 'name [str|int|float|bool]"
                             "[: description]'")
        prop: dict[str, Any] = {"type": _TYPES[str(kind)]}
        if match["doc"]:
            prop["description"] = match["doc"].strip()
        if match["name"] in properties:
            raise UsageError(f"the schema names the field {match['name']!r} twice")
        properties[match["name"]] = prop
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}
