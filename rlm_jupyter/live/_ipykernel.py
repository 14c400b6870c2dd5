"""Every touch of ipykernel's private attributes, in one place, each with why no public way exists.

ipykernel (7.x) gives no public API for what these do; each function below says what it reaches
and falls back to doing nothing where the attribute is missing (an older ipykernel, another
kernel), so a running notebook never breaks. That fallback must not hide a changed layout:
:data:`REACHED` lists every attribute used, and ``tests/jupyter/live/test_ipykernel.py`` fails
as soon as the installed ipykernel lacks one.

- :func:`answer_where_sent` — ``BaseComm._reply_subshell_for``: ipykernel ≥ 7.4 routes a comm's
  incoming messages to the shell that last *sent* on it (for async cells awaiting a widget
  reply). Our widgets send from the cell that streams, so a Stop click would queue behind that
  very cell. There is no setting for it; the router is a method on the comm, replaced here.
- :func:`hook_idle_interrupt` — ``Kernel.saved_sigint_handler``: ipykernel ignores SIGINT while
  no request runs and restores the handler it saved after each request; the only way to let ■
  stop background streams while idle is to swap the saved handler.
- :func:`input_request` — ``Kernel._allow_stdin`` and ``Kernel._parent_ident``: the public
  ``raw_input`` waits for a reply forever, and a thread left in it would take the reply meant
  for the next ``input()``; an approval asked on a thread must be withdrawn when its run ends,
  so the request is sent as ipykernel sends it, and its reply polled.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["REACHED", "missing", "kernel", "answer_where_sent", "hook_idle_interrupt", "input_request",
           "RunEnded"]

#: (where, attribute) of every private attribute this module reaches.
REACHED = (
    ("ipykernel.comm.comm.BaseComm", "_reply_subshell_for"),
    ("ipykernel.kernelbase.Kernel", "saved_sigint_handler"),
    ("ipykernel.kernelbase.Kernel", "_allow_stdin"),
    ("ipykernel.kernelbase.Kernel", "_parent_ident"),
)

#: How often a withdrawn-able input request looks whether its run has ended, in seconds.
POLL = 0.05


def missing() -> list[str]:
    """The attributes of :data:`REACHED` the installed ipykernel lacks (``[]``: the layout we know).

    Kernel attributes are traitlets or set in ``__init__``/``pre_handler_hook``, so the class is
    checked for a trait, a class attribute, or the name in its source."""
    import importlib
    import inspect

    absent = []
    for where, name in REACHED:
        module, _, cls_name = where.rpartition(".")
        cls = getattr(importlib.import_module(module), cls_name)
        has_trait = getattr(cls, "class_traits", None) and name in cls.class_traits()
        if not (hasattr(cls, name) or has_trait or f"self.{name}" in inspect.getsource(cls)):
            absent.append(f"{where}.{name}")
    return absent


def kernel() -> Any:
    """The running ipykernel ``Kernel``, or None (a terminal, a script, another kernel)."""
    try:
        from ipykernel.kernelbase import Kernel
    except ImportError:
        return None
    return Kernel.instance() if Kernel.initialized() else None


def _as_sent(_data: Any, default: Any) -> Any:
    return default


def answer_where_sent(comm: Any) -> None:
    """Handle ``comm``'s page messages on the subshell the front end sent them to (see above).
    Our widgets' handlers only set flags and send, safely from any thread."""
    if comm is not None and hasattr(comm, "_reply_subshell_for"):
        comm._reply_subshell_for = _as_sent


def hook_idle_interrupt(wrap: Callable[[Any], Any], installed: type) -> bool:
    """Swap the kernel's saved SIGINT handler (SIG_IGN while idle) for ``wrap(saved)``, unless it
    is already an ``installed`` instance. Must run in a request on the main thread; returns whether
    the hook is in place."""
    if threading.current_thread() is not threading.main_thread():
        return False
    running = kernel()
    saved = getattr(running, "saved_sigint_handler", None)
    if isinstance(saved, installed):
        return True
    if saved is None:
        return False
    running.saved_sigint_handler = wrap(saved)
    return True


class RunEnded(Exception):
    """The run ended while its prompt waited for an answer (nobody reads the decision any more)."""


def input_request(ended: threading.Event) -> Callable[[str], str] | None:
    """``input()`` on the kernel's stdin channel for a question asked on another thread, withdrawn
    once ``ended`` is set (raises :class:`RunEnded`); None outside a kernel that forwards input
    this way."""
    running = kernel()
    needed = ("_allow_stdin", "stdin_socket", "session", "get_parent", "_parent_ident")
    if running is None or not all(hasattr(running, name) for name in needed):
        return None

    def prompt(text: str) -> str:
        import zmq
        from IPython.core.error import StdinNotImplementedError

        if not running._allow_stdin:
            raise StdinNotImplementedError("this front end does not support input requests")
        socket = running.stdin_socket
        while True:  # replies to earlier, withdrawn prompts
            try:
                socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        running.session.send(socket, "input_request", {"prompt": text, "password": False},
                             running.get_parent("shell"), ident=running._parent_ident["shell"])
        while not ended.is_set():
            readable, _, failed = zmq.select([socket], [], [socket], POLL)
            if readable or failed:
                _ident, reply = running.session.recv(socket)
                if reply is not None:
                    value = str(reply["content"].get("value", ""))
                    if value == "\x04":
                        raise EOFError
                    return value
        raise RunEnded("the run ended before an answer came")

    return prompt
