"""The public path of the trace diff (pinned); the module is :mod:`rlm_toolkit.trace.compare`."""

from __future__ import annotations

from .trace.compare import StepDiff, TraceDiff, diff, word_diff

__all__ = ["diff", "TraceDiff", "StepDiff", "word_diff"]
