"""The agent's events, under the name they were first imported by.

They live in :mod:`rlm_toolkit.events`, beside the stream events, so that traces and exporters
read them without importing the agent.
"""

from __future__ import annotations

from ..events import EVENT_TYPES, AgentEvent, AgentEventType

__all__ = ["AgentEvent", "AgentEventType", "EVENT_TYPES"]
