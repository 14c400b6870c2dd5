"""OpenTelemetry GenAI spans from rlm runs: live as they happen, or from any recorded trace; and back.

Spans follow the GenAI semantic conventions: ``invoke_agent {name}`` per agent run, with a
``chat {model}`` child per model call and an ``execute_tool {name}`` child per tool call; a plain
``rlm.stream`` call is one ``chat {model}`` span. Message content (prompts, answers, tool
arguments and results) is written only when asked for — ``capture_content=True`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` — and every string is scrubbed of keys::

    pip install 'rlm[otel]'

    from rlm_toolkit.otel import OTelCallback, export_trace, to_otlp_json
    agent.run(task, callbacks=[OTelCallback()])          # live, to the global TracerProvider
    export_trace("run.jsonl", endpoint="http://127.0.0.1:6006/v1/traces")   # Phoenix, any collector
    to_otlp_json("run.jsonl")                             # OTLP/JSON, readable by otel_import.read_otlp_json

This package names what users import; its modules: the conventions' names and message shapes
(:mod:`~rlm_toolkit.otel.genai`), the one span writer (:mod:`~rlm_toolkit.otel.spans`), a recorded
trace out (:mod:`~rlm_toolkit.otel.export`), a live run out (:mod:`~rlm_toolkit.otel.callback`), and
OTLP/JSON back into traces (:mod:`~rlm_toolkit.otel.otlp_import`, public as
:mod:`rlm_toolkit.otel_import`). The OpenTelemetry packages are imported only when spans are made:
importing this package, or reading OTLP/JSON, needs none of them. The otel modules read traces
(:mod:`rlm_toolkit.trace`); traces know nothing of OpenTelemetry.
"""

from __future__ import annotations

from .callback import OTelCallback
from .export import export_trace, otlp_json_from_spans, to_otlp_json, write_otlp_json
from .genai import capture_content_default, names
from .spans import SpanWriter

__all__ = [
    "OTelCallback",
    "SpanWriter",
    "export_trace",
    "to_otlp_json",
    "write_otlp_json",
    "otlp_json_from_spans",
    "names",
    "capture_content_default",
]
