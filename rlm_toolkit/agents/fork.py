"""Fork a recorded agent run at step N: replay what came before, edit what the model sees, go on live.

::

    run = load("run.jsonl")
    messages = run.messages(3)                       # what the model saw at step 3
    messages[-1]["content"] = "the tool said 42"     # ... what it should have seen
    for event in run.fork(step=3, messages=messages, model=rlm, tools=[add], record="fork.jsonl"):
        ...

Steps ``1..N-1`` are not run again: their recorded events are handed out as they were (no model
call, no tool call) and their records become the fork's history. Step ``N`` sends the recorded
messages of step N with the edits applied (``messages=`` replaces them, ``system=`` the system
message, ``tool_results={call_id: text}`` the results of earlier tool calls; what is given as recorded
is no edit), and from there the
run goes on live with the model (an :class:`~rlm_toolkit.RLM`, a ``provider:model`` id, or the
recorded model id) and the tools: the real ones (a list), or ``tools="recorded"``, a stand-in that
serves what the recorded run got for the same call and answers any other call with an error
observation saying it was not recorded. The fork's trace (``record=``) names its parent in its
header: ``{"parent": {"file": …, "step": N, "edits": {…}}}``.

Everything is checked before anything runs; a bad fork is one :class:`~rlm_toolkit.errors.UsageError`
naming the file and what is wrong (a step beyond the run, a call id the run does not have, a step
missing from the trace, another format version, a stream trace). A failed run forks from the step
that failed (its request is the last good state) or any earlier one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..events import AgentEvent
from ..rlm import RLM, Prompt
from ..trace.format import VERSION, PathLike
from ..trace.reader import Trace, load
from ._driver import AgentStream, AsyncAgentStream, RunState, StepRecord
from .react import ReActAgent
from .tools import Tool, as_tools

__all__ = ["ForkPlan", "plan", "fork", "afork", "recorded_tools", "NotRecordedError", "MORE_STEPS"]

#: Live steps a fork may take after its fork point (``max_steps=`` sets the whole run's limit).
MORE_STEPS = 8
_SAMPLING = ("temperature", "top_p", "max_tokens", "seed")
_RECORD_FIELDS = {f.name for f in dataclasses.fields(StepRecord)}


class NotRecordedError(Exception):
    """A ``tools="recorded"`` fork called a tool the recorded run never called with those arguments."""


@dataclass
class ForkPlan:
    """A checked fork: where it starts, what step N sends, and what is replayed before it."""

    trace: Trace
    step: int
    messages: list[dict[str, Any]]
    mode: str
    tool_specs: list[dict[str, Any]] | None
    params: dict[str, Any]
    replayed: list[AgentEvent] = field(default_factory=list)
    history: list[StepRecord] = field(default_factory=list)
    edits: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return self.trace.path or "trace"

    @property
    def parent(self) -> dict[str, Any]:
        """The fork's header field: the parent's file and step, and the edits."""
        return {"file": self.where, "step": self.step, "edits": self.edits}


def _calls_before(trace: Trace, step: int) -> dict[str, dict[str, Any]]:
    """Each recorded tool call of steps ``< step`` by call id: name, input, recorded result."""
    calls: dict[str, dict[str, Any]] = {}
    for number in range(1, step):
        data = trace.steps.get(number) or {}
        for call in data.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("call_id"), str):
                calls[call["call_id"]] = {"name": call.get("name"), "input": call.get("input")}
        for seen in data.get("observations") or ():
            if isinstance(seen, dict) and seen.get("call_id") in calls:
                calls[seen["call_id"]].update(content=seen.get("content"),
                                              is_error=bool(seen.get("is_error")))
    return calls


def _check_messages(messages: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(messages, (list, tuple)) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
    ):
        raise UsageError(f"{where}: messages= must be a list of {{'role': …, 'content': …}} messages")
    return copy.deepcopy(list(messages))


def _apply_tool_results(messages: list[dict[str, Any]], edits: dict[str, str],
                        calls: dict[str, dict[str, Any]], mode: str) -> None:
    """Put the edited results where step N's messages hold the recorded ones (by call id in native
    mode; the recorded ``Observation:`` message, in order, in the text format)."""
    if mode == "native":
        for message in messages:
            if message.get("role") == "tool" and message.get("tool_call_id") in edits:
                message["content"] = edits[message["tool_call_id"]]
        return
    used: set[int] = set()
    for call_id, text in edits.items():
        wanted = f"Observation: {calls[call_id].get('content')}"
        for i, message in enumerate(messages):
            if i not in used and message.get("role") == "user" and message.get("content") == wanted:
                message["content"] = f"Observation: {text}"
                used.add(i)
                break


def plan(
    source: Trace | PathLike,
    step: int | None = None,
    *,
    messages: Sequence[dict[str, Any]] | None = None,
    tool_results: dict[str, str] | None = None,
    system: str | None = None,
) -> ForkPlan:
    """Check a fork of ``source`` at ``step`` (default: the run's last step) and apply its edits."""
    trace = source if isinstance(source, Trace) else load(source)
    where = trace.path or "trace"
    version = trace.header.get("version", VERSION)
    if version != VERSION:
        raise UsageError(f"{where}: trace format version {version}; fork reads version {VERSION} only")
    if trace.kind != "agent":
        raise UsageError(f"{where}: a {trace.kind} trace, not an agent run; only an agent run forks")
    if not trace.steps:
        raise UsageError(f"{where}: the trace records no steps (no request to fork from)")
    last = max(trace.steps)
    if step is None:
        step = last
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        raise UsageError(f"{where}: step must be a step number (1, 2, …), not {step!r}")
    if step > last:
        ended = f"failed at step {last}" if trace.state == "error" else f"has {last} step{'s' * (last != 1)}"
        raise UsageError(f"{where}: step {step} is beyond the run (it {ended}; fork at 1..{last})")
    missing = [n for n in range(1, step + 1) if n not in trace.steps]
    if missing:
        raise UsageError(f"{where}: step {missing[0]} is missing from the trace; "
                         f"cannot replay up to step {step}")
    calls = _calls_before(trace, step)
    edits: dict[str, Any] = {}
    results = dict(tool_results or {})
    for call_id, text in results.items():
        if call_id not in calls:
            known = ", ".join(calls) or "none"
            raise UsageError(f"{where}: no tool call {call_id!r} before step {step} (call ids: {known})")
        if not isinstance(text, str):
            raise UsageError(f"{where}: the edited result of {call_id!r} must be text, "
                             f"not {type(text).__name__}")
    # a result given as recorded is no edit (the generated cell lists them all, to be edited)
    results = {k: v for k, v in results.items() if v != calls[k].get("content")}
    data = trace.steps[step]
    mode = "text" if data.get("mode") == "text" else "native"
    sent = _check_messages(data.get("messages") or [], f"{where}: step {step}")
    if messages is not None:  # messages given as recorded are no edit
        given = _check_messages(messages, where)
        if given != sent:
            edits["messages"], sent = copy.deepcopy(given), given
    if results:
        _apply_tool_results(sent, results, calls, mode)
        edits["tool_results"] = results
    if system is not None:
        if not isinstance(system, str):
            raise UsageError(f"{where}: system= must be text, not {type(system).__name__}")
        if sent and sent[0].get("role") == "system":
            sent[0] = {**sent[0], "content": system}
        else:
            sent.insert(0, {"role": "system", "content": system})
        edits["system"] = system
    specs = data.get("tools")
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    now = time.time()
    replayed = []
    for event in trace.events:
        if isinstance(event, AgentEvent) and event.step < step and event.type != "final":
            shown = event
            if event.type == "observation" and event.call_id in results:
                shown = dataclasses.replace(event, content=results[event.call_id])
            replayed.append(dataclasses.replace(shown, timestamp=now))
    history = [StepRecord(**{k: v for k, v in trace.steps[n].items() if k in _RECORD_FIELDS})
               for n in range(1, step)]
    return ForkPlan(trace=trace, step=step, messages=sent, mode=mode,
                    tool_specs=specs if isinstance(specs, list) else None, params=dict(params or {}),
                    replayed=replayed, history=history, edits=edits)


def _key(name: Any, arguments: Any) -> str:
    return json.dumps([name, arguments], sort_keys=True, default=str)


def recorded_tools(trace: Trace, specs: Sequence[dict[str, Any]] | None = None) -> list[Tool]:
    """Stand-ins for a recorded run's tools: each serves the recorded result of the same call (name
    and arguments) and answers any other call with a :class:`NotRecordedError` (an error observation)."""
    served: dict[str, Any] = {}
    for call in _calls_before(trace, max(trace.steps, default=0) + 1).values():
        if "content" in call:
            served.setdefault(_key(call["name"], call["input"]), call)
    where = trace.path or "the trace"
    tools = []
    for spec in specs or ():
        function = spec.get("function") if isinstance(spec, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        name = function["name"]

        def stand_in(_name: str = name, **arguments: Any) -> str:
            call = served.get(_key(_name, arguments))
            if call is None:
                shown = json.dumps(arguments, default=str)[:200]
                raise NotRecordedError(f"tool {_name!r} was not called with {shown} in the recorded run "
                                       f"({where}); tools='recorded' runs no real tool")
            if call.get("is_error"):
                raise NotRecordedError(str(call.get("content")))
            return str(call.get("content"))

        parameters = function.get("parameters")
        tools.append(Tool(name=name, description=str(function.get("description") or name),
                          parameters=parameters if isinstance(parameters, dict) else {"type": "object"},
                          fn=stand_in))
    return tools


class _ForkAgent(ReActAgent):
    """A ReActAgent that replays a plan's first steps and starts live at its fork point."""

    plan: ForkPlan

    def _system(self) -> str:
        first = self.plan.messages[0] if self.plan.messages else {}
        return str(first.get("content") or "") if first.get("role") == "system" else ""

    def _start(self, task: Prompt, system: str) -> tuple[int, list[dict[str, Any]]]:
        return self.plan.step, copy.deepcopy(self.plan.messages)

    async def _steps(self, task: Prompt, state: RunState, wanted: frozenset[str]) -> Any:
        state.history.extend(self.plan.history)
        for event in self.plan.replayed:
            yield event
        async for item in super()._steps(task, state, wanted):
            yield item

    def _recording(
        self, callbacks: Sequence[Any] | None, record: Any, state: RunState
    ) -> Sequence[Any] | None:
        if record is None:
            return callbacks
        from ..trace.recorders import AgentRecorder

        recorder = AgentRecorder(record, self.rlm.model_id, history=lambda: state.history,
                                 started=state.started, header={"parent": self.plan.parent})
        return [*(callbacks or ()), recorder]


def _agent(checked: ForkPlan, model: Any, tools: Any, approve: Any, max_steps: int | None,
           callbacks: Sequence[Any] | None) -> _ForkAgent:
    where = checked.where
    if isinstance(model, RLM):
        rlm = model
    else:
        model_id = model if model is not None else checked.trace.model
        if not isinstance(model_id, str) or not model_id:
            raise UsageError(f"{where}: the trace names no model; "
                             f"pass model= (an RLM or a 'provider:model' id)")
        rlm = RLM(model_id, **{k: checked.params[k] for k in _SAMPLING if checked.params.get(k) is not None})
    if isinstance(tools, str):
        if tools != "recorded":
            raise UsageError(f"tools= is a list of tools or 'recorded', not {tools!r}")
        chosen = recorded_tools(checked.trace, checked.tool_specs)
    elif tools is None:
        names = [s.get("function", {}).get("name") for s in checked.tool_specs or () if isinstance(s, dict)]
        if names or _calls_before(checked.trace, checked.step):
            shown = ", ".join(str(n) for n in names) or "tools"
            raise UsageError(f"{where}: the run used tools ({shown}); pass tools=[…] (the real ones) "
                             f"or tools='recorded'")
        chosen = []
    else:
        chosen = as_tools(tools)
    limit = max_steps if max_steps is not None else checked.step - 1 + MORE_STEPS
    if not isinstance(limit, int) or limit < checked.step:
        raise UsageError(f"max_steps must be at least the fork's step ({checked.step}), not {limit!r}")
    agent = _ForkAgent(rlm, chosen, max_steps=limit, mode=checked.mode, approve=approve, callbacks=callbacks)
    agent.plan = checked
    return agent


def fork(
    source: Trace | PathLike,
    step: int | None = None,
    *,
    messages: Sequence[dict[str, Any]] | None = None,
    tool_results: dict[str, str] | None = None,
    system: str | None = None,
    model: RLM | str | None = None,
    tools: Sequence[Any] | str | None = None,
    approve: Any = None,
    record: PathLike | None = None,
    callbacks: Sequence[Any] | None = None,
    max_steps: int | None = None,
) -> AgentStream:
    """The fork's events, from sync code (what ``ReActAgent.stream`` returns; see the module)."""
    checked = plan(source, step, messages=messages, tool_results=tool_results, system=system)
    agent = _agent(checked, model, tools, approve, max_steps, callbacks)
    return agent.stream("", record=record)


def afork(
    source: Trace | PathLike,
    step: int | None = None,
    *,
    messages: Sequence[dict[str, Any]] | None = None,
    tool_results: dict[str, str] | None = None,
    system: str | None = None,
    model: RLM | str | None = None,
    tools: Sequence[Any] | str | None = None,
    approve: Any = None,
    record: PathLike | None = None,
    callbacks: Sequence[Any] | None = None,
    max_steps: int | None = None,
) -> AsyncAgentStream:
    """Async twin of :func:`fork` (what ``ReActAgent.astream`` returns), run in your event loop."""
    checked = plan(source, step, messages=messages, tool_results=tool_results, system=system)
    agent = _agent(checked, model, tools, approve, max_steps, callbacks)
    return agent.astream("", record=record)
