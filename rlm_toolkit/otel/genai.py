"""The OpenTelemetry GenAI semantic conventions as rlm uses them: attribute names and message shapes.

Names come from ``opentelemetry-semantic-conventions`` when it is installed (``pip install
'rlm[otel]'``), so a rename upstream is a dependency bump; the literal beside each constant is
only used when the package is absent (reading an OTLP/JSON file needs no OpenTelemetry at all).
Exporting (:mod:`~rlm_toolkit.otel.spans`) and importing (:mod:`~rlm_toolkit.otel.otlp_import`) both
take their names from here.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any

from .._json_depth import loads

__all__ = ["names", "split_model", "to_genai_messages", "from_genai_messages", "capture_content_default"]

#: Constant name in ``opentelemetry.semconv`` → the attribute name it had when this was written.
_FALLBACK = {
    "GEN_AI_OPERATION_NAME": "gen_ai.operation.name",
    "GEN_AI_PROVIDER_NAME": "gen_ai.provider.name",
    "GEN_AI_REQUEST_MODEL": "gen_ai.request.model",
    "GEN_AI_REQUEST_TEMPERATURE": "gen_ai.request.temperature",
    "GEN_AI_REQUEST_MAX_TOKENS": "gen_ai.request.max_tokens",
    "GEN_AI_REQUEST_TOP_P": "gen_ai.request.top_p",
    "GEN_AI_REQUEST_SEED": "gen_ai.request.seed",
    "GEN_AI_REQUEST_STOP_SEQUENCES": "gen_ai.request.stop_sequences",
    "GEN_AI_RESPONSE_MODEL": "gen_ai.response.model",
    "GEN_AI_RESPONSE_FINISH_REASONS": "gen_ai.response.finish_reasons",
    "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK": "gen_ai.response.time_to_first_chunk",
    "GEN_AI_USAGE_INPUT_TOKENS": "gen_ai.usage.input_tokens",
    "GEN_AI_USAGE_OUTPUT_TOKENS": "gen_ai.usage.output_tokens",
    "GEN_AI_TOOL_NAME": "gen_ai.tool.name",
    "GEN_AI_TOOL_TYPE": "gen_ai.tool.type",
    "GEN_AI_TOOL_CALL_ID": "gen_ai.tool.call.id",
    "GEN_AI_TOOL_CALL_ARGUMENTS": "gen_ai.tool.call.arguments",
    "GEN_AI_TOOL_CALL_RESULT": "gen_ai.tool.call.result",
    "GEN_AI_AGENT_NAME": "gen_ai.agent.name",
    "GEN_AI_INPUT_MESSAGES": "gen_ai.input.messages",
    "GEN_AI_OUTPUT_MESSAGES": "gen_ai.output.messages",
    "GEN_AI_OUTPUT_TYPE": "gen_ai.output.type",
    "ERROR_TYPE": "error.type",
    # Not a GenAI name: the MCP server an execute_tool span's tool came from (rlm_toolkit.mcp).
    "MCP_SERVER_NAME": "mcp.server.name",
    # Not a GenAI name: a typed answer's schema, {"name", "json_schema"} as JSON (rlm_toolkit.typed).
    "RLM_OUTPUT_SCHEMA": "rlm.output.schema",
}

#: The environment switch other GenAI instrumentations use for the same opt-in.
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


class _Names:
    """Attribute names as attributes: ``names().GEN_AI_TOOL_NAME == "gen_ai.tool.name"``."""

    GEN_AI_OPERATION_NAME: str
    GEN_AI_PROVIDER_NAME: str
    GEN_AI_REQUEST_MODEL: str
    GEN_AI_REQUEST_TEMPERATURE: str
    GEN_AI_REQUEST_MAX_TOKENS: str
    GEN_AI_REQUEST_TOP_P: str
    GEN_AI_REQUEST_SEED: str
    GEN_AI_REQUEST_STOP_SEQUENCES: str
    GEN_AI_RESPONSE_MODEL: str
    GEN_AI_RESPONSE_FINISH_REASONS: str
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: str
    GEN_AI_USAGE_INPUT_TOKENS: str
    GEN_AI_USAGE_OUTPUT_TOKENS: str
    GEN_AI_TOOL_NAME: str
    GEN_AI_TOOL_TYPE: str
    GEN_AI_TOOL_CALL_ID: str
    GEN_AI_TOOL_CALL_ARGUMENTS: str
    GEN_AI_TOOL_CALL_RESULT: str
    GEN_AI_AGENT_NAME: str
    GEN_AI_INPUT_MESSAGES: str
    GEN_AI_OUTPUT_MESSAGES: str
    GEN_AI_OUTPUT_TYPE: str
    ERROR_TYPE: str
    MCP_SERVER_NAME: str
    RLM_OUTPUT_SCHEMA: str

    def __init__(self, table: dict[str, str], source: str) -> None:
        for constant, name in table.items():
            setattr(self, constant, name)
        self.source = source  # which module the names came from (shown in tests and docs)


@lru_cache(maxsize=1)
def names() -> _Names:
    """The attribute names, from ``opentelemetry-semantic-conventions`` where it defines them."""
    table = dict(_FALLBACK)
    source = "rlm_toolkit.otel.genai (opentelemetry-semantic-conventions not installed)"
    try:
        from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
        from opentelemetry.semconv.attributes import error_attributes as error
    except ImportError:
        return _Names(table, source)
    for constant in table:
        module = error if constant == "ERROR_TYPE" else gen_ai
        value = getattr(module, constant, None)
        if isinstance(value, str):
            table[constant] = value
    return _Names(table, "opentelemetry.semconv")


def capture_content_default() -> bool:
    """Message content goes into spans only on request (the conventions' opt-in rule)."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in ("1", "true", "yes")


def split_model(model_id: str | None) -> tuple[str | None, str | None]:
    """``"openai:gpt-4o"`` → ``("openai", "gpt-4o")``; a bare model name has no provider."""
    if not model_id:
        return None, None
    provider, sep, model = str(model_id).partition(":")
    return (provider, model) if sep else (None, provider)


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def to_genai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style chat messages → the conventions' ``{"role", "parts": [...]}`` shape."""
    out = []
    for message in messages or ():
        role = message.get("role", "user")
        parts: list[dict[str, Any]] = []
        if role == "tool":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": _text(message.get("content")),
                }
            )
        elif message.get("content"):
            parts.append({"type": "text", "content": _text(message.get("content"))})
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": _maybe_json(function.get("arguments")),
                }
            )
        out.append({"role": role, "parts": parts})
    return out


def from_genai_messages(messages: Any) -> list[dict[str, Any]]:
    """The conventions' messages (a list or its JSON text) → OpenAI-style chat messages."""
    if isinstance(messages, str):
        try:
            messages = loads(messages)
        except ValueError:
            return []
    out: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        role = message.get("role", "user") if isinstance(message.get("role", "user"), str) else "user"
        parts = [p for p in message.get("parts") or () if isinstance(p, dict)] if isinstance(
            message.get("parts"), list) else []
        text = "".join(str(p.get("content", "")) for p in parts if p.get("type") == "text")
        calls = [
            {
                "id": p.get("id"),
                "type": "function",
                "function": {"name": p.get("name"), "arguments": _as_json_text(p.get("arguments"))},
            }
            for p in parts
            if p.get("type") == "tool_call"
        ]
        for p in parts:
            if p.get("type") == "tool_call_response":
                out.append({"role": "tool", "tool_call_id": p.get("id"), "content": _text(p.get("response"))})
        if role == "tool":
            continue
        item: dict[str, Any] = {"role": role, "content": text or (None if calls else "")}
        if calls:
            item["tool_calls"] = calls
        out.append(item)
    return out


def _maybe_json(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return loads(raw)
        except ValueError:
            return raw
    return raw


def _as_json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
