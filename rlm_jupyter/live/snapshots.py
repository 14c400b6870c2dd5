"""When to refresh the ``text/plain`` copy of a live answer's display (sans-IO).

That copy is what a notebook saved mid-stream keeps, and what a front end that cannot show the
widget (no widget manager, nbclient, papermill, ``jupyter console``) shows growing. Each refresh
re-sends the whole text, so refreshes are spaced geometrically (the text must have grown by a
factor since the last one): the bytes stay linear in the answer, at most ``growth / (growth - 1)``
times its length. While no page has said that it rendered the widget, refreshes are denser (the
text is all such a front end shows); once one has, they only keep a saved copy reasonably fresh.
"""

from __future__ import annotations

import time

__all__ = ["Snapshots", "SAVE_EVERY"]


#: While a page shows the widget, the display's text/plain copy (what a notebook saved mid-stream
#: keeps) is refreshed at most this often, in seconds.
SAVE_EVERY = 30.0


class Snapshots:
    """When to refresh the display's ``text/plain`` copy of a live answer (sans-IO: the caller
    owns the clock and the display)::

        s = Snapshots(now=0.0)
        s.due(length=120, now=2.1, seen=False)   # True: the first copy, two seconds in
        s.taken(120, now=2.1)
        s.due(length=150, now=4.2, seen=False)   # False: it has not grown by half yet
    """

    __slots__ = ("blind_growth", "blind_spacing", "seen_growth", "seen_spacing", "last_length",
                 "last_at", "count")

    # A refresh rebuilds the widget's view in JupyterLab (its renderer makes a new view for every
    # display update, with a "Loading widget..." flash), so once a page shows the widget they are
    # rare: doubled text and SAVE_EVERY seconds apart (RLMMagics.save_every; 0: never). The first
    # waits two seconds, by when a page that shows widgets has said so.
    def __init__(self, *, blind_growth: float = 1.5, blind_spacing: float = 2.0, seen_growth: float = 2.0,
                 seen_spacing: float | None = None, now: float | None = None) -> None:
        if seen_spacing is None:
            seen_spacing = SAVE_EVERY
        seen_spacing = float("inf") if seen_spacing <= 0 else seen_spacing
        self.blind_growth, self.blind_spacing = blind_growth, blind_spacing
        self.seen_growth, self.seen_spacing = seen_growth, seen_spacing
        self.last_length = 0
        self.last_at = time.perf_counter() if now is None else now
        self.count = 0

    def due(self, length: int, now: float | None = None, *, seen: bool = False) -> bool:
        """Whether a copy of ``length`` characters should be sent now.

        ``seen``: a page has rendered the widget, so the copy only matters for saving.
        """
        if length <= self.last_length:
            return False
        now = time.perf_counter() if now is None else now
        growth, spacing = (self.seen_growth, self.seen_spacing) if seen else (self.blind_growth,
                                                                               self.blind_spacing)
        if now - self.last_at < spacing:
            return False
        return self.last_length == 0 or length >= growth * self.last_length

    def taken(self, length: int, now: float | None = None) -> None:
        self.last_length = length
        self.last_at = time.perf_counter() if now is None else now
        self.count += 1
