"""``%rlm fork FILE --step N``: a cell below holding what the model saw at step N, to edit and run.

::

    %rlm fork run.jsonl --step 3                  # the next cell: step 3's messages, the tool results
    %rlm fork run.jsonl --step 3 --model cheap    # the same situation, another model (an id or a variable)

The generated cell is plain Python: step N's exact messages and the recorded tool results (by call id)
as literals, and one call of :func:`fork` (``rlm_jupyter.fork``), which streams the fork into the
agent timeline and records it next to its parent (``run-fork3.jsonl``), ready for
``%rlm diff run.jsonl run-fork3.jsonl``. The cell names the model (its id, or the variable given to
``--model``), never a key; it is scrubbed of every registered secret before it is offered.
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

__all__ = ["fork", "fork_cell", "line", "offer_fork", "MAX_CELL_CHARS"]

#: Past this size the cell loads the messages from the trace instead of listing them.
MAX_CELL_CHARS = 100_000


def _literal(value: Any) -> str:
    return pprint.pformat(value, width=100, sort_dicts=False)


def fork_cell(path: str, step: int | None, *, model: str | None = None, model_is_name: bool = False,
              tools: list[str] | None = None, approve: bool = False) -> str:
    """The code of the cell ``%rlm fork`` puts below (the plan is checked first: a bad fork is a
    UsageError here, not in the cell)."""
    from rlm_toolkit.agents.fork import _calls_before, plan
    from rlm_toolkit.errors import scrub

    checked = plan(path, step)
    calls = _calls_before(checked.trace, checked.step)
    results = {cid: str(call.get("content")) for cid, call in calls.items() if "content" in call}
    model_id = model if model is not None else checked.trace.model
    model_code = model if model_is_name and model else repr(model_id)
    stem = Path(path)
    record = str(stem.with_name(f"{stem.stem}-fork{checked.step}{stem.suffix or '.jsonl'}"))
    note = ""
    if tools:
        tools_code = f"[{', '.join(tools)}]"
    elif results or checked.tool_specs:
        tools_code, note = "'recorded'", "  # or [your_tool, …]: the real tools"
    else:
        tools_code = "None"
    messages = _literal(checked.messages)
    listed = _literal(results)
    if len(messages) + len(listed) > MAX_CELL_CHARS:
        messages = f"load({path!r}).messages({checked.step})  # too large to list here"
    approve_code = "\n    approve=True," if approve else ""
    code = (
        f"# Fork of {path} at step {checked.step}: edit what the model sees, then run this cell.\n"
        f"from rlm_jupyter import fork\nfrom rlm_toolkit.trace import load\n\n"
        f"messages = {messages}\n\n"
        f"# the recorded results of earlier tool calls, by call id (an edit here wins over messages)\n"
        f"tool_results = {listed}\n\n"
        f"fork(\n    {path!r},\n    step={checked.step},\n    messages=messages,\n"
        f"    tool_results=tool_results,\n    model={model_code},\n"
        f"    tools={tools_code},{note}{approve_code}\n"
        f"    record={record!r},\n)\n"
    )
    return scrub(code)


def line(args: Any, shell: Any) -> None:
    """``%rlm fork``: check the fork, put its cell below, say what to do next."""
    if not Path(args.file).exists():
        raise UsageError(f"no trace file {args.file!r} (working directory: {Path.cwd()})")
    namespace = getattr(shell, "user_ns", {}) or {}
    tools = [name.strip() for name in (args.tools or "").split(",") if name.strip()]
    missing = [name for name in tools if name not in namespace]
    if missing:
        raise UsageError(f"--tools: no variable {missing[0]!r} in this notebook")
    model_is_name = bool(args.model and args.model.isidentifier() and args.model in namespace)
    code = fork_cell(args.file, args.step, model=args.model, model_is_name=model_is_name, tools=tools,
                     approve=args.approve)
    shell.set_next_input(code, replace=False)
    print(f"Fork of {args.file}: edit the cell below and run it.")


def offer_fork(view: Any, *, cell_fails: bool = False) -> None:
    """The cell that showed a run ends: if "Fork from here" was clicked meanwhile, its execute reply
    carries the fork's cell (``set_next_input``, as ``%rlm fork`` does), built from the run's trace
    for the step clicked (a number the page sent, checked against the run's steps).

    ``cell_fails``: the cell ends with an error (a failed run), and front ends put no cell below a
    failed one (JupyterLab reads the payload of an ``ok`` reply only): the line is printed instead."""
    forks = getattr(view, "forks", None)
    step = forks.close() if forks is not None else None
    source = forks.source if forks is not None else None
    if step is None or source is None:
        return
    from IPython import get_ipython

    from rlm_toolkit.errors import UsageError as ToolkitUsageError
    from rlm_toolkit.errors import one_line

    shell = get_ipython()
    if shell is None:
        return
    if cell_fails:
        print(f"rlm: this cell fails, so no cell can appear below it; run {source.line(step)} "
              "for the fork's cell", file=sys.stderr)
        return
    try:
        code = fork_cell(source.path, step, model=source.model, model_is_name=source.model_is_name,
                         tools=source.tools, approve=source.approve)
    except (UsageError, ToolkitUsageError) as error:
        print(f"rlm: Fork from here: {one_line(error)}", file=sys.stderr)
        return
    shell.set_next_input(code, replace=False)
    print(f"Fork of {source.path} at step {step}: edit the cell below and run it.")


def fork(source: Any, step: int | None = None, **options: Any) -> Any:
    """Fork a recorded run (see :func:`rlm_toolkit.agents.fork.fork`) and show it live in the agent
    timeline; returns the finished view. ``widget=`` / ``keep_widget=`` go to ``display_agent``.
    The fork's header names its parent; recorded (``record=``), it can be forked in turn."""
    from rlm_toolkit.agents.fork import afork
    from rlm_toolkit.trace import Trace, load

    from ..timeline.display import display_agent
    from ..timeline.forking import ForkSource

    shown = {k: options.pop(k) for k in ("widget", "keep_widget") if k in options}
    trace = source if isinstance(source, Trace) else load(source)
    stream = afork(trace, step, **options)
    parent = {"file": trace.path or "trace", "step": step if step is not None else max(trace.steps)}
    record = options.get("record")
    view = display_agent(stream, parent=parent, fork=ForkSource(str(record)) if record else None, **shown)
    offer_fork(view)
    return view
