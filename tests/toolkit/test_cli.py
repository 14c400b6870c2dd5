"""``python -m rlm_toolkit`` in a subprocess against the loopback server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.fixtures.openai_server import TEST_KEY, Stream, Unauthorized


def rlm_cli(server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.env, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "rlm_toolkit", *args], input=stdin, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


def test_streams_the_answer_with_options_on_the_wire(openai_server):
    openai_server.script(Stream(["Да", ",", " конечно", "."]))
    done = rlm_cli(openai_server, "Привет", "-m", "openai:gpt-4o", "-s", "Be brief.", "-t", "0.3",
                   "--max-tokens", "20", "--stats")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Да, конечно.\n"
    assert "openai:gpt-4o · done · finish stop" in done.stderr and "tokens/s" in done.stderr
    body = openai_server.requests[0]
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Привет"}]
    assert body["temperature"] == 0.3 and body["max_tokens"] == 20 and body["model"] == "gpt-4o"


def test_prompt_from_stdin(openai_server):
    openai_server.script(Stream("from stdin\n"))
    done = rlm_cli(openai_server, "-m", "gpt-4o", stdin="What is on stdin?\n")
    assert done.returncode == 0 and done.stdout == "from stdin\n"
    assert openai_server.requests[0]["messages"][-1]["content"] == "What is on stdin?\n"


def test_typed_error_is_one_line_without_the_key(openai_server):
    openai_server.script(Unauthorized())
    done = rlm_cli(openai_server, "hi", "-m", "openai:gpt-4o")
    assert done.returncode == 1
    assert done.stderr.startswith("rlm: AuthenticationError: 401") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and TEST_KEY[3:8] not in done.stderr and TEST_KEY[-4:] not in done.stderr


def test_cut_stream_keeps_the_partial_output_and_fails(openai_server):
    openai_server.script(Stream("one two three", cut_after=2))
    done = rlm_cli(openai_server, "hi", "-m", "openai:gpt-4o")
    assert done.returncode == 1 and done.stdout == "one two"
    assert done.stderr.startswith("rlm: IncompleteStreamError:")


def test_ctrl_c_exits_130_and_closes_the_connection(openai_server):
    openai_server.script(Stream("word " * 100, delay=0.2))
    env = {**os.environ, **openai_server.env, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rlm_toolkit", "hi", "-m", "openai:gpt-4o"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.read(4) == "word"
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert openai_server.wait_disconnect(2)
        assert proc.wait(10) == 130
        assert time.monotonic() - started < 3
        stderr = proc.stderr.read()
        assert "Traceback" not in stderr and "interrupted" in stderr
    finally:
        proc.kill()
        proc.wait()


def test_models_listing(openai_server):
    done = rlm_cli(openai_server, "--models")
    assert done.returncode == 0 and "openai:gpt-4o-mini" in done.stdout and "scripted" in done.stdout


def test_rlm_console_script(openai_server):
    from pathlib import Path

    script = Path(sys.executable).parent / "rlm"
    if not script.exists():
        import pytest

        pytest.skip("the rlm console script is not installed in this environment (pip install -e .)")
    openai_server.script(Stream("from the script"))
    env = {**os.environ, **openai_server.env}
    done = subprocess.run([str(script), "hi", "-m", "gpt-4o"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "from the script\n", done.stderr


def test_missing_key_names_the_variable():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    done = subprocess.run([sys.executable, "-m", "rlm_toolkit", "hi", "-m", "openai:gpt-4o"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("rlm: MissingCredentialsError: OPENAI_API_KEY is not set")
    assert "local:smollm2" in done.stderr and done.stderr.count("\n") == 1
