"""``%%rlm --chat [NAME]``: the history a turn sends, cut to the model's window; ``%rlm chats`` and
``%rlm chat show / fork / forget NAME``.

::

    %%rlm --chat trip                  # a named conversation: saved in .rlm/chats/trip.jsonl as it grows,
    Plan three days in Lisbon.         # back after a kernel restart

    %%rlm --chat trip -m openai:gpt-4o # another model, the same history (each turn records its model)
    Now make it cheaper.

    %rlm chats                         # name, turns, tokens, models
    %rlm chat show trip                # every turn
    %rlm chat fork trip --at 1 trip-b  # a branch holding turn 1
    %rlm chat forget trip-b            # its file deleted

Plain ``--chat`` keeps one unnamed conversation in the kernel's memory, as before (``%rlm reset``).
Both are cut the same way before a call (:func:`rlm_jupyter.context.chats.fit`): the system prompt and
the new message always go, then whole turns, newest first, while they fit in the model's context window
less room for the answer; the turns left out are named on stderr, and stay in the chat. The store's
rules (names, files, hostile input) are in :mod:`rlm_jupyter.context.chats`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlm_toolkit.errors import UsageError, scrub

from ..context.chats import ChatStore, Turn, check_name, fit
from ..render import TEXT_LIMIT, clip, plural

__all__ = ["begin", "context_window", "token_counter", "chats_line", "chat_line", "DEFAULT_WINDOW",
           "CHATS_FOLDER", "FRAMING"]

#: The context window assumed for a model whose window rlm cannot learn (set RLMMagics.chat_window).
DEFAULT_WINDOW = 8192
#: Tokens counted for the framing of each message (ChatML's <|im_start|>role\n … <|im_end|>\n is 5).
FRAMING = 6
#: Where chats are kept, under the folder the kernel started in (the notebook's own folder in Jupyter).
CHATS_FOLDER = Path(".rlm") / "chats"
_SHOW_CHARS = 2000  # of each text in %rlm chat show (the whole text: the chat file)


def store(magics: Any) -> ChatStore:
    """The magics' chat store: ``RLMMagics.chats_dir``, else ``.rlm/chats`` where the kernel started."""
    folder = Path(magics.chats_dir).expanduser() if magics.chats_dir else CHATS_FOLDER
    folder = folder if folder.is_absolute() else magics.started_in / folder
    if magics.chat_store is None or magics.chat_store.folder != folder:
        magics.chat_store = ChatStore(folder)
    chats: ChatStore = magics.chat_store
    return chats


def _shown(magics: Any, path: Path) -> str:
    """``path`` as printed: relative to the folder the kernel started in when it is under it."""
    try:
        return str(path.relative_to(magics.started_in))
    except ValueError:
        return str(path)


def context_window(rlm: Any, setting: int) -> tuple[int, str]:
    """The model's context window in tokens and where that figure comes from.

    ``RLMMagics.chat_window`` if set; else the model's own (the embedded model's ``n_ctx``; a known
    hosted model's from genai-prices' table); else :data:`DEFAULT_WINDOW`."""
    if setting > 0:
        return setting, "RLMMagics.chat_window"
    provider = getattr(rlm, "provider", None)
    n_ctx = getattr(provider, "n_ctx", None)
    if isinstance(n_ctx, int) and n_ctx > 0:
        return n_ctx, "its n_ctx"
    priced_as = getattr(provider, "priced_as", None)
    vendor, _, model = str(priced_as).partition(":") if priced_as else (
        getattr(provider, "name", ""), "", getattr(provider, "model", ""))
    try:
        from genai_prices import Usage, calc_price

        found = calc_price(Usage(input_tokens=0, output_tokens=0), str(model), provider_id=str(vendor))
        window = found.model.context_window
    except Exception:  # not installed, an unknown model or vendor: the assumption below  # noqa: BLE001
        window = None
    if isinstance(window, int) and window > 0:
        return window, "genai-prices"
    return DEFAULT_WINDOW, "assumed; set RLMMagics.chat_window"


def token_counter(rlm: Any) -> Callable[[str], int]:
    """How the window rule counts a text's tokens: with the embedded model's own tokenizer (exact;
    the model is loaded now, as the call would), else about four characters a token."""
    provider = getattr(rlm, "provider", None)
    if getattr(provider, "name", None) == "local" and callable(getattr(provider, "load", None)):
        try:
            llama = provider.load()  # type: ignore[union-attr]  # checked just above
        except Exception:  # it will fail again, with its own error, when asked  # noqa: BLE001
            llama = None
        if llama is not None:
            return lambda text: len(llama.tokenize(text.encode("utf-8", "surrogatepass"), add_bos=False,
                                                   special=False))
    return lambda text: (len(text) + 3) // 4


def _text(prompt: Any) -> str:
    """A prompt as the text a chat keeps: images become a note."""
    if isinstance(prompt, str):
        return prompt
    image = "[an image: not kept in the chat]"
    return "".join(part if isinstance(part, str) else str(part.get("text", image))
                   if isinstance(part, dict) else image for part in prompt)


def begin(magics: Any, chat: str | bool, prompt: Any, rlm: Any, params: dict[str, Any]
          ) -> tuple[list[dict[str, Any]], Callable[[Any], None]]:
    """The messages of a ``--chat`` turn (its history cut to fit) and what to call with the finished
    view to keep the turn. ``chat`` is a name, or ``True`` / ``""`` for the unnamed conversation."""
    named = isinstance(chat, str) and chat != ""
    if named:
        assert isinstance(chat, str)
        chats = store(magics)
        chats.check_writable(check_name(chat))
        loaded = chats.load(chat)
        _warn(magics, loaded)
        turns = len(loaded.turns)

        def pair(i: int) -> list[dict[str, Any]]:
            return loaded.turns[i].messages()
    else:
        turns = len(magics.history) // 2

        def pair(i: int) -> list[dict[str, Any]]:
            messages: list[dict[str, Any]] = magics.history[2 * i:2 * i + 2]
            return messages
    count = token_counter(rlm)
    sizes = (sum(count(_text(m["content"])) + FRAMING for m in pair(i)) for i in reversed(range(turns)))
    window, source = context_window(rlm, magics.chat_window)
    reserve = params.get("max_tokens") or min(1024, window // 4)
    system = params.get("system")
    provider_system = getattr(getattr(rlm, "provider", None), "system", None)  # the embedded model's default
    shown_system = system or (provider_system if isinstance(provider_system, str) else "")
    asked = count(shown_system) + count(_text(prompt)) + 3 * FRAMING  # system, prompt, the answer's opening
    kept, tokens = fit(sizes, asked, window, reserve)  # newest first, counted only as far as they fit
    left_out = turns - kept
    if left_out:
        label = f"chat {chat!r}" if named else "--chat"
        print(f"rlm: {label}: the {plural(left_out, 'oldest turn') if left_out > 1 else 'oldest turn'} of "
              f"{turns} left out to fit {rlm.model_id}'s context window ({window:,} tokens, {source}; "
              f"~{tokens:,} tokens of history sent); {'the chat file keeps' if named else 'rlm keeps'} "
              f"{'them' if left_out > 1 else 'it'}", file=sys.stderr)
    messages = [m for i in range(left_out, turns) for m in pair(i)] + [{"role": "user", "content": prompt}]

    def remember(view: Any) -> None:
        if not named:
            magics.history += [{"role": "user", "content": prompt},
                               {"role": "assistant", "content": view.answer}]
            return
        response = view.response
        usage = {"prompt_tokens": response.prompt_tokens, "completion_tokens": response.completion_tokens}
        turn = Turn.new(rlm.model_id, _text(prompt), view.answer, system, usage)
        try:
            chats.append(str(chat), turn)
        except UsageError as error:  # the answer is shown; say the turn was not kept
            print(f"rlm: chat {chat!r}: this turn was not saved: {scrub(error.message)}", file=sys.stderr)

    return messages, remember


def _warn(magics: Any, chat: Any) -> None:
    """Each problem of a chat file once per kernel (at most three lines, then how many more)."""
    said = magics.chat_problems_shown.get(chat.name, 0)
    total = len(chat.problems) + chat.more_problems
    if total <= said:
        return
    magics.chat_problems_shown[chat.name] = total
    new = chat.problems[said:]
    more = total - said - min(len(new), 3)
    for n, problem in enumerate(new[:3]):
        last = n == min(len(new), 3) - 1
        print(f"rlm: chat {chat.name!r}: {problem}{f' (and {more:,} more)' if last and more else ''}",
              file=sys.stderr)
    if not new:
        print(f"rlm: chat {chat.name!r}: {more:,} more unreadable lines in {chat.path}", file=sys.stderr)
    print(f"rlm: chat {chat.name!r}: the readable turns are kept", file=sys.stderr)


def chats_line(magics: Any) -> None:
    """``%rlm chats``: each chat of the folder with its turns, history tokens and models."""
    chats = store(magics)
    names, more = chats.names()
    if not names:
        print(f"No chats in {_shown(magics, chats.folder)} yet (%%rlm --chat NAME starts one).")
        return
    rows = []
    for name in names:
        try:
            chat = chats.load(name)
        except UsageError as error:
            rows.append(f"  {name:<20} unreadable: {error.message}")
            continue
        models = chat.models()  # the last turn's model, and how many others answered before
        model = (chat.turns[-1].model + (f" (+{len(models) - 1} other)" if len(models) > 1 else "")
                 if chat.turns else "-")
        forked = f"  forked from {chat.parent['name']} at turn {chat.parent['at']}" if chat.parent else ""
        unreadable = len(chat.problems) + chat.more_problems
        bad = f"  ({plural(unreadable, 'unreadable line')})" if unreadable else ""
        rows.append(f"  {name:<20} {plural(len(chat.turns), 'turn'):>9}  ~{chat.tokens():>7,} tokens  "
                    f"{model}{forked}{bad}")
    tail = [f"  … and {more} more (the {len(names)} most recently changed are shown)"] if more else []
    print("\n".join([f"Chats in {_shown(magics, chats.folder)}:", *rows, *tail]))


def chat_line(magics: Any, args: Any) -> None:
    """``%rlm chat show NAME`` / ``fork NAME [--at N] NEW`` / ``forget NAME``."""
    chats = store(magics)
    name = check_name(args.name)
    if args.action == "fork":
        if args.new is None:
            raise UsageError("%rlm chat fork NAME [--at N] NEW: name the new chat")
        chat = chats.fork(name, args.at, check_name(args.new))
        print(f"Chat {chat.name!r}: {plural(len(chat.turns), 'turn')} of {name!r} "
              f"(%%rlm --chat {chat.name} continues it).")
        return
    if args.new is not None or args.at is not None:
        raise UsageError(f"--at and a new name go with %rlm chat fork, not {args.action}")
    if args.action == "forget":
        turns = chats.forget(name)
        magics.chat_problems_shown.pop(name, None)
        held = "" if turns is None else f"{plural(turns, 'turn')}; "
        print(f"Chat {name!r} forgotten ({held}its file is deleted).")
        return
    chat = chats.load(name)
    if not chat.turns and not chat.problems:
        raise UsageError(f"no chat {name!r} (in {_shown(magics, chats.folder)}); %rlm chats lists them")
    print(show_text(chat, _shown(magics, chat.path)))


def show_text(chat: Any, where: str) -> str:
    """A chat as ``%rlm chat show`` prints it (``where``: its file, as shown): each turn's number,
    model and time, prompt and answer."""
    head = f"Chat {chat.name!r}: {plural(len(chat.turns), 'turn')}, {where}"
    if chat.parent:
        head += f" (forked from {chat.parent['name']} at turn {chat.parent['at']})"
    lines = [head]
    for n, turn in enumerate(chat.turns, 1):
        lines += ["", f"── turn {n} · {turn.model}{' · ' + turn.at if turn.at else ''}",
                  f"You: {clip(turn.user, _SHOW_CHARS, where + ' has it all')}",
                  f"{turn.model}: {clip(turn.assistant, _SHOW_CHARS, where + ' has it all')}"]
    lines += [f"(unreadable: {problem})" for problem in chat.problems[:10]]
    unreadable = len(chat.problems) + chat.more_problems
    if unreadable > 10:
        lines.append(f"(… and {unreadable - 10:,} more unreadable lines)")
    return clip("\n".join(lines), TEXT_LIMIT * 10, where + " has it all")
