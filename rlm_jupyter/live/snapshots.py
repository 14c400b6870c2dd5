"""When to refresh the saved copy of a live answer (sans-IO).

A live answer's display is two outputs side by side: the widget, and its *saved copy* — the text
so far as ``text/plain`` and safe ``text/html`` (:meth:`rlm_jupyter.stream.view.StreamView.copy_bundle`).
The copy is what a notebook saved mid-stream keeps and shows when it is reopened (the widget's
model is gone with its kernel), and what a front end that cannot show the widget (no widget
manager, nbclient, papermill, ``jupyter console``) shows growing; a page that shows the widget
hides it. Refreshing it never touches the widget's output, so it never rebuilds the widget's view.

Each refresh re-sends the whole text, so refreshes are spaced geometrically: at least ``spacing``
seconds apart and only once the text has grown by ``growth``; the bytes stay linear in the answer,
at most ``growth / (growth - 1)`` times its length (3× for 1.5), and the saved copy holds at
least ``1 / growth`` of the text so far (two thirds), all of it up to ``spacing`` seconds ago
while the text is short.
"""

from __future__ import annotations

import time

__all__ = ["Snapshots", "SAVE_EVERY"]


#: The saved copy of a live answer is refreshed at most this often, in seconds
#: (``RLMMagics.save_every``; 0: never, the copy stays empty until the answer ends).
SAVE_EVERY = 2.0


class Snapshots:
    """When to refresh a live answer's saved copy (sans-IO: the caller owns the clock and the display)::

        s = Snapshots(now=0.0)
        s.due(length=120, now=2.1)   # True: the first copy, two seconds in
        s.taken(120, now=2.1)
        s.due(length=150, now=4.2)   # False: it has not grown by half yet
    """

    __slots__ = ("growth", "spacing", "last_length", "last_at", "count")

    def __init__(self, *, spacing: float | None = None, growth: float = 1.5,
                 now: float | None = None) -> None:
        if spacing is None:
            spacing = SAVE_EVERY
        self.spacing = float("inf") if spacing <= 0 else spacing
        self.growth = growth
        self.last_length = 0
        self.last_at = time.perf_counter() if now is None else now
        self.count = 0

    def due(self, length: int, now: float | None = None) -> bool:
        """Whether a copy of ``length`` characters should be sent now."""
        if length <= self.last_length:
            return False
        now = time.perf_counter() if now is None else now
        if now - self.last_at < self.spacing:
            return False
        return self.last_length == 0 or length >= self.growth * self.last_length

    def taken(self, length: int, now: float | None = None) -> None:
        self.last_length = length
        self.last_at = time.perf_counter() if now is None else now
        self.count += 1
