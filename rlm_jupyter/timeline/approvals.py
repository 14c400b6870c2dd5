"""Approve / Deny in the agent timeline: the kernel's side of the buttons (``%%rlm --agent --approve``).

A timeline view *has* an :class:`Approvals` (built before it). The agent asks its approver on a
thread of its own (:mod:`rlm_toolkit.agents.approval`), so :meth:`Approvals.ask` may simply wait
there. The page's click arrives as a comm message on a
kernel subshell while the cell runs (docs/architecture.md, "Live while the kernel is busy"), and
its handler only settles a future — safe from any thread, never waiting. If no page has spoken
within ``page_wait`` seconds (the view's) (a front end without widgets, or one that delivers comm
messages only when the cell ends), the question goes to an ``input()`` prompt instead
(:func:`stdin_prompt`), which denies with a reason where nothing can be typed. A run that ends
(Stop, ``%rlm stop``, ■, an error) denies what still waits — a click, a page, a prompt — at once
(a Stop with "stopped") and withdraws a prompt, so no approver's thread is left behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from rlm_toolkit.agents.approval import ApprovalRequest, ask_user

from ..live._ipykernel import RunEnded, input_request

__all__ = ["Approvals", "stdin_prompt", "RunEnded"]


class Approvals:
    """The decisions of one run: ``ask`` is its approver, ``decided`` the click's handler."""

    def __init__(self) -> None:
        self._decisions: dict[str, Future[bool | str]] = {}
        self._decisions_lock = threading.Lock()
        self._changed = threading.Condition(self._decisions_lock)  # a page spoke, or the run ended
        self._page = threading.Event()  # a page has sent a message: it shows this timeline
        self._ended: str | None = None
        self._over = threading.Event()  # set with _ended: a pending prompt gives up

    def _decision(self, call_id: str) -> Future[bool | str]:
        """The future of ``call_id``'s decision, made by whichever side comes first."""
        with self._decisions_lock:
            future = self._decisions.setdefault(call_id, Future())
            if self._ended is not None and not future.done():
                future.set_result(self._ended)
            return future

    def page_seen(self) -> None:
        if self._page.is_set():
            return
        with self._changed:
            self._page.set()
            self._changed.notify_all()

    def ask(self, request: ApprovalRequest, *, page_wait: float) -> bool | str:
        """The approver of a run shown here (on the approver's thread): wait for Approve or Deny,
        asking with ``input()`` if no page has shown itself within ``page_wait`` seconds.

        A run that ends (a Stop) while this waits — for a click, or for a page to show itself —
        denies at once with the reason :meth:`end` was given, so the thread ends."""
        with self._changed:
            self._changed.wait_for(lambda: self._page.is_set() or self._ended is not None, page_wait)
            ended, page = self._ended, self._page.is_set()
        if ended is not None:
            return ended
        if not page:
            return ask_user(request, prompt=stdin_prompt(self._over))
        return self._decision(request.call_id).result()

    def decided(self, content: dict[str, Any]) -> None:
        """The page's ``{"type": "decide", "id": …, "approved": bool}`` (any thread, never waits)."""
        future = self._decision(str(content.get("id")))
        with self._decisions_lock:
            if not future.done():  # a second click, or one after the run ended, changes nothing
                approved = content.get("approved") is True
                future.set_result(True if approved else "the user denied it in the timeline")

    def end(self, reason: str) -> None:
        """The run has ended: what still waits is denied, and so is anything asked later."""
        with self._changed:
            if self._ended is None:
                self._ended = reason
            self._over.set()
            for future in self._decisions.values():
                if not future.done():
                    future.set_result(self._ended)
            self._changed.notify_all()


def stdin_prompt(ended: threading.Event) -> Callable[[str], str]:
    """``input()`` for a question asked on the approver's thread, withdrawn once ``ended`` is set.

    In a kernel it is ipykernel's own ``input_request`` on the stdin channel, for the cell whose
    context the thread carries (:func:`rlm_jupyter.live._ipykernel.input_request`: ipykernel's
    ``raw_input`` waits for a reply forever, and a thread left in it would take the reply meant
    for the next ``input()``). Outside a kernel, the builtin ``input``.
    """
    return input_request(ended) or input
