"""The timeline's sans-IO model: agent events in, page operations and transcripts out."""

from __future__ import annotations

from rlm_jupyter.timeline.model import OBSERVATION_LIMIT, TimelineModel, merge_ops
from rlm_toolkit.events import AgentEvent

T0 = 1_000_000.0


def ev(type, t, **kw):
    return AgentEvent(type=type, timestamp=T0 + t, **kw)


def run_events():
    return [
        ev("token", 0.1, content="Let me ", step=1),
        ev("token", 0.2, content="add.", step=1),
        ev("thought", 0.3, content="Let me add.", step=1, streamed=True),
        ev("action", 0.3, tool_name="add", input={"a": 1, "b": 2}, step=1, call_id="c1"),
        ev("observation", 0.5, content="3", tool_name="add", step=1, call_id="c1", duration=0.2),
        ev("action", 0.5, tool_name="fetch", input={"url": "x"}, step=1, call_id="c2"),
        ev("observation", 0.6, content="ValueError: <b>bad</b>", tool_name="fetch", step=1, call_id="c2",
           is_error=True, duration=0.1),
        ev("token", 0.8, content="The **sum** ", step=2),
        ev("token", 0.9, content="is 3.", step=2),
        ev("final", 1.0, content="The **sum** is 3.", step=2, duration=1.0),
    ]


def test_events_become_steps_rows_and_operations():
    model = TimelineModel("scripted:scripted", started_at=T0)
    ops = [op for e in run_events() for op in model.apply(e)]
    kinds = [op["op"] for op in ops if op["op"] != "header"]
    assert kinds == ["step", "live", "live", "thought", "action", "observation", "action", "observation",
                     "step", "live", "live", "final"]
    step1, step2 = model.steps[1], model.steps[2]
    assert [r.kind for r in step1.rows] == ["thought", "action", "observation", "action", "observation"]
    assert step1.rows[0].text == "Let me add." and abs(step1.rows[0].duration - 0.3) < 1e-6
    assert step1.rows[1].args == '{\n  "a": 1,\n  "b": 2\n}' and step1.rows[1].duration == 0.2
    assert step1.rows[4].is_error and step1.rows[4].duration == 0.1
    assert [r.kind for r in step2.rows] == ["final"] and step2.rows[0].text == "The **sum** is 3."
    assert abs(step2.rows[0].duration - 0.4) < 1e-6  # from the end of step 1 to the final answer
    assert model.state == "done" and model.tokens == 4
    header = model.header()
    assert header["steps"] == 2 and header["tokens"] == 4 and header["elapsed"] == 1.0
    assert header["state"] == "done" and header["model"] == "scripted:scripted"


def test_merge_ops_joins_deltas_per_step_and_keeps_the_last_header():
    model = TimelineModel("m", started_at=T0)
    ops = [op for e in run_events()[:2] for op in model.apply(e)]
    merged = merge_ops(ops)
    assert merged[:2] == [{"op": "step", "step": 1}, {"op": "live", "step": 1, "delta": "Let me add."}]
    assert [op["op"] for op in merged] == ["step", "live", "header"]
    more = merge_ops([{"op": "live", "step": 1, "delta": "a"}, {"op": "live", "step": 2, "delta": "b"}])
    assert len(more) == 2


def test_transcripts_show_the_run_and_escape_html():
    model = TimelineModel("scripted:scripted", started_at=T0)
    for e in run_events():
        model.apply(e)
    model.end()
    text = model.text()
    assert "[step 1]" in text and "Action: add({ \"a\": 1, \"b\": 2 })" in text
    assert "Observation (error) (0.10 s): ValueError: <b>bad</b>" in text
    assert "Final answer (0.40 s): The **sum** is 3." in text
    md = model.markdown()
    assert "ValueError: <b>bad</b>\n```" in md  # inside a code fence: shown as text
    assert "**Final answer *(0.40 s)*:**\n\nThe **sum** is 3." in md
    assert "```json\n{\n  \"a\": 1," in md


def test_a_failing_source_ends_in_error_with_a_scrubbed_message():
    model = TimelineModel("m", started_at=T0)
    model.apply(ev("token", 0.1, content="thinking", step=1))
    ops = model.end(RuntimeError("401 with key sk-live-abcdef1234567890"))
    assert model.state == "error" and ops[0]["op"] == "error"
    assert "sk-live-abcdef" not in ops[0]["text"] and "401" in ops[0]["text"]
    assert "sk-live-abcdef" not in model.markdown() and "Error:" in model.text()


def test_interrupt_stops_and_a_failed_final_is_an_error():
    model = TimelineModel("m", started_at=T0)
    model.end(KeyboardInterrupt())
    assert model.state == "stopped"
    model = TimelineModel("m", started_at=T0)
    model.apply(ev("error", 0.1, content="max_steps (3) reached", step=3))
    model.apply(ev("final", 0.2, content="I could not finish.", step=3, is_error=True))
    assert model.state == "error" and [r.kind for r in model.steps[3].rows] == ["error", "final"]


def test_long_observations_are_cut_for_the_page_but_kept():
    model = TimelineModel("m", started_at=T0)
    big = "x" * (OBSERVATION_LIMIT + 10)
    ops = model.apply(ev("observation", 0.1, content=big, step=1))
    obs = [op for op in ops if op["op"] == "observation"][0]
    assert len(obs["text"]) == OBSERVATION_LIMIT and obs["length"] == len(big)
    assert model.steps[1].rows[0].text == big


def test_markdown_transcript_renders_no_html_even_where_html_is_enabled():
    from markdown_it import MarkdownIt

    model = TimelineModel("m", started_at=T0)
    hostile = "<img src=x onerror=alert(1)> <script>alert(2)</script> ``` </pre><b>x</b>"
    for e in (ev("thought", 0.1, content=hostile, step=1),
              ev("action", 0.1, tool_name="<i>t</i>", input={"q": hostile}, step=1),
              ev("observation", 0.2, content=hostile, step=1),
              ev("final", 0.3, content=hostile, step=1)):
        model.apply(e)
    html = MarkdownIt("commonmark").render(model.markdown())  # raw HTML on, like a trusting front end
    for tag in ("<img", "<script", "<b>", "<i>", "</pre><b>"):
        assert tag not in html, tag


def test_folding_a_long_run_costs_linear_time():
    import gc
    import time

    def cost(n):
        model = TimelineModel("m", started_at=T0)
        events = [ev("token", i * 1e-4, content=f" word{i}", step=1) for i in range(n)]
        gc.disable()  # collector pauses are noise here
        try:
            started = time.process_time()
            ops = [op for e in events for op in model.apply(e)]
            merge_ops(ops)
            model.text()
            return time.process_time() - started
        finally:
            gc.enable()

    small, large = min(cost(4_000) for _ in range(3)), min(cost(40_000) for _ in range(2))
    assert large / small < 30, (small, large)  # 10x the events: ~10x the time (quadratic: ~100x)


def test_reasoning_is_a_folded_thinking_row_of_its_step():
    from rlm_jupyter.timeline.html import timeline_html

    model = TimelineModel("m", started_at=T0)
    ops = []
    for event in [ev("reasoning", 0.05, content="I should ", step=1),
                  ev("reasoning", 0.07, content="<img src=x onerror=alert(1)> add.", step=1),
                  *run_events()]:
        ops.extend(model.apply(event))
    merged = merge_ops(ops)
    assert merged[1] == {"op": "reasoning", "step": 1, "delta": "I should <img src=x onerror=alert(1)> add."}
    step = model.steps[1]
    assert [r.kind for r in step.rows][:2] == ["reasoning", "thought"]
    assert model.tokens == 4  # reasoning is not answer tokens
    html = timeline_html(model)
    assert '<div class="rlm-row rlm-reasoning"><details class="rlm-thinking"' in html
    assert "<img" not in html and "&lt;img" in html
    assert "(thinking: 6 words, folded in the HTML output)" in model.text()
    assert "*(thinking: 6 words" in model.markdown() and "onerror" not in model.markdown()
