"""ReActAgent: think → act → observe, every step streamed as typed :class:`AgentEvent` s.

::

    def add(a: int, b: int) -> int:
        \"\"\"Add two integers.\"\"\"
        return a + b

    agent = ReActAgent.from_openai("gpt-4o", tools=[add])
    for event in agent.stream("What is 2 + 40?"):
        print(event)
    agent.run("What is 2 + 40?")          # '42' (the final answer's text)

With a provider that has native tool calls (OpenAI and compatible servers) the tools go in the
request's ``tools``; otherwise (the embedded local model) the agent uses the text ReAct format
(Thought / Action / Action Input / Observation / Final Answer). The step loop is written once,
as an async generator (:meth:`ReActAgent._loop`); ``stream``/``run`` drive it over the bridge,
``astream``/``arun`` in your own event loop. Model calls go through the RLM's producer, so
retries, :class:`~rlm_toolkit.response.Response` timings and LLM callbacks work as for ``RLM.stream``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypedDict

from .._json_depth import loads
from .._pump import Hook, apump
from ..budget import Budget
from ..callbacks import CallbackManager
from ..errors import StructuredOutputError, UsageError, describe
from ..events import AgentEvent
from ..providers import openai_model_id
from ..providers.base import Provider
from ..rlm import RLM, Prompt
from ._driver import AgentStream, AsyncAgentStream, RunState, StepRecord, _Emit, hook
from ._text_format import STOP, TextReActParser, parse_action_input, text_prompt
from .approval import ApprovalRequest, Approver, as_approver, ask_user, decide, denial_text
from .output import ANSWER_TOOL, Output
from .progress import ProgressFeed
from .tools import Tool, ToolInputError, as_tools, observe_output

__all__ = ["ReActAgent", "AGENT_OPTIONS", "DEFAULT_SYSTEM_PROMPT"]

#: Keyword arguments of ``from_model`` / ``from_openai`` that configure the agent, not the model.
AGENT_OPTIONS = ("max_steps", "system_prompt", "tool_timeout", "mode", "callbacks", "approve", "output_type",
                 "output_retries")
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Use the tools when they help to answer; "
    "when you know the answer, reply with it directly."
)
_OBSERVATION_LINE = re.compile(r"^[ \t*]*Observation[ \t*]*:", re.I | re.M)


class _ToolCallOf(TypedDict):
    """What every event and hook of one tool call names."""

    tool_name: str
    call_id: str
    step: int


class _EventOf(_ToolCallOf):
    """What every event of one tool call names: the hooks' names, and the tool's MCP server."""

    server: str | None


class ReActAgent:
    """A tool-using agent over an :class:`~rlm_toolkit.RLM`.

    ``tools``: functions with type hints and a docstring (sync or async), or :class:`Tool` s.
    ``max_steps``: model calls before giving up (an ``error`` and a failed ``final`` event).
    ``tool_timeout``: seconds a tool may take before its observation becomes an error.
    ``mode``: ``"native"`` tool calls, the ``"text"`` ReAct format, or ``"auto"`` (native where
    the provider has it). ``callbacks``: :class:`~rlm_toolkit.callbacks.StreamingCallback` s.
    ``approve``: ask before each tool call — a function ``(ApprovalRequest) -> True | False |
    reason`` (sync or async), or ``True`` to ask the user (``input()``, or the notebook timeline's
    buttons); see :mod:`rlm_toolkit.agents.approval`.
    ``output_type``: the final answer as a validated object (anything ``schema=`` takes: a pydantic
    model, a dataclass, ``list[Model]``, a JSON Schema dict, ``"name, age int"``); ``run`` returns
    it, the ``final`` event holds it as JSON (``output``). ``output_retries``: how many times an
    answer that does not fit is sent back with its validation errors (see :mod:`.output`; not
    ``max_retries``, which is the RLM's retries of a failed request).
    """

    def __init__(
        self,
        rlm: RLM | Provider | str | None = None,
        tools: Sequence[Any] | None = None,
        *,
        max_steps: int = 8,
        system_prompt: str | None = None,
        tool_timeout: float | None = 30.0,
        mode: str = "auto",
        callbacks: Sequence[Any] | None = None,
        approve: Approver | bool | None = None,
        output_type: Any = None,
        output_retries: int = 1,
    ) -> None:
        if isinstance(rlm, RLM):
            self.rlm = rlm
        elif rlm is None or isinstance(rlm, (Provider, str)):
            self.rlm = RLM(rlm)
        else:
            raise UsageError(
                f"ReActAgent needs an RLM, a Provider or a 'provider:model' id, got {type(rlm).__name__}"
            )
        self.tools: list[Tool] = as_tools(tools)
        if mode not in ("auto", "native", "text"):
            raise UsageError(f"mode must be 'auto', 'native' or 'text', not {mode!r}")
        if mode == "native" and not self.rlm.provider.supports_tools:
            raise UsageError(f"{self.rlm.model_id} has no native tool calls; use mode='text' or 'auto'")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise UsageError(f"max_steps must be a positive integer, not {max_steps!r}")
        if tool_timeout is not None and tool_timeout <= 0:
            raise UsageError(f"tool_timeout must be positive seconds or None, not {tool_timeout!r}")
        self.mode = mode
        self.max_steps = max_steps
        self.system_prompt = system_prompt
        self.tool_timeout = tool_timeout
        self.callbacks = list(callbacks or [])
        self.approve = as_approver(approve)
        self.output = Output.of(output_type, max_retries=output_retries, native=self.native, tools=self.tools,
                                provider=self.rlm.provider)
        self.history: list[StepRecord] = []
        self.last_final: AgentEvent | None = None
        self.last_output: Any = None  #: a typed run's validated answer (``output_type``)

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def from_model(cls, model_id: str, tools: Sequence[Any] | None = None, **kwargs: Any) -> ReActAgent:
        """``ReActAgent.from_model("openai:gpt-4o", tools=[...], max_steps=5, temperature=0)``.

        Agent options (``AGENT_OPTIONS``) configure the agent; the rest (sampling parameters,
        ``base_url``, ``api_key_env``, …) go to :class:`~rlm_toolkit.RLM`.
        """
        options = {k: kwargs.pop(k) for k in AGENT_OPTIONS if k in kwargs}
        tools = as_tools(tools)  # a bad tool is reported before any provider is built
        return cls(RLM(model_id, **kwargs), tools, **options)

    @classmethod
    def from_openai(
        cls,
        model: str = "gpt-4o-mini",
        tools: Sequence[Any] | None = None,
        *,
        api: str = "chat",
        **kwargs: Any,
    ) -> ReActAgent:
        """OpenAI or any OpenAI-compatible server (``base_url=`` or ``$OPENAI_BASE_URL``);
        ``api="responses"`` for OpenAI's Responses API."""
        return cls.from_model(openai_model_id(model, api), tools, **kwargs)

    # -- the public calls -----------------------------------------------------------------------

    def stream(self, task: Prompt, *, callbacks: Sequence[Any] | None = None, record: Any = None,
               max_cost: float | None = None, max_tokens_total: int | None = None) -> AgentStream:
        """The run's events as they happen, from sync code (a script, a notebook cell, a thread).

        Event order: per step ``token`` s, then (if it calls tools) a ``thought`` and an
        ``action`` + ``observation`` per call; at the end exactly one ``final``. If the provider
        fails mid-run, an ``error`` event and a ``final`` with ``is_error=True`` (and the partial
        text) are yielded, then the provider's typed error is raised from the loop.
        ``record="run.jsonl"`` writes the run to a trace (see :mod:`rlm_toolkit.trace`).
        ``max_cost`` / ``max_tokens_total``: a budget for the whole run, summed over its steps; past
        it the run ends with a ``final`` whose ``stop_reason`` is ``"budget"``
        (see :mod:`rlm_toolkit.budget`).
        """
        state = self._new_run(max_cost, max_tokens_total)
        callbacks = self._recording(callbacks, record, state)
        self.rlm.provider.before_wait()  # this thread waits while the model runs on the bridge
        return AgentStream(lambda s, w: self._loop(task, s, w), self._manager(callbacks), state)

    def astream(
        self, task: Prompt, *, callbacks: Sequence[Any] | None = None, record: Any = None,
        max_cost: float | None = None, max_tokens_total: int | None = None,
    ) -> AsyncAgentStream:
        """Async twin of :meth:`stream`, run in the calling event loop."""
        state = self._new_run(max_cost, max_tokens_total)
        callbacks = self._recording(callbacks, record, state)
        return AsyncAgentStream(lambda s, w: self._loop(task, s, w), self._manager(callbacks), state)

    def run(self, task: Prompt, *, callbacks: Sequence[Any] | None = None, record: Any = None,
            max_cost: float | None = None, max_tokens_total: int | None = None) -> str:
        """Run to the end and return the final answer's text (see :meth:`stream` for errors).

        After ``max_steps`` without an answer the text explains that; ``agent.last_final.is_error``
        tells the two apart.
        """
        with self.stream(task, callbacks=callbacks, record=record, max_cost=max_cost,
                         max_tokens_total=max_tokens_total) as events:
            for _ in events:
                pass
            return self._result(events.final, events.output)

    async def arun(self, task: Prompt, *, callbacks: Sequence[Any] | None = None, record: Any = None,
                   max_cost: float | None = None, max_tokens_total: int | None = None) -> str:
        async with self.astream(task, callbacks=callbacks, record=record, max_cost=max_cost,
                                max_tokens_total=max_tokens_total) as events:
            async for _ in events:
                pass
            return self._result(events.final, events.output)

    def _result(self, final: AgentEvent | None, output: Any) -> Any:
        """What ``run`` returns: the answer's text, or a typed run's validated value (None when the
        run ended without one: max_steps, a budget; ``last_final`` says which)."""
        if self.output is None:
            return final.content if final else ""
        return output

    @property
    def native(self) -> bool:
        """Whether this agent uses native tool calls (else the text ReAct format)."""
        return self.mode == "native" or (self.mode == "auto" and bool(self.rlm.provider.supports_tools))

    def __repr__(self) -> str:
        return f"ReActAgent({self.rlm.model_id!r}, tools={[t.name for t in self.tools]!r})"

    # -- the step loop ---------------------------------------------------------------------------

    def _new_run(self, max_cost: Any = None, max_tokens_total: Any = None) -> RunState:
        state = RunState(budget=Budget.of(max_cost, max_tokens_total, provider=self.rlm.provider),
                         approver=self.approve, schema=self.output.schema if self.output else None)
        self.history = state.history
        self.last_output = None
        return state

    def _recording(
        self, callbacks: Sequence[Any] | None, record: Any, state: RunState
    ) -> Sequence[Any] | None:
        """The run's callbacks, plus a trace recorder when ``record`` names a file."""
        if record is None:
            return callbacks
        from ..trace.recorders import AgentRecorder

        header = {"schema": state.schema.to_dict()} if state.schema is not None else None
        recorder = AgentRecorder(
            record, self.rlm.model_id, history=lambda: state.history, started=state.started, header=header
        )
        return [*(callbacks or ()), recorder]

    def _manager(self, callbacks: Sequence[Any] | None) -> CallbackManager:
        return CallbackManager.merge(self.rlm.callbacks, self.callbacks, callbacks)

    def _system(self) -> str:
        """The run's system prompt: the agent's (or the RLM's), with the tools in text mode. It
        goes first in every step's request; a system message in the task only follows it."""
        base = self.system_prompt or self.rlm.params.get("system")
        prompt = text_prompt(self.tools, base) if not self.native else (base or DEFAULT_SYSTEM_PROMPT)
        return self.output.system(prompt) if self.output is not None else prompt

    async def _loop(self, task: Prompt, state: RunState, wanted: frozenset[str]) -> AsyncIterator[Any]:
        """The agent: one async generator of events and hooks (see ``_driver`` for how it is driven).

        Whatever fails on the way (the provider, a bad parameter, a bug) still ends the run with
        an ``error`` and a failed ``final`` before the exception propagates.
        """
        steps = self._steps(task, state, wanted)
        try:
            async for item in steps:
                yield item
        except Exception as error:
            if state.final is None:
                step = len(state.history) or 1
                yield AgentEvent(type="error", content=describe(error), step=step, is_error=True)
                yield self._final(state, state.partial, step, is_error=True)
            raise
        finally:
            await steps.aclose()  # type: ignore[attr-defined]  # an async generator (apump's)

    def _start(self, task: Prompt, system: str) -> tuple[int, list[dict[str, Any]]]:
        """The first live step and the messages it sends: step 1 and the task (checked, the system
        first); a fork (rlm_toolkit.agents.fork) starts later, from a recorded run's messages."""
        return 1, self.rlm.request(task, system=system).messages

    async def _steps(self, task: Prompt, state: RunState, wanted: frozenset[str]) -> AsyncIterator[Any]:
        native, by_name = self.native, {t.name: t for t in self.tools}
        system = self._system()
        first, messages = self._start(task, system)
        stop = self.rlm.params.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        tools = [t.spec() for t in self.tools] if native and self.tools else None
        output, retries = self.output, 0
        if output is not None and output.way == "tool":
            tools = [*(tools or ()), output.tool_spec()]
        schema = output.request_schema if output is not None else None
        last_action = ""
        for step in range(first, self.max_steps + 1):
            request = self.rlm.request(messages, system=system, tools=tools, schema=schema,
                                       stop=None if native else [*stop, STOP])
            request.budget = state.budget
            record = StepRecord.begin(step, "native" if native else "text", request)
            state.history.append(record)
            # The model call's own step function and pump: its LLM hooks (with step=) come out as
            # Hook items, in order, and go on to the caller's thread through this loop's driver.
            call = self.rlm._call(request, wanted, step=step)
            model = apump(functools.partial(self.rlm._produce, request), call, batches=True)
            parser = None if native else TextReActParser()
            began = time.perf_counter()
            try:
                async for piece in model:
                    if isinstance(piece, Hook):
                        yield piece
                    elif piece.type == "reasoning":
                        if piece.text:
                            yield AgentEvent(type="reasoning", content=piece.text, step=step)
                    elif piece.type != "text":
                        continue
                    elif parser is None:
                        yield AgentEvent(type="token", content=piece.text, step=step)
                    else:
                        for item in parser.feed(piece.text):
                            yield self._parsed(item, step)
            except Exception as error:
                record.end(call.response, began)
                record.error = describe(error)
                state.partial = call.response.text
                raise
            finally:
                await model.aclose()
            response = call.response
            record.end(response, began)
            if state.budget is not None:
                state.budget.add(response)
                if state.budget.exceeded():  # cut mid-answer, or the step's usage went past it
                    record.final = response.text
                    yield self._final(state, response.text, step, stop_reason="budget")
                    return

            if native:
                calls = [c for c in response.tool_calls if c.name or c.arguments]
                answer = next((c for c in calls if c.name == ANSWER_TOOL), None) \
                    if output is not None and output.way == "tool" else None
                if output is not None and (answer is not None or not calls):
                    raw = answer.arguments if answer is not None else response.text
                    typed = self._typed(state, record, step, raw)
                    if isinstance(typed, _Emit):
                        yield typed
                        return
                    retries = self._retry(state, typed, retries, raw)
                    yield AgentEvent(type="error", content=f"{typed.message} (retry {retries} of "
                                     f"{output.max_retries})", step=step, is_error=True, outcome="retry")
                    call_id = (answer.call_id or f"call_{step}_0") if answer is not None else None
                    messages += output.sent_back(typed, response.text if answer else raw, raw, call_id)
                    continue
                if not calls:
                    record.final = response.text
                    yield self._final(state, response.text, step)
                    return
                if response.text.strip():
                    yield AgentEvent(type="thought", content=response.text, step=step, streamed=True)
                planned = []
                for index, asked in enumerate(calls):
                    call_id = asked.call_id or f"call_{step}_{index}"
                    planned.append((call_id, asked.name, _json_arguments(asked.arguments), asked.arguments))
                messages.append(
                    {
                        "role": "assistant",
                        "content": response.text or None,
                        "tool_calls": [
                            {"id": cid, "type": "function", "function": {"name": name, "arguments": raw}}
                            for cid, name, _, raw in planned
                        ],
                        **_signed_reasoning(response),
                    }
                )
            else:
                assert parser is not None
                items, parsed = parser.finish()
                for item in items:
                    yield self._parsed(item, step)
                if parsed.action is None and output is not None:
                    raw = parsed.final or ""
                    typed = self._typed(state, record, step, raw)
                    if isinstance(typed, _Emit):
                        yield typed
                        return
                    retries = self._retry(state, typed, retries, raw)
                    yield AgentEvent(type="error", content=f"{typed.message} (retry {retries} of "
                                     f"{output.max_retries})", step=step, is_error=True, outcome="retry")
                    messages += output.sent_back(typed, response.text.rstrip(), raw)
                    continue
                if parsed.action is None:
                    record.final = parsed.final or ""
                    yield self._final(state, record.final, step)
                    return
                name = parsed.tool_name(list(by_name)) or ""  # never empty: parsed.action is set
                arguments = parse_action_input(parsed.action_input, by_name.get(name))
                planned = [(f"call_{step}_0", name, arguments, parsed.action_input)]
                said = _OBSERVATION_LINE.split(response.text, maxsplit=1)[0].rstrip()
                messages.append({"role": "assistant", "content": said})

            for call_id, name, arguments, raw in planned:
                last_action = name
                record.tool_calls.append({"call_id": call_id, "name": name, "arguments": raw,
                                          "input": arguments if isinstance(arguments, dict) else None})
                observation = None
                async for out in self._act(state, step, call_id, name, arguments, raw, by_name):
                    if isinstance(out, _Emit) and out.event.type == "observation":
                        observation = out.event
                    yield out
                assert observation is not None
                record.observations.append(
                    {
                        "call_id": call_id,
                        "tool_name": name,
                        "content": observation.content,
                        "is_error": observation.is_error,
                        "duration": observation.duration,
                    }
                )
                if native:
                    messages.append({"role": "tool", "tool_call_id": call_id, "content": observation.content})
                else:
                    messages.append({"role": "user", "content": f"Observation: {observation.content}"})

        message = (f"no final answer after {self.max_steps} steps (max_steps={self.max_steps}); "
                   f"the last step called {last_action!r}")
        yield AgentEvent(type="error", content=message, step=self.max_steps, is_error=True)
        yield self._final(state, f"No final answer: {message}.", self.max_steps, is_error=True)

    async def _act(
        self, state: RunState, step: int, call_id: str, name: str, arguments: Any, raw: str,
        by_name: dict[str, Tool],
    ) -> AsyncIterator[Any]:
        """One tool call: ``action``, then ``observation`` (and ``error`` if it failed). With an
        approver, a call that could run is first put to it (two ``approval`` events); a denied one
        does not run and its observation says so."""
        if isinstance(arguments, dict):
            shown = arguments
        else:
            shown = {"arguments": raw} if isinstance(arguments, ToolInputError) else {"input": arguments}
        tool = by_name.get(name)
        server = getattr(tool, "server", None) or None  # an MCP tool's server (rlm_toolkit.mcp.MCPTool)
        action = AgentEvent(type="action", tool_name=name, input=shown, step=step, call_id=call_id,
                            server=server)
        start = hook("on_tool_start", name, shown, call_id=call_id, step=step)
        approver = state.approver
        if not approver and tool is not None and tool.requires_approval:
            approver = state.asker or True  # asked as approve=True asks; denied where nobody can answer
        started = not approver  # with an approver, a tool starts once approved
        yield _Emit(action, (hook("on_agent_action", action, step=step), *((start,) if started else ())))
        named: _ToolCallOf = {"tool_name": name, "call_id": call_id, "step": step}
        common: _EventOf = {**named, "server": server}
        error: BaseException | None = None
        try:
            if tool is None:
                known = ", ".join(by_name) or "none"
                raise ToolInputError(f"there is no tool named {name!r}; the tools are: {known}")
            if isinstance(arguments, ToolInputError):
                raise arguments
            valid = tool.validate(arguments)
        except Exception as exc:  # a call that cannot run is not put to the approver
            error = exc
        if error is None and approver:
            request = ApprovalRequest(tool_name=name, arguments=valid, call_id=call_id, step=step)
            yield AgentEvent(type="approval", input=valid, **common)
            approved, reason = await decide(ask_user if approver is True else approver, request)
            decision = AgentEvent(type="approval", content=reason, input=valid,
                                  outcome="approved" if approved else "denied", **common)
            if not approved:
                yield decision
                yield _Emit(AgentEvent(type="observation", content=denial_text(request, reason), input=shown,
                                       duration=0.0, outcome="denied", **common))
                return
            yield _Emit(decision, (start,))
            started = True
        began = time.perf_counter()
        images: list[dict[str, str]] = []
        try:
            if error is not None:
                raise error
            assert tool is not None
            feed = ProgressFeed()  # what the tool reports while it runs: progress events
            call = feed.start(observe_output(tool, valid, timeout=self.tool_timeout))
            try:
                async for done, total, message in feed.until(call):
                    yield AgentEvent(type="progress", content=message, progress=done, total=total, **common)
                content, images = call.result()
            except (TimeoutError, asyncio.TimeoutError):
                raise TimeoutError(
                    f"tool {name!r} did not finish within {self.tool_timeout:g} s (tool_timeout)"
                ) from None
            finally:
                await feed.settle(call)
        except Exception as exc:
            error = exc
            content = describe(exc)
        duration = time.perf_counter() - began
        observation = AgentEvent(type="observation", content=content, input=shown, duration=duration,
                                 is_error=error is not None, images=images or None, **common)
        if error is None:
            yield _Emit(observation, (hook("on_tool_end", content, duration=duration, **named),))
        else:
            yield _Emit(observation, (*(() if started else (start,)),
                                      hook("on_tool_error", error, duration=duration, **named)))
            yield AgentEvent(type="error", content=content, is_error=True, **common)

    def _typed(self, state: RunState, record: StepRecord, step: int,
               raw: str) -> _Emit | StructuredOutputError:
        """A typed run's final answer checked: its ``final`` event, or the error to send back."""
        assert self.output is not None
        try:
            provider = self.rlm.provider
            value, data = self.output.check(raw, provider=provider.name, model=provider.model)
        except StructuredOutputError as error:
            return error
        record.final = raw
        state.output = self.last_output = value
        return self._final(state, json.dumps(data, ensure_ascii=False, indent=2), step, output=data)

    def _retry(self, state: RunState, error: StructuredOutputError, retries: int, raw: str) -> int:
        """One more retry of an answer that did not fit, or the error itself once they are used up
        (the run then ends failed, its raw text kept on the final event)."""
        assert self.output is not None
        if retries >= self.output.max_retries:
            state.partial = raw
            raise error
        return retries + 1

    def _parsed(self, item: tuple[Any, ...], step: int) -> AgentEvent:
        if item[0] == "token":
            return AgentEvent(type="token", content=item[1], step=step)
        return AgentEvent(type="thought", content=item[1], step=step, streamed=item[2])

    def _final(self, state: RunState, text: str, step: int, *, is_error: bool = False,
               stop_reason: str | None = None, output: Any = None) -> _Emit:
        final = AgentEvent(type="final", content=text.strip(), step=step, is_error=is_error,
                           duration=time.perf_counter() - state.started, stop_reason=stop_reason,
                           output=output)
        state.final = self.last_final = final
        typed = {"schema": state.schema} if state.schema is not None else {}
        return _Emit(final, (hook("on_agent_finish", final, step=step, **typed),))


def _json_arguments(raw: str) -> Any:
    """A native call's arguments: a dict, or the :class:`ToolInputError` to report back."""
    if not raw.strip():
        return {}
    try:
        value = loads(raw)
    except ValueError as error:
        return ToolInputError(f"the arguments are not valid JSON ({error}): {raw[:200]!r}")
    return value


def _signed_reasoning(response: Any) -> dict[str, Any]:
    """``reasoning_blocks`` for the assistant message of a tool-use turn, when the provider signed
    them (Anthropic's thinking): it must get them back unchanged. Unsigned reasoning is not sent back."""
    blocks = [b for b in response.reasoning_blocks
              if b.get("signature") or b.get("type") == "redacted_thinking"]
    return {"reasoning_blocks": blocks} if blocks else {}

