"""What ``%%rlm --agent`` does (the cell is the task; :mod:`.rlm` parses and dispatches here).

::

    %%rlm --agent --tools add,search -m openai:gpt-4o --record run.jsonl
    What is 2 + 40? Then look up who said it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlm_toolkit.errors import UsageError
from rlm_toolkit.trace import AgentRecorder

from ..timeline.display import display_agent
from ..timeline.forking import ForkSource
from ..timeline.plain import PlainTimeline
from ..timeline.view import TimelineView

__all__ = ["resolve_tools", "run_agent", "fork_source"]


def resolve_tools(names: str | None, namespace: Mapping[str, Any]) -> list[Any]:
    """The functions named in ``--tools a,b`` from the user's namespace; an unknown name is a UsageError."""
    tools = []
    for name in (n.strip() for n in (names or "").split(",")):
        if not name:
            continue
        if name not in namespace:
            known = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_")
                           and getattr(v, "__module__", None) == "__main__")
            hint = f"; functions defined here: {', '.join(known)}" if known else ""
            raise UsageError(f"--tools: no function named {name!r} in the notebook{hint}")
        value = namespace[name]
        if not callable(value) and not hasattr(value, "spec"):
            raise UsageError(f"--tools: {name!r} is a {type(value).__name__}, not a function")
        tools.append(value)
    return tools


def fork_source(args: Any, namespace: Mapping[str, Any]) -> ForkSource | None:
    """A recorded ``%%rlm --agent`` run's forks: its trace, and the model and tools as the cell named
    them (so the fork's cell says ``model=slow_model``, ``tools=[add]``; MCP tools have no name
    here, so such a fork gets ``tools='recorded'``). None when the run is not recorded."""
    if not args.record:
        return None
    model = args.model or None
    tools = [] if args.mcp else [n.strip() for n in (args.tools or "").split(",") if n.strip()]
    return ForkSource(str(args.record), model=model,
                      model_is_name=bool(model and model.isidentifier() and model in namespace),
                      tools=tools, approve=bool(args.approve))


def run_agent(
    task: str,
    rlm: Any,
    tools: list[Any],
    *,
    record: str | None = None,
    overwrite: bool = False,
    max_steps: int | None = None,
    system: str | None = None,
    widget: bool | None = None,
    keep_widget: bool = False,
    background: bool = False,
    budget: dict[str, Any] | None = None,
    approve: bool = False,
    fork: ForkSource | None = None,
    output_type: Any = None,
) -> TimelineView | PlainTimeline:
    """Run ``task`` with a :class:`~rlm_toolkit.agents.ReActAgent` and show it as a live timeline
    (``background=True``: on the toolkit's loop thread, returning at once, printed as it happens
    where there is no widget; in the foreground with no widget front end, printed as it happens
    and then, in a kernel, replaced by the static twin; ``budget``: the
    run's ``max_cost`` / ``max_tokens_total``; ``approve=True``: each tool call waits for the
    timeline's Approve / Deny, or ``input()`` where there are no widgets; ``fork``: a recorded
    run's "Fork from here": see :func:`~rlm_jupyter.magics.fork.offer_fork`, called once the run ends;
    ``output_type``: the final answer as a validated object, see ``ReActAgent``)."""
    from rlm_toolkit.agents import ReActAgent

    if not task.strip():
        raise UsageError("%%rlm --agent: the cell is the task; it is empty")
    options: dict[str, Any] = {"max_steps": max_steps} if max_steps else {}
    agent = ReActAgent(rlm, tools=tools, system_prompt=system, approve=approve, output_type=output_type,
                       **options)
    # Recording through our own recorder lets the live timeline start when the recording does, so
    # a replay shows the same durations.
    header = {"schema": agent.output.schema.to_dict()} if agent.output is not None else None
    recorder = AgentRecorder(record, agent.rlm.model_id, history=lambda: agent.history,
                             overwrite=overwrite, header=header) if record else None
    callbacks = [recorder] if recorder else None
    started_at = recorder.recorder.created if recorder else None
    if background:
        view = display_agent(agent.astream(task.strip(), callbacks=callbacks, **(budget or {})),
                             model=agent.rlm.model_id, widget=widget,
                             keep_widget=keep_widget, started_at=started_at, steps=lambda: agent.history,
                             background=True, fork=fork)
        if recorder is not None:  # closed once the run has ended
            view.task.add_done_callback(lambda _f: recorder.recorder.close(state="stopped"))
        return view
    stream = agent.stream(task.strip(), callbacks=callbacks, **(budget or {}))
    try:
        view = display_agent(stream, model=agent.rlm.model_id, widget=widget, keep_widget=keep_widget,
                             started_at=started_at, replace=True, fork=fork)
    finally:
        if recorder is not None:  # an interrupted run never reaches its final event: close it here
            recorder.recorder.close(state="stopped")
    return view  # the caller offers a Fork from here clicked meanwhile (offer_fork): the trace is whole
