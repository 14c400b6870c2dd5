"""GenAI spans of a run as it happens: :class:`OTelCallback`, a callback on an RLM or an agent.

It turns the run's hooks into :class:`~rlm_toolkit.otel.spans.ChatCall` records and hands them to
the one :class:`~rlm_toolkit.otel.spans.SpanWriter`, as :func:`~rlm_toolkit.otel.spans.trace_spans`
does for a recorded trace. Agent model calls pass ``step=`` to the LLM hooks: that is how a
plain model call is told from an agent's.
"""

from __future__ import annotations

import time
from typing import Any

from ..callbacks import StreamingCallback
from ..errors import describe
from .export import global_provider
from .spans import ChatCall, SpanWriter, tool_error

__all__ = ["OTelCallback"]


class OTelCallback(StreamingCallback):
    """Emits GenAI spans as a run happens: ``callbacks=[OTelCallback()]`` on an RLM or an agent.

    A plain model call becomes a ``chat`` span when it ends. In an agent run (its model calls
    carry ``step=``) the first call opens ``invoke_agent``; each ``chat`` span is written once its
    step's thoughts and tool calls are known, each ``execute_tool`` span when the tool returns,
    and the agent span at the final answer (or when the run is stopped).
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        *,
        capture_content: bool | None = None,
        agent_name: str | None = None,
    ) -> None:
        if tracer_provider is None:
            tracer_provider = global_provider()
        self.writer = SpanWriter(tracer_provider, capture_content=capture_content, agent_name=agent_name)
        self._agent: Any = None
        self._call: ChatCall | None = None
        self._call_done = False
        self._tools: dict[str | None, tuple[float, Any]] = {}
        self._usage = [0, 0]
        self._error: str | None = None

    @property
    def spans(self) -> list[Any]:
        return self.writer.spans

    def _flush(self) -> None:
        if self._call is not None and self._call_done:
            self.writer.chat(self._call, self._agent)
            self._call, self._call_done = None, False

    def on_llm_start(self, *, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> None:
        self._flush()
        now = time.time()
        if kwargs.get("step") is not None and self._agent is None:
            self._agent = self.writer.agent_start(now, model)
            self._usage, self._error = [0, 0], None
        self._call = ChatCall(
            start=now,
            end=now,
            model_id=model,
            messages=list(messages or []),
            params=dict(kwargs.get("params") or {}),
            schema=kwargs["schema"].to_dict() if kwargs.get("schema") is not None else None,
        )
        self._call_done = False

    def _llm_done(self, response: Any, error: BaseException | None) -> None:
        if self._call is None:
            return
        self._call.end = time.time()
        if response is not None:
            self._call.response = response.to_dict()
            self._call.text = self._call.text if self._agent is not None else response.text
            if self._agent is None:
                self._call.tool_calls = [
                    {"id": c.call_id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
                ]
            self._usage[0] += response.prompt_tokens or 0
            self._usage[1] += response.completion_tokens or 0
        if error is not None:
            self._call.error = describe(error)
        self._call_done = True
        if self._agent is None:
            self._flush()

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self._llm_done(response, None)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self._llm_done(kwargs.get("response"), error)
        if self._agent is not None and not isinstance(error, Exception):  # interrupted or cancelled
            self._flush()
            self.writer.agent_end(
                self._agent,
                time.time(),
                final=None,
                usage=(self._usage[0], self._usage[1]),
                error=None,
                stopped=True,
            )
            self._agent = None

    def on_agent_event(self, event: Any, **kwargs: Any) -> None:
        call, now = self._call, time.time()
        if event.type == "token" and call is not None:
            call.text += event.content
        elif event.type == "thought" and not event.streamed and call is not None:
            call.thoughts.append(event.content)
        elif event.type == "reasoning" and call is not None:
            call.reasoning += event.content
        elif event.type == "action":
            if call is not None:
                call.tool_calls.append(
                    {"id": event.call_id, "name": event.tool_name, "arguments": event.input}
                )
            self._flush()
            self._tools[event.call_id] = (now, event.input)
        elif event.type == "observation":
            start, arguments = self._tools.pop(event.call_id, (now - (event.duration or 0.0), event.input))
            self.writer.tool(
                self._agent,
                start,
                now,
                name=event.tool_name or "",
                call_id=event.call_id,
                arguments=arguments,
                result=event.content,
                error=tool_error(event),
                server=event.server,
            )
        elif event.type == "error" and not event.tool_name and event.outcome != "retry":  # a retry went on
            self._error = event.content

    def on_agent_finish(self, final: Any, **kwargs: Any) -> None:
        self._flush()
        if self._agent is None:
            return
        self.writer.agent_end(
            self._agent,
            time.time(),
            final=final.content,
            usage=(self._usage[0], self._usage[1]),
            error=self._error if final.is_error else None,
            schema=kwargs["schema"].to_dict() if kwargs.get("schema") is not None else None,
        )
        self._agent = None
