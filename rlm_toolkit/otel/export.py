"""A recorded trace to OpenTelemetry: its spans to a collector or a provider, or as OTLP/JSON.

The spans are built by :mod:`rlm_toolkit.otel.spans`; here they are sent (``endpoint=``, through a
private provider flushed before returning), handed to a provider, or encoded as OTLP/JSON.
What the spans hold, and when message content is written, is said once in :mod:`rlm_toolkit.otel`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from .._files import create
from .._version import __version__
from ..errors import MissingDependencyError, UsageError, register_url, scrub_logger
from ..trace.format import PathLike
from ..trace.reader import Trace, load
from .spans import trace_spans

__all__ = ["export_trace", "to_otlp_json", "write_otlp_json", "otlp_json_from_spans", "global_provider"]


def _sdk() -> Any:
    try:
        from opentelemetry.sdk import trace as sdk_trace
    except ImportError as missing:
        raise MissingDependencyError(
            "OpenTelemetry export needs the otel extra: pip install 'rlm[otel]'"
        ) from missing
    return sdk_trace


def global_provider() -> Any:
    """The global TracerProvider; without the extra, a MissingDependencyError naming it."""
    try:
        from opentelemetry import trace as otel_trace
    except ImportError as missing:
        raise MissingDependencyError(
            "OpenTelemetry export needs the otel extra: pip install 'rlm[otel]'"
        ) from missing
    return otel_trace.get_tracer_provider()


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
            tracer_provider = global_provider()
        return trace_spans(trace, tracer_provider, capture_content=capture_content, agent_name=agent_name)
    sdk = _sdk()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"the OTLP endpoint must be an http(s) URL, got {endpoint!r}")
    register_url(endpoint)  # a collector key in its query (``?api_key=…``) is scrubbed wherever shown
    for logger in _URL_LOGGERS:
        scrub_logger(logger)
    exporter = _CheckedExporter(
        OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=timeout), SpanExportResult.SUCCESS
    )
    provider = sdk.TracerProvider(resource=_resource())
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[arg-type]  # a duck-typed exporter
    try:
        spans = trace_spans(trace, provider, capture_content=capture_content, agent_name=agent_name)
        provider.force_flush()
    finally:
        provider.shutdown()
    if exporter.failed:
        raise UsageError(f"the OTLP endpoint {endpoint} did not accept the spans (see the log for why)")
    return spans


#: Loggers that write the endpoint's URL whole (urllib3's request lines, the exporter's failures).
_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager", "urllib3.util.retry",
                "opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.sdk.trace.export")


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

    return Resource.create(
        {"service.name": "rlm", "telemetry.sdk.name": "opentelemetry", "rlm.version": __version__}
    )


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
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]  # no stubs shipped
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    data = MessageToDict(encode_spans(list(spans)), use_integers_for_enums=True)  # OTLP/JSON: enums as ints
    for resource in data.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):  # protobuf's JSON mapping gives base64; OTLP/JSON wants hex
                        span[key] = base64.b64decode(span[key]).hex()
    return data


def write_otlp_json(
    source: Trace | PathLike, path: PathLike, *, overwrite: bool = False, **kwargs: Any
) -> Path:
    """Write :func:`to_otlp_json` to a file; return the file written.

    An existing file is never truncated: one that holds an OTLP/JSON export gives a numbered sibling
    (``spans-2.json``, with a ``RecordingWarning``) unless ``overwrite=True`` replaces it; any other
    file is a UsageError (the rule of trace files, docs/traces.md).
    """
    data = json.dumps(to_otlp_json(source, **kwargs), ensure_ascii=False).encode("utf-8")
    raw, chosen = create(path, "an OTLP/JSON export", _is_otlp_head, overwrite=overwrite,
                                verb="write the spans to", note=" (overwrite=True replaces it)")
    with raw:
        raw.write(data)
    return chosen


def _is_otlp_head(head: bytes) -> bool:
    """Whether a file that starts with ``head`` is an OTLP/JSON export (as :func:`write_otlp_json` writes)."""
    return head.lstrip().startswith(b'{"resourceSpans"')
