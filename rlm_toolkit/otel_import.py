"""The public path of the OTLP/JSON reader (pinned); the module is :mod:`rlm_toolkit.otel.otlp_import`."""

from __future__ import annotations

from .otel.otlp_import import missing, read_otlp_json

__all__ = ["read_otlp_json", "missing"]
