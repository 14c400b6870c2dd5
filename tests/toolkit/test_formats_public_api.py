"""The public names of the field-format modules (OTel out/in, the UI message stream, trace diff), pinned."""

from __future__ import annotations

import importlib

import pytest

PINNED = {
    "rlm_toolkit.web": {
        "sse_event",
        "sse_stream",
        "sse_response",
        "SSE_HEADERS",
        "ws_frames",
        "websocket_stream",
        "UI_MESSAGE_STREAM_HEADERS",
        "UIMessageStreamEncoder",
        "ui_message_stream",
        "ui_message_response",
        "messages_from_ui",
    },
    "rlm_toolkit.web_ui_stream": {
        "UI_MESSAGE_STREAM_HEADERS",
        "UIMessageStreamEncoder",
        "ui_message_stream",
        "ui_message_response",
        "messages_from_ui",
    },
    "rlm_toolkit.otel": {
        "OTelCallback",
        "SpanWriter",
        "export_trace",
        "to_otlp_json",
        "write_otlp_json",
        "otlp_json_from_spans",
        "names",
        "capture_content_default",
    },
    "rlm_toolkit.otel_import": {"read_otlp_json", "missing"},
    "rlm_toolkit.trace_diff": {"diff", "TraceDiff", "StepDiff", "word_diff"},
    "rlm_toolkit.images": {"Image", "image", "parts", "is_image", "Limits", "OPENAI", "ANTHROPIC", "OLLAMA",
                           "check", "content_parts", "text_only", "for_trace", "shown_images",
                           "SHOWN_IMAGE_BYTES", "SHOWN_IMAGES"},
    "rlm_toolkit.trace": {
        "VERSION",
        "Trace",
        "TraceRecorder",
        "StreamRecorder",
        "AgentRecorder",
        "record",
        "load",
        "replay",
        "Replay",
        "diff",
        "check_writable",
        "RecordingWarning",
        "check_speed",
        "MIN_SPEED",
        "MAX_SPEED",
    },
}


@pytest.mark.parametrize("module", sorted(PINNED))
def test_exported_names_are_pinned_and_resolve(module):
    if module == "rlm_toolkit.otel":
        pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PINNED[module]
    assert len(mod.__all__) == len(set(mod.__all__))
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_reading_otlp_and_the_ui_stream_need_no_opentelemetry():
    import subprocess
    import sys

    probe = (
        "import sys; import rlm_toolkit.otel_import, rlm_toolkit.web, rlm_toolkit.trace_diff; "
        "print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
