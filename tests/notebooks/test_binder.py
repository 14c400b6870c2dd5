"""The Binder files build a working environment: prove it the way repo2docker would use them.

A fresh virtualenv in a temporary directory, a copy of the repository (what repo2docker copies
in), ``pip install -r binder/requirements.txt`` run from the copy's root, then ``binder/postBuild``,
then every teaching notebook executed by nbconvert in that environment, with no key and no
network but loopback (the lessons' extras — web, cost, otel, llama-cpp-python's server — must all
come from ``binder/requirements.txt``).
repo2docker passes ``--no-cache-dir`` and compiles llama-cpp-python on Binder's own machine; here
the portable wheel that ``make install`` built once (its wheelhouse is ``$RLM_WHEELS``, set by
``make test``) is used, so it does not compile again, and a native build from pip's cache (which
may not run on this CPU: see the Makefile) is never taken. Needs PyPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 1500  # llama-cpp-python compiles in ~10 min on 2 cores when pip has no wheel cached
NOTEBOOK_TIMEOUT = 300  # each notebook, kernel start included; the slowest (07) takes under a minute
CELL_TIMEOUT = 180

pytestmark = [pytest.mark.binder, pytest.mark.model, pytest.mark.timeout(INSTALL_TIMEOUT + 1800)]


def _copy_repository(target: Path) -> None:
    """Tracked and new (not ignored) files, as a clone would have them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def _errors(notebook: dict) -> list[str]:
    """The errors a notebook's cells raised, except where a cell is tagged to raise."""
    found = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code" or "raises-exception" in cell["metadata"].get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                found.append(f"{cell['source'][:60]!r}: {output['ename']}: {output['evalue'][:300]}")
    return found


def test_binder_environment_runs_every_notebook(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _copy_repository(repo)
    assert (repo / "binder" / "requirements.txt").exists() and (repo / "notebooks" / "quickstart.ipynb").exists()

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bindir = env_dir / "bin"
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "RLM_MODEL",
                        "OPENAI_BASE_URL", "OLLAMA_HOST")}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(env_dir),
               PIP_DISABLE_PIP_VERSION_CHECK="1", JUPYTER_PLATFORM_DIRS="1",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"), JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               IPYTHONDIR=str(tmp_path / "ipython"), MPLCONFIGDIR=str(tmp_path / "matplotlib"))

    wheels = os.environ.get("RLM_WHEELS")
    portable = ["--find-links", wheels, "--only-binary", "llama-cpp-python"] if wheels else []
    _run([str(bindir / "python"), "-m", "pip", "install", "-q", *portable, "-r", "binder/requirements.txt"],
         cwd=repo, env=env, timeout=INSTALL_TIMEOUT)
    build_log = _run(["bash", "binder/postBuild"], cwd=repo, env=env, timeout=300)
    assert "embedded model ready" in build_log

    # The package comes from the new environment, not from the checkout or the test's own .venv.
    where = _run([str(bindir / "python"), "-c", "import rlm_toolkit, rlm_jupyter; print(rlm_toolkit.__file__)"],
                 cwd=tmp_path, env=env, timeout=60)
    assert str(env_dir) in where and sys.prefix not in where

    # One notebook at a time, each with its own deadline, so a hang names its notebook; all are
    # run before anything is asserted, so one report lists every notebook that failed.
    out = tmp_path / "out"
    names = sorted(p.name for p in (repo / "notebooks").glob("*.ipynb"))
    assert len(names) >= 8, names
    failures: dict[str, str] = {}
    for name in names:
        cmd = [str(bindir / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--output-dir", str(out),
               f"--ExecutePreprocessor.timeout={CELL_TIMEOUT}", "--ExecutePreprocessor.kernel_name=python3",
               f"notebooks/{name}"]
        try:
            result = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=NOTEBOOK_TIMEOUT)
        except subprocess.TimeoutExpired:
            failures[name] = f"did not finish within {NOTEBOOK_TIMEOUT} s"
            continue
        if result.returncode != 0:
            failures[name] = result.stderr[-3000:]
            continue
        errors = _errors(nbformat.read(out / name, as_version=4))  # read() joins multi-line strings
        if errors:
            failures[name] = "\n".join(errors)
    assert not failures, "notebooks that failed in the Binder environment:\n" + "\n\n".join(
        f"== {name}\n{why}" for name, why in failures.items())

    executed = nbformat.read(out / "quickstart.ipynb", as_version=4)
    cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
    first = next(c for c in cells if c["source"].startswith("%%rlm"))
    # an answer's display, and beside it its saved copy, emptied once the answer settled (no data)
    shown = [o["data"] for o in first["outputs"] if o["output_type"] == "display_data"]
    answers = [data.get("text/plain", "") for data in shown if data]
    assert len(answers) == 1 and str(answers[0]).strip(), "the first %%rlm cell displayed no answer"
    assert all(not data for data in shown if data is not shown[0]), "only the emptied saved copy beside it"
    printed = "".join(o.get("text", "") for c in cells for o in c.get("outputs", []) if o["output_type"] == "stream")
    assert "str | not empty: True" in printed and "local:smollm2" in printed
