"""What the model is shown of an MCP tool's result: text, structured content, image and resource
placeholders, cut at :data:`MAX_RESULT_CHARS` (a 10 MB answer never reaches the prompt); and the
images the timeline shows beside it (:func:`result_images`)."""

from __future__ import annotations

import json
from typing import Any

import mcp_types

from ..images import SHOWN_IMAGES

__all__ = ["result_text", "result_images", "MAX_RESULT_CHARS"]

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


def result_images(result: mcp_types.CallToolResult) -> tuple[dict[str, str], ...]:
    """The image blocks of ``result`` (and embedded image blobs), as the server sent them: the agent
    checks them (:func:`rlm_toolkit.images.shown_images`) before any is shown, never fetching a URL."""
    found: list[dict[str, str]] = []
    for block in result.content:
        if len(found) == 4 * SHOWN_IMAGES:  # candidates: shown_images keeps the first SHOWN_IMAGES good ones
            break
        if isinstance(block, mcp_types.ImageContent):
            found.append({"mime_type": block.mime_type, "data": block.data})
        elif (isinstance(block, mcp_types.EmbeddedResource)
              and isinstance(block.resource, mcp_types.BlobResourceContents)
              and (block.resource.mime_type or "").startswith("image/")):
            found.append({"mime_type": block.resource.mime_type or "", "data": block.resource.blob})
    return tuple(found)


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
