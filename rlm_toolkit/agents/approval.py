"""Approval of tool calls: who may say yes or no before an agent's tool runs, and what a no means.

::

    def approve(request: ApprovalRequest) -> bool | str:
        if request.tool_name == "delete_file":
            return "deleting files needs a human"     # a denial, with the reason the model is told
        return True

    agent = ReActAgent.from_openai("gpt-4o", tools=[read_file, delete_file], approve=approve)
    agent = ReActAgent.from_openai("gpt-4o", tools=[...], approve=True)  # ask the user each time

Before each tool call the run yields an ``approval`` event (tool name, arguments) and waits for
the decision, then a second ``approval`` event with ``outcome`` ``"approved"`` or ``"denied"``. A
denied call does not run: the model gets an observation saying so (``outcome="denied"``).

The approver runs like a tool, on a daemon thread of its own (an ``async def`` one on a loop of its
own there), so it may block — a human at a prompt — without stalling any stream, and whatever it
raises (``SystemExit`` included) is a denial that names the error, never the end of the run.
``approve=True`` asks with :func:`ask_user` (an ``input()`` prompt); a front end that can do better
(the notebook's agent timeline) puts its own approver on the run (``RunState.approver``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Union

from ..errors import UsageError, describe
from .tools import ToolExit, call_in_thread

__all__ = ["ApprovalRequest", "Approver", "ask_user", "as_approver", "decide", "denial_text"]


@dataclass(frozen=True, kw_only=True)
class ApprovalRequest:
    """One tool call waiting for a decision.

    ``tool_name`` and ``arguments`` are what the model asked for (the arguments parsed, as the
    tool would get them, or ``{"arguments": raw}`` when they did not parse); ``call_id`` and
    ``step`` say which call of which step. Model output: show it as text, never as markup. An
    approver gets a copy of the arguments (:func:`decide`): changing it changes nothing; the call
    runs, and is recorded, with the arguments as they were put to it.
    """

    tool_name: str
    arguments: dict[str, Any]
    call_id: str
    step: int

    def frozen(self) -> ApprovalRequest:
        """This request with a deep copy of its arguments: what an approver is handed, so that
        whatever it changes in them (nested lists too) is not what runs."""
        return replace(self, arguments=copy.deepcopy(self.arguments))

    def describe(self) -> str:
        """``add({"a": 2, "b": 40})``: one line for a prompt or a log."""
        try:
            shown = json.dumps(self.arguments, ensure_ascii=False, sort_keys=False)
        except (TypeError, ValueError):
            shown = repr(self.arguments)
        return f"{self.tool_name}({shown})"


#: ``approver(request)`` returns (or an ``async def`` one resolves to) ``True`` to run the call,
#: ``False`` to deny it, or a string: a denial, with the reason the model is told.
Approver = Callable[[ApprovalRequest], Union[bool, str, Awaitable[Union[bool, str]]]]


def as_approver(approve: Any) -> Approver | bool | None:
    """``ReActAgent(approve=...)`` checked: None/False (no approval), True (ask the user) or a callable."""
    if approve is None or approve is False:
        return None
    if approve is True or callable(approve):
        return approve
    raise UsageError(f"approve must be a function (request -> True/False/reason), True to ask the user, or "
                     f"None; got {type(approve).__name__}")


async def decide(approver: Approver, request: ApprovalRequest) -> tuple[bool, str]:
    """Ask ``approver`` about ``request``: ``(True, "")`` to run it, ``(False, reason)`` to deny it.

    The approver runs as a tool does (:func:`~.tools.call_in_thread`, no timeout: a person may take
    their time), on a deep copy of the arguments (:meth:`ApprovalRequest.frozen`); if it raises or
    returns something that is not a decision, the call is denied and the reason says why.
    Cancelling the run cancels the wait.
    """
    try:
        asked = request.frozen()
    except Exception as error:  # arguments nested past what deepcopy's recursion allows
        return False, f"the arguments could not be copied for approval ({type(error).__name__})"
    try:
        answer = await call_in_thread(lambda: approver(asked), {}, "approve")
    except Exception as exc:  # SystemExit and the like arrive as ToolExit, an Exception
        return False, f"the approver failed ({describe(exc.error if isinstance(exc, ToolExit) else exc)})"
    if answer is True:
        return True, ""
    if answer is False:
        return False, "denied by the approver"
    if isinstance(answer, str):
        return False, answer.strip() or "denied by the approver"
    return False, f"the approver returned {type(answer).__name__}, not True, False or a reason"


def denial_text(request: ApprovalRequest, reason: str) -> str:
    """What the model is told instead of the tool's output."""
    return f"The call to {request.tool_name!r} was denied and did not run: {reason}."


#: The answers :func:`ask_user` takes as yes (anything else is a no).
YES = ("y", "yes")


def ask_user(request: ApprovalRequest, *, prompt: Callable[[str], str] | None = None) -> bool | str:
    """Ask on the console with ``input()``: ``Run add({"a": 2})? [y/N]`` (the default of ``approve=True``).

    Where nothing can be typed — stdin closed, or a notebook front end that takes no input
    (``allow_stdin`` false: nbclient, papermill) — the call is denied and the reason says so;
    it never waits for an answer that cannot come.
    """
    ask = input if prompt is None else prompt
    line = " ".join(f"rlm: step {request.step} wants to run {request.describe()}".split())
    try:
        answer = ask(f"{line[:300]} — approve? [y/N] ")
    except EOFError:
        return "nobody could be asked: standard input is closed"
    except Exception as error:  # IPython's StdinNotImplementedError: a front end without input
        if type(error).__name__ == "StdinNotImplementedError":
            return "nobody could be asked: this front end takes no input (pass approve=<function>)"
        raise
    if answer.strip().lower() in YES:
        return True
    return f"the user answered {answer.strip()[:40]!r}" if answer.strip() else "the user said no"
