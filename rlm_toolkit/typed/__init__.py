"""Typed answers: a schema in, a validated object out, partial objects as the JSON arrives.

``RLM.run(prompt, schema=Person)`` returns a ``Person``; ``RLM.stream_object`` /
``astream_object`` yield partial values first (see :mod:`.partial` for why that stays linear).
Each provider is asked in its own structured mode (docs/typed-answers.md).
"""

from __future__ import annotations

from .concise import concise_schema
from .partial import PartialParser, Prefix
from .schema import Schema
from .stream import AsyncObjectStream, ObjectFeed, ObjectStream

__all__ = ["Schema", "concise_schema", "PartialParser", "Prefix", "ObjectFeed", "ObjectStream",
           "AsyncObjectStream"]
