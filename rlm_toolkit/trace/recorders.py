"""The recorders a run adds as callbacks (``record=path``), and :func:`record` for any iterator of events.

Each writes through one :class:`~rlm_toolkit.trace.writer.TraceRecorder`; the footer carries the
run's provenance (model, usage, cost, elapsed time, how it ended).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .._json_depth import cut_deep
from ..callbacks import StreamingCallback
from ..cost import summed
from ..events import Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from .format import Kind, PathLike
from .writer import TraceRecorder

__all__ = ["StreamRecorder", "AgentRecorder", "record"]



def _state_of(error: BaseException | None) -> str:
    if error is None or isinstance(error, GeneratorExit):
        return "stopped" if error is not None else "done"
    if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)):
        return "stopped"
    return "error"


class StreamRecorder(StreamingCallback):
    """A callback that records one model call (``rlm.stream(..., record=path)`` adds it)."""

    def __init__(
        self, path: PathLike, model: str | None = None, *, keep_images: bool = False, overwrite: bool = False
    ) -> None:
        self.recorder = TraceRecorder(path, kind="stream", model=model, keep_images=keep_images,
                                      overwrite=overwrite)

    def on_llm_start(self, *, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> None:
        self.recorder.model = self.recorder.model or model
        schema = kwargs.get("schema")
        if schema is not None:  # a typed call (schema=): the header names its schema
            self.recorder.header_extra["schema"] = cut_deep(schema.to_dict())
        step = {"messages": messages, "params": kwargs.get("params") or {}}
        self.recorder.step(1, {**step, "schema": schema.name} if schema is not None else step)

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.recorder.event(TextDelta(text=token))

    def on_llm_reasoning(self, text: str, **kwargs: Any) -> None:
        self.recorder.event(ReasoningDelta(text=text))

    def _end(self, response: Any, error: BaseException | None) -> None:
        if response is not None:
            for index, block in enumerate(response.reasoning_blocks):  # signatures are opaque: at the end
                if block.get("signature") or block.get("type") == "redacted_thinking":
                    self.recorder.event(ReasoningDelta(signature=block.get("signature"),
                                                       redacted=block.get("data"), index=index))
            for call in response.tool_calls:
                self.recorder.event(ToolCallDelta(index=call.index, call_id=call.call_id, name=call.name,
                                                  arguments=call.arguments))
            if response.prompt_tokens is not None or response.completion_tokens is not None:
                self.recorder.event(Usage(**{k: v for k, v in response.to_dict()["usage"].items()}))
            if response.finish_reason:
                self.recorder.event(Finish(reason=response.finish_reason))
        state = response.state if response is not None and response.state != "streaming" else _state_of(error)
        provenance = response.to_dict() if response is not None else None
        self.recorder.close(state=state, response=provenance, error=error)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self._end(response, None)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self._end(kwargs.get("response"), error)


class AgentRecorder(StreamingCallback):
    """A callback that records an agent run (``agent.stream(task, record=path)`` adds it).

    It sees every event through ``on_agent_event``; at the final event the run's steps are
    complete, so it writes them (``history``: the agent's step records) and the footer.
    An interrupted run (a model call stopped) is closed as ``stopped``.
    """

    def __init__(
        self, path: PathLike, model: str | None = None, history: Any = None, started: float | None = None,
        *, overwrite: bool = False, header: dict[str, Any] | None = None,
    ) -> None:
        self.recorder = TraceRecorder(path, kind="agent", model=model, started=started, overwrite=overwrite,
                                      header=header)
        self.history = history
        self._error: str | None = None

    def on_agent_event(self, event: Any, **kwargs: Any) -> None:
        self.recorder.event(event)
        if event.type == "error":
            self._error = event.content

    def on_agent_finish(self, final: Any, **kwargs: Any) -> None:
        steps = _steps_of(self.history) if self.history is not None else []
        for number, data in steps:
            self.recorder.step(number, data)
        self.recorder.close(state="error" if final.is_error else "stopped" if final.stop_reason else "done",
                            response=_agent_provenance(self.recorder.model, steps, final),
                            error=self._error if final.is_error else None)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        if _state_of(error) == "stopped":
            self.recorder.close(state="stopped", error=None)


def _agent_provenance(model: str | None, steps: list[tuple[int, Any]], final: Any) -> dict[str, Any]:
    """The footer of an agent run: model, steps, summed usage and cost, elapsed time, a stop reason."""
    prompt = completion = 0
    responses = [(data.get("response") or {}) if isinstance(data, dict) else {} for _, data in steps]
    for response in responses:
        usage = response.get("usage") or {}
        prompt += usage.get("prompt_tokens") or 0
        completion += usage.get("completion_tokens") or 0
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    cost = summed(responses)
    return {"model": model, "steps": len(steps), "usage": usage,
            **({"cost": cost.to_dict()} if cost is not None else {}),
            **({"stop_reason": final.stop_reason} if final.stop_reason else {}),
            "elapsed_s": None if final.duration is None else round(final.duration, 4)}


def _steps_of(history: Any) -> list[tuple[int, Any]]:
    items = history() if callable(history) else history
    out = []
    for i, item in enumerate(items or (), start=1):
        data = item.to_dict() if hasattr(item, "to_dict") else item
        out.append((int(data.get("step", i)) if isinstance(data, dict) else i, data))
    return out


def record(
    source: Any,
    path: PathLike,
    *,
    kind: Kind = "agent",
    model: str | None = None,
    history: Any = None,
    provenance: Callable[[], dict[str, Any] | None] | None = None,
    overwrite: bool = False,
) -> Any:
    """Wrap a sync or async iterator of events so each event is recorded as it passes.

    ``history``: the agent's per-step records (a list, or a callable returning one), written
    after the events; ``provenance``: a callable giving the footer's provenance dict; ``overwrite``:
    replace ``path`` if it holds an earlier trace (else the run goes to ``run-2.jsonl``; see
    :func:`check_writable`).
    ``record(agent.astream(task), "run.jsonl", model=agent.model_id, history=lambda: agent.history)``
    """
    recorder = TraceRecorder(path, kind=kind, model=model, overwrite=overwrite)

    def finish(error: BaseException | None) -> None:
        try:
            if history is not None:
                for number, data in _steps_of(history):
                    recorder.step(number, data)
        finally:
            recorder.close(state=_state_of(error), response=provenance() if provenance else None, error=error)

    if hasattr(source, "__aiter__"):
        async def arecorded() -> AsyncIterator[Any]:
            error: BaseException | None = None
            try:
                async for event in source:
                    recorder.event(event)
                    yield event
            except BaseException as exc:
                error = exc
                raise
            finally:
                finish(error)
        return arecorded()

    def recorded() -> Iterator[Any]:
        error: BaseException | None = None
        try:
            for event in source:
                recorder.event(event)
                yield event
        except BaseException as exc:
            error = exc
            raise
        finally:
            finish(error)
    return recorded()

