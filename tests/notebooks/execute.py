"""Re-run the teaching notebooks and save them with their outputs (what nbval then checks).

::

    .venv/bin/python -m tests.notebooks.execute                 # every notebook in notebooks/
    .venv/bin/python -m tests.notebooks.execute quickstart 06   # names or prefixes

Each notebook runs top to bottom in a fresh kernel of this virtualenv, in ``notebooks/``, with
no API keys in its environment (the same conditions as nbval and Binder). Widget state is not
saved: a finished answer or timeline replaces its live widget with static HTML, which GitHub and
nbviewer render, and the state would only add each widget's module code to the file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
_KEYS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "OLLAMA_HOST", "RLM_MODEL")


def notebooks(selected: list[str] | None = None) -> list[Path]:
    """The teaching notebooks, optionally only those whose name starts with one of ``selected``."""
    paths = sorted(p for p in NOTEBOOKS.glob("*.ipynb"))
    if selected:
        paths = [p for p in paths if any(p.stem.startswith(s) for s in selected)]
    return paths


def execute(path: Path, *, timeout: int = 600) -> float:
    """Run one notebook in place and save it; returns the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            store_widget_state=False, record_timing=False)
    client.execute()
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nbformat.write(nb, path)
    return time.perf_counter() - started


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout/stderr pieces into one output, as JupyterLab does when it saves."""
    merged: list = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and last is not None
                and last.get("output_type") == "stream" and last.get("name") == output.get("name")):
            last["text"] += output["text"]
        else:
            merged.append(output)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names or prefixes (default: all)")
    args = parser.parse_args(argv)
    for key in _KEYS:
        os.environ.pop(key, None)
    paths = notebooks(args.names)
    if not paths:
        print("no notebook matches", args.names, file=sys.stderr)
        return 1
    for path in paths:
        print(f"{path.name}: {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
