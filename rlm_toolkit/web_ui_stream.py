"""The public path of the AI SDK UI message stream (pinned); it lives in :mod:`rlm_toolkit.web.ui_stream`."""

from __future__ import annotations

from .web.ui_stream import (
    UI_MESSAGE_STREAM_HEADERS,
    UIMessageStreamEncoder,
    messages_from_ui,
    ui_message_response,
    ui_message_stream,
)

__all__ = ["UI_MESSAGE_STREAM_HEADERS", "UIMessageStreamEncoder", "ui_message_stream", "ui_message_response",
           "messages_from_ui"]
