"""``%%rlm`` (the cell is the prompt) and ``%rlm`` (settings, models, help).

::

    %load_ext rlm_jupyter

    %%rlm -m openai:gpt-4o-mini -o answer
    Explain {topic} in three sentences.

    %%rlm -m openai:gpt-4o-mini   # {fig} of a Figure / PIL image / image bytes sends the image there
    What trend does {fig} show?   # (--image NAME sends one before the text)

    %rlm model local:smollm2      # the default model for the next cells
    %rlm models                   # providers, whether installed, which key each needs

``%%rlm?`` documents every option. Settings are traitlets (``%config RLMMagics.model = "…"``).
Mistakes are one-line :class:`IPython.core.error.UsageError`\\ s. A failed answer shows in the widget
with its partial text kept, and then fails its cell with one line (type and message, no traceback),
so Run All, ``nbconvert --execute`` and papermill stop there; ``%config RLMMagics.fail_cell = False``
lets the cell succeed instead.
"""

from __future__ import annotations

import builtins
import keyword
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode

from .line import LINE_HELP, parse_line, prompt_line, split_words, with_help
from .prompt import attach, interpolate
from .typed import resolve_schema, typed_answer, typed_final

__all__ = ["RLMMagics", "parse_options", "check_out_name"]

_ENV_NAME = re.compile(r"\$([A-Z][A-Z0-9_]*)")


def _provider_env() -> tuple[str, ...]:
    """The environment variables that configure providers, from the providers registry: each
    provider's key (``env_var``) and the variables its description names (``$OPENAI_BASE_URL``).
    A cached RLM is rebuilt when one of them changes."""
    from rlm_toolkit.providers import providers

    names: dict[str, None] = {}
    for info in providers():
        for name in ([info.env_var] if info.env_var else []) + _ENV_NAME.findall(info.description):
            names[name] = None
    return tuple(names)

def parse_options(magic: Any, line: str) -> Any:
    """Like IPython's ``parse_argstring``, but quotes group words and are removed (shell rules):
    ``-s "Be brief."`` gives ``Be brief.``, not ``"Be brief."``."""
    return magic.parser.parse_args(split_words(line, "%%rlm options"))


#: Names IPython itself keeps in the namespace: ``-o`` must not overwrite them.
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "_ih", "_oh", "_dh", "_i", "_ii",
                            "_iii"})
_IPYTHON_PATTERN = re.compile(r"^_+$|^_i?\d+$|^__\w*__$")


def check_out_name(name: str, shell: Any = None) -> str:
    """``name`` if ``-o`` may store the answer there: an identifier that is not a keyword, a dunder
    (``__builtins__``, ``__name__``), a builtin (``print``, ``list``) or one of the names IPython keeps
    (``In``, ``Out``, ``get_ipython``, ``_``, ``_3``…)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"-o needs a variable name, not {name!r}")
    hidden = getattr(shell, "user_ns_hidden", None) or {}
    if name in _IPYTHON_NAMES or _IPYTHON_PATTERN.match(name) or name in hidden or hasattr(builtins, name):
        raise UsageError(f"-o {name}: that name belongs to Python or IPython (overwriting it would break "
                         "the notebook); pick another, e.g. -o answer")
    return name


def _budget(spec: str | None) -> dict[str, Any]:
    """``--budget LIMIT`` as the keyword arguments of a call or a run (see rlm_toolkit.budget)."""
    if spec is None:
        return {}
    from rlm_toolkit.budget import parse_budget
    from rlm_toolkit.errors import UsageError as ToolkitUsageError

    try:
        return parse_budget(spec)
    except ToolkitUsageError as error:
        raise UsageError(f"--budget: {_one_line(error)}") from None


def _chat_name(name: str) -> str:
    from rlm_toolkit.errors import UsageError as ToolkitUsageError

    from ..context.chats import check_name

    try:
        return check_name(name)
    except ToolkitUsageError as error:
        raise UsageError(f"--chat: {_one_line(error)}") from None


def _one_line(error: BaseException) -> str:
    """A toolkit error as the one line of a ``UsageError`` (its message, scrubbed)."""
    from ..live.errors import one_line

    return one_line(error, typed=False)


@magics_class
class RLMMagics(Magics):
    """The ``%%rlm`` / ``%rlm`` magics; the traits below are settable with ``%config RLMMagics.…``."""

    model = Unicode(None, allow_none=True, help="Default model (provider:model id or alias); "
                    "None: $RLM_MODEL, else the embedded local:smollm2").tag(config=True)
    system = Unicode(None, allow_none=True, help="Default system prompt").tag(config=True)
    temperature = Float(None, allow_none=True, help="Default temperature").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Default maximum tokens of an answer").tag(config=True)
    format = CaselessStrEnum(["markdown", "text", "code"], "markdown",
                             help="How answers are shown: markdown, text or code").tag(config=True)
    widget = Bool(True, help="Show answers in the live widget (False: plain text on stdout)").tag(config=True)
    keep_widget = Bool(False, help="Keep the live widget in the final display, open (needs saved "
                       "widget state to show after reopening; default: a static copy, and the "
                       "finished widget is closed, so the kernel does not hold it)").tag(config=True)
    save_every = Float(2.0, help="Refresh a live answer's saved copy (the text so far, what a notebook "
                       "saved mid-stream reopens with) at most every N seconds, once the text has grown "
                       "by half (0: never)").tag(config=True)
    fail_cell = Bool(True, help="A failed answer (HTTP error, cut stream …) ends its cell with error "
                     "status and one line, so Run All and papermill stop there (False: the cell "
                     "succeeds; the error shows in the widget only)").tag(config=True)

    context_chars = Int(4000, help="The most characters one {value}, {Out[n]} or {In[n]} puts in a prompt "
                        "(a visible note says what was cut)").tag(config=True)
    context_rows = Int(5, help="Rows of a DataFrame / Series (and items of a list) shown in a prompt"
                       ).tag(config=True)
    chats_dir = Unicode("", help="Where --chat NAME conversations are kept ('': .rlm/chats in the folder "
                        "the kernel started in, the notebook's own in Jupyter)").tag(config=True)
    chat_window = Int(0, help="The context window, in tokens, a --chat history is cut to (0: the model's "
                      "own where rlm knows it, else 8192)").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        from .context import attach_context

        self.errors, self.notebook = attach_context(self)  # each cell's error; {In[n]}/{Out[n]}/{Err[n]}
        self.history: list[dict[str, Any]] = []  # the unnamed --chat conversation (cut when sent)
        self.started_in = Path.cwd()  # .rlm/chats is here, whatever the notebook's code chdirs to later
        self.chat_store: Any = None  # the ChatStore of --chat NAME (magics/chat.py), made when first used
        self.chat_problems_shown: dict[str, int] = {}  # problems of each chat file already said
        # One RLM per model id, so clients and loaded models are reused.
        self._rlms: dict[tuple[str | None, ...], Any] = {}
        # --bg answers and agent runs started here that still run: (view, task); a run leaves the
        # list when it ends, so a long session holds no finished view here.
        self.streams: list[tuple[Any, Any]] = []
        self._streams_lock = threading.Lock()  # a run ends on the toolkit's loop thread

    # -- %%rlm ----------------------------------------------------------------------------------

    @magic_arguments()
    @argument("-m", "--model", help="provider:model id (openai:gpt-4o-mini, local:smollm2), an alias, "
              "or the name of a variable holding an RLM or a Provider")
    @argument("-s", "--system", help="system prompt")
    @argument("-t", "--temperature", type=float, help="sampling temperature")
    @argument("--max-tokens", type=int, help="maximum tokens of the answer")
    @argument("-f", "--format", choices=["markdown", "text", "code"], help="how to show the answer")
    @argument("-o", "--out", metavar="NAME", help="store the answer (str) in this variable")
    @argument("--schema", metavar="SCHEMA", help="a typed answer: a class in the notebook (Person, "
              "list[Person]) or fields ('name, age int, bio: a short biography'); -o holds the object "
              "(with --agent: the run's final answer)")
    @argument("--chat", nargs="?", const=True, default=False, metavar="NAME", help="continue a "
              "conversation: --chat NAME a named one, saved in .rlm/chats/NAME.jsonl as it grows and back "
              "after a kernel restart (%%rlm chats lists them); plain --chat the kernel's unnamed one "
              "(%%rlm reset forgets it). History that does not fit the model's window is left out, oldest "
              "turns first, and said so")
    @argument("--image", action="append", metavar="NAME", default=[], help="send the image this variable "
              "holds (a matplotlib Figure or Axes, a PIL image, PNG/JPEG/GIF/WebP bytes, a path) before the "
              "prompt; repeatable. {name} in the cell puts such an image in its place")
    @argument("--no-widget", action="store_true", help="stream plain text instead of the widget")
    @argument("--agent", action="store_true", help="run the cell as a task for a ReActAgent and show "
              "its live timeline (tools from --tools)")
    @argument("--tools", metavar="NAMES", help="with --agent: comma-separated functions from the notebook")
    @argument("--mcp", metavar="FILE", help="with --agent: the tools of the MCP servers in FILE (the "
              "mcpServers JSON) or in the notebook variable of that name; %%rlm mcp shows them")
    @argument("--approve", action="store_true", help="with --agent: each tool call waits for Approve / "
              "Deny in the timeline (input() where there are no widgets); a denied call does not run")
    @argument("--record", metavar="FILE", help="record the run to a JSONL trace "
              "(%%rlm replay FILE shows it again); a FILE holding an earlier trace gives FILE-2.jsonl, "
              "any other existing file is refused")
    @argument("--overwrite", action="store_true", help="with --record: replace FILE if it holds an earlier "
              "trace (never any other file)")
    @argument("--bg", action="store_true", help="return at once and stream in the background "
              "(other cells run meanwhile; the Stop button cancels)")
    @argument("--budget", metavar="LIMIT", help="stop the answer (or the whole --agent run) once it "
              "has spent more: 0.05 is USD, 2000tok is prompt + completion tokens, 0.05,2000tok both; "
              "counted as tokens stream in (estimated until the provider reports usage); the footer "
              "then says stopped (budget)")
    @cell_magic
    def rlm(self, line: str, cell: str) -> None:
        """Send the cell to a language model and stream the answer in place.

        ``{name}`` in the cell is replaced by the variable's value (``{{``/``}}`` for braces); a
        variable holding a figure or an image sends the image there (see ``--image``).
        With no model set: ``$RLM_MODEL``, else the embedded local model (no key needed).
        """
        args = parse_options(self.rlm, line)
        if args.out is not None:
            check_out_name(args.out, self.shell)
        if args.overwrite and args.record is None:
            raise UsageError("--overwrite goes with --record FILE")
        if args.record is not None:  # a bad path is a mistake to hear about before the model runs
            from rlm_toolkit.errors import UsageError as ToolkitUsageError
            from rlm_toolkit.trace import check_writable

            try:
                chosen = check_writable(args.record, overwrite=args.overwrite)
            except ToolkitUsageError as error:
                raise UsageError(f"--record: {_one_line(error)}") from None
            if str(chosen) != str(Path(args.record)):  # an earlier run is kept: say where this one goes
                print(f"rlm: {args.record} holds an earlier run; recording to {chosen} "
                      "(--overwrite replaces it)", file=sys.stderr)
                args.record = str(chosen)
        if isinstance(args.chat, str):  # a bad name is a mistake to hear about before the model runs
            _chat_name(args.chat)
        args.budget = _budget(args.budget)
        args.schema = resolve_schema(args.schema, self.user_ns)
        prompt = attach(interpolate(cell, self.user_ns, history=self.notebook, limits=self.limits()),
                        args.image, self.user_ns)
        if not prompt:
            raise UsageError("%%rlm: the cell is the prompt, and it is empty")
        if args.agent or args.tools or args.approve or args.mcp:
            self.run_agent(prompt, args)
            return
        self.run_prompt(prompt, args)

    def run_agent(self, prompt: str, args: Any) -> Any:
        """``%%rlm --agent``: the cell is the task, the timeline shows the run (see :mod:`.agent`);
        returns the view (``(view, task)`` for ``--bg``, as for an answer)."""
        if not isinstance(prompt, str):
            raise UsageError("--agent takes a text task; images go with a plain %%rlm prompt")
        from rlm_toolkit.errors import UsageError as ToolkitUsageError

        from ..live.errors import cell_error
        from . import agent as agent_magic

        if not args.agent:
            option = "--tools" if args.tools else "--mcp" if args.mcp else "--approve"
            raise UsageError(f"{option} goes with --agent (%%rlm --agent --tools add,search"
                             f"{'' if args.tools else ' --approve'})")
        try:
            tools = agent_magic.resolve_tools(args.tools, self.user_ns)
            if args.mcp:
                from . import mcp as mcp_magic

                tools += mcp_magic.tools(args.mcp, self.user_ns)
            view = agent_magic.run_agent(prompt, self.get_rlm(args.model), tools, record=args.record,
                                         overwrite=args.overwrite,
                                         system=args.system or self.system, keep_widget=self.keep_widget,
                                         widget=None if self.widget and not args.no_widget else False,
                                         background=args.bg, budget=args.budget, approve=args.approve,
                                         fork=agent_magic.fork_source(args, self.user_ns),
                                         output_type=getattr(args, "schema", None))
        except ToolkitUsageError as error:
            raise UsageError(_one_line(error)) from None
        except KeyboardInterrupt as stop:  # the timeline is settled ("stopped"): one line, not our internals
            stop.__traceback__ = None  # see run_prompt
            interrupted = True
        else:
            interrupted = False
        if interrupted:  # raised outside the handler: see run_prompt
            raise cell_error(KeyboardInterrupt("stopped"), "; the run so far is kept above")
        schema = getattr(args, "schema", None)
        task = getattr(view, "task", None)
        if task is not None:  # --bg: the run goes on; -o is set when it ends
            if args.out:
                namespace = self.user_ns
                task.add_done_callback(lambda _f: namespace.__setitem__(args.out, typed_final(view, schema)))
            return self._track((view, task))
        if args.out:
            self.user_ns[args.out] = typed_final(view, schema)
        fails = view.timeline.state == "error" and self.fail_cell
        from .fork import offer_fork

        offer_fork(view, cell_fails=fails)  # a Fork from here clicked while the run went on
        if fails:
            failure = cell_error(view.error or RuntimeError(view.timeline.error or "the agent run failed"),
                                 " (the run so far is shown above)")
            del view  # the kept traceback holds this frame: not the finished run with it
            raise failure
        return view

    def run_prompt(self, prompt: str, args: Any) -> Any:
        """Stream ``prompt`` with the parsed ``%%rlm`` options; returns the view ((view, task) for --bg)."""
        from rlm_toolkit.errors import UsageError as ToolkitUsageError

        from ..live.errors import cell_error
        from ..stream.display import display_stream, start_background

        rlm = self.get_rlm(args.model)
        params = {
            "system": args.system if args.system is not None else self.system,
            "temperature": args.temperature if args.temperature is not None else self.temperature,
            "max_tokens": args.max_tokens if args.max_tokens is not None else self.max_tokens,
            **args.budget,
            "schema": getattr(args, "schema", None),
        }
        messages: Any = prompt
        failed: list[Exception] = []  # a typed answer that does not fit its schema
        kept: list[bool] = []  # whether any text came (an interrupt returns no view to ask)
        remember: Any = None
        if args.chat:
            from . import chat as chat_magic

            try:
                messages, remember = chat_magic.begin(self, args.chat, prompt, rlm, params)
            except ToolkitUsageError as error:  # a chat file that is not ours, too large …
                raise UsageError(_one_line(error)) from None
        fmt = (args.format or self.format).lower()
        if params["schema"] is not None and not args.format:  # a typed answer: its JSON as a tree
            fmt = "object"
        widget = self.widget and not args.no_widget

        def on_end(view: Any) -> None:
            kept.append(bool(view.answer))
            if params["schema"] is not None:
                value, error = typed_answer(view, params["schema"])
                failed.extend([error] if error else [])
                if args.out:
                    self.user_ns[args.out] = value
            elif args.out:
                self.user_ns[args.out] = view.answer
            if remember is not None and view.state == "done":
                remember(view)

        try:
            from ..stream.feed import prompt_text

            shown = prompt_text(rlm.request(messages, **params).messages)  # exactly what rlm sends
            callbacks = None
            if getattr(args, "record", None) is not None:  # --record FILE: a trace of the call
                from rlm_toolkit.trace import StreamRecorder

                overwrite = getattr(args, "overwrite", False)
                callbacks = [StreamRecorder(args.record, rlm.model_id, overwrite=overwrite)]
            if args.bg:
                started = start_background(
                    rlm.astream_events(messages, callbacks=callbacks, **params),
                    model=rlm.model_id,
                    fmt=fmt,
                    on_end=on_end,
                    keep_widget=self.keep_widget,
                    save_every=self.save_every,
                    widget=None if widget else False,
                    prompt=shown,
                )
                return self._track(started)
            view = display_stream(rlm.stream_events(messages, callbacks=callbacks, **params),
                                  model=rlm.model_id, fmt=fmt, widget=None if widget else False,
                                  on_end=on_end, keep_widget=self.keep_widget, replace=True,
                                  save_every=self.save_every, show_error=not self.fail_cell, prompt=shown)
        except ToolkitUsageError as error:
            raise UsageError(_one_line(error)) from None
        except KeyboardInterrupt as stop:  # the view is settled ("stopped"): one line, not our internals
            stop.__traceback__ = None  # kept as the Response's error: not with the frames holding the view
            interrupted = True
        else:
            interrupted = False
        # Raised out here, never inside the handler: an exception raised there would carry the
        # interrupt as its context, and IPython keeps the last error (sys.last_value) with its
        # traceback, whose frames hold the finished view.
        if interrupted:
            raise cell_error(KeyboardInterrupt("stopped"), "; the partial answer is kept above"
                             if any(kept) else "")
        failure = None
        if view.state == "error" and self.fail_cell:  # the cell's one line is the only error line
            failure = cell_error(view.response.error or RuntimeError(view.error),
                                 " (the partial answer is kept above)" if view.answer else "")
        elif failed and self.fail_cell:
            failure = cell_error(failed[0], " (the answer is kept above)")
        if failure is not None:
            del view  # the kept traceback holds this frame: not the finished view with it
            raise failure
        return view

    def _track(self, started: tuple[Any, Any]) -> tuple[Any, Any]:
        """Keep a ``--bg`` run (an answer's or an agent's ``(view, task)``) among ``streams`` while
        it runs."""
        task = started[1]

        def forget(_done: Any) -> None:
            with self._streams_lock:
                self.streams = [s for s in self.streams if s[1] is not task]

        with self._streams_lock:
            self.streams = [*self.streams, started]
        task.add_done_callback(forget)  # at once if it has ended already
        return started

    @property
    def user_ns(self) -> dict[str, Any]:
        """The notebook's namespace (the shell's; magics are registered with one)."""
        if self.shell is None:
            raise UsageError("rlm's magics need an IPython shell")
        return self.shell.user_ns

    def limits(self) -> Any:
        """The caps of a value in a prompt (``context_chars``, ``context_rows``): a context.Limits."""
        from ..context import Limits

        return Limits(chars=max(self.context_chars, 100), rows=max(self.context_rows, 1),
                      items=max(self.context_rows * 4, 4))

    def get_rlm(self, name: str | None) -> Any:
        """The RLM for ``-m``: a namespace variable (RLM or Provider), else a model id (cached)."""
        from rlm_toolkit import RLM
        from rlm_toolkit.providers import Provider, default_model_id

        name = (name or self.model or "").strip() or None
        if name is not None and name.isidentifier() and name in self.user_ns:
            value = self.user_ns[name]
            if isinstance(value, RLM):
                return value
            if isinstance(value, Provider):
                return RLM(value)
            if not isinstance(value, str):
                raise UsageError(
                    f"-m {name}: the variable holds a {type(value).__name__}, not an RLM or a Provider"
                )
            name = value
        model_id = name or default_model_id()
        # Reused while the environment that configures it is the same (a new key or URL: a new RLM).
        key = (model_id, *(os.environ.get(var) for var in _provider_env()))
        if key not in self._rlms:
            try:
                self._rlms[key] = RLM(model_id)
            except Exception as error:  # missing key, unknown provider, missing extra: one line
                hint = "" if name else " (the default model; pick another with %rlm model NAME or -m)"
                raise UsageError(f"{model_id}{hint}: {_one_line(error)}") from None
        return self._rlms[key]

    # -- %rlm -----------------------------------------------------------------------------------

    @line_magic("rlm")  # type: ignore[arg-type]  # IPython's stubs type the decorated method as Never
    @no_var_expand  # a prompt's {In[n]} / {x} are rlm's lookups, never IPython's eval of the braces
    @with_help  # %rlm? shows the parser's help: every subcommand's usage
    def rlm_line(self, line: str) -> Any:
        prompt = prompt_line(line)  # %rlm PROMPT: a one-line %%rlm cell (the rule: magics/line.py)
        if prompt is not None:
            if not prompt[1]:
                raise UsageError("%rlm -- PROMPT: the prompt is empty")
            self.rlm(*prompt)
            return None
        from IPython.utils.text import DollarFormatter

        typed = " ".join(line.split())
        try:  # a subcommand's $name and {expr}, as IPython expands any other line magic's
            line = DollarFormatter().vformat(line, args=[], kwargs=self.user_ns.copy())
        except Exception:  # as IPython does: a line that does not format is used as typed  # noqa: BLE001
            pass
        try:
            args = parse_line(line)  # the one parser of %rlm (magics/line.py); mistakes are UsageErrors
        except UsageError as error:
            first = typed.split(" ", 1)[0]
            if first and ("invalid" in str(error) or "unrecognized arguments" in str(error)):
                hint = ("%rlm -m NAME -- PROMPT" if first.startswith("-")
                        else f"%rlm -- {typed[:60]}{'…' if len(typed) > 60 else ''}")
                raise UsageError(f"{error} (a prompt that reads like a command: {hint})") from None
            raise
        from rlm_toolkit.errors import UsageError as ToolkitUsageError

        try:  # each subcommand is the method _line_<name>
            return getattr(self, f"_line_{args.command or 'help'}")(args)
        except ToolkitUsageError as error:  # a bad trace file, a refusing collector: one line
            raise UsageError(_one_line(error)) from None

    def _line_model(self, args: Any) -> None:
        from rlm_toolkit.providers import ALIASES, split_model_id

        name = args.name
        if not (name.isidentifier() and name in self.user_ns):
            try:
                split_model_id(name)
            except Exception as error:
                raise UsageError(_one_line(error)) from None
        self.model = name
        resolved = ALIASES.get(name, name)
        print(f"Default model: {name}" + (f" ({resolved})" if resolved != name else ""))

    def _line_models(self, _args: Any) -> None:
        print(self.models_text())

    def _line_config(self, _args: Any) -> None:
        print(self.config_text())

    def _line_reset(self, _args: Any) -> None:
        turns = len(self.history) // 2
        self.history.clear()
        print(f"Conversation cleared ({turns} exchange{'s' if turns != 1 else ''} forgotten).")

    def _line_chats(self, _args: Any) -> None:
        from .chat import chats_line

        chats_line(self)

    def _line_chat(self, args: Any) -> None:
        from .chat import chat_line

        chat_line(self, args)

    def _line_stop(self, _args: Any) -> None:
        from ..live.stop import stop_all

        stopped = stop_all()
        print(f"Stopped {stopped} live answer{'s' if stopped != 1 else ''}." if stopped
              else "Nothing is streaming.")

    def _line_help(self, _args: Any) -> None:
        print(LINE_HELP)

    def _line_explain(self, args: Any) -> Any:
        from .context import explain

        return explain(self, args)

    def _line_fix(self, args: Any) -> Any:
        from .context import fix

        return fix(self, args)

    def _line_mcp(self, args: Any) -> None:
        from . import mcp as mcp_magic

        mcp_magic.line(args.action, args.name)

    def _line_replay(self, args: Any) -> None:
        from .trace import replay

        replay(args.file, speed=args.speed)  # the view shows itself; not returned (it would show twice)

    def _line_export(self, args: Any) -> None:
        from .trace import export

        export(args.file, otlp=args.otlp, json=args.json, overwrite=args.overwrite, content=args.content,
               agent_name=args.agent_name)

    def _line_diff(self, args: Any) -> Any:
        from .trace import diff

        return diff(args.a, args.b)

    def _line_fork(self, args: Any) -> None:
        from . import fork

        fork.line(args, self.shell)

    def models_text(self) -> str:
        """What ``%rlm models`` prints: each provider, installed or not, its key, an example id."""
        from rlm_toolkit.providers import ALIASES, default_model_id, providers

        lines = [f"Default model: {self.model or default_model_id()}"
                 + ("" if self.model else " ($RLM_MODEL, else the embedded local model)"), ""]
        for info in providers():
            status = "installed" if info.installed else (
                f"not installed: pip install 'rlm[{info.extra}]'" if info.extra else "not installed")
            key = "" if info.env_var is None else (
                f", ${info.env_var} set" if info.has_credentials else f", needs ${info.env_var}")
            lines.append(f"  {info.name:<10} {status}{key}  e.g. -m {info.example}  {info.description}")
        lines += ["", "Aliases: " + ", ".join(f"{k} → {v}" for k, v in ALIASES.items())]
        return "\n".join(lines)

    def config_text(self) -> str:
        from rlm_toolkit.providers import default_model_id

        rows = [(name, getattr(self, name)) for name in
                ("model", "system", "temperature", "max_tokens", "format", "widget", "keep_widget",
                 "save_every", "fail_cell", "context_chars", "context_rows", "chats_dir", "chat_window")]
        lines = [f"  RLMMagics.{name} = {value!r}" for name, value in rows]
        lines.append(f"  (model in use: {self.model or default_model_id()}; "
                     f"--chat history: {len(self.history) // 2} exchange(s))")
        return "Settings (%config RLMMagics.<name> = value):\n" + "\n".join(lines)
