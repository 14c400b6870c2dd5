"""Approve / Deny in the agent timeline: the kernel's side of the buttons (``%%rlm --agent --approve``).

The agent asks its approver on a thread of its own (:mod:`rlm_toolkit.agents.approval`), so
:meth:`Approvals.ask` may simply wait there. The page's click arrives as a comm message on a
kernel subshell while the cell runs (docs/architecture.md, "Live while the kernel is busy"), and
its handler only settles a future — safe from any thread, never waiting. If no page has spoken
within :attr:`Approvals.page_wait` seconds (a front end without widgets, or one that delivers comm
messages only when the cell ends), the question goes to ``input()`` instead, which denies with a
reason where nothing can be typed. A run that ends (Stop, ■, an error) denies what still waits,
so no approver's thread is left behind.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from rlm_toolkit.agents.approval import ApprovalRequest, ask_user

__all__ = ["Approvals"]


class Approvals:
    """Mixed into the timeline view: ``ask`` is the run's approver, ``decided`` the click's handler."""

    #: Seconds an approval waits for a page to show itself before it asks with ``input()``.
    page_wait = 5.0

    def _init_approvals(self) -> None:
        self._decisions: dict[str, Future[bool | str]] = {}
        self._decisions_lock = threading.Lock()
        self._page = threading.Event()  # a page has sent a message: it shows this timeline
        self._ended: str | None = None

    def _decision(self, call_id: str) -> Future[bool | str]:
        """The future of ``call_id``'s decision, made by whichever side comes first."""
        with self._decisions_lock:
            future = self._decisions.setdefault(call_id, Future())
            if self._ended is not None and not future.done():
                future.set_result(self._ended)
            return future

    def page_seen(self) -> None:
        self._page.set()

    def ask(self, request: ApprovalRequest) -> bool | str:
        """The approver of a run shown here (on the approver's thread): wait for Approve or Deny."""
        if not self._page.wait(self.page_wait):
            return ask_user(request)
        return self._decision(request.call_id).result()

    def decided(self, content: dict[str, Any]) -> None:
        """The page's ``{"op": "decide", "id": …, "approved": bool}`` (any thread, never waits)."""
        future = self._decision(str(content.get("id")))
        with self._decisions_lock:
            if not future.done():  # a second click, or one after the run ended, changes nothing
                approved = content.get("approved") is True
                future.set_result(True if approved else "the user denied it in the timeline")

    def end_approvals(self, reason: str) -> None:
        """The run has ended: what still waits is denied, and so is anything asked later."""
        with self._decisions_lock:
            self._ended = reason
            for future in self._decisions.values():
                if not future.done():
                    future.set_result(reason)
