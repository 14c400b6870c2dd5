"""Bytes per display: what each ``%%rlm`` answer costs on iopub beyond its text, in a real ipykernel,
and what is sent once per kernel.

::

    .venv/bin/python -m benchmarks.page_bytes [--before /path/to/old/checkout]

Six short answers (scripted, 40 words) in one kernel. For each: the bytes of its ``comm_open``
messages and its first display (the widget's fixed cost: state, module code, CSS) and of its
final display. Reported: the first answer, the median of the other five, and the once-per-kernel
part (the page libraries' widget, ``PageAssets``). ``--before PATH`` runs the same in a kernel
that imports rlm from ``PATH`` (a checkout of an earlier commit), in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.kernel import Kernel  # noqa: E402

SETUP = """
%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider
fast = RLM(ScriptedProvider(" ".join(f"word{i}" for i in range(40))))
"""
ANSWERS = 6


def _is_assets(message: dict[str, Any]) -> bool:
    state = ((message.get("content") or {}).get("data") or {}).get("state") or {}
    return str(state.get("key", "")).startswith("__rlm_page_")


def measure(tree: str) -> dict[str, Any]:
    kernel = Kernel(env={"PYTHONPATH": tree})
    try:
        assert kernel.execute(SETUP).ok
        fixed, once = [], 0
        for _ in range(ANSWERS):
            run = kernel.execute("%%rlm -m fast\nGo", timeout=120)
            assert run.ok, run.errors
            opens = run.of("comm_open")
            once += sum(m["_bytes"] for m in opens if _is_assets(m))
            fixed.append(sum(m["_bytes"] for m in opens if not _is_assets(m))
                         + run.of("display_data")[0]["_bytes"])
    finally:
        kernel.shutdown()
    return {"first": fixed[0], "later": statistics.median(fixed[1:]), "once": once}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="a checkout of an earlier rlm to compare with")
    args = parser.parse_args(argv)
    here = str(Path(__file__).resolve().parents[1])
    rows = [("before", measure(str(args.before.resolve())))] if args.before else []
    rows.append(("after", measure(here)))
    print("| tree | per display: first answer (B) | per display: later answers, median (B) "
          "| once per kernel: page libraries (B) |")
    print("|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['first']:,} | {r['later']:,} | {r['once']:,} |")


if __name__ == "__main__":
    main(sys.argv[1:])
