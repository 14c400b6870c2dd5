"""What a ``--chat NAME`` turn costs as the chat grows: the store's work per turn at 50 and at 5,000
turns, and a whole-file rewrite per turn (read, add, write aside, replace) as the baseline.

::

    .venv/bin/python -m benchmarks.chat_turns

A turn's store work is: read what another kernel may have added (``ChatStore.load``, incremental),
cut the history to the window (``fit``, newest first, counted only as far as it fits), append the
new turn (one line, ``O_APPEND`` under ``flock``). None of it should grow with the chat's length.
Each figure is the median of 200 turns, in microseconds, the turns ~500 characters each; the window
is the embedded model's 2,048 tokens with the estimate (four characters a token).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from rlm_jupyter.context.chats import ChatStore, Turn, fit

TEXT = "a sentence of about fifty characters, repeated ... " * 5


def _grow(store: ChatStore, turns: int) -> None:
    lines = b"".join(Turn.new("openai:gpt-4o", f"{n} {TEXT}", TEXT).line() for n in range(turns))
    store.append("c", Turn.new("openai:gpt-4o", "first", "first"))
    with open(store.path("c"), "ab") as file:
        file.write(lines)


def store_turn(turns: int, repeat: int = 200) -> float:
    """Median µs of one turn's store work on a chat of ``turns`` turns."""
    with tempfile.TemporaryDirectory() as folder:
        store = ChatStore(Path(folder))
        _grow(store, turns)
        store.load("c")  # a kernel that has read the chat once (a restart reads it once, linearly)
        times = []
        for n in range(repeat):
            started = time.perf_counter()
            chat = store.load("c")
            sizes = (turn.tokens() for turn in reversed(chat.turns))
            kept, _ = fit(sizes, 40, 2048, 512)
            _ = [m for turn in chat.turns[len(chat.turns) - kept:] for m in turn.messages()]
            store.append("c", Turn.new("openai:gpt-4o", f"new {n}", TEXT))
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1e6


def rewrite_turn(turns: int, repeat: int = 200) -> float:
    """Median µs of the baseline: read the whole chat, add a turn, write it aside and replace it."""
    with tempfile.TemporaryDirectory() as folder:
        store = ChatStore(Path(folder))
        _grow(store, turns)
        path = store.path("c")
        times = []
        for n in range(repeat):
            started = time.perf_counter()
            records = [json.loads(line) for line in path.read_bytes().splitlines()]
            records.append(json.loads(Turn.new("openai:gpt-4o", f"new {n}", TEXT).line()))
            aside = path.with_suffix(".tmp")
            aside.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records))
            os.replace(aside, path)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> None:
    small, large = store_turn(50), store_turn(5_000)
    base_small, base_large = rewrite_turn(50), rewrite_turn(5_000)
    print("| per turn (median of 200) | 50 turns | 5,000 turns | ratio 5,000 / 50 |\n|---|---|---|---|")
    print(f"| ChatStore: load, fit, append | {small:,.0f} µs | {large:,.0f} µs | **{large / small:.2f}** |")
    print(f"| baseline: whole-file rewrite | {base_small:,.0f} µs | {base_large:,.0f} µs | "
          f"**{base_large / base_small:.2f}** |")


if __name__ == "__main__":
    main()
