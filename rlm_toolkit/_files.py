"""The files a user names, read and written safely: every file input and output goes through here.

Reading (a trace, an OTLP/JSON export, an image): regular files only — a FIFO, a device
(``/dev/zero``) or a folder is a :class:`~rlm_toolkit.errors.UsageError` at once, before anything
is read or waited for — and never more than a documented limit (:data:`MAX_TRACE_BYTES`,
:data:`MAX_LINE_BYTES`, :data:`MAX_OTLP_BYTES`, :data:`MAX_IMAGE_BYTES`): at most ``limit + 1``
bytes are read, so a file that lies about its size (``/proc``) or grows while read is bounded too.

Writing (a trace, an OTLP/JSON export) never truncates an existing file. A new name is created
with ``O_EXCL`` (so a symbolic link planted there is not followed). An existing file is replaced
only if it is one of ours (``ours(head)``) and the caller asked (``overwrite=True``), and then by a
new file renamed over the name: the old inode, or whatever a link pointed at, is never written.
An existing file of ours without ``overwrite`` gives a numbered sibling (``run.jsonl`` →
``run-2.jsonl``); anything else that exists (a CSV, ``/etc/passwd``, a FIFO) is a UsageError.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Union

from .errors import UsageError

__all__ = ["MAX_TRACE_BYTES", "MAX_LINE_BYTES", "MAX_OTLP_BYTES", "MAX_IMAGE_BYTES", "RecordingWarning",
           "open_regular", "read_bytes", "lines", "target", "create", "is_trace_head"]

PathLike = Union[str, "os.PathLike[str]"]
MB = 1024 * 1024
#: A trace file (``load``, ``%rlm replay``, ``%rlm diff``, ``%rlm export``) is read up to this size.
MAX_TRACE_BYTES = 256 * MB
#: One line of a trace (a step with its messages; ``keep_images=True`` images are inline) at most.
MAX_LINE_BYTES = 64 * MB
#: An OTLP/JSON export (``read_otlp_json``, ``%rlm replay spans.json``) is read up to this size.
MAX_OTLP_BYTES = 256 * MB
#: An image (a path, bytes, a file object, a data: URL) at most: more than any vendor takes in a whole
#: request (OpenAI: 50 MB of images, 20 MB each), so a vendor's own limit still names itself below it.
MAX_IMAGE_BYTES = 50 * MB
_HEAD = 64 * 1024  # what is read of an existing file to tell whether it is ours
_CHUNK = 1024 * 1024
_SIBLING_TRIES = 100


class RecordingWarning(UserWarning):
    """A recording went to another file than the one named (the name holds an earlier run)."""


def _size(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB else f"{limit} bytes"


def _noun(what: str) -> str:
    """``"a trace file"`` → ``"trace file"``: ``what`` is always given with its article."""
    return what.split(" ", 1)[1]


def _too_large(path: PathLike, what: str, limit: int, constant: str) -> UsageError:
    return UsageError(f"{str(path)!r} is over {_size(limit)}, more than rlm reads for {what} "
                      f"(rlm_toolkit._files.{constant})")


def _not_regular(path: PathLike, mode: int, what: str) -> UsageError:
    if stat.S_ISDIR(mode):
        return UsageError(f"{str(path)!r} is a folder, not {what}")
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) \
        else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
    return UsageError(f"{str(path)!r} is {kind}, not {what}: rlm reads and writes regular files only")


def open_regular(path: PathLike, what: str) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file; else a UsageError, without waiting.

    ``what``: what the file should be, with its article (``"a trace file"``), for the messages.

    A FIFO or a device is refused before it is opened (opening a FIFO blocks until a writer comes;
    opening some devices has effects); ``O_NONBLOCK`` and the ``fstat`` after opening cover a swap.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UsageError(f"no {_noun(what)} {str(path)!r} (working directory: {Path.cwd()})") from None
    except OSError as error:
        raise UsageError(f"cannot read the {_noun(what)} {str(path)!r}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise UsageError(f"cannot read the {_noun(what)} {str(path)!r}: {error.strerror or error}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(path, mode, what)
    return os.fdopen(fd, "rb")


def read_bytes(path: PathLike, limit: int, what: str, constant: str) -> bytes:
    """A regular file's bytes if it holds at most ``limit`` (else a UsageError, having read ``limit + 1``)."""
    with open_regular(path, what) as file:
        if os.fstat(file.fileno()).st_size > limit:
            raise _too_large(path, what, limit, constant)
        data = file.read(limit + 1)
    if len(data) > limit:
        raise _too_large(path, what, limit, constant)
    return data


def lines(path: PathLike, what: str, limit: int = MAX_TRACE_BYTES, line_limit: int = MAX_LINE_BYTES,
          constant: str = "MAX_TRACE_BYTES") -> Iterator[bytes | None]:
    """The lines of a regular file (bytes, with their ``\\n``); ``None`` for a line over ``line_limit``
    bytes, which is skipped in bounded pieces. Over ``limit`` bytes in all is a UsageError."""
    with open_regular(path, what) as file:
        if os.fstat(file.fileno()).st_size > limit:
            raise _too_large(path, what, limit, constant)
        total = 0
        while line := file.readline(line_limit + 1):
            total += len(line)
            if total > limit:
                raise _too_large(path, what, limit, constant)
            if len(line) <= line_limit or line.endswith(b"\n"):
                yield line
                continue
            while (rest := file.readline(_CHUNK)) and not rest.endswith(b"\n"):
                total += len(rest)
                if total > limit:
                    raise _too_large(path, what, limit, constant)
            yield None


def is_trace_head(head: bytes) -> bool:
    """Whether a file that starts with ``head`` is an rlm trace (its first line a trace header)."""
    import json

    first = head.split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("type") == "header" and obj.get("kind") in ("stream", "agent")


def _head(path: Path, what: str) -> bytes:
    with open_regular(path, what) as file:
        return file.read(_HEAD)


def target(path: PathLike, what: str, ours: Callable[[bytes], bool], *, overwrite: bool = False,
           verb: str = "record to") -> tuple[Path, bool]:
    """Where writing ``what`` to ``path`` goes under the rule above, and whether it replaces a file.

    ``(path, False)``: a new file; ``(path, True)``: replaces an empty file or one of ours
    (``overwrite``); ``(sibling, False)``: ``path`` holds one of ours and ``overwrite`` is False.
    Anything else is a UsageError (``cannot {verb} '…': …``). Nothing is created here.
    """
    name = Path(path)
    try:
        mode: int | None = os.stat(name).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise UsageError(f"cannot {verb} {str(path)!r}: {error.strerror or error}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"cannot {verb} {str(path)!r}: it is a folder; name a file in it, "
                         f"e.g. {str(name / 'run.jsonl')!r}")
    folder = name.parent
    if not folder.is_dir():
        raise UsageError(f"cannot {verb} {str(path)!r}: no folder {str(folder)!r} (create it first)")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot {verb} {str(path)!r}: the folder {str(folder)!r} is not writable")
    if mode is None:
        if os.path.lexists(name):  # a link to nowhere: O_EXCL would refuse it, say why now
            raise UsageError(f"cannot {verb} {str(path)!r}: it is a symbolic link to nothing; "
                             "name a new file")
        return name, False
    if not stat.S_ISREG(mode):
        raise UsageError(f"cannot {verb} {str(path)!r}: {_not_regular(path, mode, what).message}")
    head = _head(name, what)
    if not head:
        return name, True  # an empty file: nothing to lose
    if not ours(head):
        raise UsageError(f"cannot {verb} {str(path)!r}: it exists and is not {what}; rlm never overwrites "
                         "another file (name a new one)")
    return (name, True) if overwrite else (_sibling(name), False)


def _sibling(path: Path) -> Path:
    """``run.jsonl`` → ``run-N.jsonl``, N one more than the highest in the folder (one listing: linear)."""
    base = re.sub(r"-\d{1,9}$", "", path.stem) or path.stem
    pattern = re.compile(re.escape(base) + r"-(\d{1,9})" + re.escape(path.suffix) + "$")
    numbers = [int(m.group(1)) for entry in os.listdir(path.parent or ".") if (m := pattern.match(entry))]
    return path.with_name(f"{base}-{max([1, *numbers]) + 1}{path.suffix}")


def _exclusive(path: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    return os.open(path, flags, 0o666)


def create(path: PathLike, what: str, ours: Callable[[bytes], bool], *, overwrite: bool = False,
           verb: str = "record to", note: str = "") -> tuple[IO[bytes], Path]:
    """A new file for ``what`` at ``path`` under the rule above, opened for writing, and its name.

    Writing to a numbered sibling warns once (:class:`RecordingWarning`); ``note`` is added to it
    (how to replace the file instead).
    """
    chosen, replace = target(path, what, ours, overwrite=overwrite, verb=verb)
    try:
        if replace:
            temporary = chosen.with_name(f".{chosen.name}.{os.getpid()}.{id(chosen):x}.tmp")
            fd = _exclusive(temporary)
            try:
                os.replace(temporary, chosen)
            except OSError:
                os.close(fd)
                os.unlink(temporary)
                raise
        else:
            for _ in range(_SIBLING_TRIES):
                try:
                    fd = _exclusive(chosen)
                    break
                except FileExistsError:  # taken meanwhile: the next number (or the rule again)
                    chosen, replace = target(path, what, ours, overwrite=overwrite, verb=verb)
                    if replace:
                        return create(path, what, ours, overwrite=overwrite, verb=verb, note=note)
            else:
                raise UsageError(f"cannot {verb} {str(path)!r}: no free name next to it")
    except OSError as error:
        raise UsageError(f"cannot {verb} {str(path)!r}: {error.strerror or error}") from None
    if chosen != Path(path):
        warnings.warn(f"{str(path)!r} already holds {what}: writing {str(chosen)!r} instead{note}",
                      RecordingWarning, stacklevel=3)
    return os.fdopen(fd, "wb"), chosen
