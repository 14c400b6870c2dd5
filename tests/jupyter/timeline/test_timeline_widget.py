"""The timeline widget without a kernel: what it sends, when, and what its display bundle holds."""

from __future__ import annotations

import queue
import time

import pytest

from rlm_jupyter.live.drive import drive
from rlm_jupyter.live.pacing import FRAME
from rlm_jupyter.timeline.model import merge_ops
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.events import AgentEvent
from rlm_toolkit.trace import replay

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agent(delay: float = 0.0) -> ReActAgent:
    provider = ScriptedProvider(turns=[
        ScriptedTurn(chunks="Let me add.", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]),
        "The **sum** is 3.",
    ], delay=delay)
    return ReActAgent(RLM(provider), tools=[add])


def captured(view: TimelineView) -> list[dict]:
    sent: list[dict] = []
    view.send = sent.append  # type: ignore[method-assign]
    return sent


def test_a_run_is_sent_as_merged_operations_then_kept_in_the_snapshot():
    a = agent(delay=0.01)
    stream = a.stream("add 1 and 2")
    view = TimelineView(steps=lambda: stream.history)
    sent = captured(view)
    drive(view, stream)
    assert view.state == "done" and view.timeline.model == "scripted:scripted"
    ops = [op for msg in sent for op in msg["ops"]]
    assert [m["seq"] for m in sent] == list(range(1, len(sent) + 1))
    kinds = [op["op"] for op in ops if op["op"] != "header"]
    assert kinds[0] == "step" and "action" in kinds and "observation" in kinds and kinds[-1] == "final"
    text = "".join(op["delta"] for op in ops if op["op"] == "live" and op["step"] == 2)
    assert text == "The **sum** is 3."
    # Every message but possibly the last carries at most one header; merged deltas are fewer than tokens.
    assert len([op for op in ops if op["op"] == "live"]) <= view.timeline.tokens
    assert view.snapshot[-1]["op"] == "header" and view.snapshot[-1]["state"] == "done"
    assert view.snapshot[:-1] == merge_ops([op for op in ops if op["op"] != "header"])
    assert view.messages(2)[-1] == {"role": "tool", "tool_call_id": view.messages(2)[-1]["tool_call_id"],
                                    "content": "3"}


def test_frames_bound_the_message_rate_and_the_latency():
    events = [AgentEvent(type="token", content=f"w{i} ", step=1) for i in range(200)]

    class Source:
        def __init__(self):
            self.i = 0

        def next(self, timeout=None):
            if self.i >= len(events):
                raise StopIteration
            time.sleep(0.002)  # 500 tokens a second
            self.i += 1
            return events[self.i - 1]

    view = TimelineView("m")
    stamps = []
    sent: list[dict] = []

    def timed_send(message, *_):
        sent.append(message)
        stamps.append(time.perf_counter())

    view.send = timed_send  # type: ignore[method-assign]
    started = time.perf_counter()
    drive(view, Source())
    took = time.perf_counter() - started
    deltas = "".join(op["delta"] for m in sent for op in m["ops"] if op["op"] == "live")
    assert deltas == "".join(e.content for e in events)
    assert len(sent) <= took * 30 + 3, (len(sent), took)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert min(gaps[:-1]) >= FRAME * 0.9


def test_a_pause_does_not_hold_the_last_token():
    view = TimelineView("m")
    sent = captured(view)
    seen_during_pause = []
    timeouts = []

    class Pausing:
        def __init__(self):
            self.calls = 0

        def next(self, timeout=None):
            self.calls += 1
            if self.calls <= 2:  # two tokens back to back: the second waits for the next frame
                return AgentEvent(type="token", content="ab"[self.calls - 1], step=1)
            if self.calls == 3:  # then a long pause (a tool running): the wait is capped at a frame
                timeouts.append(timeout)
                time.sleep(timeout)
                raise queue.Empty
            seen_during_pause.append("".join(op.get("delta", "") for m in sent for op in m["ops"]))
            raise StopIteration

    drive(view, Pausing())
    assert timeouts[0] is not None and timeouts[0] <= FRAME
    assert seen_during_pause == ["ab"]


def test_display_bundle_has_the_transcript_when_done():
    view = TimelineView("m", steps=[{"messages": [{"role": "user", "content": "<script>x</script> $5"}]}])
    captured(view)
    data, _ = view._repr_mimebundle_()
    assert (
        WIDGET_MIME in data and data["text/plain"].startswith("<rlm agent: m") and "text/markdown" not in data
    )
    drive(view, iter([AgentEvent(type="thought", content="<img src=x onerror=alert(1)>", step=1),
                      AgentEvent(type="action", tool_name="t", input={"q": "<b>"}, step=1, call_id="c"),
                      AgentEvent(type="observation", content="o" * 500, step=1, call_id="c", is_error=True),
                      AgentEvent(type="final", content="**Answer**: 42 <iframe>", step=2)]))
    data, metadata = view.final_bundle()
    assert WIDGET_MIME not in data and WIDGET_MIME in view._repr_mimebundle_()[0]
    assert "Final answer" in data["text/plain"] and "42" in data["text/markdown"]
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(data["text/markdown"])  # raw HTML on, as a trusting front end
    assert "<img" not in rendered and "<iframe" not in rendered and metadata["rlm"]["state"] == "done"
    html = data["text/html"]
    for tag in ("<img", "<script", "<iframe", "onerror=alert(1)>"):
        assert tag not in html, tag
    assert '"&lt;b&gt;"' in html  # the tool's input, as text (quotes are harmless outside attributes)
    assert 'class="rlm-timeline rlm-static' in html and 'data-state="done"' in html
    assert 'data-step="1"' in html and 'data-step="2"' in html and "rlm-observation rlm-error" in html
    assert "<strong>Answer</strong>" in html  # the answer is rendered as (safe) markdown
    assert "<details" in html and "&lt;script&gt;x&lt;/script&gt; &#36;5" in html  # step 1's messages
    assert "sk-" not in repr(view)


def test_errors_are_kept_in_the_widget_and_interrupts_propagate():
    def failing():
        yield AgentEvent(type="token", content="partial", step=1)
        raise RuntimeError("boom with sk-abcdefghijklmnop")

    view = TimelineView("m")
    sent = captured(view)
    drive(view, failing())
    assert view.state == "error" and isinstance(view.error, RuntimeError)
    errors = [op for m in sent for op in m["ops"] if op["op"] == "error"]
    assert errors and "sk-abcdefghij" not in errors[0]["text"]

    def interrupted():
        yield AgentEvent(type="token", content="partial", step=1)
        raise KeyboardInterrupt

    view = TimelineView("m")
    captured(view)
    with pytest.raises(KeyboardInterrupt):
        drive(view, interrupted())
    assert view.state == "stopped"


def test_the_page_asks_for_a_steps_messages(tmp_path):
    a = agent()
    path = tmp_path / "run.jsonl"
    list(a.stream("add 1 and 2", record=path))
    source = replay(path, speed=None)
    view = TimelineView(steps=source.trace.steps, started_at=source.trace.created)
    sent = captured(view)
    drive(view, source)
    view._on_page_message(view, {"type": "messages", "step": 1}, [])
    assert sent[-1]["type"] == "messages" and sent[-1]["messages"][-1]["content"] == "add 1 and 2"
    view._on_page_message(view, {"type": "messages", "step": 9}, [])
    assert sent[-1]["messages"] == [] and "step 9" in sent[-1]["error"]


def test_a_recorded_run_and_its_replay_show_the_same_durations(tmp_path):
    from rlm_jupyter.timeline.display import display_agent

    path = tmp_path / "run.jsonl"
    live = display_agent(agent(delay=0.01).stream("add 1 and 2", record=path), widget=False)
    again = display_agent(replay(path, speed=None), widget=False)
    def rows(view):
        return [(r.kind, r.text, r.duration or 0.0) for s in view.timeline.steps.values() for r in s.rows]

    assert [r[:2] for r in rows(again)] == [r[:2] for r in rows(live)]
    assert all(abs(a[2] - b[2]) < 1e-3 for a, b in zip(rows(again), rows(live)))
    assert again.timeline.model == live.timeline.model
    assert rows(live)[0][2] > 0.02  # the thought took its two tokens' time, counted from the run's start


def test_the_saved_copy_caps_the_messages_it_embeds_and_says_where_they_all_are():
    """A tool returning 1 MB three times: each later step's messages repeat every earlier result."""
    from rlm_jupyter.render import OBSERVATION_LIMIT
    from rlm_jupyter.timeline.html import MESSAGES_BUDGET

    def dump(n: int) -> str:
        """Return a lot of text."""
        return f"{n}:" + "y" * 1_000_000

    calls = [ScriptedTurn(chunks=f"Dump {n}.", tool_calls=[{"name": "dump", "arguments": {"n": n}}])
             for n in range(3)]
    a = ReActAgent(RLM(ScriptedProvider(turns=[*calls, "Done."])), tools=[dump])
    stream = a.stream("dump three times")
    view = TimelineView(steps=lambda: stream.history)
    captured(view)
    drive(view, stream)
    assert view.state == "done" and len(view.messages(4)[-1]["content"]) > 1_000_000  # nothing lost in Python
    data, _ = view.final_bundle()
    size = sum(len(v) for v in data.values() if isinstance(v, str))
    assert size < MESSAGES_BUDGET * 1.2 + 4 * 60_000, size  # messages budget + the capped observation rows
    html = data["text/html"]
    assert "more characters not saved here" in html and "rlm_toolkit.trace.load(FILE).messages(2)" in html
    assert "y" * (OBSERVATION_LIMIT + 1) not in html
    assert "show the first 20,000 of 1,000,002 characters" in html
    assert "Done." in html  # the answer itself is not cut
