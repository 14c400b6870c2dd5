"""The one message vocabulary of both widgets (rlm_jupyter/wire.py): a page's message reaches the
handler of its type, and anything else a page might send is ignored."""

from __future__ import annotations

import re
from pathlib import Path

from rlm_jupyter import wire
from rlm_jupyter.stream.view import StreamView
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit.events import AgentEvent


def test_a_message_reaches_the_handler_of_its_type_and_nothing_else_does():
    seen: list[dict] = []
    handlers = {wire.Type.STOP: seen.append}
    for junk in (None, [], "stop", {"stop": True}, {"type": ["stop"]}, {"type": {"a": 1}}, {"type": "nope"},
                 {"type": "__class__"}):
        wire.dispatch(junk, handlers)
    assert seen == []
    wire.dispatch({"type": "stop"}, handlers)
    assert seen == [{"type": "stop"}]
    assert [wire.count(v) for v in (3, "4", 2.5, None, "x", float("inf"), [1])] == [3, 4, 2, 0, 0, 0, 0]


def test_both_views_take_stop_and_sync_by_the_same_names():
    stream, timeline = StreamView("x:y", frame=0.0), TimelineView("x:y", frame=0.0)
    for view, item in ((stream, "abc"), (timeline, AgentEvent(type="token", content="abc", step=1))):
        sent: list[dict] = []
        view.send = lambda content, buffers=None, sent=sent: sent.append(content)  # type: ignore[method-assign]
        view.feed(item)
        assert sent[-1]["type"] == wire.Type.FRAME
        view._on_page_message(view, {"type": wire.Type.SYNC}, [])  # a page that holds nothing
        assert sent and sent[-1]["type"] == wire.Type.SNAPSHOT
        view._on_page_message(view, {"type": wire.Type.STOP}, [])
        assert view.stopping


def test_the_pages_speak_the_same_vocabulary():
    """Every type a page's module sends is one the table lists (rlmSend(model, "…")), and the
    table's types are the module's constants."""
    static = Path(wire.__file__).parent
    sources = [static / "static" / "common.js", static / "stream" / "static" / "stream.js",
               static / "timeline" / "static" / "timeline.js"]
    sent = {m for path in sources for m in re.findall(r'rlmSend\(model, "(\w+)"', path.read_text())}
    t = wire.Type
    page_to_kernel = {t.SYNC, t.STOP, t.DECIDE, t.MESSAGES, t.CLOSED, t.FORK}
    assert sent == page_to_kernel
    for name in (*page_to_kernel, t.FRAME, t.END, t.SNAPSHOT):
        assert f"``{name}``" in wire.__doc__
