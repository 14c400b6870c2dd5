"""The trace format's shared names: its version, what a trace records, and the path type.

One place for what the writer, the reader and the other formats' readers (OTLP import) agree on;
the format itself is documented in docs/traces.md.
"""

from __future__ import annotations

import os
from typing import Literal, Union

from ..events import AgentEvent, StreamEvent

__all__ = ["VERSION", "Kind", "Event", "PathLike"]

#: The format version written in every header; a reader refuses a header of another version.
VERSION = 1
#: What a trace records: one model call, or an agent run.
Kind = Literal["stream", "agent"]
#: What an ``event`` line holds.
Event = Union[StreamEvent, AgentEvent]
#: A file name, as ``open`` takes it.
PathLike = Union[str, "os.PathLike[str]"]
