"""The events an agent run is made of, in order: what a timeline, a trace and callbacks consume.

One step is: the model's text (``token`` events stream it live), then either tool calls —
a ``thought`` with the step's reasoning, an ``action`` and an ``observation`` per call — or the
end of the run. The run ends with exactly one ``final`` event, always last; ``error`` events
report what went wrong on the way (a tool that raised, max_steps reached, a provider failure).

``token`` events carry text as it streams; when a step turns out to call tools, its text was
reasoning, and the ``thought`` event that follows repeats it whole (``streamed=True``).
``reasoning`` events carry the model's own reasoning as it streams (a reasoning model's thinking,
before the step's text); it belongs to the step's thought and is never part of an answer.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["AgentEvent", "AgentEventType", "EVENT_TYPES"]

AgentEventType = Literal["thought", "action", "observation", "token", "reasoning", "final", "error"]
EVENT_TYPES: tuple[str, ...] = ("thought", "action", "observation", "token", "reasoning", "final", "error")


@dataclass(kw_only=True, slots=True)
class AgentEvent:
    """One typed, timestamped agent event.

    ``content``: the text (thought, observation, token, reasoning, final answer, error message).
    ``tool_name`` / ``input`` (a dict) / ``call_id``: set on ``action`` and ``observation``.
    ``step``: 1-based step number. ``duration``: seconds the tool took (observations) or the
    whole run took (final). ``is_error``: an observation from a tool that raised or timed out,
    or a final that ends a failed run. ``streamed``: a thought whose text came as tokens first.
    ``stop_reason``: on a ``final`` that ends a run stopped early — ``"budget"`` (its ``content`` is
    the text the last step got to).
    """

    type: AgentEventType
    content: str = ""
    tool_name: str | None = None
    input: dict[str, Any] | None = None
    step: int = 0
    call_id: str | None = None
    timestamp: float = field(default_factory=time.time)
    duration: float | None = None
    is_error: bool = False
    streamed: bool = False
    stop_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentEvent:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def __str__(self) -> str:
        head = f"[{self.step}] {self.type}"
        if self.tool_name:
            head += f" {self.tool_name}({self.input or {}})"
        return f"{head}: {self.content}" if self.content else head
