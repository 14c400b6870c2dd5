"""The widget-less renderings (rlm_jupyter.stream.plain, rlm_jupyter.timeline.plain) and the policy
that picks them, without a kernel: an agent run or an answer printed on stdout as it happens, like a
terminal shows it."""

from __future__ import annotations

import io
import sys
import time

from rlm_jupyter.live import show as _display
from rlm_jupyter.stream.display import display_stream
from rlm_jupyter.stream.plain import PlainStream
from rlm_jupyter.stream.view import StreamView
from rlm_jupyter.timeline.display import display_agent
from rlm_jupyter.timeline.plain import OBSERVATION_SHOWN, PlainTimeline
from rlm_jupyter.timeline.view import TimelineView
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.events import AgentEvent
from rlm_toolkit.trace import replay


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agent(delay: float = 0.0, *, result: str | None = None) -> ReActAgent:
    tool = add
    if result is not None:
        def lookup(q: str) -> str:
            """Look something up."""
            return result
        tool = lookup  # type: ignore[assignment]
    call = {"name": tool.__name__, "arguments": {"a": 1, "b": 2} if result is None else {"q": "x"}}
    provider = ScriptedProvider(turns=[
        ScriptedTurn(chunks="Let me add.", tool_calls=[call]),
        "The **sum** is 3.",
    ], delay=delay)
    return ReActAgent(RLM(provider), tools=[tool])


class Writes(io.StringIO):
    """stdout that remembers when each write came (the run is printed as it happens, not at the end)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.at.append((time.perf_counter(), text))
        return super().write(text)


def capture(monkeypatch) -> Writes:
    """stdout replaced for the rest of the test (in its body: pytest sets its own before each call)."""
    writes = Writes()
    monkeypatch.setattr(sys, "stdout", writes)
    return writes


def test_a_widget_less_agent_run_prints_its_rows_as_they_happen(monkeypatch):
    stdout = capture(monkeypatch)
    view = display_agent(agent(delay=0.02).stream("add 1 and 2"), widget=False)
    assert isinstance(view, PlainTimeline) and view.state == "done"
    assert view.timeline.final == "The **sum** is 3."
    out = stdout.getvalue()
    body, summary = out.rsplit("\n[", 1)
    assert body == ('\n[step 1]\nLet me add.\n-> add({ "a": 1, "b": 2 })\n<- 3\n'
                    "\n[step 2]\nThe **sum** is 3.")
    assert summary.startswith("scripted:scripted · 2 steps · ") and summary.endswith(" s · done]\n")
    # Printed as the tokens came, frame by frame: the first step's row was out long before the answer.
    first = next(t for t, text in stdout.at if "[step 1]" in text)
    last = next(t for t, text in reversed(stdout.at) if "sum" in text or "3." in text)
    assert len(stdout.at) >= 6 and last - first > 0.1
    # The run is still there to inspect, as on the widget.
    assert view.messages(1)[-1] == {"role": "user", "content": "add 1 and 2"}
    data, metadata = view.final_bundle()
    assert 'class="rlm-step"' in data["text/html"] and metadata["rlm"]["state"] == "done"


def test_a_replay_prints_what_the_live_run_printed(tmp_path, monkeypatch):
    stdout = capture(monkeypatch)
    path = tmp_path / "run.jsonl"
    display_agent(agent(delay=0.01).stream("add 1 and 2", record=path), widget=False)
    live = stdout.getvalue()
    stdout.truncate(0)
    stdout.seek(0)
    again = display_agent(replay(path, speed=None), widget=False)
    assert isinstance(again, PlainTimeline)
    assert stdout.getvalue().rsplit("\n[", 1)[0] == live.rsplit("\n[", 1)[0]


def test_long_observations_errors_and_a_stop_are_printed_in_one_line_each(monkeypatch):
    stdout = capture(monkeypatch)
    long = "x" * (OBSERVATION_SHOWN + 50)
    display_agent(agent(result=long).stream("look"), widget=False)
    assert f"<- {'x' * OBSERVATION_SHOWN}…\n" in stdout.getvalue()

    def failing():
        yield AgentEvent(type="thought", content="Thinking.", step=1, timestamp=time.time())
        raise ValueError("the tool server went away")

    stdout.truncate(0)
    stdout.seek(0)
    view = display_agent(failing(), widget=False)
    assert view.state == "error" and isinstance(view.error, ValueError)
    out = stdout.getvalue()
    assert "Thought: Thinking.\n" in out and "! ValueError: the tool server went away\n" in out
    assert out.endswith(" · error]\n") and "Traceback" not in out

    plain = PlainTimeline("m")

    def stopped_midway():
        yield AgentEvent(type="token", content="Hal", step=1, timestamp=time.time())
        while "Hal" not in stdout.getvalue():  # printed by the driver's thread (this one is a reader)
            time.sleep(0.005)
        plain.request_stop()  # what %rlm stop or ■ does, from any thread
        yield AgentEvent(type="token", content="f", step=1, timestamp=time.time())

    stdout.truncate(0)
    stdout.seek(0)
    assert _display.run_plain(plain, stopped_midway()) is plain
    assert plain.state == "stopped" and stdout.getvalue().startswith("\n[step 1]\nHal\n[m · 1 step")
    assert stdout.getvalue().endswith(" · stopped]\n")


def test_without_a_widget_front_end_the_timeline_is_chosen_as_the_stream_is(monkeypatch):
    """One policy for both: outside a kernel (a terminal IPython, a script) both print; where a
    widget front end is, both show widgets; ``widget=`` overrides it for both."""
    stdout = capture(monkeypatch)
    assert not _display.has_widget_frontend()  # pytest: no kernel
    assert isinstance(display_stream(["Hel", "lo"]), PlainStream)
    assert isinstance(display_agent(agent().stream("add")), PlainTimeline)
    assert "Hello\n" in stdout.getvalue() and "[step 1]" in stdout.getvalue()
    monkeypatch.setattr("rlm_jupyter.live.show.has_widget_frontend", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    assert isinstance(display_stream(["Hel", "lo"]), StreamView)
    assert isinstance(display_agent(agent().stream("add")), TimelineView)
    assert isinstance(display_agent(agent().stream("add"), widget=False), PlainTimeline)
    assert isinstance(display_stream(["Hel", "lo"], widget=False), PlainStream)


def test_a_thinking_models_reasoning_is_printed_before_its_answer_between_markers(monkeypatch):
    stdout = capture(monkeypatch)
    rlm = RLM(ScriptedProvider(turns=[ScriptedTurn(reasoning="Two and two. Four.", chunks="It is 4.")]))
    view = display_stream(rlm.stream_events("2 + 2?"), model=rlm.model_id, widget=False)
    assert isinstance(view, PlainStream) and view.state == "done"
    assert stdout.getvalue() == "Thinking…\nTwo and two. Four.\n…done thinking.\n\nIt is 4.\n"
    # Without reasoning, only the answer, as before.
    stdout.truncate(0), stdout.seek(0)
    plain = RLM(ScriptedProvider(turns=["It is 4."]))
    display_stream(plain.stream_events("2 + 2?"), model=plain.model_id, widget=False)
    assert stdout.getvalue() == "It is 4.\n"


def test_a_widget_less_agent_run_prints_each_steps_reasoning_between_markers(monkeypatch):
    stdout = capture(monkeypatch)
    provider = ScriptedProvider(turns=[
        ScriptedTurn(reasoning="Add them with the tool.", chunks="Let me add.",
                     tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]),
        ScriptedTurn(reasoning="It gave 3.", chunks="The sum is 3."),
    ])
    view = display_agent(ReActAgent(RLM(provider), tools=[add]).stream("1 + 2?"), widget=False)
    assert view.state == "done"
    body = stdout.getvalue().rsplit("\n[", 1)[0]
    assert body == ("\n[step 1]\nThinking…\nAdd them with the tool.\n…done thinking.\nLet me add.\n"
                    '-> add({ "a": 1, "b": 2 })\n<- 3\n'
                    "\n[step 2]\nThinking…\nIt gave 3.\n…done thinking.\nThe sum is 3.")
