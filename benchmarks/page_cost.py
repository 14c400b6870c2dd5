"""What a streamed answer costs the page: Chromium's main thread and layout per 1k tokens, with the
tokens trickled in, in JupyterLab 4 (CDP ``Performance.getMetrics``).

::

    .venv/bin/python -m benchmarks.page_cost                       # 2k and 20k tokens
    .venv/bin/python -m benchmarks.page_cost --before /path/to/old/checkout

One JupyterLab, one headless Chromium; the same markdown answer (paragraphs, lists, code blocks,
inline math, ``token``-sized words) trickled at ~770 tokens/s, shown two ways:

- **JupyterLab's stream output** (the baseline): ``print(token, end="")`` for each token, as a
  cell's stdout — ipykernel sends it every 0.2 s and JupyterLab renders the stream text;
- **%%rlm**: the live widget, from :class:`~rlm_toolkit.ScriptedProvider` at the same pace.

``--before PATH`` also runs ``%%rlm`` with the kernel importing rlm from ``PATH`` (a checkout of an
earlier commit) in a second JupyterLab. For each run: the main thread's busy time (``TaskDuration``)
and layout time (``LayoutDuration``) from the cell's start to its end, per 1k tokens; the share of
the main thread busy over the last 3 s (when the answer is longest); layout per layout pass then.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.browser import CHROMIUM_FLAGS, chromium_path  # noqa: E402
from tests.fixtures.jupyter_server import JupyterServer, start_jupyter  # noqa: E402

RATE = 770.0  # tokens per second: 20k tokens in 26 s, as issue 26 measured
WINDOW = 3.0  # seconds at the end of a run over which "busy at the end" is measured
METRICS = ("TaskDuration", "LayoutDuration", "RecalcStyleDuration", "ScriptDuration", "LayoutCount")


def paragraph_tokens(n: int) -> list[str]:
    """One paragraph of ``n`` plain words (issue 26's measurement: a tail block that never ends)."""
    return [f"word{i % 997} " for i in range(n)]


def answer_tokens(n: int) -> list[str]:
    """A markdown answer of ``n`` tokens (a word, its space, now and then a newline): paragraphs
    of ~80 tokens, a list every 5th, a code block every 7th, inline code, bold and math."""
    out: list[str] = []
    block = 0
    while len(out) < n:
        block += 1
        if block % 7 == 0:
            code = [f"x{i} = compute({i}, {block})  # step\n" for i in range(6)]
            out += ["```python\n", *code, "```\n\n"]
        elif block % 5 == 0:
            out += [f"- item {i} with `code` and **bold** words\n" for i in range(4)] + ["\n"]
        else:
            for i in range(80):
                word = ("$x^2$" if i == 40 else "**bold**" if i == 20 else "`x`" if i == 60
                        else f"word{len(out) % 997}")
                out.append(word + " ")
            out.append("\n\n")
    return out[:n]


_NOTEBOOK_SETUP = """
%load_ext rlm_jupyter
import time
from rlm_toolkit import RLM, ScriptedProvider
tokens = {tokens!r}
slow = RLM(ScriptedProvider(tokens, delay={delay}))
"""

_BASELINE = """
for t in tokens:
    print(t, end="")
    time.sleep({delay})
"""

_DONE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  const cell = panel.content.widgets[1];
  return cell.model.executionCount !== null && !cell.hasClass('jp-mod-executing');
}"""

_READY = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const session = panel && panel.sessionContext && panel.sessionContext.session;
  const kernel = session && session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


_STARTED = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  return cells[0].model.executionCount !== null;  // the setup ran: the measured cell starts now
}"""


def _metrics(cdp: Any) -> dict[str, float]:
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {name: float(got.get(name, 0.0)) for name in METRICS}


def run_one(driver: Any, server: JupyterServer, tmp: Path, n: int, how: str, text: str) -> dict[str, Any]:
    """One notebook: setup, then the measured cell (``how``: "rlm" or "stdout"; ``text``:
    "markdown" or "paragraph")."""
    tokens = (answer_tokens if text == "markdown" else paragraph_tokens)(n)
    delay = round(1 / RATE, 5)
    name = f"cost_{how}_{text}_{n}.ipynb"
    measured = "%%rlm -m slow\ngo" if how == "rlm" else _BASELINE.format(delay=delay)
    server.write_notebook(name, [_NOTEBOOK_SETUP.format(tokens=tokens, delay=delay), measured])
    context = driver.chromium.launch_persistent_context(
        str(tmp / f"profile-{how}-{n}-{time.time_ns()}"), executable_path=chromium_path(), headless=True,
        args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900}, service_workers="block")
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(server.page_url(name), wait_until="domcontentloaded")
        page.wait_for_function(_READY, timeout=120_000, polling=200)
        # run the setup cell, then the measured one, as the menus do
        page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        page.wait_for_function(_STARTED, timeout=120_000, polling=50)
        samples = [(time.perf_counter(), _metrics(cdp))]
        while not page.evaluate(_DONE):
            time.sleep(0.5)
            samples.append((time.perf_counter(), _metrics(cdp)))
        samples.append((time.perf_counter(), _metrics(cdp)))
    finally:
        context.close()
    (t0, first), (t1, last) = samples[0], samples[-1]
    end = next((s for s in reversed(samples) if t1 - s[0] >= WINDOW), samples[0])
    span = t1 - end[0]
    delta = {k: last[k] - first[k] for k in METRICS}
    tail = {k: last[k] - end[1][k] for k in METRICS}
    return {
        "how": how, "text": text, "tokens": n, "seconds": round(t1 - t0, 2),
        "main_ms_per_1k": round(1000 * delta["TaskDuration"] / (n / 1000), 1),
        "layout_ms_per_1k": round(1000 * delta["LayoutDuration"] / (n / 1000), 2),
        "style_ms_per_1k": round(1000 * delta["RecalcStyleDuration"] / (n / 1000), 2),
        "busy_whole": round(delta["TaskDuration"] / (t1 - t0), 3),
        "busy_last_3s": round(tail["TaskDuration"] / span, 3) if span else None,
        "layout_ms_per_pass_last_3s": round(1000 * tail["LayoutDuration"] / tail["LayoutCount"], 2)
        if tail["LayoutCount"] else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--before", type=Path, help="a checkout of an earlier rlm to compare with")
    parser.add_argument("--text", choices=["markdown", "paragraph"], nargs="+",
                        default=["markdown", "paragraph"],
                        help="markdown: paragraphs, lists, code, math; paragraph: one paragraph of words")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    here = str(Path(__file__).resolve().parents[1])
    trees = [("after", here, ("stdout", "rlm"))]
    if args.before:
        trees.insert(0, ("before", str(args.before.resolve()), ("rlm",)))
    results = []
    with tempfile.TemporaryDirectory() as tmp_dir, sync_playwright() as driver:
        for label, tree, kinds in trees:
            old = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = tree  # the kernel imports rlm from this tree
            server = start_jupyter("lab", Path(tmp_dir) / label)
            try:
                for text in args.text:
                    for n in args.tokens:
                        for how in kinds:
                            if how == "stdout" and text == "paragraph":
                                continue  # the same characters as text: the markdown run's baseline stands
                            result = {"tree": label, **run_one(driver, server, Path(tmp_dir), n, how, text)}
                            print(json.dumps(result), flush=True)
                            results.append(result)
                            server.shutdown_kernels()
            finally:
                server.stop()
                if old is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = old
    print()
    print("| tree | shown as | text | tokens | s | main ms / 1k tok | layout ms / 1k tok | busy (whole) "
          "| busy (last 3 s) | layout ms / pass (last 3 s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['tree']} | {r['how']} | {r['text']} | {r['tokens']:,} | {r['seconds']} "
              f"| {r['main_ms_per_1k']} "
              f"| {r['layout_ms_per_1k']} | {r['busy_whole']:.0%} | {r['busy_last_3s']:.0%} "
              f"| {r['layout_ms_per_pass_last_3s']} |")


if __name__ == "__main__":
    main()
