"""Read OpenTelemetry GenAI spans (an OTLP/JSON export) back into rlm traces that replay.

Any tool that follows the GenAI semantic conventions will do, rlm's own export included::

    from rlm_toolkit.otel_import import read_otlp_json
    from rlm_jupyter import replay
    for trace in read_otlp_json("spans.json"):     # one trace per agent run or lone model call
        replay(trace)

An ``invoke_agent`` span becomes an agent trace: each ``chat`` span under it is a step (its
reasoning parts → ``thought``, its text → ``token``, then a ``thought`` repeating the text if the
step called tools), each ``execute_tool`` span an ``action`` at its start and an ``observation``
at its end; the run ends with ``final``. A ``chat`` span outside any agent becomes a stream
trace. Unknown attributes and spans are ignored; content the export left out (the conventions
make it opt-in) shows as ``[not recorded: <attribute>]``. Token timing is per step: OTel records
no single tokens, so a step's text replays as one ``token`` event at its first chunk's time.
No OpenTelemetry package is needed to read.

The export is untrusted input. A span of the wrong shape (not an object, a time that is not a
count of nanoseconds, attributes that are not a list of ``{key, value}``, a GenAI attribute of the
wrong type) is skipped and named in each trace's ``problems``, as :func:`~rlm_toolkit.trace.load`
does with lines; an export whose structure is wrong above the spans is a :class:`UsageError`.
Reading is O(n log n) in the spans.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_right
from typing import Any

from .._files import MAX_OTLP_BYTES, read_bytes
from .._json_depth import TooDeepError, loads
from ..errors import UsageError
from ..events import AgentEvent, Finish, TextDelta, ToolCallDelta, Usage
from ..trace.format import VERSION, PathLike
from ..trace.reader import Trace
from .genai import from_genai_messages, names
from .otlp_spans import MAX_PROBLEMS, Span, agents_of, shown, spans_of

__all__ = ["read_otlp_json", "missing"]

_FINISH_BACK = {"tool_call": "tool_calls"}


def missing(attribute: str) -> str:
    """What an event shows for content the export did not record."""
    return f"[not recorded: {attribute}]"


def _read(path: PathLike) -> str:
    """The text of an OTLP/JSON file: a regular file of at most MAX_OTLP_BYTES (rlm_toolkit._files)."""
    data = read_bytes(path, MAX_OTLP_BYTES, "an OTLP/JSON file", "MAX_OTLP_BYTES")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"{str(path)!r} is not OTLP/JSON: not UTF-8 text (byte {error.start + 1})") from None


def read_otlp_json(source: PathLike | dict[str, Any] | str) -> list[Trace]:
    """Traces from an OTLP/JSON export (a path, its parsed dict, or its text), oldest first.

    A file that is not OTLP/JSON, or holds no GenAI span, is a :class:`UsageError`. A JSON-lines
    file (one export request per line, as the collector's file exporter writes) works too. Spans
    of the wrong shape are skipped and listed in each trace's ``problems``.
    """
    if isinstance(source, dict):
        requests = [source]
    elif not isinstance(source, (str, os.PathLike)):
        raise UsageError(f"read_otlp_json takes a path, the export's text or its dict, not {shown(source)}")
    else:
        text = (
            source
            if isinstance(source, str) and source.lstrip().startswith("{")
            else _read(source)
        )
        try:
            requests = [loads(text)]
        except TooDeepError as error:
            raise UsageError(f"{str(source)[:80]!r} is not readable OTLP/JSON: {error}") from None
        except ValueError:
            try:
                requests = [loads(line) for line in text.splitlines() if line.strip()]
            except ValueError as error:
                why = f": {error}" if isinstance(error, TooDeepError) else ""
                raise UsageError(
                    f"{str(source)[:80]!r} is not OTLP/JSON (an ExportTraceServiceRequest){why}"
                ) from None
    problems: list[str] = []
    spans = sorted(
        (s for r in requests if isinstance(r, dict) for s in spans_of(r, problems)), key=lambda s: s.start
    )
    agent_above = agents_of(spans)

    def agent_of(span: Span) -> Span | None:
        return agent_above.get(span.parent)

    traces: list[tuple[float, Trace]] = []
    children: dict[str, list[Span]] = {}
    for span in spans:
        if span.operation in ("chat", "execute_tool"):
            agent = agent_of(span)
            if agent is not None:
                children.setdefault(agent.id, []).append(span)
            elif span.operation == "chat":
                traces.append((span.start, _stream_trace(span)))
    for span in spans:
        if span.operation == "invoke_agent" and agent_of(span) is None:
            traces.append((span.start, _agent_trace(span, children.get(span.id, []))))
    if not traces:
        first = f" ({len(problems)} part(s) unreadable; the first: {problems[0]})" if problems else ""
        raise UsageError(f"no GenAI span (chat, execute_tool, invoke_agent) in this OTLP/JSON export{first}")
    out = [t for _, t in sorted(traces, key=lambda item: item[0])]
    for trace in out:
        trace.problems = problems[:MAX_PROBLEMS]
        trace.skipped = len(problems)
    return out


def _model_id(span: Span) -> str | None:
    n = names()
    model = span.get(n.GEN_AI_REQUEST_MODEL) or span.get(n.GEN_AI_RESPONSE_MODEL)
    provider = span.get(n.GEN_AI_PROVIDER_NAME) or span.get("gen_ai.system")
    return f"{provider}:{model}" if provider and model else model


def _schema(span: Span | None) -> dict[str, Any] | None:
    """A typed answer's schema from a span's ``rlm.output.schema`` (JSON of ``{"name", "json_schema"}``,
    as rlm writes it); None when there is none or it has another shape (untrusted input)."""
    raw = span.get(names().RLM_OUTPUT_SCHEMA) if span is not None else None
    try:
        schema = loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if isinstance(schema, dict) and isinstance(schema.get("name"), str) \
            and isinstance(schema.get("json_schema"), dict):
        return {"name": schema["name"], "json_schema": schema["json_schema"]}
    return None


def _typed_output(text: str, schema: dict[str, Any] | None) -> Any:
    """A typed run's final answer as JSON data (rlm's final event holds the validated answer as JSON
    text); None when there is no schema or the text is not JSON."""
    if schema is None:
        return None
    try:
        return loads(text)
    except ValueError:
        return None


def _step_record(span: Span, number: int) -> dict[str, Any]:
    n = names()
    finish = span.get(n.GEN_AI_RESPONSE_FINISH_REASONS) or [None]
    params = {
        "temperature": span.get(n.GEN_AI_REQUEST_TEMPERATURE),
        "max_tokens": span.get(n.GEN_AI_REQUEST_MAX_TOKENS),
        "top_p": span.get(n.GEN_AI_REQUEST_TOP_P),
        "seed": span.get(n.GEN_AI_REQUEST_SEED),
    }
    return {
        "type": "step",
        "step": number,
        "started": span.start,
        "duration": span.end - span.start,
        "messages": from_genai_messages(span.get(n.GEN_AI_INPUT_MESSAGES) or []),
        "params": {k: v for k, v in params.items() if v is not None},
        "response": {
            "model": _model_id(span),
            "finish_reason": _FINISH_BACK.get(finish[0], finish[0]),
            "usage": {
                "prompt_tokens": span.get(n.GEN_AI_USAGE_INPUT_TOKENS),
                "completion_tokens": span.get(n.GEN_AI_USAGE_OUTPUT_TOKENS),
            },
            "ttft_s": span.get(n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK),
            "elapsed_s": round(span.end - span.start, 4),
        },
        "error": span.status or None if span.failed else None,
        **({"schema": typed["name"]} if (typed := _schema(span)) else {}),
    }


class _Builder:
    """Collects events with their absolute times, keeping the order they were added in."""

    def __init__(self, trace: Trace, t0: float) -> None:
        self.trace, self.t0, self.last = trace, t0, 0.0

    def add(self, at: float, event: Any) -> None:
        self.last = max(self.last, at - self.t0)  # the order is the story; time never runs back
        if isinstance(event, AgentEvent):
            event.timestamp = self.t0 + self.last
        self.trace.events.append(event)
        self.trace.times.append(round(self.last, 4))


def _stream_trace(span: Span) -> Trace:
    trace = Trace(
        header={
            "type": "header",
            "version": VERSION,
            "kind": "stream",
            "model": _model_id(span),
            "created": span.start,
            "source": "otlp",
            **({"schema": schema} if (schema := _schema(span)) else {}),
        }
    )
    step = _step_record(span, 1)
    trace.steps[1] = step
    out = _Builder(trace, span.start)
    parts = span.output_parts()
    first = span.start + float(step["response"]["ttft_s"] or 0.0)
    text = "".join(str(p.get("content", "")) for p in parts or () if p.get("type") == "text")
    if text:
        out.add(first, TextDelta(text=text))
    for index, part in enumerate(p for p in parts or () if p.get("type") == "tool_call"):
        arguments = part.get("arguments")
        out.add(
            first,
            ToolCallDelta(
                index=index,
                call_id=part.get("id"),
                name=part.get("name"),
                arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
            ),
        )
    usage = step["response"]["usage"]
    if usage["prompt_tokens"] is not None or usage["completion_tokens"] is not None:
        out.add(span.end, Usage(**usage))
    if step["response"]["finish_reason"]:
        out.add(span.end, Finish(reason=step["response"]["finish_reason"]))
    trace.footer = {
        "type": "footer",
        "t": round(span.end - span.start, 4),
        "state": "error" if span.failed else "done",
        "response": step["response"],
        "error": span.status or None if span.failed else None,
    }
    return trace


def _agent_trace(agent: Span, spans: list[Span]) -> Trace:
    n = names()
    trace = Trace(
        header={
            "type": "header",
            "version": VERSION,
            "kind": "agent",
            "model": _model_id(agent),
            "created": agent.start,
            "source": "otlp",
            **({"schema": schema} if (schema := _schema(agent)) else {}),
        }
    )
    out = _Builder(trace, agent.start)
    steps = _steps(spans)
    if trace.model is None and steps and steps[0][0] is not None:
        trace.header["model"] = _model_id(steps[0][0])
    final_text: str | None = None
    number = 0
    for number, (chat, tools) in enumerate(steps, start=1):
        parts = chat.output_parts() if chat is not None else []
        text = ""
        if chat is not None:
            trace.steps[number] = _step_record(chat, number)
            first = chat.start + float(chat.get(n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK) or 0.0)
            for part in parts or ():
                if part.get("type") == "reasoning":
                    out.add(
                        first, AgentEvent(type="thought", content=str(part.get("content", "")), step=number)
                    )
            text = "".join(str(p.get("content", "")) for p in parts or () if p.get("type") == "text")
            if text:
                out.add(first, AgentEvent(type="token", content=text, step=number))
        planned = {p.get("id"): p for p in parts or () if p.get("type") == "tool_call"}
        said = chat.end if chat is not None else agent.start  # text and planned calls come from a chat
        if tools or planned:
            if text.strip():
                out.add(said, AgentEvent(type="thought", content=text, step=number, streamed=True))
            for tool in tools:
                _tool_events(out, tool, planned.pop(tool.get(n.GEN_AI_TOOL_CALL_ID), None), number)
            for call in planned.values():  # asked for but never run (no span): the action alone
                out.add(
                    said,
                    AgentEvent(
                        type="action",
                        tool_name=call.get("name"),
                        step=number,
                        call_id=call.get("id"),
                        input=_input(call.get("arguments")),
                    ),
                )
        elif chat is not None:
            final_text = text if parts is not None else None
    agent_parts = agent.output_parts()
    if agent_parts is not None:
        final_text = "".join(str(p.get("content", "")) for p in agent_parts if p.get("type") == "text")
    number = max(number, 1)
    if agent.failed and agent.status != "stopped":
        out.add(
            agent.end,
            AgentEvent(
                type="error", content=agent.status or missing("status.message"), step=number, is_error=True
            ),
        )
    if not (agent.failed and agent.status == "stopped"):
        content = final_text.strip() if final_text is not None else missing(n.GEN_AI_OUTPUT_MESSAGES)
        out.add(
            agent.end,
            AgentEvent(
                type="final",
                content=content,
                step=number,
                is_error=agent.failed,
                duration=agent.end - agent.start,
                output=None if agent.failed else _typed_output(content, schema),
            ),
        )
    usage = {
        "prompt_tokens": agent.get(n.GEN_AI_USAGE_INPUT_TOKENS),
        "completion_tokens": agent.get(n.GEN_AI_USAGE_OUTPUT_TOKENS),
    }
    state = ("stopped" if agent.status == "stopped" else "error") if agent.failed else "done"
    trace.footer = {
        "type": "footer",
        "t": round(agent.end - agent.start, 4),
        "state": state,
        "response": {
            "model": trace.model,
            "steps": len(trace.steps),
            "usage": usage,
            "elapsed_s": round(agent.end - agent.start, 4),
        },
        "error": agent.status or None if state == "error" else None,
    }
    return trace


def _steps(spans: list[Span]) -> list[tuple[Span | None, list[Span]]]:
    """Each chat span with the tool spans of its step: matched by tool-call id where the chat's
    output names its calls, else the latest chat that started before the tool (found by bisection:
    ``spans`` are in order of their start)."""
    n = names()
    chats = [s for s in spans if s.operation == "chat"]
    starts = [chat.start for chat in chats]
    steps: list[tuple[Span | None, list[Span]]] = [(chat, []) for chat in chats]
    by_call = {
        p.get("id"): i
        for i, chat in enumerate(chats)
        for p in chat.output_parts() or ()
        if p.get("type") == "tool_call" and p.get("id")
    }
    orphans: list[Span] = []  # tools run before any model call
    for tool in (s for s in spans if s.operation == "execute_tool"):
        index = by_call.get(tool.get(n.GEN_AI_TOOL_CALL_ID))
        if index is None:
            index = bisect_right(starts, tool.start) - 1
            index = index if index >= 0 else None
        (orphans if index is None else steps[index][1]).append(tool)
    return [(None, orphans), *steps] if orphans else steps


def _input(arguments: Any) -> dict[str, Any] | None:
    if isinstance(arguments, str):
        try:
            arguments = loads(arguments)
        except ValueError:
            return {"arguments": arguments}
    if arguments is None:
        return None
    return arguments if isinstance(arguments, dict) else {"input": arguments}


def _tool_events(out: _Builder, tool: Span, planned: dict[str, Any] | None, step: int) -> None:
    n = names()
    name = tool.get(n.GEN_AI_TOOL_NAME) or tool.name.partition(" ")[2] or (planned or {}).get("name")
    call_id = tool.get(n.GEN_AI_TOOL_CALL_ID) or (planned or {}).get("id")
    arguments = tool.get(n.GEN_AI_TOOL_CALL_ARGUMENTS, (planned or {}).get("arguments"))
    shown = _input(arguments)
    server = tool.get(n.MCP_SERVER_NAME)  # an MCP tool's server, as rlm's spans carry it
    out.add(tool.start, AgentEvent(type="action", tool_name=name, input=shown, step=step, call_id=call_id,
                                   server=server))
    result = tool.get(n.GEN_AI_TOOL_CALL_RESULT)
    content = (
        (result if isinstance(result, str) else json.dumps(result))
        if result is not None
        else (tool.status if tool.failed and tool.status else missing(n.GEN_AI_TOOL_CALL_RESULT))
    )
    out.add(
        tool.end,
        AgentEvent(
            type="observation",
            content=content,
            duration=tool.end - tool.start,
            is_error=tool.failed,
            input=shown,
            tool_name=name,
            call_id=call_id,
            step=step,
            server=server,
        ),
    )
    if tool.failed:
        out.add(tool.end, AgentEvent(type="error", content=content, is_error=True, tool_name=name,
                                     call_id=call_id, step=step, server=server))
