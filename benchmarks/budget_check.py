"""What a budget costs per chunk: ``RLM.stream`` over 20,000 scripted chunks, without and with one.

::

    .venv/bin/python -m benchmarks.budget_check

The budget is checked after every event (rlm_toolkit.budget); it must stay a small part of the
~8 µs a chunk takes through ``RLM.stream`` here. Median of 5 runs per row; the limits are never
reached, so every chunk is checked.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from rlm_toolkit import RLM, ScriptedProvider

N = 20_000


def per_chunk(**budget: Any) -> float:
    """Microseconds per chunk of one stream of N chunks."""
    rlm = RLM(ScriptedProvider([" w"] * N, priced_as="openai:gpt-4o"))
    started = time.perf_counter()
    count = sum(1 for _ in rlm.stream("hi", **budget))
    assert count == N
    return (time.perf_counter() - started) / N * 1e6


def main(argv: list[str] | None = None) -> None:
    rows = [("no budget", {}), ("max_tokens_total", {"max_tokens_total": 10**9}),
            ("max_cost", {"max_cost": 1000})]
    print("| budget | µs per chunk (median of 5) |\n|---|---|")
    for label, budget in rows:
        print(f"| {label} | {statistics.median(per_chunk(**budget) for _ in range(5)):.2f} |")


if __name__ == "__main__":
    main()
