"""A long session's kernel memory: 200 ``%%rlm`` answers and 20 agent runs in one kernel.

::

    .venv/bin/python -m benchmarks.kernel_memory                 # 200 answers, 20 runs, 2,000 tokens
    .venv/bin/python -m benchmarks.kernel_memory --answers 50    # a quicker look

Each answer is a 2,000-token stream from the loopback OpenAI-compatible server
(``tests/fixtures/openai_server.py``, in this process; the kernel is a real ipykernel of its own),
shown by ``%%rlm -m openai:gpt-4o`` (its widget, then the static copy); every tenth cell is an
``%%rlm --agent`` run (a scripted model: a tool call, then the answer). Three fresh kernels, one
after the other, the same cells:

- **released** (what rlm does): the finished widget is closed when the next cell starts;
- **kept** (``%config RLMMagics.keep_widget = True``): every finished widget stays open, so the
  kernel holds each one — what every answer cost before widgets were released;
- **baseline**: ``for _ in rlm.stream(...)`` on the same server and a plain ``agent.run`` (nothing
  displayed) — what the model path itself holds.

After a warm-up of 20 cells, each kernel reports its resident memory (``VmRSS``) and the bytes
Python has allocated (``tracemalloc``, started after the warm-up, after ``gc.collect()``) at the
end; growth is end minus warm-up, per kernel, and the ratio is against the baseline's growth.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.kernel import Kernel  # noqa: E402
from tests.fixtures.openai_server import OpenAIServer, Stream  # noqa: E402

SETUP = """
%load_ext rlm_jupyter
import gc, tracemalloc
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent

def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b

def agent_model():
    return RLM(ScriptedProvider(turns=[
        ScriptedTurn(chunks="Adding first.", tool_calls=[{"name": "add", "arguments": {"a": 20, "b": 22}}]),
        " ".join(f"w{i}" for i in range(200)),
    ]))

plain = RLM("openai:gpt-4o")  # the baseline's; %%rlm keeps one per model id too

def memory():
    gc.collect()
    rss = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmRSS:"))
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
    return {"rss": rss, "traced": traced}
"""

WARMUP = 20


def cells(mode: str, count: int, agents_every: int) -> list[str]:
    """The session's cells: answers, and an agent run every ``agents_every``-th."""
    out = []
    for i in range(count):
        if agents_every and i % agents_every == agents_every - 1:
            if mode == "baseline":
                out.append(f"run{i} = ReActAgent(agent_model(), tools=[add]).run('What is 20 + 22?')")
            else:
                out.append(f"agent_rlm = agent_model()\n"
                           "get_ipython().run_cell_magic("
                           f"'rlm', '--agent --tools add -m agent_rlm -o run{i}', 'What is 20 + 22?')")
        elif mode == "baseline":
            out.append(f"out{i} = ''.join(plain.stream('Answer {i}'))")
        else:
            out.append(f"%%rlm -m openai:gpt-4o -o out{i}\nAnswer {i}")
    return out


def session(mode: str, server: OpenAIServer, count: int, agents_every: int) -> dict[str, Any]:
    kernel = Kernel(env=server.env)
    try:
        assert kernel.execute(SETUP).ok
        if mode == "kept":
            assert kernel.execute("%config RLMMagics.keep_widget = True").ok
        started = time.perf_counter()
        marks = {}
        for index, code in enumerate(cells(mode, count, agents_every)):
            if index == WARMUP:
                assert kernel.execute("tracemalloc.start()").ok
                marks["warm"] = kernel.value("memory()")
            elif index == (WARMUP + count) // 2:
                marks["mid"] = kernel.value("memory()")
            run = kernel.execute(code, timeout=120)
            assert run.ok, (code, run.errors)
        marks["end"] = kernel.value("memory()")
        views = kernel.value(
            "sum(type(o).__name__ in ('StreamView', 'TimelineView') for o in gc.get_objects())")
        return {"mode": mode, "seconds": time.perf_counter() - started, "views": views, **marks}
    finally:
        kernel.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.kernel_memory")
    parser.add_argument("--answers", type=int, default=200, help="%%%%rlm answers (default 200)")
    parser.add_argument("--agents", type=int, default=20, help="agent runs among them (default 20)")
    parser.add_argument("--tokens", type=int, default=2000, help="tokens per answer (default 2000)")
    args = parser.parse_args(argv or [])
    count = args.answers + args.agents
    every = count // args.agents if args.agents else 0
    server = OpenAIServer()
    server.default = Stream(" ".join(f"t{i}" for i in range(args.tokens)))
    try:
        rows = [session(mode, server, count, every) for mode in ("released", "kept", "baseline")]
    finally:
        server.close()
    grown = {r["mode"]: (r["end"]["rss"] - r["warm"]["rss"], r["end"]["traced"] - r["warm"]["traced"])
             for r in rows}
    mb = 1024 * 1024
    print(f"{count} cells ({args.answers} answers of {args.tokens:,} tokens, {args.agents} agent runs), "
          f"growth after the first {WARMUP}:\n")
    print(f"| kernel | RSS at cell {WARMUP} → mid → end (MB) | RSS growth (MB) | traced at mid → end (MB) "
          "| traced growth (MB) | × baseline's traced growth | views alive at the end | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        rss, traced = grown[r["mode"]]
        ratio = traced / grown["baseline"][1] if grown["baseline"][1] > 0 else float("nan")
        mid = r["mid"]["traced"] - r["warm"]["traced"]
        print(f"| {r['mode']} | {r['warm']['rss'] / mb:.1f} → {r['mid']['rss'] / mb:.1f} → "
              f"{r['end']['rss'] / mb:.1f} | {rss / mb:+.1f} | {mid / mb:+.2f} → {traced / mb:+.2f} "
              f"| {traced / mb:+.2f} | {ratio:.2f} | {r['views']} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
