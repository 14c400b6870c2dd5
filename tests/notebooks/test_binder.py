"""The Binder files build a working environment: prove it the way repo2docker would use them.

A fresh virtualenv in a temporary directory, a copy of the repository (what repo2docker copies
in), ``pip install -r binder/requirements.txt`` run from the copy's root, then ``binder/postBuild``,
then the quickstart notebook executed by nbconvert in that environment, with no key.
repo2docker passes ``--no-cache-dir``; here pip's cache is used so llama-cpp-python, compiled
once by ``make install``, does not compile again. Needs PyPI (or pip's cache).
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

pytestmark = [pytest.mark.binder, pytest.mark.model, pytest.mark.timeout(INSTALL_TIMEOUT + 600)]


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


def test_binder_environment_runs_the_quickstart(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _copy_repository(repo)
    assert (repo / "binder" / "requirements.txt").exists() and (repo / "notebooks" / "quickstart.ipynb").exists()

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bindir = env_dir / "bin"
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "RLM_MODEL")}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(env_dir),
               PIP_DISABLE_PIP_VERSION_CHECK="1", JUPYTER_PLATFORM_DIRS="1",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"), JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               IPYTHONDIR=str(tmp_path / "ipython"))

    _run([str(bindir / "python"), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
         cwd=repo, env=env, timeout=INSTALL_TIMEOUT)
    build_log = _run(["bash", "binder/postBuild"], cwd=repo, env=env, timeout=300)
    assert "embedded model ready" in build_log

    # The package comes from the new environment, not from the checkout or the test's own .venv.
    where = _run([str(bindir / "python"), "-c", "import rlm_toolkit, rlm_jupyter; print(rlm_toolkit.__file__)"],
                 cwd=tmp_path, env=env, timeout=60)
    assert str(env_dir) in where and sys.prefix not in where

    out = tmp_path / "out"
    _run([str(bindir / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--output-dir", str(out),
          "--ExecutePreprocessor.timeout=300", "--ExecutePreprocessor.kernel_name=python3",
          "notebooks/quickstart.ipynb"], cwd=repo, env=env, timeout=600)
    executed = nbformat.read(out / "quickstart.ipynb", as_version=4)  # joins multi-line strings
    cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
    outputs = [o for cell in cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"], "the quickstart raised in the Binder environment"
    first = next(c for c in cells if c["source"].startswith("%%rlm"))
    answers = [o["data"].get("text/plain", "") for o in first["outputs"] if o["output_type"] == "display_data"]
    assert answers and all(str(a).strip() for a in answers), "the first %%rlm cell displayed no answer"
    printed = "".join(o.get("text", "") for c in cells for o in c.get("outputs", []) if o["output_type"] == "stream")
    assert "str | not empty: True" in printed and "local:smollm2 done" in printed
