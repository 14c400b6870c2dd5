"""What a streamed answer costs on iopub, in a real ipykernel: ``%%rlm`` vs. the naive ways.

::

    .venv/bin/python -m benchmarks.widget_wire

One kernel, one run, the same scripted answer (N word tokens, no delay: the kernel is the only
bottleneck) shown four ways:

- **baseline**: ``for _ in rlm.stream(...)`` (nothing displayed) — the CPU the model path costs;
- **ours**: ``%%rlm`` (per-frame deltas as custom messages, then one static final display);
- **naive markdown**: ``handle.update(Markdown(acc))`` on every token;
- **naive widget**: ``ipywidgets.HTML().value = acc`` on every token.

Bytes are every iopub message's JSON parts (header, parent, metadata, content) as they cross the
wire. For ours the fixed cost (``comm_open`` carrying the widget's JS/CSS, the first display) and
the final display (plain + markdown + safe HTML of the answer) are reported apart from the
streaming phase. The naive ways are quadratic; at 20k tokens they are computed from the measured
per-message overhead (Σ over tokens of overhead + prefix length), not run (it would be ~GBs).
A paced run (≈500 tokens/s) gives the message rate.

``--copy``: what the saved copy of a paced answer (refreshed while it streams, see
:mod:`rlm_jupyter.live.snapshots`) costs on the wire, against the same run's frames.

``--reasoning``: only the added kernel CPU per token of a thinking model's reasoning events through
the widget (:func:`reasoning_cost`).

Kernel CPU per token (process CPU, so the bridge thread counts too), medians of 5 interleaved
runs: **ours** = ``display_stream(chunks)`` of the same chunks from a list minus iterating the list
(the widget path alone: coalescing, messages, final render); **end to end** = ``%%rlm`` minus a
bare ``for _ in rlm.stream(...)`` — smaller than the widget path itself, because a consumer that
sleeps until frame deadlines makes the bridge hand items over in batches; the naive columns use
the same end-to-end baseline.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.kernel import Kernel, KernelRun  # noqa: E402

SETUP = """
%load_ext rlm_jupyter
import json, time
from IPython.display import Markdown, display
import ipywidgets
from rlm_toolkit import RLM, ScriptedProvider
def answer(n): return " ".join(f"tok{i:05d}" for i in range(n))
def cpu(fn):
    t = time.process_time(); fn(); return time.process_time() - t
"""


REPEATS = 5


def _is_copy(m: dict[str, Any]) -> bool:
    return bool(m["content"].get("metadata", {}).get("rlm", {}).get("copy"))


def _phase(run: KernelRun) -> tuple[int, int, int, int]:
    """(fixed bytes, streaming bytes, streaming messages, final bytes) of a %%rlm run; the fixed
    cost counts both first displays (the widget's and its saved copy's)."""
    display = run.of("display_data")[0]
    update = next(m for m in run.of("update_display_data") if not _is_copy(m))
    fixed = sum(m["_bytes"] for m in run.of("comm_open")) + sum(m["_bytes"] for m in run.of("display_data"))
    streaming = [
        m for m in run.messages if display["_t"] < m["_t"] < update["_t"] and m["msg_type"] == "comm_msg"
    ]
    return fixed, sum(m["_bytes"] for m in streaming), len(streaming), update["_bytes"]


def _value(kernel: Kernel, expr: str) -> Any:
    run = kernel.execute(f"print(json.dumps({expr}))", timeout=600)
    assert run.ok, run.errors
    return json.loads(run.stdout)


def measure(kernel: Kernel, n: int, naive: bool) -> dict[str, Any]:
    assert kernel.execute(f"fast = RLM(ScriptedProvider(answer({n})))\ntext = answer({n})").ok
    text_bytes = _value(kernel, "len(text.encode())")
    out: dict[str, Any] = {"n": n, "text": text_bytes}
    base_cpus, ours_cpus = [], []
    for i in range(REPEATS):  # interleaved, medians: the machine is shared
        base = kernel.execute("base_cpu = cpu(lambda: [None for _ in fast.stream('Go')])", timeout=600)
        assert base.ok, base.errors
        ours = kernel.execute("ours_cpu = cpu(lambda: get_ipython().run_cell_magic('rlm', '-m fast', 'Go'))",
                              timeout=600)
        assert ours.ok, ours.errors
        if i == 0:
            out["fixed"], out["stream"], out["messages"], out["final"] = _phase(ours)
        base_cpu, ours_cpu = _value(kernel, "[base_cpu, ours_cpu]")
        base_cpus.append(base_cpu)
        ours_cpus.append(ours_cpu)
    out["base_cpu"] = statistics.median(base_cpus)
    out["ours_us"] = (statistics.median(ours_cpus) - out["base_cpu"]) / n * 1e6
    # The widget path alone: the same chunks from a list (no model, no bridge) into display_stream.
    iso = kernel.execute(f"""
from rlm_jupyter import display_stream
chunks = [w + " " for w in answer({n}).split(" ")]
iso, loop = [], []
for _ in range({REPEATS}):
    loop.append(cpu(lambda: [c for c in chunks]))
    iso.append(cpu(lambda: display_stream(chunks, model="scripted:scripted")))
""", timeout=600)
    assert iso.ok, iso.errors
    iso_cpus, loop_cpus = _value(kernel, "[iso, loop]")
    out["iso_us"] = (statistics.median(iso_cpus) - statistics.median(loop_cpus)) / n * 1e6
    if naive:
        md = kernel.execute("""
def naive_md():
    h = display(Markdown(""), display_id=True); acc = ""
    for c in fast.stream("Go"):
        acc += c; h.update(Markdown(acc))
md_cpu = cpu(naive_md)""", timeout=600)
        assert md.ok, md.errors
        updates = md.of("update_display_data")
        out["md_bytes"], out["md_messages"] = sum(m["_bytes"] for m in updates), len(updates)
        out["md_overhead"] = statistics.median(m["_bytes"] for m in updates[:50]) - statistics.median(
            len(json.dumps(m["content"]["data"]["text/markdown"]).encode()) for m in updates[:50])
        wv = kernel.execute("""
def naive_widget():
    w = ipywidgets.HTML(); display(w); acc = ""
    for c in fast.stream("Go"):
        acc += c; w.value = acc
widget_cpu = cpu(naive_widget)""", timeout=600)
        assert wv.ok, wv.errors
        syncs = [m for m in wv.of("comm_msg") if m["content"]["data"].get("method") == "update"]
        out["w_bytes"], out["w_messages"] = sum(m["_bytes"] for m in syncs), len(syncs)
        out["w_overhead"] = statistics.median(m["_bytes"] for m in syncs[:50]) - statistics.median(
            len(json.dumps(m["content"]["data"]["state"].get("value", "")).encode()) for m in syncs[:50])
        cpus = _value(kernel, "[md_cpu, widget_cpu]")
        out["md_us"] = (cpus[0] - out["base_cpu"]) / n * 1e6
        out["w_us"] = (cpus[1] - out["base_cpu"]) / n * 1e6
    return out


def computed_naive(n: int, overhead: float, token_bytes: float) -> float:
    """Σ_{i=1..n} (overhead + i·token_bytes): what per-token full-text updates would send."""
    return n * overhead + token_bytes * n * (n + 1) / 2


def paced_rate(kernel: Kernel, n: int = 1000, delay: float = 0.002) -> tuple[float, float]:
    assert kernel.execute(f"paced = RLM(ScriptedProvider(answer({n}), delay={delay}))").ok
    run = kernel.execute("%%rlm -m paced\nGo", timeout=600)
    deltas = [m for m in run.comm_msgs() if "d" in m]
    span = deltas[-1]["_t"] - deltas[0]["_t"]
    return (len(deltas) - 1) / span if span > 0 else 0.0, span


def reasoning_cost(kernel: Kernel, n: int) -> dict[str, float]:
    """Kernel CPU per event through the widget path for ``n`` reasoning events (then one answer
    word) against ``n`` answer-text events: the same words, as event objects from a list, medians
    of interleaved runs, each minus iterating the list."""
    run = kernel.execute(f"""
from rlm_jupyter import display_stream
from rlm_toolkit import ReasoningDelta, TextDelta
words = [w + " " for w in answer({n}).split(" ")]
as_text = [TextDelta(text=w) for w in words]
as_reasoning = [ReasoningDelta(text=w) for w in words] + [TextDelta(text="Done.")]
text_cpu, reasoning_cpu, loop_cpu = [], [], []
for _ in range({REPEATS}):
    loop_cpu.append(cpu(lambda: [e for e in as_text]))
    text_cpu.append(cpu(lambda: display_stream(as_text, model="scripted:scripted")))
    reasoning_cpu.append(cpu(lambda: display_stream(as_reasoning, model="scripted:scripted")))
""", timeout=600)
    assert run.ok, run.errors
    text_cpus, reasoning_cpus, loop_cpus = _value(kernel, "[text_cpu, reasoning_cpu, loop_cpu]")
    loop = statistics.median(loop_cpus)
    text_us = (statistics.median(text_cpus) - loop) / n * 1e6
    reasoning_us = (statistics.median(reasoning_cpus) - loop) / n * 1e6
    return {"n": n, "text_us": text_us, "reasoning_us": reasoning_us, "added_us": reasoning_us - text_us}


def main_reasoning() -> None:
    kernel = Kernel()
    try:
        assert kernel.execute(SETUP).ok
        rows = [reasoning_cost(kernel, n) for n in (2000, 20000)]
    finally:
        kernel.shutdown()
    print("| events | kernel µs/event: answer text | reasoning | added by reasoning |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['n']:,} | {row['text_us']:.1f} | {row['reasoning_us']:.1f} | {row['added_us']:+.1f} |")


def copy_cost(kernel: Kernel, n: int, delay: float) -> dict[str, Any]:
    """What the saved copy costs on the wire for an answer of ``n`` tokens paced at ``delay`` s:
    its refreshes (text/plain + HTML of the text so far), against the frames' deltas of the same
    run (the baseline: the text sent once)."""
    assert kernel.execute(f"paced = RLM(ScriptedProvider(answer({n}), delay={delay}))").ok
    run = kernel.execute("%%rlm -m paced\nGo", timeout=900)
    assert run.ok, run.errors
    copies = [m for m in run.of("update_display_data") if _is_copy(m) and m["content"]["data"]]
    frames = [m for m in run.of("comm_msg") if m["content"]["data"].get("method") == "custom"]
    first = run.of("display_data")
    span = (frames[-1]["_t"] - frames[0]["_t"]) if frames else 0.0
    return {"n": n, "span": span, "text": _value(kernel, f"len(answer({n}).encode())"),
            "copies": len(copies), "copy_bytes": sum(m["_bytes"] for m in copies),
            "frame_bytes": sum(m["_bytes"] for m in frames), "first_copy": first[1]["_bytes"]}


def main_copy() -> None:
    kernel = Kernel()
    try:
        assert kernel.execute(SETUP).ok
        rows = [copy_cost(kernel, n, delay) for n, delay in ((2000, 0.004), (8000, 0.004))]
    finally:
        kernel.shutdown()
    print("| tokens | seconds | text KB | frames KB | saved copy: refreshes | KB | × text | × frames |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['span']:.1f} | {r['text'] / 1024:,.1f} | {r['frame_bytes'] / 1024:,.1f} "
              f"| {r['copies']} | {r['copy_bytes'] / 1024:,.1f} | {r['copy_bytes'] / r['text']:.2f}× "
              f"| {r['copy_bytes'] / r['frame_bytes']:.2f}× |")


def main(argv: list[str] | None = None) -> None:
    if argv and "--reasoning" in argv:
        return main_reasoning()
    if argv and "--copy" in argv:
        return main_copy()
    kernel = Kernel()
    try:
        assert kernel.execute(SETUP).ok
        small = measure(kernel, 2000, naive=True)
        large = measure(kernel, 20000, naive=False)
        rate, span = paced_rate(kernel)
    finally:
        kernel.shutdown()
    kb = lambda b: f"{b / 1024:,.1f}"  # noqa: E731
    print(
        "| tokens | text KB | ours: stream KB (× text) | ours: msgs | ours: fixed KB | ours: final KB "
        "| naive markdown KB (msgs) | naive widget.value KB (msgs) "
        "| kernel µs/token: ours (end to end) / md / widget |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    per_token = small["text"] / small["n"]
    for row in (small, large):
        if "md_bytes" in row:
            md = f"{kb(row['md_bytes'])} ({row['md_messages']:,})"
            w = f"{kb(row['w_bytes'])} ({row['w_messages']:,})"
            cpu = f"{row['iso_us']:.1f} ({row['ours_us']:.1f}) / {row['md_us']:.0f} / {row['w_us']:.0f}"
        else:
            md = f"≈{kb(computed_naive(row['n'], small['md_overhead'], per_token))} (computed)"
            w = f"≈{kb(computed_naive(row['n'], small['w_overhead'], per_token))} (computed)"
            cpu = f"{row['iso_us']:.1f} ({row['ours_us']:.1f}) / – / –"
        print(
            f"| {row['n']:,} | {kb(row['text'])} | {kb(row['stream'])} ({row['stream'] / row['text']:.2f}×) "
            f"| {row['messages']} | {kb(row['fixed'])} | {kb(row['final'])} | {md} | {w} | {cpu} |"
        )
    print(
        f"\nPaced stream (1,000 tokens at ≈500/s, {span:.2f} s): {rate:.1f} delta messages/s (target ≤ 30)."
    )
    if "md_bytes" in small:
        print(
            "At 2,000 tokens naive markdown / ours (streaming phase): "
            f"{small['md_bytes'] / small['stream']:,.0f}×; "
            f"naive widget.value / ours: {small['w_bytes'] / small['stream']:,.0f}×."
        )


if __name__ == "__main__":
    main(sys.argv[1:])
