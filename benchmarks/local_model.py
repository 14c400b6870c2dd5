"""Tokens/s and time to first token of ``RLM.from_local()`` vs raw llama-cpp-python.

Both stream from the SAME loaded model with the same messages (including the system message the
local provider adds by default) and settings; runs interleaved (ours, raw, ours, raw…), medians.
Also the model's load time cold (a fresh process) and cached (a second ``RLM.from_local()``).

    .venv/bin/python -m benchmarks.local_model
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

PROMPT = "Write a short paragraph about the sea."
SETTINGS = {"temperature": 0.0, "seed": 1, "max_tokens": 128}
REPEATS = 5


def _ours(rlm) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = None
    count = 0
    for _ in rlm.stream(PROMPT, **SETTINGS):
        if first is None:
            first = time.perf_counter()
        count += 1
    end = time.perf_counter()
    return first - started, (count - 1) / (end - first), count


def _raw(llama, messages) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = None
    count = 0
    for chunk in llama.create_chat_completion(messages, stream=True, **SETTINGS):
        if chunk["choices"][0]["delta"].get("content"):
            if first is None:
                first = time.perf_counter()
            count += 1
    end = time.perf_counter()
    return first - started, (count - 1) / (end - first), count


def cold_load_seconds() -> float:
    code = ("import time; t=time.perf_counter(); from rlm_toolkit import RLM; RLM.from_local().provider.load(); "
            "print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure(repeats: int = REPEATS) -> dict[str, float]:
    from rlm_toolkit import RLM
    from rlm_toolkit.providers.local import DEFAULT_SYSTEM

    rlm = RLM.from_local()
    llama = rlm.provider.load()
    started = time.perf_counter()
    RLM.from_local().provider.load()
    cached = time.perf_counter() - started
    messages = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": PROMPT}]
    _ours(rlm), _raw(llama, messages)  # warm up both paths
    ours, raw = [], []
    for _ in range(repeats):
        ours.append(_ours(rlm))
        raw.append(_raw(llama, messages))
    assert {o[2] for o in ours} == {r[2] for r in raw}, "the two paths generated different token counts"
    result = {
        "ours_tps": statistics.median(o[1] for o in ours),
        "raw_tps": statistics.median(r[1] for r in raw),
        "ours_ttft": statistics.median(o[0] for o in ours),
        "raw_ttft": statistics.median(r[0] for r in raw),
        "tokens": ours[0][2],
        "cached_load": cached,
    }
    result["ratio"] = result["ours_tps"] / result["raw_tps"]
    return result


def main(argv: list[str] | None = None) -> None:
    r = measure()
    cold = cold_load_seconds()
    print(f"{r['tokens']} tokens, temperature 0, median of {REPEATS} interleaved runs\n")
    print("| path | tokens/s | time to first token |")
    print("|---|---|---|")
    print(f"| `RLM.from_local().stream` | {r['ours_tps']:.1f} | {r['ours_ttft'] * 1000:.0f} ms |")
    print(f"| raw `Llama.create_chat_completion(stream=True)` | {r['raw_tps']:.1f} | {r['raw_ttft'] * 1000:.0f} ms |")
    print(f"\nratio (ours / raw tokens/s): **{r['ratio']:.3f}**; "
          f"model load: cold {cold:.2f} s (fresh process), cached {r['cached_load'] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
