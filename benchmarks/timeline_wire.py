"""Bytes and messages the agent timeline puts on the wire, vs. re-sending the whole transcript.

::

    .venv/bin/python -m benchmarks.timeline_wire

A scripted agent run is fed to :class:`~rlm_jupyter.timeline.view.TimelineView` on a simulated clock
(tokens arriving at 200 a second, tools taking 0.3 s), and every custom message it sends is
measured as JSON. The baseline is what a naive widget does: on every event, send the whole
markdown transcript so far (``handle.update(Markdown(transcript))`` / ``widget.value = …``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit.events import AgentEvent

TOKEN_GAP = 1 / 200
TOOL_TIME = 0.3
WORDS = "the agent reads the result and decides what to do next with care".split()


def run(steps: int, thought_tokens: int, final_tokens: int) -> Iterator[tuple[float, AgentEvent]]:
    """(time, event) pairs of a run: per step a streamed thought and a tool call, then the answer."""
    t = 1_000.0
    for step in range(1, steps + 1):
        text = []
        for i in range(thought_tokens):
            t += TOKEN_GAP
            text.append(f" {WORDS[i % len(WORDS)]}")
            yield t, AgentEvent(type="token", content=text[-1], step=step, timestamp=t)
        yield t, AgentEvent(type="thought", content="".join(text), step=step, streamed=True, timestamp=t)
        yield t, AgentEvent(type="action", tool_name="search", input={"q": f"query {step}"}, step=step,
                            call_id=f"c{step}", timestamp=t)
        t += TOOL_TIME
        yield t, AgentEvent(type="observation", content="result " * 60, tool_name="search", step=step,
                            call_id=f"c{step}", duration=TOOL_TIME, timestamp=t)
    answer = []
    for i in range(final_tokens):
        t += TOKEN_GAP
        answer.append(f" {WORDS[i % len(WORDS)]}")
        yield t, AgentEvent(type="token", content=answer[-1], step=steps + 1, timestamp=t)
    yield t, AgentEvent(type="final", content="".join(answer), step=steps + 1, timestamp=t)


def measure(steps: int, thought_tokens: int, final_tokens: int) -> dict[str, float]:
    view = TimelineView("scripted:scripted", started_at=1_000.0)
    ours: list[int] = []
    view.send = lambda content, buffers=None: ours.append(len(json.dumps(content)))  # type: ignore[method-assign]
    naive_bytes = naive_messages = 0
    for t, event in run(steps, thought_tokens, final_tokens):
        # The frame timer the live driver runs: flush when a frame has passed since the last message.
        due = view.due(t)
        if due is not None and due <= 0:
            view.flush(now=t)
        view.apply(event, now=t)
        naive_bytes += len(json.dumps({"method": "update", "state": {"value": view.timeline.markdown()}}))
        naive_messages += 1
    view.finish()
    duration = t - 1_000.0
    return {"events": naive_messages, "ours_msgs": len(ours), "ours_kb": sum(ours) / 1000,
            "naive_kb": naive_bytes / 1000, "seconds": duration, "rate": len(ours) / duration}


def cpu_per_event(tokens: int) -> float:
    """Microseconds of kernel CPU per streamed token event: fold, merge per frame, send (no wire)."""
    import time

    view = TimelineView("scripted:scripted", started_at=1_000.0)
    view.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    events = [
        AgentEvent(type="token", content=f" {WORDS[i % len(WORDS)]}", step=1, timestamp=1_000.0 + i / 200)
        for i in range(tokens)
    ]
    started = time.process_time()
    for i, event in enumerate(events):
        view.apply(event, now=i / 200)
    view.finish()
    return (time.process_time() - started) / tokens * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    print("| run | events | ours: messages (per s) | ours: KB | naive: messages | naive: KB | naive / ours |")
    print("|---|---|---|---|---|---|---|")
    for label, args in (("5 steps × 100-token thoughts + 2,000-token answer", (5, 100, 2_000)),
                        ("5 steps × 100-token thoughts + 20,000-token answer", (5, 100, 20_000))):
        m = measure(*args)
        print(f"| {label} | {m['events']:,} | {m['ours_msgs']:,} ({m['rate']:.1f}/s) | {m['ours_kb']:,.1f} | "
              f"{m['events']:,} | {m['naive_kb']:,.0f} | {m['naive_kb'] / m['ours_kb']:,.0f}× |", flush=True)
    print()
    print("| token events | kernel CPU per event (µs) |")
    print("|---|---|")
    for tokens in (2_000, 20_000, 100_000):
        print(f"| {tokens:,} | {cpu_per_event(tokens):.1f} |", flush=True)


if __name__ == "__main__":
    main()
