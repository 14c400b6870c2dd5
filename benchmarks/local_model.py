"""Tokens/s and time to first token of ``RLM.from_local()`` vs raw llama-cpp-python, side by side.

One process, one loaded model: raw ``Llama.create_chat_completion(stream=True)`` in the main
thread, ``RLM.stream``, ``RLM.astream`` and a ``ReActAgent`` (text mode, its first step: the raw
baseline for it is the same call with the agent's exact messages and stop). The paths run
interleaved (raw, stream, astream, raw agent, agent, raw…), each ``REPEATS`` times; the figure per
path is the median, and the ratio per path is the median of the ratios to the raw run just before
it, so a burst of load from elsewhere on the machine hits both sides of a ratio. Tokens/s counts
from the first token to the last; the model's prompt cache is reset before every run, so each
side evaluates the whole prompt. Each path's voluntary context switches per token (the whole process,
``getrusage``) show what the load of the machine hardly blurs: whether OpenMP sleeps in its barriers.
Then the kernel path, in a real ipykernel: ``%%rlm`` end to end
(the widget's own figures, the ones its footer shows) vs the raw call in that kernel, interleaved.

    .venv/bin/python -m benchmarks.local_model            # all of it, ~2 minutes
    .venv/bin/python -m benchmarks.local_model --no-kernel --repeats 9
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

PROMPT = "Write a short story about a lighthouse keeper and the sea."
SETTINGS: dict[str, Any] = {"temperature": 0.0, "seed": 1, "max_tokens": 128}
REPEATS = 5
Run = tuple[float, float, int]  # time to first token (s), tokens/s, tokens


def _timed(chunks: Iterable[Any], started: float) -> Run:
    first = None
    count = 0
    for _ in chunks:
        if first is None:
            first = time.perf_counter()
        count += 1
    end = time.perf_counter()
    assert first is not None and count > 1, "nothing was generated"
    return first - started, (count - 1) / (end - first), count


def _raw(llama: Any, messages: list[dict[str, Any]], settings: dict[str, Any]) -> Run:
    started = time.perf_counter()
    chunks = llama.create_chat_completion(messages, stream=True, **settings)
    return _timed((c for c in chunks if c["choices"][0]["delta"].get("content")), started)


def _stream(rlm: Any) -> Run:
    started = time.perf_counter()
    return _timed(rlm.stream(PROMPT), started)


def _astream(rlm: Any) -> Run:
    async def main() -> Run:
        started = time.perf_counter()
        first = None
        count = 0
        async for _ in rlm.astream(PROMPT):
            if first is None:
                first = time.perf_counter()
            count += 1
        end = time.perf_counter()
        assert first is not None and count > 1
        return first - started, (count - 1) / (end - first), count

    return asyncio.run(main())


def _agent(agent: Any) -> Run:
    """The agent's first (and only) step, timed by the model's tokens as the caller's thread sees them."""
    from rlm_toolkit import StreamingCallback

    stamps: list[float] = []

    class Stamps(StreamingCallback):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            stamps.append(time.perf_counter())

    started = time.perf_counter()
    for _ in agent.stream("Write a short story about a lighthouse keeper and the sea.", callbacks=[Stamps()]):
        pass
    end = time.perf_counter()
    assert len(stamps) > 1, "the agent's model generated nothing"
    return stamps[0] - started, (len(stamps) - 1) / (end - stamps[0]), len(stamps)


def cold_load_seconds() -> float:
    code = ("import time; t=time.perf_counter(); from rlm_toolkit import RLM; "
            "RLM.from_local().provider.load(); "
            "print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _summary(runs: list[Run], raws: list[Run]) -> dict[str, Any]:
    ratios = [r[1] / b[1] for r, b in zip(runs, raws)]
    return {
        "tps": statistics.median(r[1] for r in runs),
        "ttft": statistics.median(r[0] for r in runs),
        "tokens": runs[0][2],
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "best_ratio": max(r[1] for r in runs) / max(b[1] for b in raws),
        "ttft_delta": statistics.median(r[0] - b[0] for r, b in zip(runs, raws)),
    }


def measure(repeats: int = REPEATS, max_tokens: int = SETTINGS["max_tokens"]) -> dict[str, dict[str, Any]]:
    """Interleaved runs of every in-process path; per path its medians and ratios to raw."""
    from rlm_toolkit import RLM
    from rlm_toolkit.agents import ReActAgent
    from rlm_toolkit.providers.local import DEFAULT_SYSTEM

    settings = {**SETTINGS, "max_tokens": max_tokens}
    rlm = RLM.from_local(**settings)
    llama = rlm.provider.load()
    messages = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": PROMPT}]
    agent = ReActAgent(rlm, tools=[], mode="text", max_steps=1)
    _agent(agent)  # warm up, and learn the agent's exact request for its raw baseline
    step = agent.history[0]
    agent_settings = {k: v for k, v in step.params.items()}
    paths: dict[str, tuple[Callable[[], Run], Callable[[], Run]]] = {
        "stream": (lambda: _raw(llama, messages, settings), lambda: _stream(rlm)),
        "astream": (lambda: _raw(llama, messages, settings), lambda: _astream(rlm)),
        "agent": (lambda: _raw(llama, step.messages, agent_settings), lambda: _agent(agent)),
    }
    for raw, ours in paths.values():
        raw(), ours()  # warm up
    runs: dict[str, tuple[list[Run], list[Run]]] = {name: ([], []) for name in paths}
    switches: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in paths}
    for _ in range(repeats):
        for name, (raw, ours) in paths.items():
            for side, run in ((1, raw), (0, ours)):
                llama.reset()  # no prompt prefix cached from the run before: the same work every time
                before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
                runs[name][side].append(run())
                after = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
                switches[name][side].append((after - before) / runs[name][side][-1][2])
    result = {name: _summary(ours, raws) for name, (ours, raws) in runs.items()}
    for name, (ours_sw, raw_sw) in switches.items():
        result[name]["switches"] = statistics.median(ours_sw)
        result[name]["raw_switches"] = statistics.median(raw_sw)
    for name, (ours, raws) in runs.items():
        assert {o[2] for o in ours} == {r[2] for r in raws}, f"{name}: the sides generated different counts"
    all_raw = [r for _, raws in runs.values() for r in raws if r[2] == runs["stream"][1][0][2]]
    result["raw"] = {"tps": statistics.median(r[1] for r in all_raw),
                     "ttft": statistics.median(r[0] for r in all_raw), "tokens": all_raw[0][2]}
    return result


# -- the kernel path -------------------------------------------------------------------------------

_KERNEL_SETUP = f"""
import json, time
from rlm_toolkit import RLM
from rlm_toolkit.providers.local import DEFAULT_SYSTEM
_llama = RLM.from_local().provider.load()
_messages = [{{"role": "system", "content": DEFAULT_SYSTEM}}, {{"role": "user", "content": {PROMPT!r}}}]
def _raw_run():
    _llama.reset()
    started = time.perf_counter(); first = None; n = 0
    settings = dict(temperature=0.0, max_tokens={SETTINGS["max_tokens"]})
    for c in _llama.create_chat_completion(_messages, stream=True, **settings):
        if c["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter(); n += 1
    end = time.perf_counter()
    print(json.dumps([first - started, n / (end - first), n]))
%load_ext rlm_jupyter
"""
_KERNEL_CELL = f"%%rlm --temperature 0 --max-tokens {SETTINGS['max_tokens']}\n{PROMPT}"


def measure_kernel(repeats: int = REPEATS) -> dict[str, float]:
    """``%%rlm`` (its widget's ttft and tokens/s) vs the raw call, interleaved in one real ipykernel.

    Both figures count tokens / (end - first token), as the widget's footer does.
    """
    from tests.fixtures.kernel import Kernel

    kernel = Kernel()
    try:
        setup = kernel.execute(_KERNEL_SETUP, timeout=120)
        assert setup.ok, setup.errors or setup.stderr

        def raw() -> Run:
            run = kernel.execute("_raw_run()", timeout=120)
            assert run.ok, run.errors
            ttft, tps, n = json.loads(run.stdout)
            return ttft, tps, n

        def magic() -> Run:
            assert kernel.execute("_llama.reset()").ok
            run = kernel.execute(_KERNEL_CELL, timeout=120)
            assert run.ok, run.errors or run.stderr
            infos = [m["content"]["metadata"]["rlm"] for m in run.of("update_display_data")
                     if "rlm" in m["content"].get("metadata", {})]
            assert infos, [m["msg_type"] for m in run.messages]
            info = infos[-1]
            assert info["state"] == "done", info
            return info["ttft_s"], info["tokens_per_s"], info["usage"]["completion_tokens"]

        raw(), magic()
        raws, ours = [], []
        for _ in range(repeats):
            raws.append(raw())
            ours.append(magic())
        return _summary(ours, raws) | {"raw_tps": statistics.median(r[1] for r in raws),
                                       "raw_ttft": statistics.median(r[0] for r in raws)}
    finally:
        kernel.shutdown()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else REPEATS
    load = os.getloadavg()[0]
    r = measure(repeats)
    k = None if "--no-kernel" in argv else measure_kernel(repeats)
    cold = cold_load_seconds()
    raw = r["raw"]
    print(f"{raw['tokens']:.0f} tokens, temperature 0, {repeats} interleaved rounds; load average before: "
          f"{load:.1f}, after: {os.getloadavg()[0]:.1f}\n")
    print("| path | tokens/s (median) | time to first token (vs raw) | ratio to raw: median of pairs | "
          "lowest – highest pair | context switches / token (raw) |")
    print("|---|---|---|---|---|---|")
    print(f"| raw `Llama.create_chat_completion(stream=True)` | {raw['tps']:.1f} | "
          f"{raw['ttft'] * 1000:.0f} ms | 1 | | |")
    names = {"stream": "`RLM.from_local().stream`", "astream": "`RLM.from_local().astream`",
             "agent": "`ReActAgent` on it (vs raw with the agent's request)"}
    for name, label in names.items():
        p = r[name]
        print(f"| {label} | {p['tps']:.1f} | {p['ttft'] * 1000:.0f} ms ({p['ttft_delta'] * 1000:+.1f} ms) | "
              f"**{p['ratio']:.2f}** | {min(p['ratios']):.2f} – {max(p['ratios']):.2f} | "
              f"{p['switches']:.1f} ({p['raw_switches']:.1f}) |")
    if k is not None:
        print(f"| kernel: raw call in the kernel | {k['raw_tps']:.1f} | {k['raw_ttft'] * 1000:.0f} ms "
              "| 1 | | |")
        print(f"| kernel: `%%rlm` (widget footer) | {k['tps']:.1f} | {k['ttft'] * 1000:.0f} ms "
              f"({k['ttft_delta'] * 1000:+.1f} ms) | **{k['ratio']:.2f}** | "
              f"{min(k['ratios']):.2f} – {max(k['ratios']):.2f} | |")
    print(f"\nmodel load: cold {cold:.2f} s (fresh process)")


if __name__ == "__main__":
    main()
