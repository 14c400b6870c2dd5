"""What the model is shown of an MCP tool's result: text, structured content, image and resource
placeholders, cut at :data:`MAX_RESULT_CHARS` (a 10 MB answer never reaches the prompt)."""

from __future__ import annotations

import json
from typing import Any

import mcp_types

__all__ = ["result_text", "MAX_RESULT_CHARS"]

#: An observation from an MCP tool is cut to this many characters, with a note saying so.
MAX_RESULT_CHARS = 100_000


def result_text(result: mcp_types.CallToolResult, limit: int = MAX_RESULT_CHARS) -> str:
    """The observation text of ``result``; blocks are joined until ``limit`` is reached."""
    parts: list[str] = []
    size = total = 0
    for block in result.content:
        text = _block_text(block)
        total += len(text) + 1
        if size < limit:
            parts.append(text[: limit - size])
            size += len(parts[-1]) + 1
    if not parts and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False, default=str)
        total = len(text)
        parts.append(text[:limit])
    out = "\n".join(parts) if parts else "(no output)"
    if total > limit:
        out += f"\n[… {total - limit:,} more characters cut (MAX_RESULT_CHARS)]"
    return out


def _block_text(block: Any) -> str:
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, (mcp_types.ImageContent, mcp_types.AudioContent)):
        kind = "image" if isinstance(block, mcp_types.ImageContent) else "audio"
        return f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4:,} bytes]"
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return resource.text
        kind = resource.mime_type or "binary"
        return f"[resource {resource.uri} ({kind}), {len(resource.blob) * 3 // 4:,} bytes]"
    if isinstance(block, mcp_types.ResourceLink):
        return f"[resource link {block.uri}: {block.name}]"
    return f"[{getattr(block, 'type', 'unknown')} content]"
