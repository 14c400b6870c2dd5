"""Named conversations (``%%rlm --chat NAME``) kept in files that outlive the kernel.

::

    store = ChatStore(Path(".rlm/chats"))
    store.append("main", Turn(model="openai:gpt-4o", user="Hi", assistant="Hello!"))
    store.load("main").turns            # after a restart too
    kept, tokens = fit((t.tokens() for t in reversed(chat.turns)), prompt_tokens=40, window=2048, reserve=512)

One file per chat, ``FOLDER/NAME.jsonl``: a header line ``{"type": "rlm-chat", "version": 1, …}``,
then one line per turn (the prompt, the answer, the model that gave it, when). The rules:

* A name is 1–64 letters, digits, ``_`` or ``-``, starting with a letter or digit: no ``/``, no ``.``,
  so no name reaches outside the folder.
* A chat file is created whole (written aside, then hard-linked into place, which fails rather than
  replaces) and grows by appending whole lines, each in one ``write`` to a file opened ``O_APPEND``
  under an advisory lock (``flock``): two kernels on one chat interleave whole turns and never
  rewrite each other's. Nothing is
  truncated; a file that is not ours (no rlm-chat header) is never written, nor deleted by ``forget``.
* Texts are scrubbed of keys before they are written; each is cut at :data:`MAX_TEXT_CHARS`.
* Read back, the file is untrusted: at most :data:`MAX_CHAT_BYTES` and :data:`MAX_LINES`, a line at
  most :data:`MAX_LINE_BYTES`, JSON at most 4 levels deep, every field type-checked. A line that fails is
  skipped and named (``FILE line N: …``) in ``Chat.problems``; the readable turns are kept.
  Reading is incremental: a chat already read is read on from where it was.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_toolkit._files import open_regular
from rlm_toolkit._json_depth import loads
from rlm_toolkit.cost import estimate_prompt_tokens
from rlm_toolkit.errors import UsageError, scrub

__all__ = ["ChatStore", "Chat", "Turn", "fit", "check_name", "FORMAT", "VERSION", "MAX_CHAT_BYTES",
           "MAX_LINE_BYTES", "MAX_LINES", "MAX_TEXT_CHARS", "MAX_LISTED", "MAX_PROBLEMS"]

FORMAT = "rlm-chat"
VERSION = 1
MB = 1024 * 1024
#: A chat file is read up to this size (a larger one is refused, named, before any is read).
MAX_CHAT_BYTES = 32 * MB
#: One turn's line at most (longer lines are skipped, named in ``problems``).
MAX_LINE_BYTES = 4 * MB
#: A chat file is read up to this many lines (a turn's line is 150 bytes at the least: 32 MB of real
#: turns is fewer); past it, a UsageError, so a file of tiny hostile lines costs a second, not minutes.
MAX_LINES = 250_000
#: A prompt or an answer is kept up to this many characters (a note says what was cut).
MAX_TEXT_CHARS = 1_000_000
#: ``%rlm chats`` lists at most this many chats (the most recently changed).
MAX_LISTED = 100
#: The problems of one chat file kept as sentences; past these, only counted (``Chat.more_problems``).
MAX_PROBLEMS = 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_SUFFIX = ".jsonl"
_MODEL_CHARS = 200
_HEAD = 4096  # what is read of a file to tell whether it is a chat


def check_name(name: str) -> str:
    """``name`` if it may name a chat (letters, digits, ``_``, ``-``; 64 at most), else a UsageError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"a chat's name is 1 to 64 letters, digits, '_' or '-' (starting with a letter or "
                         f"digit), not {str(name)[:80]!r}")
    return name


def _cut(text: str) -> str:
    text = scrub(text)
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return f"{text[:MAX_TEXT_CHARS]}… [{len(text) - MAX_TEXT_CHARS:,} more characters not kept in the chat]"


@dataclass(frozen=True)
class Turn:
    """One exchange: the prompt sent, the answer, the model that gave it (each turn its own)."""

    model: str
    user: str
    assistant: str
    system: str | None = None
    at: str = ""  # ISO 8601, UTC
    usage: dict[str, int] = field(default_factory=dict)

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.user}, {"role": "assistant", "content": self.assistant}]

    def tokens(self) -> int:
        """The turn's size in tokens as the window rule counts them (about four characters each)."""
        return estimate_prompt_tokens(self.messages()) + 8  # + the two messages' framing

    def line(self) -> bytes:
        record = {"type": "turn", "model": scrub(self.model)[:_MODEL_CHARS], "system": self.system,
                  "user": self.user, "assistant": self.assistant, "at": self.at, "usage": self.usage}
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")

    @classmethod
    def new(cls, model: str, user: str, assistant: str, system: str | None = None,
            usage: dict[str, Any] | None = None) -> Turn:
        """A turn to save: texts scrubbed and cut, the time now, only whole-number usage counts."""
        counts = {k: v for k, v in (usage or {}).items()
                  if k in ("prompt_tokens", "completion_tokens") and isinstance(v, int) and v >= 0}
        return cls(model=model, user=_cut(user), assistant=_cut(assistant),
                   system=None if system is None else _cut(system),
                   at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), usage=counts)


@dataclass
class Chat:
    """A chat as read: its turns in file order, its parent (a fork's), what could not be read."""

    name: str
    path: Path
    turns: list[Turn] = field(default_factory=list)
    created: str = ""
    parent: dict[str, Any] | None = None
    version: int = VERSION
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0  # unreadable lines past MAX_PROBLEMS, counted only
    _offset: int = 0  # bytes read so far (whole lines)
    _inode: tuple[int, int] = (0, 0)
    _lines: int = 0

    def messages(self) -> list[dict[str, str]]:
        return [m for turn in self.turns for m in turn.messages()]

    def tokens(self) -> int:
        return sum(turn.tokens() for turn in self.turns)

    def models(self) -> list[str]:
        """The models of its turns, each once, in the order they first answered."""
        return list(dict.fromkeys(turn.model for turn in self.turns))


def fit(sizes: Iterable[int], prompt_tokens: int, window: int, reserve: int) -> tuple[int, int]:
    """How many turns fit in ``window`` tokens beside the prompt (the system prompt and the new
    message, ``prompt_tokens``) and ``reserve`` tokens kept for the answer, and their tokens.

    ``sizes``: each turn's tokens, **newest first**, read only as far as needed (a generator can
    count them lazily, so a call costs what fits, not the whole history). The rule: the system
    prompt and the new message always go; then whole turns, newest first, while they fit; the oldest
    are left out first::

        fit([500, 500, 500], prompt_tokens=100, window=2048, reserve=512)   # (2, 1000): the oldest left out
    """
    room = window - reserve - prompt_tokens
    kept = used = 0
    for size in sizes:
        if used + size > room:
            break
        used += size
        kept += 1
    return kept, used


def _header(name: str, parent: dict[str, Any] | None) -> bytes:
    record = {"type": FORMAT, "version": VERSION, "name": name,
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "parent": parent}
    return (json.dumps(record) + "\n").encode()


def _header_of(head: bytes) -> dict[str, Any] | None:
    """The header of a file starting with ``head`` if it is a chat (its first line an rlm-chat header)."""
    first, newline, _ = head.partition(b"\n")
    try:
        obj = loads(first, max_depth=4) if newline else None
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and obj.get("type") == FORMAT else None


class ChatStore:
    """The chats of one folder (created, mode 0700, on the first save)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._read: dict[str, Chat] = {}  # what was read of each chat, to read on from there

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}{_SUFFIX}"

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path(name))

    # -- reading --------------------------------------------------------------------------------

    def load(self, name: str) -> Chat:
        """The chat ``name`` (no turns if it has no file yet); read on from where it was last read."""
        path = self.path(name)
        if not os.path.lexists(path):
            self._read.pop(name, None)
            return Chat(name, path)
        with open_regular(path, "a chat file") as file:
            info = os.fstat(file.fileno())
            if info.st_size > MAX_CHAT_BYTES:
                raise UsageError(f"the chat file {str(path)!r} is over {MAX_CHAT_BYTES // MB} MB, more than "
                                 "rlm reads for a chat (rlm_jupyter.context.chats.MAX_CHAT_BYTES); fork it "
                                 "from a later turn (%rlm chat fork) or move it away")
            chat = self._read.get(name)
            inode = (info.st_dev, info.st_ino)
            if chat is None or chat._inode != inode or info.st_size < chat._offset:
                chat = Chat(name, path, _inode=inode)  # new, replaced or shrunk: from the start
            file.seek(chat._offset)
            data = file.read(MAX_CHAT_BYTES - chat._offset + 1)
        if chat._offset + len(data) > MAX_CHAT_BYTES:
            raise UsageError(f"the chat file {str(path)!r} grew over {MAX_CHAT_BYTES // MB} MB while read")
        end = data.rfind(b"\n") + 1  # a last line without its newline is being written: read it next time
        start = 0
        self._read.pop(name, None)  # until it is read whole: a refusal below must not leave it half read
        while start < end:  # one line at a time (a file of newlines makes no list of millions)
            stop = data.index(b"\n", start, end)
            chat._lines += 1
            if chat._lines > MAX_LINES:
                raise UsageError(f"the chat file {str(path)!r} has over {MAX_LINES:,} lines, more than rlm "
                                 "reads for a chat (rlm_jupyter.context.chats.MAX_LINES); move it away")
            if stop > start and data[start:stop].strip():  # a blank line (a torn line ended) says nothing
                self._line(chat, data[start:stop])
            start = stop + 1
        chat._offset += end
        if chat._lines == 0 and end == 0 and data:
            _problem(chat, f"{path} line 1: not an rlm chat (no header line)")
        self._read[name] = chat
        return chat

    def _line(self, chat: Chat, line: bytes) -> None:
        where = f"{chat.path} line {chat._lines}"
        if len(line) > MAX_LINE_BYTES:
            _problem(chat, f"{where}: over {MAX_LINE_BYTES // MB} MB, skipped")
            return
        try:
            record = loads(line, max_depth=4)
        except ValueError as error:
            _problem(chat, f"{where}: not JSON ({str(error)[:80]}), skipped")
            return
        if not isinstance(record, dict):
            _problem(chat, f"{where}: not a JSON object, skipped")
            return
        if chat._lines == 1:
            if record.get("type") != FORMAT:
                _problem(chat, f"{where}: not an rlm chat (no header line)")
                return
            version = record.get("version")
            chat.version = version if isinstance(version, int) and not isinstance(version, bool) else -1
            if chat.version != VERSION:
                _problem(chat, f"{where}: a chat of format version {_short(version)}; this rlm reads "
                                     f"version {VERSION} (turns it can read are kept)")
            created, parent = record.get("created"), record.get("parent")
            chat.created = created[:40] if isinstance(created, str) else ""
            if isinstance(parent, dict) and isinstance(parent.get("name"), str) \
                    and isinstance(parent.get("at"), int):
                chat.parent = {"name": parent["name"][:64], "at": parent["at"]}
            return
        turn = _turn(record)
        if isinstance(turn, str):
            _problem(chat, f"{where}: {turn}, skipped")
        else:
            chat.turns.append(turn)

    def names(self) -> tuple[list[str], int]:
        """The chats of the folder, most recently changed first (at most :data:`MAX_LISTED`), and how
        many more there are. Only regular files named like a chat count; one listing of the folder."""
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return [], 0
        except OSError as error:
            raise UsageError(f"cannot list the chats in {str(self.folder)!r}: "
                             f"{error.strerror or error}") from None
        found = []
        for entry in entries:
            stem = entry.name[: -len(_SUFFIX)] if entry.name.endswith(_SUFFIX) else ""
            if _NAME.match(stem) and entry.is_file(follow_symlinks=False):
                found.append((entry.stat(follow_symlinks=False).st_mtime, stem))
        found.sort(reverse=True)
        return [stem for _, stem in found[:MAX_LISTED]], max(len(found) - MAX_LISTED, 0)

    # -- writing --------------------------------------------------------------------------------

    def check_writable(self, name: str) -> None:
        """A UsageError now if a turn could not be added to ``name`` (a file there that is not a chat
        of this version), so the mistake is heard before a model is asked."""
        path = self.path(name)
        if os.path.lexists(path):
            self._check_ours(path, writing=True)

    def append(self, name: str, turn: Turn) -> None:
        """Add ``turn`` to the chat ``name``, creating its file (and the folder) on the first turn."""
        path = self.path(name)
        if not os.path.lexists(path):
            try:
                self._create(path, _header(name, None) + turn.line())
                return
            except FileExistsError:  # another kernel created it meanwhile: append to theirs
                pass
        self._append(path, turn.line())

    def fork(self, name: str, at: int | None, new: str) -> Chat:
        """A new chat ``new`` holding turns 1..``at`` of ``name`` (all by default), naming its parent."""
        chat = self.load(name)
        if not chat.turns:
            raise UsageError(f"the chat {name!r} has no turns to fork ({chat.path})")
        last = len(chat.turns)
        at = last if at is None else at
        if not 1 <= at <= last:
            raise UsageError(f"--at {at}: the chat {name!r} has turns 1 to {last}")
        path = self.path(new)
        if os.path.lexists(path):
            raise UsageError(f"a chat {new!r} exists already ({path}); pick another name, or "
                             f"%rlm chat forget {new} first")
        body = _header(new, {"name": name, "at": at}) + b"".join(turn.line() for turn in chat.turns[:at])
        try:
            self._create(path, body)
        except FileExistsError:
            raise UsageError(f"a chat {new!r} was created meanwhile ({path}); pick another name") from None
        return self.load(new)

    def forget(self, name: str) -> int | None:
        """Delete the chat ``name``'s file (only if it is a chat); how many turns it held (None: too
        large to read, which is no reason to keep it)."""
        path = self.path(name)
        if not os.path.lexists(path):
            raise UsageError(f"no chat {name!r} (in {self.folder})")
        self._check_ours(path)
        try:
            turns: int | None = len(self.load(name).turns)
        except UsageError:
            turns = None
        os.unlink(path)
        self._read.pop(name, None)
        return turns

    def _check_ours(self, path: Path, *, writing: bool = False) -> None:
        """A UsageError unless ``path`` is a chat file (and, ``writing``, of this rlm's version)."""
        with open_regular(path, "a chat file") as file:
            header = _header_of(file.read(_HEAD))
        if header is None:
            raise UsageError(f"{str(path)!r} is not an rlm chat file; rlm never writes or deletes another "
                             "file (pick another chat name, or move it away)")
        if writing and header.get("version") != VERSION:
            raise UsageError(f"{str(path)!r} is a chat of format version {_short(header.get('version'))}; "
                             f"this rlm writes version {VERSION} and will not add to it (fork it: "
                             "%rlm chat fork)")

    def _folder(self) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise UsageError(f"cannot keep chats in {str(self.folder)!r}: it is not a folder") from None
        except OSError as error:
            raise UsageError(f"cannot keep chats in {str(self.folder)!r}: "
                             f"{error.strerror or error}") from None

    def _create(self, path: Path, body: bytes) -> None:
        """``body`` as the new file ``path``: written aside, then linked into place (never replacing)."""
        self._folder()
        if len(body) > MAX_CHAT_BYTES:
            raise UsageError(f"the chat would be over {MAX_CHAT_BYTES // MB} MB, more than rlm keeps")
        aside = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns():x}.tmp")
        flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0))
        try:
            fd = os.open(aside, flags, 0o600)
            try:
                _write_all(fd, body)
            finally:
                os.close(fd)
            try:
                os.link(aside, path)  # FileExistsError if the name is taken: nothing is replaced
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links (FAT, some shares): create it in place
                _create_in_place(path, body, flags)
            finally:
                os.unlink(aside)
        except FileExistsError:
            raise
        except OSError as error:
            raise UsageError(f"cannot save the chat to {str(path)!r}: {error.strerror or error}") from None

    def _append(self, path: Path, line: bytes) -> None:
        self._check_ours(path, writing=True)
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0) \
            | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except OSError as error:
            raise UsageError(f"cannot save the chat to {str(path)!r}: {error.strerror or error}") from None
        try:
            _lock(fd)  # rlm writers one at a time: the size and last-byte checks hold until the write
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(f"{str(path)!r} is not a regular file; rlm writes chats to regular "
                                 "files only")
            if info.st_size + len(line) > MAX_CHAT_BYTES:
                raise UsageError(f"the chat file {str(path)!r} would be over {MAX_CHAT_BYTES // MB} MB, the "
                                 "most rlm keeps; fork it from a later turn (%rlm chat fork NAME --at N NEW)")
            with open_regular(path, "a chat file") as file:  # the same file, and does it end a line?
                mine = os.fstat(file.fileno())
                if (mine.st_dev, mine.st_ino) != (info.st_dev, info.st_ino):
                    raise UsageError(f"the chat file {str(path)!r} was replaced while saving; try again")
                if info.st_size:
                    file.seek(info.st_size - 1)
                ended = info.st_size == 0 or file.read(1) == b"\n"
            _write_all(fd, line if ended else b"\n" + line)
        except OSError as error:
            raise UsageError(f"cannot save the chat to {str(path)!r}: {error.strerror or error}") from None
        finally:
            os.close(fd)


def _problem(chat: Chat, text: str) -> None:
    """Keep a problem of ``chat``'s file as a sentence, or past :data:`MAX_PROBLEMS` only count it."""
    if len(chat.problems) < MAX_PROBLEMS:
        chat.problems.append(text)
    else:
        chat.more_problems += 1


def _short(value: Any) -> str:
    """A value read from a file, as a message quotes it: its repr, cut at 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}…"


def _create_in_place(path: Path, body: bytes, flags: int) -> None:
    """``body`` as the new file ``path``, created ``O_EXCL`` (never replacing) and written at once."""
    fd = os.open(path, flags, 0o600)
    try:
        _write_all(fd, body)
    finally:
        os.close(fd)


def _lock(fd: int) -> None:
    """An exclusive advisory lock on ``fd`` until it is closed (where the platform has ``flock``)."""
    try:
        import fcntl
    except ImportError:  # Windows: appends stay whole lines; a torn last line is skipped when read
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _turn(record: dict[str, Any]) -> Turn | str:
    """A turn line checked field by field; a sentence saying what is wrong otherwise."""
    if record.get("type") != "turn":
        return "not a turn"
    model, user, assistant = record.get("model"), record.get("user"), record.get("assistant")
    system, at, usage = record.get("system"), record.get("at", ""), record.get("usage") or {}
    if not (isinstance(model, str) and isinstance(user, str) and isinstance(assistant, str)):
        return "a turn needs model, user and assistant as text"
    if system is not None and not isinstance(system, str):
        return "system is not text"
    if not isinstance(at, str) or not isinstance(usage, dict):
        return "at is not text or usage not an object"
    counts = {k: v for k, v in usage.items() if k in ("prompt_tokens", "completion_tokens")
              and isinstance(v, int) and not isinstance(v, bool) and v >= 0}
    return Turn(model=model[:_MODEL_CHARS], user=user, assistant=assistant, system=system, at=at[:40],
                usage=counts)
