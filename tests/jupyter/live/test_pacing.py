"""The sans-IO frame coalescer, on a fake clock."""

from __future__ import annotations

import pytest

from rlm_jupyter.live.pacing import FRAME, Coalescer, Pacer


def test_first_delta_goes_out_at_once_then_one_message_per_frame():
    c = Coalescer(frame=FRAME)
    c.push("a", now=0.0)
    assert c.due(now=0.0) == 0.0 and c.take(now=0.0) == "a"
    c.push("b", now=0.001)
    c.push("c", now=0.002)
    assert c.take(now=0.002) is None
    assert abs(c.due(now=0.002) - (FRAME - 0.002)) < 1e-9
    assert c.take(now=FRAME) == "bc"
    assert c.due(now=FRAME) is None and not c.pending


def test_a_thousand_tokens_a_second_give_at_most_thirty_messages_and_no_long_wait():
    c = Coalescer()
    sent, worst, pending_since = [], 0.0, None
    t = 0.0
    for i in range(1000):  # one token per millisecond for a second
        t = i / 1000
        if c.due(now=t) == 0.0:
            sent.append((t, c.take(now=t)))
        if pending_since is not None and not c.pending:
            pending_since = None
        c.push("x", now=t)
        if c.due(now=t) == 0.0:
            sent.append((t, c.take(now=t)))
        worst = max(worst, c.waited(now=t))
    while c.pending:  # the tail after the last token leaves at its deadline
        t += c.due(now=t)
        sent.append((t, c.take(now=t)))
    assert "".join(text for _, text in sent) == "x" * 1000
    assert len(sent) <= 31
    assert all(b - a >= FRAME - 1e-9 for (a, _), (b, _) in zip(sent, sent[1:]))
    assert worst <= FRAME + 1e-9


def test_force_and_empty_pushes():
    c = Coalescer()
    c.push("", now=0.0)
    assert c.due(now=0.0) is None and c.take(now=0.0) is None
    c.push("a", now=0.0)
    c.take(now=0.0)
    c.push("b", now=0.001)
    assert c.take(now=0.001, force=True) == "b"
    assert c.messages == 2 and c.chars == 2


def test_a_pacer_keeps_frame_deadlines_for_work_it_does_not_hold():
    """The timeline's operations wait in its own list; the pacer only says when they must leave."""
    p = Pacer(frame=FRAME)
    assert p.due(now=0.0) is None and not p.fire(now=0.0) and not p.fire(now=0.0, force=True)
    p.arm(now=0.0)
    assert p.due(now=0.0) == 0.0 and p.fire(now=0.0) and not p.pending
    p.arm(now=0.001)
    p.arm(now=0.020)  # armed already: the deadline stays the oldest item's
    assert p.waited(now=0.020) == pytest.approx(0.019)
    assert not p.fire(now=0.020) and p.due(now=0.020) == pytest.approx(FRAME - 0.020)
    assert p.fire(now=FRAME) and p.messages == 2 and p.due(now=FRAME) is None
    p.arm(now=FRAME + 0.001)
    assert p.fire(now=FRAME + 0.001, force=True) and p.messages == 3


def test_a_thousand_items_a_second_leave_in_at_most_thirty_one_frames_none_late():
    p, sent, worst = Pacer(), [], 0.0
    t = 0.0
    for i in range(1000):
        t = i / 1000
        p.arm(now=t)
        worst = max(worst, p.waited(now=t))
        if p.due(now=t) == 0.0:
            assert p.fire(now=t)
            sent.append(t)
    while p.pending:
        t += p.due(now=t)
        assert p.fire(now=t)
        sent.append(t)
    assert len(sent) <= 31 and all(b - a >= FRAME - 1e-9 for a, b in zip(sent, sent[1:]))
    assert worst <= FRAME + 1e-9


def test_the_timeline_paces_its_frames_without_fake_text():
    """Its frames come from the pacer's deadlines; no placeholder text is counted anywhere."""
    from rlm_jupyter.timeline.view import TimelineView
    from rlm_toolkit.events import AgentEvent

    view = TimelineView("m", started_at=0.0)
    sent: list[dict] = []
    view.send = sent.append  # type: ignore[method-assign]
    assert isinstance(view.pacer, Pacer) and not isinstance(view.pacer, Coalescer)
    for i in range(100):  # a token a millisecond for 0.1 s
        view.apply(AgentEvent(type="token", content="x", step=1, timestamp=i / 1000), now=i / 1000)
    assert view.pacer.pending and 0.0 < view.due(now=0.099) <= FRAME
    view.flush(now=0.099 + view.due(now=0.099))
    assert len(sent) == view.sent_messages <= 5
    assert "".join(op["delta"] for m in sent for op in m["ops"] if op["op"] == "live") == "x" * 100
