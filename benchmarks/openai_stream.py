"""Chunks per second through ``RLM.stream`` vs. the raw ``openai`` SDK, same loopback server.

::

    .venv/bin/python -m benchmarks.openai_stream [--chunks 20000] [--repeat 5]

Both clients read the same body (20,000 ``chat.completion.chunk`` events, usage on) from one
loopback server running in a process of its own (so its CPU is not the client's), in two modes: ``bulk`` (the body pre-encoded and written in
64 KB pieces: the client is the only bottleneck) and ``per-event`` (one write per event, as a
real server flushes tokens). Runs alternate (ours, SDK, ours, SDK, …) so drift on a shared
machine hits both alike; each side's median is reported with the ratio.
A chunk counts when the caller receives its text: a ``str`` from ``RLM.stream``; a
``ChatCompletionChunk`` with ``delta.content`` from the SDK.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rlm_toolkit import RLM
from tests.fixtures.openai_server import TEST_KEY

ROOT = Path(__file__).resolve().parents[1]

MESSAGES = [{"role": "user", "content": "Count."}]


def timed(count: Callable[[], int], expected: int) -> float:
    """Chunks per second of one run, from sending the request to the end of the stream."""
    started = time.perf_counter()
    received = count()
    elapsed = time.perf_counter() - started
    if received != expected:
        raise AssertionError(f"expected {expected} chunks, received {received}")
    return received / elapsed


def measure(chunks: int, repeat: int, *, bulk: bool = True) -> dict[str, list[float]]:
    import openai

    command = [sys.executable, "-m", "tests.fixtures.openai_server", "--chunks", str(chunks)]
    server = subprocess.Popen(command + ([] if bulk else ["--per-event"]), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert server.stdout is not None and server.stdin is not None
    base_url = server.stdout.readline().strip()
    rlm = RLM.from_openai("gpt-4o", base_url=base_url, api_key=TEST_KEY)
    sdk = openai.OpenAI(base_url=base_url, api_key=TEST_KEY, max_retries=0)

    def ours() -> int:
        return sum(1 for _ in rlm.stream(MESSAGES))

    def raw() -> int:
        stream = sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                             stream_options={"include_usage": True})
        with stream:
            return sum(1 for c in stream if c.choices and c.choices[0].delta.content)

    results: dict[str, list[float]] = {"rlm": [], "openai": []}
    try:
        ours(), raw()  # warm up: connections, imports, pydantic models
        for _ in range(repeat):
            results["rlm"].append(timed(ours, chunks))
            results["openai"].append(timed(raw, chunks))
    finally:
        sdk.close()
        rlm.close()
        server.stdin.close()
        server.wait(10)
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"| server mode | `RLM.stream` chunks/s | raw `openai` SDK {_sdk_version()} chunks/s | ratio |")
    print("|---|---|---|---|")
    figures: dict[str, float] = {}
    for mode, bulk in (("bulk", True), ("per-event", False)):
        results = measure(args.chunks, args.repeat, bulk=bulk)
        ours, raw = statistics.median(results["rlm"]), statistics.median(results["openai"])
        print(f"| {mode} | {ours:,.0f} | {raw:,.0f} | **{ours / raw:.2f}** |", flush=True)
        figures[f"{mode}:rlm"], figures[f"{mode}:openai"], figures[f"{mode}:ratio"] = ours, raw, ours / raw
    figures["ratio"] = min(figures["bulk:ratio"], figures["per-event:ratio"])
    print(f"\nmedian of {args.repeat} interleaved runs, {args.chunks:,} chunks each")
    return figures


def _sdk_version() -> str:
    import openai

    return openai.__version__


if __name__ == "__main__":
    main()
