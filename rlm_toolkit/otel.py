"""OpenTelemetry GenAI spans from rlm runs: live as they happen, or from any recorded trace.

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
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ._genai import capture_content_default, names
from ._otel_spans import OTelCallback, SpanWriter, trace_spans
from .errors import MissingDependencyError, UsageError
from .trace import PathLike, Trace, load

__all__ = ["OTelCallback", "SpanWriter", "export_trace", "to_otlp_json", "write_otlp_json",
           "otlp_json_from_spans", "names", "capture_content_default"]


def _sdk() -> Any:
    try:
        from opentelemetry.sdk import trace as sdk_trace
    except ImportError as missing:
        raise MissingDependencyError("OpenTelemetry export needs the otel extra: pip install 'rlm[otel]'") \
            from missing
    return sdk_trace


def _as_trace(source: Trace | PathLike) -> Trace:
    return source if isinstance(source, Trace) else load(source)


def export_trace(
    source: Trace | PathLike,
    *,
    tracer_provider: Any = None,
    endpoint: str | None = None,
    headers: dict[str, str] | None = None,
    capture_content: bool | None = None,
    agent_name: str | None = None,
    timeout: float = 10.0,
) -> list[Any]:
    """Emit the spans of a recorded trace; return them (SDK spans, in the order they ended).

    ``endpoint``: an OTLP/HTTP traces URL (``http://host:4318/v1/traces``): the spans go there
    through a private provider that is flushed and shut down before this returns — a failed
    send is a :class:`~rlm_toolkit.errors.UsageError` naming the endpoint. Otherwise the spans go
    to ``tracer_provider`` (default: the global one).
    """
    trace = _as_trace(source)
    if endpoint is None:
        if tracer_provider is None:
            from opentelemetry import trace as otel_trace

            tracer_provider = otel_trace.get_tracer_provider()
        return trace_spans(trace, tracer_provider, capture_content=capture_content, agent_name=agent_name)
    sdk = _sdk()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"the OTLP endpoint must be an http(s) URL, got {endpoint!r}")
    exporter = _CheckedExporter(OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=timeout),
                                SpanExportResult.SUCCESS)
    provider = sdk.TracerProvider(resource=_resource())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        spans = trace_spans(trace, provider, capture_content=capture_content, agent_name=agent_name)
        provider.force_flush()
    finally:
        provider.shutdown()
    if exporter.failed:
        raise UsageError(f"the OTLP endpoint {endpoint} did not accept the spans (see the log for why)")
    return spans


class _CheckedExporter:
    """Wraps an exporter to remember whether any export failed (the SDK only logs it)."""

    def __init__(self, inner: Any, success: Any) -> None:
        self.inner, self.success, self.failed = inner, success, False

    def export(self, spans: Any) -> Any:
        result = self.inner.export(spans)
        self.failed = self.failed or result != self.success
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _resource() -> Any:
    from opentelemetry.sdk.resources import Resource

    from . import __version__

    return Resource.create({"service.name": "rlm", "telemetry.sdk.name": "opentelemetry",
                            "rlm.version": __version__})


def to_otlp_json(
    source: Trace | PathLike, *, capture_content: bool | None = None, agent_name: str | None = None
) -> dict[str, Any]:
    """The trace's spans as an OTLP/JSON ``ExportTraceServiceRequest`` (hex ids, as the spec says)."""
    sdk = _sdk()
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = sdk.TracerProvider(resource=_resource())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace_spans(_as_trace(source), provider, capture_content=capture_content, agent_name=agent_name)
    provider.shutdown()
    return otlp_json_from_spans(memory.get_finished_spans())


def otlp_json_from_spans(spans: Any) -> dict[str, Any]:
    """Finished SDK spans → OTLP/JSON, through the exporter's own protobuf encoder."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    data = MessageToDict(encode_spans(list(spans)), use_integers_for_enums=True)  # OTLP/JSON: enums as ints
    for resource in data.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):  # protobuf's JSON mapping gives base64; OTLP/JSON wants hex
                        span[key] = base64.b64decode(span[key]).hex()
    return data


def write_otlp_json(source: Trace | PathLike, path: PathLike, **kwargs: Any) -> None:
    """Write :func:`to_otlp_json` to a file."""
    from pathlib import Path

    Path(path).write_text(json.dumps(to_otlp_json(source, **kwargs), ensure_ascii=False), encoding="utf-8")

