"""Partial parsing costs O(new bytes) per chunk, not O(object so far) (issue 24): a typed answer
10 times longer, in 10 times as many chunks, costs about 10 times the CPU, not 100. Both paths:
a list schema (each element parsed once) and an object schema (re-parsed whole only when the new
text has paid for it, see rlm_toolkit/typed/partial.py)."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import BaseModel

from rlm_toolkit.typed import PartialParser, Schema


class Item(BaseModel):
    id: int
    name: str
    tags: list[str]


class Catalog(BaseModel):
    title: str
    items: list[Item]


def answer(items: int, wrap: str) -> str:
    rows = [{"id": i, "name": f"item number {i}", "tags": ["a", "b"]} for i in range(items)]
    return json.dumps({wrap: rows} if wrap == "value" else {"title": "catalog", wrap: rows})


def chunks(text: str, n: int) -> list[str]:
    size = max(1, len(text) // n)
    return [text[i : i + size] for i in range(0, len(text), size)]


def cpu_seconds(schema: Schema, pieces: list[str]) -> float:
    """Process CPU seconds to feed every piece and validate the end; the best of three."""
    best = float("inf")
    for _ in range(3):
        parser = PartialParser(schema)
        started = time.process_time()
        handed = 0
        for piece in pieces:
            if parser.feed(piece) is not None:
                handed += 1
        schema.validate("".join(pieces))
        best = min(best, time.process_time() - started)
        assert handed > 10
    return best


@pytest.mark.parametrize(("spec", "wrap"), [(list[Item], "value"), (Catalog, "items")])
def test_ten_times_the_chunks_cost_about_ten_times_the_cpu(spec, wrap):
    schema = Schema.of(spec)
    small_text, large_text = answer(500, wrap), answer(5000, wrap)  # ~25 KB and ~250 KB
    small = cpu_seconds(schema, chunks(small_text, 2_000))
    large = cpu_seconds(schema, chunks(large_text, 20_000))
    # linear is 10x; quadratic would be 100x. Generous for a shared machine.
    assert large < 35 * max(small, 1e-3), (small, large)
