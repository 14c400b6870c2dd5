"""The sans-IO frame coalescer, on a fake clock."""

from __future__ import annotations

from rlm_jupyter._coalesce import FRAME, Coalescer


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
