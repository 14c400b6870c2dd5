"""``%load_ext rlm_jupyter`` import time, in a fresh process each time.

::

    .venv/bin/python -m benchmarks.load_ext

Each sample starts a new interpreter, creates an IPython shell (not timed: the kernel has one
already) and times ``%load_ext rlm_jupyter``; the median of 7 is reported, with the modules the
extension must not import at load time (widgets, markdown, provider SDKs, llama_cpp). Target < 0.3 s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

HEAVY = ("anywidget", "ipywidgets", "markdown_it", "nh3", "httpx", "openai", "llama_cpp", "rlm_toolkit.rlm")

PROBE = f"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t = time.perf_counter()
shell.run_line_magic("load_ext", "rlm_jupyter")
elapsed = time.perf_counter() - t
print(json.dumps({{"s": elapsed, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def sample() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    samples = [sample() for _ in range(7)]
    median = statistics.median(s["s"] for s in samples)
    loaded = sorted({m for s in samples for m in s["loaded"]})
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| `%load_ext rlm_jupyter`, median of 7 fresh processes | {median * 1000:.1f} ms | < 300 ms |")
    print(f"| heavy modules imported at load | {', '.join(loaded) or 'none'} | none |")


if __name__ == "__main__":
    main(sys.argv[1:])
