"""Building GenAI spans, once, for both paths: a recorded trace and a live run (a callback).

:class:`SpanWriter` owns every attribute and span name; :func:`trace_spans` feeds it a recorded
trace, :class:`~rlm_toolkit.otel.callback.OTelCallback` feeds it the hooks of a run as it happens. Spans
are created with explicit start and end times, so a chat span is written when its step is
complete (its thoughts and tool calls known) and still carries the model call's real start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .._version import __version__
from ..errors import scrub
from ..events import AgentEvent, Finish, TextDelta, ToolCallDelta, Usage
from ..trace.reader import Trace
from ..trace.writer import env_secrets
from .genai import capture_content_default, names, split_model, to_genai_messages

__all__ = ["SpanWriter", "ChatCall", "trace_spans", "tool_error"]

_FINISH = {"tool_calls": "tool_call"}  # rlm/OpenAI words → the conventions' words where they differ


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


@dataclass
class ChatCall:
    """One model call, as the writer needs it (from a trace step or from live hooks)."""

    start: float  # epoch seconds
    end: float
    model_id: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)  # Response.to_dict()
    reasoning: str = ""  # the model's own reasoning (a thinking model's ``reasoning`` events)
    thoughts: list[str] = field(default_factory=list)  # reasoning (not streamed as text)
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {id, name, arguments}
    error: str | None = None
    schema: dict[str, Any] | None = None  # a typed call's schema (Schema.to_dict()): its output is JSON


class SpanWriter:
    """Writes ``invoke_agent`` / ``chat`` / ``execute_tool`` spans with the conventions' attributes."""

    def __init__(
        self, tracer_provider: Any, *, capture_content: bool | None = None, agent_name: str | None = None
    ) -> None:
        self.tracer = tracer_provider.get_tracer("rlm_toolkit", __version__)
        self.capture = capture_content_default() if capture_content is None else capture_content
        self.agent_name = agent_name or "ReActAgent"
        self.secrets = env_secrets()
        self.spans: list[Any] = []

    def _attrs(self, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, (dict, list)) and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                value = json.dumps(value, ensure_ascii=False, default=str)
            if isinstance(value, str):
                value = scrub(value, self.secrets)  # no key ever reaches a span
            elif isinstance(value, list):
                value = [scrub(v, self.secrets) for v in value]
            out[key] = value
        return out

    def _start(self, name: str, start: float, parent: Any, kind: str, attributes: dict[str, Any]) -> Any:
        from opentelemetry import trace as otel_trace

        context = otel_trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(
            scrub(name, self.secrets),
            context=context,
            kind=getattr(otel_trace.SpanKind, kind),
            start_time=_ns(start),
            attributes=self._attrs(attributes),
        )

    def _end(self, span: Any, end: float, error_type: str | None, message: str | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        if error_type:
            span.set_attribute(names().ERROR_TYPE, error_type)
            span.set_status(Status(StatusCode.ERROR, scrub(message or error_type, self.secrets)))
        span.end(end_time=_ns(end))
        self.spans.append(span)

    def agent_start(self, start: float, model_id: str | None) -> Any:
        n = names()
        provider, model = split_model(model_id)
        return self._start(
            f"invoke_agent {self.agent_name}",
            start,
            None,
            "INTERNAL",
            {
                n.GEN_AI_OPERATION_NAME: "invoke_agent",
                n.GEN_AI_AGENT_NAME: self.agent_name,
                n.GEN_AI_PROVIDER_NAME: provider,
                n.GEN_AI_REQUEST_MODEL: model,
            },
        )

    def typed(self, schema: dict[str, Any] | None) -> dict[str, Any]:
        """A typed answer's attributes: ``gen_ai.output.type`` "json" and the schema it was asked in."""
        if schema is None:
            return {}
        n = names()
        return self._attrs({n.GEN_AI_OUTPUT_TYPE: "json", n.RLM_OUTPUT_SCHEMA: schema})

    def agent_end(
        self,
        span: Any,
        end: float,
        *,
        final: str | None,
        usage: tuple[int, int] | None,
        error: str | None,
        stopped: bool = False,
        schema: dict[str, Any] | None = None,
    ) -> None:
        n = names()
        span.set_attributes(self.typed(schema))
        if usage is not None:
            span.set_attributes(
                {n.GEN_AI_USAGE_INPUT_TOKENS: usage[0], n.GEN_AI_USAGE_OUTPUT_TOKENS: usage[1]}
            )
        if self.capture and final is not None:
            span.set_attributes(
                self._attrs(
                    {
                        n.GEN_AI_OUTPUT_MESSAGES: [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": final}],
                                "finish_reason": "error" if error else "stop",
                            }
                        ]
                    }
                )
            )
        error_type = "stopped" if stopped else ("AgentError" if error else None)
        if error and ":" in error.split(" ", 1)[0]:
            error_type = error.split(":", 1)[0]  # "RateLimitError: …" → the exception's type
        self._end(span, end, error_type, error)

    def chat(self, call: ChatCall, parent: Any = None) -> Any:
        n = names()
        provider, model = split_model(call.model_id or call.response.get("model"))
        params, response = call.params or {}, call.response or {}
        usage = response.get("usage") or {}
        finish = response.get("finish_reason")
        finish_word = _FINISH.get(finish, finish) if finish else None
        stop = params.get("stop")
        attributes = {
            n.GEN_AI_OPERATION_NAME: "chat",
            n.GEN_AI_PROVIDER_NAME: provider,
            n.GEN_AI_REQUEST_MODEL: model,
            n.GEN_AI_REQUEST_TEMPERATURE: params.get("temperature"),
            n.GEN_AI_REQUEST_MAX_TOKENS: params.get("max_tokens"),
            n.GEN_AI_REQUEST_TOP_P: params.get("top_p"),
            n.GEN_AI_REQUEST_SEED: params.get("seed"),
            n.GEN_AI_REQUEST_STOP_SEQUENCES: [stop] if isinstance(stop, str) else stop,
            n.GEN_AI_RESPONSE_MODEL: model if response else None,
            n.GEN_AI_RESPONSE_FINISH_REASONS: [finish_word] if finish else None,
            n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: response.get("ttft_s"),
            n.GEN_AI_USAGE_INPUT_TOKENS: usage.get("prompt_tokens"),
            n.GEN_AI_USAGE_OUTPUT_TOKENS: usage.get("completion_tokens"),
        }
        if self.capture:
            thoughts = [call.reasoning, *call.thoughts] if call.reasoning else call.thoughts
            parts: list[dict[str, Any]] = [{"type": "reasoning", "content": t} for t in thoughts]
            if call.text:
                parts.append({"type": "text", "content": call.text})
            parts += [{"type": "tool_call", **c} for c in call.tool_calls]
            attributes[n.GEN_AI_INPUT_MESSAGES] = to_genai_messages(call.messages) or None
            attributes[n.GEN_AI_OUTPUT_MESSAGES] = [
                {"role": "assistant", "parts": parts, "finish_reason": finish_word or "error"}
            ]
        span = self._start(f"chat {model or 'unknown'}", call.start, parent, "CLIENT", attributes)
        span.set_attributes(self.typed(call.schema))
        error = call.error or response.get("error")
        self._end(span, call.end, str(error).split(":", 1)[0] if error else None, error)
        return span

    def tool(
        self,
        parent: Any,
        start: float,
        end: float,
        *,
        name: str,
        call_id: str | None,
        arguments: Any,
        result: str | None,
        error: str | None,
        server: str | None = None,
    ) -> Any:
        n = names()
        attributes = {
            n.GEN_AI_OPERATION_NAME: "execute_tool",
            n.GEN_AI_TOOL_NAME: name,
            n.GEN_AI_TOOL_CALL_ID: call_id,
            n.GEN_AI_TOOL_TYPE: "function",
        }
        if server:
            attributes[n.MCP_SERVER_NAME] = server
        if self.capture:
            attributes[n.GEN_AI_TOOL_CALL_ARGUMENTS] = arguments
            attributes[n.GEN_AI_TOOL_CALL_RESULT] = result
        span = self._start(f"execute_tool {name}", start, parent, "INTERNAL", attributes)
        self._end(span, end, (error.split(":", 1)[0] or "ToolError") if error else None, error)
        return span


def tool_error(observation: Any) -> str | None:
    """What marks an ``execute_tool`` span as failed: the error, or ``denied: …`` for a call its
    approver refused (``error.type`` "denied"; the tool never ran)."""
    if observation.outcome == "denied":
        return f"denied: {observation.content}"
    return observation.content if observation.is_error else None


def trace_spans(
    trace: Trace, tracer_provider: Any, *, capture_content: bool | None = None, agent_name: str | None = None
) -> list[Any]:
    """Write the spans of a recorded trace (see :class:`SpanWriter`); return them in end order."""
    writer = SpanWriter(tracer_provider, capture_content=capture_content, agent_name=agent_name)
    t0, footer = trace.created, trace.footer or {}
    end = t0 + float(footer.get("t") or (trace.times[-1] if trace.times else 0.0))
    if trace.kind != "agent":
        step = trace.steps.get(1, {})
        call = ChatCall(
            start=t0,
            end=end,
            model_id=trace.model,
            messages=step.get("messages") or [],
            params=step.get("params") or {},
            response=dict(footer.get("response") or {}),
            schema=trace.schema,
        )
        events_response: dict[str, Any] = {}
        for event in trace.events:
            if isinstance(event, TextDelta):
                call.text += event.text
            elif isinstance(event, ToolCallDelta):
                while len(call.tool_calls) <= event.index:
                    call.tool_calls.append({"id": None, "name": None, "arguments": ""})
                slot = call.tool_calls[event.index]
                slot["id"] = event.call_id or slot["id"]
                slot["name"] = event.name or slot["name"]
                slot["arguments"] += event.arguments
            elif isinstance(event, Usage):  # the events speak for a run whose footer is missing
                events_response["usage"] = event.to_dict()
            elif isinstance(event, Finish):
                events_response["finish_reason"] = event.reason
        call.response = call.response or events_response
        call.error = footer.get("error") if footer.get("state") == "error" else None
        writer.chat(call)
        return writer.spans

    agent = writer.agent_start(t0, trace.model)
    by_step: dict[int, list[tuple[float, AgentEvent]]] = {}
    for t, event in zip(trace.times, trace.events):
        if isinstance(event, AgentEvent):  # what an agent trace holds (the reader checked each line)
            by_step.setdefault(event.step, []).append((t0 + t, event))
    prompt = completion = 0
    error: str | None = None
    final: str | None = None
    previous_end = t0
    for number in sorted(set(trace.steps) | set(by_step)):
        record, events = trace.steps.get(number, {}), by_step.get(number, [])
        response = record.get("response") or {}
        usage = response.get("usage") or {}
        prompt += usage.get("prompt_tokens") or 0
        completion += usage.get("completion_tokens") or 0
        # Step records and events are stamped by different clocks: keep the spans in the events' order.
        start = max(float(record.get("started") or (events[0][0] if events else t0)), previous_end)
        duration = record.get("duration")
        model_end = start + float(duration) if duration is not None else (events[-1][0] if events else start)
        acted = [t for t, e in events if e.type == "action"]
        model_end = max(start, min([model_end, *acted]))
        previous_end = max([model_end, *(t for t, _ in events)])
        call = ChatCall(
            start=start,
            end=model_end,
            model_id=trace.model,
            messages=record.get("messages") or [],
            params=record.get("params") or {},
            response=response,
            error=record.get("error"),
            schema=trace.schema if record.get("schema") else None,  # the step's request carried it
        )
        actions = {}
        for _, e in events:
            if e.type == "thought" and not e.streamed:
                call.thoughts.append(e.content)
            elif e.type == "reasoning":
                call.reasoning += e.content
            elif e.type == "token":
                call.text += e.content
            elif e.type == "action":
                call.tool_calls.append({"id": e.call_id, "name": e.tool_name, "arguments": e.input})
        if record or events:
            writer.chat(call, agent)
        for t, e in events:
            if e.type == "action":
                actions[e.call_id] = (t, e)
            elif e.type == "observation":
                began, action = actions.pop(e.call_id, (t - (e.duration or 0.0), e))
                writer.tool(
                    agent,
                    began,
                    t,
                    name=e.tool_name or "",
                    call_id=e.call_id,
                    arguments=action.input,
                    result=e.content,
                    error=tool_error(e),
                    server=e.server or action.server,
                )
            elif e.type == "error" and not e.tool_name and e.outcome != "retry":  # a retry went on
                error = e.content
            elif e.type == "final":
                final = e.content
    writer.agent_end(
        agent,
        max(end, previous_end),  # step records and the footer use different clocks: never end early
        final=final,
        usage=(prompt, completion) if trace.steps else None,
        error=error if trace.state == "error" or error else None,
        stopped=trace.state == "stopped",
        schema=trace.schema,
    )
    return writer.spans
