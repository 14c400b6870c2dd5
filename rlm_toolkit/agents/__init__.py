"""Agents: a ReAct loop over any RLM, with tools from plain functions, streamed as typed events.

::

    from rlm_toolkit.agents import ReActAgent

    agent = ReActAgent.from_openai("gpt-4o", tools=[search, calculate])
    for event in agent.stream("Explore Python"):
        print(event.type, event.content, event.tool_name, event.input)

    fork("run.jsonl", step=3, messages=edited)   # rerun a recorded run live from step 3 (or trace.fork)
"""

from __future__ import annotations

from ..events import EVENT_TYPES, AgentEvent, AgentEventType
from ._driver import AgentStream, AsyncAgentStream, StepRecord
from .approval import ApprovalRequest, ask_user
from .fork import afork, fork
from .react import AGENT_OPTIONS, ReActAgent
from .tools import Tool, ToolInputError, ToolOutput, as_tools, report_progress, tool

__all__ = [
    "ReActAgent",
    "AgentEvent",
    "AgentEventType",
    "EVENT_TYPES",
    "AgentStream",
    "AsyncAgentStream",
    "StepRecord",
    "Tool",
    "tool",
    "as_tools",
    "ToolInputError",
    "AGENT_OPTIONS",
    "ApprovalRequest",
    "ask_user",
    "fork",
    "afork",
    "report_progress",
    "ToolOutput",
]
