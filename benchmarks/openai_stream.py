"""Chunks per second through ``RLM.stream`` / ``astream`` vs. a bare httpx loop and the ``openai`` SDK.

::

    .venv/bin/python -m benchmarks.openai_stream [--chunks 20000] [--repeat 5]

Every client reads the same body (20,000 ``chat.completion.chunk`` events, usage on) from one
loopback server running in a process of its own (so its CPU is not the client's), in two modes:
``bulk`` (the body pre-encoded and written in 64 KB pieces: the client is the only bottleneck) and
``per-event`` (one write per event, as a real server flushes tokens). The baselines:

- **bare httpx** (sync): ``httpx.Client().stream(...)``, ``iter_lines()``, ``json.loads`` of each
  ``data:`` line, in the caller's thread — the least a Python client can do;
- **bare httpx** (async): the same with ``httpx.AsyncClient`` and ``aiter_lines()``, the baseline
  of ``RLM.astream``;
- the raw **openai SDK** (``chat.completions.create(stream=True)``).

Ours run with no callback and with one no-op ``on_llm_new_token`` callback. Runs alternate
(bare, ours, ours + callback, bare async, …, SDK) so drift on a shared machine hits all alike; each
path's median is reported with its ratio to its baseline's median, and so is the client's CPU per
chunk (every thread of this process; the server's CPU is its own): on a shared machine the CPU
ratio moves far less than the wall-clock one, and where the client is the bottleneck (``bulk``)
it is what the wall-clock ratio would be on an idle one. A chunk counts when the caller
receives its text: a ``str`` from ours, a ``delta.content`` from the baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlm_toolkit import RLM, StreamingCallback
from tests.fixtures.openai_server import TEST_KEY

ROOT = Path(__file__).resolve().parents[1]

MESSAGES = [{"role": "user", "content": "Count."}]
BODY = {"model": "gpt-4o", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
HEADERS = {"Authorization": f"Bearer {TEST_KEY}", "Accept": "text/event-stream"}
#: (path, its baseline) in the order they run in each round.
PATHS = (("bare", None), ("stream", "bare"), ("stream+cb", "bare"),
         ("abare", None), ("astream", "abare"), ("astream+cb", "abare"), ("openai", None))
LABELS = {"bare": "bare httpx loop (sync)", "stream": "`RLM.stream`",
          "stream+cb": "`RLM.stream` + no-op callback",
          "abare": "bare httpx loop (async)", "astream": "`RLM.astream`",
          "astream+cb": "`RLM.astream` + no-op callback", "openai": "raw `openai` SDK"}


class NoOp(StreamingCallback):
    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        pass


def timed(count: Callable[[], int], expected: int) -> tuple[float, float]:
    """Chunks per second of one run, from sending the request to the end of the stream, and the
    client's CPU per chunk in µs (this process, every thread; the server runs in its own)."""
    started, cpu = time.perf_counter(), time.process_time()
    received = count()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if received != expected:
        raise AssertionError(f"expected {expected} chunks, received {received}")
    return received / elapsed, cpu / received * 1e6


def _content(line: str) -> int | None:
    """1 if an SSE line carries a chunk with text, 0 if not, None at ``[DONE]``."""
    if not line.startswith("data:"):
        return 0
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    choices = json.loads(data).get("choices")
    return 1 if choices and (choices[0].get("delta") or {}).get("content") else 0


def measure(chunks: int, repeat: int, *, bulk: bool = True) -> dict[str, list[tuple[float, float]]]:
    import httpx
    import openai

    command = [sys.executable, "-m", "tests.fixtures.openai_server", "--chunks", str(chunks)]
    server = subprocess.Popen(command + ([] if bulk else ["--per-event"]), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert server.stdout is not None and server.stdin is not None
    base_url = server.stdout.readline().strip()
    rlm = RLM.from_openai("gpt-4o", base_url=base_url, api_key=TEST_KEY)
    sdk = openai.OpenAI(base_url=base_url, api_key=TEST_KEY, max_retries=0)
    client = httpx.Client(base_url=base_url, headers=HEADERS)
    loop = asyncio.new_event_loop()
    aclient = httpx.AsyncClient(base_url=base_url, headers=HEADERS)

    def bare() -> int:
        n = 0
        with client.stream("POST", "/chat/completions", json=BODY) as response:
            for line in response.iter_lines():
                got = _content(line)
                if got is None:
                    break
                n += got
        return n

    async def abare() -> int:
        n = 0
        async with aclient.stream("POST", "/chat/completions", json=BODY) as response:
            async for line in response.aiter_lines():
                got = _content(line)
                if got is None:
                    break
                n += got
        return n

    async def astream(callbacks: list[Any] | None) -> int:
        return sum([1 async for _ in rlm.astream(MESSAGES, callbacks=callbacks)])

    def raw() -> int:
        stream = sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                             stream_options={"include_usage": True})
        with stream:
            return sum(1 for c in stream if c.choices and c.choices[0].delta.content)

    runs: dict[str, Callable[[], int]] = {
        "bare": bare,
        "stream": lambda: sum(1 for _ in rlm.stream(MESSAGES)),
        "stream+cb": lambda: sum(1 for _ in rlm.stream(MESSAGES, callbacks=[NoOp()])),
        "abare": lambda: loop.run_until_complete(abare()),
        "astream": lambda: loop.run_until_complete(astream(None)),
        "astream+cb": lambda: loop.run_until_complete(astream([NoOp()])),
        "openai": raw,
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in PATHS}
    try:
        for run in runs.values():  # warm up: connections, imports, pydantic models
            run()
        for _ in range(repeat):
            for name, _ in PATHS:
                results[name].append(timed(runs[name], chunks))
    finally:
        sdk.close()
        client.close()
        rlm.close()
        loop.run_until_complete(aclient.aclose())
        loop.run_until_complete(rlm.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        server.stdin.close()
        server.wait(10)
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    sdk = f"`RLM.stream` / openai SDK {_sdk_version()}"
    print(f"| server mode | path | chunks/s | ratio to baseline | client CPU µs/chunk | CPU ratio | {sdk} |")
    print("|---|---|---|---|---|---|---|")
    figures: dict[str, float] = {}
    for mode, bulk in (("bulk", True), ("per-event", False)):
        results = measure(args.chunks, args.repeat, bulk=bulk)
        rate = {name: statistics.median(r for r, _ in runs) for name, runs in results.items()}
        cpu = {name: statistics.median(c for _, c in runs) for name, runs in results.items()}
        sdk_ratio = rate["stream"] / rate["openai"]
        for name, baseline in PATHS:
            figures[f"{mode}:{name}"] = rate[name]
            wall = cpu_ratio = ""
            if baseline is not None:
                figures[f"{mode}:{name}/{baseline}"] = rate[name] / rate[baseline]
                figures[f"{mode}:{name}/{baseline}:cpu"] = cpu[baseline] / cpu[name]
                wall, cpu_ratio = f"**{rate[name] / rate[baseline]:.2f}**", f"{cpu[baseline] / cpu[name]:.2f}"
            shown = f"**{sdk_ratio:.2f}**" if name == "openai" else ""
            cells = [mode, LABELS[name], f"{rate[name]:,.0f}", wall, f"{cpu[name]:.2f}", cpu_ratio, shown]
            print(f"| {' | '.join(cells)} |", flush=True)
        figures[f"{mode}:ratio"] = sdk_ratio
    figures["ratio"] = min(figures["bulk:ratio"], figures["per-event:ratio"])
    print(f"\nmedian of {args.repeat} interleaved runs, {args.chunks:,} chunks each")
    return figures


def _sdk_version() -> str:
    import openai

    return openai.__version__


if __name__ == "__main__":
    main()
