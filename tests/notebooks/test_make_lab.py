"""The README's main command, ``make lab``, starts JupyterLab on a fresh headless machine as the
user running the tests (root in containers and CI): the server answers ``/api/status``, prints the
URL to open, and serves the quickstart notebook."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_lab(tmp_path: Path) -> None:
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "DISPLAY", "WAYLAND"))}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"))
    args = (f"--ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={token} --LabApp.news_url=None "
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate --LabApp.extension_manager=readonly")
    command = ["make", "--no-print-directory", "-C", str(REPO), "lab", f"LAB_ARGS={args}"]
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/status", params={"token": token}, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        text = log.read_text(errors="replace")
        assert status is not None, f"make lab exited or never answered:\n{text[-3000:]}"
        assert status.status_code == 200, status.text
        assert "Running as root is not recommended" not in text
        assert f"127.0.0.1:{port}/lab" in text, "the URL to open is printed (no browser on a headless machine)"
        # jupyter lab FILE serves FILE's folder and opens FILE
        contents = httpx.get(f"http://127.0.0.1:{port}/api/contents/quickstart.ipynb",
                             params={"token": token, "content": 0}, timeout=5)
        assert contents.status_code == 200, contents.text
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "jupyter").exists(), reason="needs the Makefile's .venv")
def test_make_lab_starts_headless_as_this_user(tmp_path):
    """CI runs this as root: the Makefile adds --allow-root there (and only there)."""
    _run_lab(tmp_path)
