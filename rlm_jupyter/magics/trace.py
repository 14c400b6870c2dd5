"""``%rlm export`` and ``%rlm diff``: a recorded run to OpenTelemetry, and two runs side by side.

::

    %rlm export run.jsonl --otlp http://127.0.0.1:6006/v1/traces    # Phoenix, Langfuse, any collector
    %rlm export run.jsonl --json spans.json --content               # OTLP/JSON file, with message content
    %rlm diff before.jsonl after.jsonl                              # steps aligned by action, word diffs

Collector credentials stay out of the cell: the exporter reads ``OTEL_EXPORTER_OTLP_HEADERS``
(``authorization=Bearer …``) from the environment itself.
"""

from __future__ import annotations

import shlex
import warnings
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

__all__ = ["EXPORT_USAGE", "DIFF_USAGE", "line"]

EXPORT_USAGE = "%rlm export FILE (--otlp URL | --json OUT [--overwrite]) [--content] [--agent-name NAME]"
DIFF_USAGE = "%rlm diff A.jsonl B.jsonl"


def _one_line(error: BaseException) -> str:
    return " ".join(str(getattr(error, "message", None) or error).split())


def _existing(path: str) -> str:
    if not Path(path).exists():
        raise UsageError(f"no trace file {path!r} (working directory: {Path.cwd()})")
    return path


def line(command: str, rest: str) -> Any:
    """Run ``%rlm export …`` or ``%rlm diff …`` (the words after the command); toolkit errors become
    one-line UsageErrors."""
    from rlm_toolkit.errors import UsageError as ToolkitUsageError

    try:
        words = shlex.split(rest)
    except ValueError as error:
        raise UsageError(f"{EXPORT_USAGE if command == 'export' else DIFF_USAGE}: {error}") from None
    try:
        return export(words) if command == "export" else diff(words)
    except ToolkitUsageError as error:
        raise UsageError(_one_line(error)) from None


def diff(words: list[str]) -> Any:
    if len(words) != 2 or any(w.startswith("-") for w in words):
        raise UsageError(f"usage: {DIFF_USAGE}")
    from rlm_toolkit.trace_diff import diff as trace_diff

    return trace_diff(_existing(words[0]), _existing(words[1]))


def export(words: list[str]) -> None:
    options: dict[str, Any] = {"otlp": None, "json": None, "content": False, "agent-name": None,
                               "overwrite": False}
    paths = []
    i = 0
    while i < len(words):
        word = words[i]
        name = word[2:]
        if name in ("content", "overwrite") and word.startswith("--"):
            options[name] = True
        elif name in options and word.startswith("--"):
            if i + 1 >= len(words):
                raise UsageError(f"{word} needs a value; usage: {EXPORT_USAGE}")
            options[name] = words[i + 1]
            i += 1
        elif word.startswith("-"):
            raise UsageError(f"unknown option {word!r}; usage: {EXPORT_USAGE}")
        else:
            paths.append(word)
        i += 1
    if len(paths) != 1 or not (options["otlp"] or options["json"]):
        raise UsageError(f"usage: {EXPORT_USAGE}")
    from rlm_toolkit import otel

    source = _existing(paths[0])
    common = {"capture_content": options["content"], "agent_name": options["agent-name"]}
    if options["overwrite"] and not options["json"]:
        raise UsageError("--overwrite goes with --json OUT")
    if options["json"]:
        from rlm_toolkit.trace import RecordingWarning

        with warnings.catch_warnings():  # the line below says where the spans went
            warnings.simplefilter("ignore", RecordingWarning)
            written = otel.write_otlp_json(source, options["json"], overwrite=options["overwrite"], **common)
        kept = "" if str(written) == str(Path(options["json"])) else \
            f"; {options['json']} holds an earlier export (--overwrite replaces it)"
        print(f"Wrote the spans of {source} to {written} (OTLP/JSON){kept}.")
    if options["otlp"]:
        from rlm_toolkit.errors import scrub

        spans = otel.export_trace(source, endpoint=options["otlp"], **common)
        where = scrub(options["otlp"])  # a collector key in the URL's query is masked
        print(f"Sent {len(spans)} span{'s' if len(spans) != 1 else ''} of {source} to {where}.")
