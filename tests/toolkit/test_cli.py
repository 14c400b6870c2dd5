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
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Привет"},
    ]
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
    assert (
        "Traceback" not in done.stderr
        and TEST_KEY[3:8] not in done.stderr
        and TEST_KEY[-4:] not in done.stderr
    )


def test_cut_stream_keeps_the_partial_output_and_fails(openai_server):
    openai_server.script(Stream("one two three", cut_after=2))
    done = rlm_cli(openai_server, "hi", "-m", "openai:gpt-4o")
    assert done.returncode == 1 and done.stdout == "one two\n"  # the error line starts a line of its own
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
    done = subprocess.run(
        [str(script), "hi", "-m", "gpt-4o"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == "from the script\n", done.stderr


def test_missing_key_names_the_variable():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    done = subprocess.run([sys.executable, "-m", "rlm_toolkit", "hi", "-m", "openai:gpt-4o"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("rlm: MissingCredentialsError: OPENAI_API_KEY is not set")
    assert "local:smollm2" in done.stderr and done.stderr.count("\n") == 1


HOSTILE_CHUNKS = [
    "Hi",
    "\x1b]0;pwned\x07",
    "\x1b[2J\x1b[H",
    "\x1b]52;c;ZXZpbA==\x07",
    " done\r",
    "\nnext\x9b31m",
    " end\r",
]


def rlm_on_a_terminal(server, *args: str) -> bytes:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return what the terminal received."""
    import pty

    primary, secondary = pty.openpty()
    env = {**os.environ, **server.env, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen([sys.executable, "-m", "rlm_toolkit", *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=secondary, stderr=secondary)
    os.close(secondary)
    received = b""
    try:
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            received += data
    finally:
        os.close(primary)
        assert proc.wait(30) is not None
    return received


def test_control_sequences_from_the_model_never_reach_a_terminal(openai_server):
    openai_server.script(Stream(HOSTILE_CHUNKS))
    screen = rlm_on_a_terminal(openai_server, "hi", "-m", "openai:gpt-4o")
    for byte in (b"\x1b", b"\x07", b"\xc2\x9b"):  # ESC, BEL, the one-byte CSI
        assert byte not in screen, screen
    text = screen.decode().replace("\r\n", "\n")  # the terminal turns each LF into CR LF
    assert text == ("Hi\\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\x1b]52;c;ZXZpbA==\\x07 done\nnext\\x9b31m end\\r\n")


def test_piped_output_and_raw_keep_the_text_exactly(openai_server):
    openai_server.script(Stream(HOSTILE_CHUNKS))
    env = {**os.environ, **openai_server.env, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, "-m", "rlm_toolkit", "hi", "-m", "openai:gpt-4o"], env=env,
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout == ("".join(HOSTILE_CHUNKS) + "\n").encode()
    openai_server.script(Stream(["\x1b]0;title\x07", "ok"]))
    screen = rlm_on_a_terminal(openai_server, "hi", "-m", "openai:gpt-4o", "--raw")
    assert b"\x1b]0;title\x07ok" in screen


def test_on_a_terminal_the_error_after_a_partial_answer_starts_a_new_line(openai_server):
    openai_server.script(Stream("one two three", cut_after=2))
    screen = rlm_on_a_terminal(openai_server, "hi", "-m", "openai:gpt-4o").decode()
    assert screen.startswith("one two\r\nrlm: IncompleteStreamError:"), screen


#: Invisible format controls that reorder what a terminal shows (Trojan Source, CVE-2021-42574).
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_a_servers_finish_reason_in_the_stats_line_never_reaches_a_terminal_raw(openai_server):
    openai_server.script(Stream("ok", finish="\x1b]0;pwned\x07\u202e\nfake line"))
    screen = rlm_on_a_terminal(openai_server, "hi", "-m", "openai:gpt-4o", "--stats")
    for byte in (b"\x1b", b"\x07", "\u202e".encode()):
        assert byte not in screen, screen
    text = screen.decode().replace("\r\n", "\n")
    assert "finish \\x1b]0;pwned\\x07\\u202e fake line · " in text and text.count("\n") == 2, text


def test_bidirectional_overrides_are_shown_as_text_on_a_terminal(openai_server):
    from rlm_toolkit.__main__ import TerminalText

    openai_server.script(Stream(["price: ", "\u202e01$\u202c", " ok \u2067x\u2069 ", "👨\u200d👩\u200d👧"]))
    screen = rlm_on_a_terminal(openai_server, "hi", "-m", "openai:gpt-4o")
    for char in BIDI:
        assert char.encode() not in screen, (hex(ord(char)), screen)
    text = screen.decode().replace("\r\n", "\n")
    # Each control shows as text; a ZWJ emoji stays whole.
    assert text == "price: \\u202e01$\\u202c ok \\u2067x\\u2069 👨\u200d👩\u200d👧\n"
    assert TerminalText().feed(BIDI) == "".join(f"\\u{ord(c):04x}" for c in BIDI)
