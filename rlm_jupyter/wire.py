"""The custom messages between a widget and its page: one vocabulary for both widgets.

Every message is a JSON object whose ``type`` names it; the same name means the same thing in the
stream widget (:mod:`rlm_jupyter.stream.view`, ``stream.js``) and the agent timeline
(:mod:`rlm_jupyter.timeline.view`, ``timeline.js``). The page's side of it is ``rlmSend`` /
``rlmOnMessage`` in ``static/common.js``.

============  ==============  ===============================================================  ========
type          direction       fields                                                           sent by
============  ==============  ===============================================================  ========
``frame``     kernel → page   stream: ``d``/``o`` new text and its offset, ``r``/``ro`` new    both
                              reasoning and its offset, ``n`` tokens, ``e`` seconds since the
                              first token, ``t`` time to it (first frame); timeline: ``seq``,
                              ``ops`` (the frame's page operations)
``end``       kernel → page   ``text``, ``thinking``: the lengths sent (UTF-16 units)          stream
``snapshot``  kernel → page   all so far, in reply to ``sync`` when the page lacks some, and   both
                              once, unasked, a second after the widget opened:
                              stream: ``text``, ``thinking``; timeline: ``seq``, ``ops``
``messages``  kernel → page   ``step``, ``first`` (how many the step before sent too),         timeline
                              ``total``, ``messages`` (the rest: capped, scrubbed), ``error``
``sync``      page → kernel   what the page holds: stream: ``text``, ``thinking`` lengths      both
                              (none: it missed some, send all); timeline: ``seq``. Sent on a
                              gap the snapshot did not mend; the timeline's also once when an
                              approval waits for its buttons
``stop``      page → kernel   (none): the Stop button                                          both
``decide``    page → kernel   ``id``, ``approved``: Approve / Deny of a tool call              timeline
``messages``  page → kernel   ``step``: show what this step added (``all``: every message)     timeline
``closed``    page → kernel   ``step``: its messages were hidden again                         timeline
``fork``      page → kernel   ``step``: Fork from here (the kernel builds the cell itself)     timeline
``fork``      kernel → page   ``step``, ``state`` (queued: the cell comes when this cell       timeline
                              ends; line: run ``line`` in a cell; error), ``line``, ``error``
============  ==============  ===============================================================  ========

The one-letter fields of a stream ``frame`` are the hot path (up to ~30 a second); the rest are
rare. A page's message runs on whichever thread the kernel hands it to (a subshell's while a cell
runs): handlers only set flags and send. That subshell publishes busy and idle around it, and a
page takes the last status it saw for the kernel's, so a page sends only what a user did (Stop,
Approve, opening a step's messages) or a repair it cannot do without (``sync`` on a gap).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Type", "dispatch", "count"]


class Type:
    """The ``type`` of each message: plain strings, as they cross the wire."""

    FRAME, END, SNAPSHOT, MESSAGES = "frame", "end", "snapshot", "messages"  # kernel → page
    SYNC, STOP, DECIDE, CLOSED = "sync", "stop", "decide", "closed"  # page → kernel
    FORK = "fork"  # both ways: the page's Fork from here, the kernel's answer


#: A page message's handler: it gets the whole message (what it returns is ignored).
Handler = Callable[[dict[str, Any]], object]


def dispatch(content: Any, handlers: Mapping[str, Handler]) -> None:
    """Hand a page's message to the handler of its ``type``; anything else (not an object, no or
    an unknown type) is ignored, as a page of another version might send it."""
    if isinstance(content, dict):
        kind = content.get("type")
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            handler(content)


def count(value: Any) -> int:
    """A number a page sent (a ``seq``, a ``step``) as an int; 0 for anything that is not one."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
