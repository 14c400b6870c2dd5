"""``python -m rlm_toolkit "prompt"`` (or ``rlm "prompt"``): stream an answer to the terminal.

::

    rlm "Tell a story" -m openai:gpt-4o -s "Be brief." -t 0.2 --max-tokens 200 --stats
    echo "Tell a story" | rlm               # the prompt from stdin
    rlm --models                            # the providers and whether they are ready

Errors print as one line on stderr (exit code 1, never a traceback that could show a key);
Ctrl-C stops the stream, closes the connection and exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import RLMError, scrub

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlm", description="Stream a language model's answer to the terminal.")
    parser.add_argument("prompt", nargs="?", help="the prompt (read from stdin when omitted)")
    parser.add_argument("-m", "--model", help="provider:model id or alias (default: $RLM_MODEL, else local:smollm2)")
    parser.add_argument("-s", "--system", help="system prompt")
    parser.add_argument("-t", "--temperature", type=float, help="sampling temperature")
    parser.add_argument("--max-tokens", type=int, help="maximum tokens in the answer")
    parser.add_argument("--stats", action="store_true", help="print usage and timings to stderr at the end")
    parser.add_argument("--models", action="store_true", help="list the providers and exit")
    return parser


def _list_models() -> None:
    from .providers import default_model_id, providers

    print(f"default: {default_model_id()}")
    for info in providers():
        ready = "installed" if info.installed else f"needs the '{info.extra}' extra" if info.extra else "missing"
        if info.has_credentials is False:
            ready += f", ${info.env_var} not set"
        print(f"  {info.example or info.name:32} {info.description} [{ready}]")


def _stats(response: object) -> str:
    data = response.to_dict()  # type: ignore[attr-defined]
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
        last = ""
        with rlm.stream(prompt, **params) as chunks:
            for chunk in chunks:
                out.write(chunk)
                out.flush()
                last = chunk or last
            response = chunks.response
        if last and not last.endswith("\n"):
            out.write("\n")
        out.flush()
        if args.stats:
            print(_stats(response), file=sys.stderr)
        return 0
    except RLMError as error:
        message = " ".join(scrub(error.message).split())
        print(f"rlm: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nrlm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rlm … | head`: the reader left; nothing more to say
        return 0


if __name__ == "__main__":
    sys.exit(main())
