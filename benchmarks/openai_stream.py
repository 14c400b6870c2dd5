"""Chunks per second through ``RLM.stream`` vs. the raw ``openai`` SDK, same loopback server.

::

    .venv/bin/python -m benchmarks.openai_stream [--chunks 20000] [--repeat 5]

Both clients read the same pre-encoded body (20,000 ``chat.completion.chunk`` events, usage on)
from one in-process loopback server; runs alternate (ours, SDK, ours, SDK, …) so drift on a
shared machine hits both alike, and each side's median is reported with the ratio.
A chunk counts when the caller receives its text: a ``str`` from ``RLM.stream``; a
``ChatCompletionChunk`` with ``delta.content`` from the SDK.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from rlm_toolkit import RLM
from tests.fixtures.openai_server import OpenAIServer, Stream

MESSAGES = [{"role": "user", "content": "Count."}]


def timed(count: Callable[[], int], expected: int) -> float:
    """Chunks per second of one run, from sending the request to the end of the stream."""
    started = time.perf_counter()
    received = count()
    elapsed = time.perf_counter() - started
    if received != expected:
        raise AssertionError(f"expected {expected} chunks, received {received}")
    return received / elapsed


def measure(chunks: int, repeat: int) -> dict[str, list[float]]:
    import openai

    server = OpenAIServer()
    body = Stream([f"t{i % 10} " for i in range(chunks)], fast=True)
    rlm = RLM.from_openai("gpt-4o", base_url=server.base_url, api_key=server.api_key)
    sdk = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)

    def ours() -> int:
        server.script(body)
        return sum(1 for _ in rlm.stream(MESSAGES))

    def raw() -> int:
        server.script(body)
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
        server.close()
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    results = measure(args.chunks, args.repeat)
    ours, raw = statistics.median(results["rlm"]), statistics.median(results["openai"])
    print(f"| client | chunks/s (median of {args.repeat}, {args.chunks:,} chunks) |")
    print("|---|---|")
    print(f"| `RLM.stream` | {ours:,.0f} |")
    print(f"| raw `openai` SDK {_sdk_version()} | {raw:,.0f} |")
    print(f"| **ratio** | **{ours / raw:.2f}** |")
    return {"rlm": ours, "openai": raw, "ratio": ours / raw}


def _sdk_version() -> str:
    import openai

    return openai.__version__


if __name__ == "__main__":
    main()
