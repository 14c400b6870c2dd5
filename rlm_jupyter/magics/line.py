"""The one parser of the ``%rlm`` line magic: its subcommands, their options, the help they make.

::

    %rlm model local:smollm2         %rlm replay run.jsonl --instant
    %rlm models                      %rlm export run.jsonl --json spans.json --content
    %rlm config                      %rlm diff before.jsonl after.jsonl
    %rlm reset                       %rlm stop
    %rlm chats                       %rlm chat show|fork|forget NAME [--at N NEW]
    %rlm help                        %rlm?    (the same list, with every option)
    %rlm fork run.jsonl --step 3 [--model ID]
    %rlm mcp [log NAME | stop [NAME]]
    %rlm explain [N]                 %rlm fix [N]     (the last error, or cell N's)
    %rlm What is {x}?                a prompt: a one-line %%rlm cell (-- PROMPT when it starts
    %rlm -m NAME --chat trip -- PROMPT   like a subcommand; %%rlm options before the --)

An ``argparse`` parser with one subparser per subcommand (IPython's ``MagicArgumentParser``, which
``magic_arguments`` builds on for ``%%rlm``'s options); words are split with shell rules, so a
quoted path with spaces is one word. Every mistake is one :class:`IPython.core.error.UsageError`
line that ends with the subcommand's usage. Parsing only: :class:`~rlm_jupyter.magics.rlm.RLMMagics`
runs what it parsed.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser

__all__ = ["LINE_HELP", "LINE_PARSER", "parse_line", "prompt_line", "split_words", "usage_error", "with_help"]

_F = TypeVar("_F", bound=Callable[..., Any])


def split_words(line: str, what: str) -> list[str]:
    """``line`` split as a shell would: quotes group words and are removed (``-s "Be brief."``
    gives ``Be brief.``); an unbalanced quote is a UsageError naming ``what`` was being read."""
    try:
        return shlex.split(line)
    except ValueError as error:
        raise UsageError(f"{what}: {error} in {line!r}") from None


class _Parser(MagicArgumentParser):
    """A mistake is one line: argparse's message, then the usage of the (sub)command it was in.
    Usage and help read as typed (``%rlm replay FILE``), not as IPython's reST docstrings."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"formatter_class": argparse.RawDescriptionHelpFormatter, **kwargs})

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; {' '.join(self.format_usage().split())}")


def _speed(text: str) -> float:
    """``--speed X``: a positive number that a replay can run at (rlm_toolkit.trace.check_speed)."""
    from rlm_toolkit.errors import UsageError as ToolkitUsageError
    from rlm_toolkit.trace import check_speed

    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a number, not {text!r}") from None
    if speed <= 0:
        raise argparse.ArgumentTypeError("must be positive (use --instant to replay at once)")
    try:
        check_speed(speed)
    except ToolkitUsageError as error:
        raise argparse.ArgumentTypeError(error.message) from None
    return speed


def _context_commands(command: Callable[[str, str], _Parser]) -> None:
    """``%rlm explain [N]`` and ``%rlm fix [N]`` (run by magics/context.py)."""
    for name, help in (("explain", "explain the last error (or cell N's): its source, traceback and the "
                        "values in the failing line go to the model"),
                       ("fix", "a corrected version of the failing cell (the last error's, or cell N's), "
                        "offered as the next cell; never run")):
        parser = command(name, help)
        parser.add_argument("cell", metavar="N", nargs="?", type=int, help="the cell's execution count "
                            "(negative: back from this cell); default: the last cell that raised")
        parser.add_argument("-m", "--model", help="provider:model id, an alias, or a variable holding an RLM")
        parser.add_argument("--no-widget", action="store_true",
                            help="stream plain text instead of the widget")


def _build() -> tuple[_Parser, dict[str, _Parser]]:
    parser = _Parser(prog="%rlm", usage="%(prog)s COMMAND ...", description="Settings, models and "
                     "recorded runs; %%rlm? documents the cell magic (the cell is the prompt).")
    # the commands are listed in the epilog, each with its usage (LINE_HELP), not in argparse's table
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                     help=argparse.SUPPRESS)
    sub: dict[str, _Parser] = {}

    def command(name: str, help: str) -> _Parser:
        # argparse %-formats help (not descriptions): "%config" is written "%%config" there
        sub[name] = commands.add_parser(name, prog=f"%rlm {name}", help=help.replace("%", "%%"),
                                        description=help)
        return sub[name]

    command("model", "set the default model for the next cells").add_argument(
        "name", metavar="NAME", help="a provider:model id, an alias, or a variable holding an RLM")
    command("models", "providers, whether each is installed, which key it needs, example ids")
    command("config", "the current settings (change them with %config RLMMagics.<name> = …)")
    command("reset", "forget the unnamed --chat conversation (named ones: %rlm chat forget NAME)")
    command("chats", "the named conversations (%%rlm --chat NAME): turns, tokens, models")
    chat = command("chat", "one named conversation: show its turns, fork it at turn N into NEW, or "
                   "forget it (its file is deleted)")
    chat.add_argument("action", metavar="show|fork|forget", choices=("show", "fork", "forget"))
    chat.add_argument("name", metavar="NAME", help="the chat's name")
    chat.add_argument("new", metavar="NEW", nargs="?", help="with fork: the new chat's name")
    chat.add_argument("--at", metavar="N", type=int, help="with fork: the last turn the new chat holds "
                      "(default: all)")
    replay = command("replay", "show a recorded run (or an OTLP/JSON .json export) again")
    replay.add_argument("file", metavar="FILE", help="a JSONL trace (from --record) or an OTLP/JSON export")
    replay.add_argument("--instant", dest="speed", action="store_const", const=None,
                        help="replay at once instead of at the recorded pace")
    replay.add_argument("--speed", metavar="X", type=_speed,
                        help="X times the recorded pace (0.001 to 1000)")
    replay.set_defaults(speed=1.0)  # for both options of the one dest (else --instant's None would win)
    export = command("export", "a recorded run as OpenTelemetry GenAI spans (--otlp URL or --json OUT)")
    export.add_argument("file", metavar="FILE", help="a JSONL trace")
    export.add_argument("--otlp", metavar="URL", help="send the spans to this OTLP/HTTP collector "
                        "(headers from $OTEL_EXPORTER_OTLP_HEADERS)")
    export.add_argument("--json", metavar="OUT", help="write the spans to this OTLP/JSON file")
    export.add_argument("--overwrite", action="store_true", help="with --json: replace OUT if it holds "
                        "an earlier export (never any other file)")
    export.add_argument("--content", action="store_true", help="include the messages and tool results")
    export.add_argument("--agent-name", metavar="NAME", help="the agent's name in the spans")
    diff = command("diff", "how two recorded runs differ: steps aligned by action, word diffs, "
                   "token/time deltas")
    diff.add_argument("a", metavar="A", help="the first JSONL trace")
    diff.add_argument("b", metavar="B", help="the second JSONL trace")
    fork = command("fork", "a cell below holding step N's messages and tool results, to edit and rerun "
                   "live from there")
    fork.add_argument("file", metavar="FILE", help="a JSONL trace of an agent run")
    fork.add_argument("--step", metavar="N", type=int, help="the step to fork at (default: the last)")
    fork.add_argument("--model", metavar="ID", help="the fork's model: a provider:model id or a variable "
                      "holding an RLM (default: the recorded one)")
    fork.add_argument("--tools", metavar="a,b", help="variables holding the real tools (default: the "
                      "recorded results)")
    fork.add_argument("--approve", action="store_true", help="each live tool call waits for Approve / Deny")
    mcp = command("mcp", "MCP servers used here: their state and tools; the log or stop of one")
    mcp.add_argument("action", metavar="log|stop", nargs="?", choices=("log", "stop"),
                     help="log NAME: what the server wrote to stderr; stop [NAME]: stop it (or all)")
    mcp.add_argument("name", metavar="NAME", nargs="?", help="a server's name in its mcpServers JSON")
    _context_commands(command)
    command("stop", "stop every live answer and agent run of this kernel (--bg ones included)")
    command("help", "this list; %%rlm? documents the cell magic's options")
    return parser, sub


LINE_PARSER, _COMMANDS = _build()


def parse_line(line: str) -> Any:
    """The parsed ``%rlm`` line (``command`` is None for a bare ``%rlm``); mistakes are UsageErrors."""
    words = split_words(line, "%rlm")
    if words[:1] == ["chat"]:  # `fork NAME --at N NEW`: argparse matches positionals before --at only
        words = _options_last(words, "--at")
    args, extra = LINE_PARSER.parse_known_args(words)
    if extra:  # argparse leaves these to the top parser; the subcommand's usage says more
        _COMMANDS.get(args.command, LINE_PARSER).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def prompt_line(line: str) -> tuple[str, str] | None:
    """``(options, prompt)`` when a ``%rlm`` line is a prompt, ``None`` when it is a subcommand.

    The rule: a line whose first word is a subcommand's name (``model``, ``chat``, ``explain`` …) is
    that subcommand; ``-- PROMPT`` is a prompt whatever it starts with; ``OPTIONS -- PROMPT`` (the
    first `` -- ``) gives ``%%rlm``'s options; any other line starting with ``-`` goes to the parser
    (``%rlm -h``); every other line is a prompt, as a one-line ``%%rlm`` cell."""
    text = line.strip()
    if not text:
        return None
    first = text.split(None, 1)[0]
    if first in _COMMANDS:
        return None
    if first == "--":
        return "", text[2:].strip()
    if first.startswith("-"):
        options, dashes, prompt = text.partition(" -- ")
        return (options, prompt.strip()) if dashes else None
    return "", text


def _options_last(words: list[str], option: str) -> list[str]:
    """``words`` with ``option VALUE`` (or ``option=VALUE``) moved to the end."""
    rest: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(words):
        if words[i] == option:
            moved += words[i:i + 2]
            i += 2
            continue
        (moved if words[i].startswith(option + "=") else rest).append(words[i])
        i += 1
    return rest + moved


def usage_error(command: str, message: str) -> NoReturn:
    """A mistake the parser cannot see (``export`` with neither ``--otlp`` nor ``--json``), worded as
    its own: one UsageError line ending with the subcommand's usage."""
    _COMMANDS[command].error(message)


def _rows() -> list[tuple[str, str]]:
    """(usage, what it does) of each subcommand, in the parser's order."""
    return [(" ".join(parser.format_usage().split()).removeprefix("usage: "), parser.description or "")
            for parser in _COMMANDS.values()]


#: What ``%rlm help`` prints: each subcommand's usage and what it does, from the parser.
LINE_HELP = "\n".join(
    [f"{usage}\n    {what}" for usage, what in _rows()]
    + ["%%rlm --agent --tools a,b --approve\n    an agent run whose every tool call waits for Approve / Deny",
       "%%rlm --agent --mcp servers.json\n    the tools of the MCP servers in that mcpServers JSON",
       "%rlm PROMPT   %rlm -- PROMPT   %rlm [%%rlm OPTIONS] -- PROMPT\n    a one-line %%rlm cell (a line "
       "that starts with a subcommand's name is that subcommand)"]
)
LINE_PARSER.epilog = "commands:\n" + LINE_HELP  # what %rlm? shows after the usage


def with_help(func: _F) -> _F:
    """The line magic's docstring becomes the parser's help: what ``%rlm?`` shows."""
    func.__doc__ = LINE_PARSER.format_help()
    return func
