"""Run every benchmark: ``python -m benchmarks`` calls ``main()`` of each ``benchmarks/*.py`` module.

``python -m benchmarks openai_stream`` runs only the modules named.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(names: list[str] | None = None) -> None:
    here = Path(__file__).parent
    modules = sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))
    for name in names or modules:
        module = importlib.import_module(f"benchmarks.{name}")
        run = getattr(module, "main", None)
        if run is None:
            continue
        print(f"\n## {name}\n", flush=True)
        run([])


if __name__ == "__main__":
    main(sys.argv[1:] or None)
