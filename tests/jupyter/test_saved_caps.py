"""Every text the model or a tool writes is capped in every copy of a run: the page's messages and
state (the comm), text/plain, text/markdown and text/html (issue 20, item 9)."""

from __future__ import annotations

import json

from rlm_jupyter.live.drive import drive
from rlm_jupyter.live.drive import drive as drive_run
from rlm_jupyter.render import ANSWER_LIMIT, TEXT_LIMIT
from rlm_jupyter.stream.view import StreamView
from rlm_jupyter.timeline.html import MESSAGES_BUDGET
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent

MB = 10_000_000


def pieces(letter: str, size: int = MB, n: int = 100) -> list[str]:
    """``size`` characters of ``letter`` in ``n`` chunks, as a model streams them."""
    return [letter * (size // n)] * n


def comm_bytes(view) -> list[int]:
    """Count every byte the widget sends over its comm (custom messages and state updates)."""
    counted = [0]
    publish = view.comm.publish_msg

    def counting(msg_type, data=None, metadata=None, buffers=None, **keys):
        counted[0] += len(json.dumps(data, ensure_ascii=False, default=str))
        counted[0] += sum(len(b) for b in buffers or ())
        return publish(msg_type, data=data, metadata=metadata, buffers=buffers, **keys)

    view.comm.publish_msg = counting
    return counted


def fails(s: str) -> str:
    """A tool that fails with a message as long as its argument."""
    raise ValueError("E" * len(s))


def test_ten_megabyte_fields_are_capped_in_every_copy_and_on_the_wire():
    """A thought, tool arguments, a tool error, the reasoning and the final answer of 10 MB each
    (together ~60 MB of text): each copy keeps a bounded part and says how much it left out and where
    the whole is; Python keeps the whole answer."""
    provider = ScriptedProvider(turns=[
        ScriptedTurn(reasoning=pieces("R"), chunks=pieces("T"),
                     tool_calls=[{"name": "fails", "arguments": {"s": "A" * MB}}]),
        ScriptedTurn(chunks=pieces("F")),
    ])
    stream = ReActAgent(RLM(provider), tools=[fails]).stream("go")
    view = TimelineView(steps=lambda: stream.history)
    sent = comm_bytes(view)
    drive_run(view, stream)
    view._on_page_message(view, {"type": "sync", "seq": 0}, [])  # a page that reloads gets it all again
    before = sent[0]
    view._on_page_message(view, {"type": "messages", "step": 2}, [])  # the page opens step 2's messages
    assert sent[0] - before < MESSAGES_BUDGET + 20_000, sent[0] - before  # they hold 30 MB
    assert max(len(str(m.get("content"))) for m in view.messages(2)) >= MB  # Python keeps them whole
    assert view.state == "done" and len(view.timeline.final) == MB  # -o NAME gets the whole answer

    data, _ = view.final_bundle()
    sizes = {mime: len(text) for mime, text in data.items()}
    fields = 5 * TEXT_LIMIT + ANSWER_LIMIT  # the capped fields, once each
    assert sizes["text/plain"] < fields + 50_000, sizes
    assert sizes["text/markdown"] < fields + 50_000, sizes
    assert sizes["text/html"] < fields + 200_000 + 100_000, sizes  # + the messages' own budget
    # The page gets each op once, then the unasked catch-up a second in (at most all of them), the
    # snapshot and one sync reply repeat them: ops carry the two steps' streamed text (either may be
    # the answer), the answer, and the five other fields.
    ops = 3 * ANSWER_LIMIT + 5 * TEXT_LIMIT
    assert sent[0] < 4 * ops + 100_000, sent[0]  # it was 140 MB, and 70 MB more per sync

    for mime in ("text/plain", "text/markdown", "text/html"):
        text = data[mime]
        assert "T" * (TEXT_LIMIT + 1) not in text and "A" * (TEXT_LIMIT + 1) not in text
        assert "E" * (TEXT_LIMIT + 1) not in text and "R" * (TEXT_LIMIT + 1) not in text
        assert "F" * (ANSWER_LIMIT + 1) not in text and "F" * 1000 in text
        assert "more characters not shown here" in text
        assert "%%rlm --record FILE" in text
    # each cut says how much it left out, and where the whole is
    plain = data["text/plain"]
    assert f"{MB - TEXT_LIMIT:,} more characters not shown here" in plain  # the thought
    assert f"{MB - ANSWER_LIMIT:,} more characters not shown here" in plain  # the answer
    assert "view.messages(2)" in plain and "view.timeline.final" in plain


def test_a_ten_megabyte_answer_is_whole_once_and_its_reasoning_is_capped():
    """The stream's answer is the user's: the HTML copy (the one front ends show) keeps it whole,
    text/plain and text/markdown keep a capped part that says where the rest is; the reasoning is
    capped like any text the model writes."""
    view = StreamView("scripted:scripted")
    view.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    rlm = RLM(ScriptedProvider(turns=[ScriptedTurn(reasoning=pieces("R"), chunks=pieces("F"))]))
    drive(view, rlm.stream_events("go"))
    assert view.answer == "F" * MB and view.reasoning == "R" * MB
    data, _ = view.final_bundle()
    assert data["text/html"].count("F") >= MB  # whole, once
    total = sum(len(v) for v in data.values() if isinstance(v, str))
    assert total < MB + 2 * ANSWER_LIMIT + TEXT_LIMIT + 20_000, total
    assert "R" * (TEXT_LIMIT + 1) not in data["text/html"]
    for mime in ("text/plain", "text/markdown"):
        assert "F" * (ANSWER_LIMIT + 1) not in data[mime]
        assert f"{MB - ANSWER_LIMIT:,} more characters not shown here" in data[mime]
    assert f"{MB - TEXT_LIMIT:,} more characters not shown here" in data["text/html"]
