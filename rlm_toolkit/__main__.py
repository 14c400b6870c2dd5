"""``python -m rlm_toolkit "prompt"`` (or ``rlm "prompt"``): stream an answer to the terminal.

::

    rlm "Tell a story" -m openai:gpt-4o -s "Be brief." -t 0.2 --max-tokens 200 --stats
    echo "Tell a story" | rlm               # the prompt from stdin
    rlm --models                            # the providers and whether they are ready

Errors print as one line on stderr (exit code 1, never a traceback that could show a key), on a
line of their own after a partial answer; Ctrl-C stops the stream, closes the connection and exits
with 130. Model text is untrusted: on a terminal its control characters (escape sequences that
retitle the window, clear the screen or write the clipboard) and its bidirectional controls (which
reorder what is shown, U+202E) are shown as ``\\x1b`` / ``\\u202e`` text; piped, the text is passed on
exactly, and ``--raw`` passes it on exactly to a terminal too. The error and ``--stats`` lines
(which carry what a server said) are one line each, made safe the same way on a terminal.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import TextIO

from .errors import RLMError, scrub

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlm", description="Stream a language model's answer to the terminal."
    )
    parser.add_argument("prompt", nargs="?", help="the prompt (read from stdin when omitted)")
    parser.add_argument(
        "-m", "--model", help="provider:model id or alias (default: $RLM_MODEL, else local:smollm2)"
    )
    parser.add_argument("-s", "--system", help="system prompt")
    parser.add_argument("-t", "--temperature", type=float, help="sampling temperature")
    parser.add_argument("--max-tokens", type=int, help="maximum tokens in the answer")
    parser.add_argument("--stats", action="store_true", help="print usage and timings to stderr at the end")
    parser.add_argument("--models", action="store_true", help="list the providers and exit")
    parser.add_argument("--raw", action="store_true", help="write the model's control characters (escape "
                        "sequences) to the terminal as they are (piped output always is exact)")
    return parser


# C0 controls but tab and line feed, DEL and C1 controls (\x9b is a one-byte CSI to some terminals),
# and the invisible format controls that reorder text on a bidi terminal (Trojan Source,
# CVE-2021-42574): marks, embeddings, overrides, isolates and the deprecated shaping controls.
# ZWJ/ZWNJ stay: emoji sequences and scripts need them, and they move nothing.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u206f]")


class TerminalText:
    """Makes model text safe to write to a terminal: each control character becomes visible text
    (``ESC]0;title`` shows as ``\\x1b]0;title``, a right-to-left override as ``\\u202e``), so no
    escape sequence reaches the terminal and nothing reorders what it shows. CR LF
    is a line end (LF); a lone CR, which would let text overwrite its own line, is shown too.
    """

    def __init__(self) -> None:
        self._cr = False  # the last chunk ended with CR: is the next one's first character LF?

    def feed(self, chunk: str) -> str:
        text = ("\r" if self._cr else "") + chunk
        self._cr = text.endswith("\r")
        if self._cr:
            text = text[:-1]
        return _CONTROL.sub(_visible, text.replace("\r\n", "\n"))

    def flush(self) -> str:
        """What is still held (a CR at the very end), made visible."""
        held, self._cr = ("\\r" if self._cr else ""), False
        return held


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _line(text: str, stream: object) -> str:
    """A status line (the error, ``--stats``) as one line; on a terminal, its control and bidi
    characters made visible: a server's error body or finish reason is no more trusted than the
    model's text."""
    line = " ".join(text.split())
    return TerminalText().feed(line) if _isatty(stream) else line


def _list_models() -> None:
    from .providers import default_model_id, providers

    print(f"default: {default_model_id()}")
    for info in providers():
        ready = (
            "installed" if info.installed else f"needs the '{info.extra}' extra" if info.extra else "missing"
        )
        if info.has_credentials is False:
            ready += f", ${info.env_var} not set"
        print(f"  {info.example or info.name:32} {info.description} [{ready}]")


def _stats(response: object) -> str:
    data = response.to_dict()  # type: ignore[attr-defined]  # a Response; object keeps the CLI's imports lazy
    usage = data["usage"]
    return (
        f"{data['model']} · {data['state']} · finish {data['finish_reason']} · "
        f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens · "
        f"ttft {data['ttft_s']} s · {data['tokens_per_s']} tokens/s · {data['elapsed_s']} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1 on an error, 130 on Ctrl-C)."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    safe = None if args.raw or not _isatty(out) else TerminalText()
    last = ""
    try:
        if args.models:
            _list_models()
            return 0
        prompt = args.prompt if args.prompt is not None else sys.stdin.read()
        if not prompt.strip():
            raise RLMError("no prompt: pass one as an argument or on stdin")
        from .rlm import RLM

        rlm = RLM(args.model)
        params = {"system": args.system, "temperature": args.temperature, "max_tokens": args.max_tokens}
        with rlm.stream(prompt, **params) as chunks:
            for chunk in chunks:
                out.write(safe.feed(chunk) if safe else chunk)
                out.flush()
                last = chunk or last
            response = chunks.response
        _end_line(out, last, safe)
        if args.stats:
            print(_line(_stats(response), sys.stderr), file=sys.stderr)
        return 0
    except RLMError as error:
        _end_line(out, last, safe)  # the error goes on a line of its own, not after the partial answer
        print(_line(f"rlm: {type(error).__name__}: {scrub(error.message)}", sys.stderr), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nrlm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rlm … | head`: the reader left; nothing more to say
        return 0


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]  # any file-like; a missing isatty is caught
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _end_line(out: TextIO, last: str, safe: TerminalText | None) -> None:
    """End the answer's last line (and show a held CR), so what follows starts on a line of its own."""
    tail = safe.flush() if safe else ""
    if tail or (last and not last.endswith("\n")):
        out.write(tail + "\n")
    out.flush()


if __name__ == "__main__":
    sys.exit(main())
