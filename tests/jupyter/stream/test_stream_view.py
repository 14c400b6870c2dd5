"""The stream widget without a kernel: what it sends, its traits, its final bundle; interpolation."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from rlm_jupyter.live.drive import drive
from rlm_jupyter.live.show import WIDGET_MIME
from rlm_jupyter.magics.prompt import interpolate
from rlm_jupyter.stream.view import StreamView
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.errors import AuthenticationError


def recorded(view: StreamView) -> list[dict]:
    sent: list[dict] = []
    view.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    return sent


def test_deltas_are_sent_per_frame_and_the_page_gets_the_rest_at_the_end():
    view = StreamView("scripted:x", frame=1.0)
    sent = recorded(view)
    view.feed("Hel", now=0.0)   # first: at once
    view.feed("lo", now=0.1)    # same frame: held
    view.feed(" you", now=0.2)
    assert [m["d"] for m in sent] == ["Hel"]
    assert view.due(now=0.2) == pytest.approx(0.8)
    view.flush(now=1.0)
    view.finish()
    assert [m.get("d") for m in sent if "d" in m] == ["Hel", "lo you"]
    assert sent[-1] == {"type": "end", "text": 9}
    astral = StreamView("x:y")
    sent2 = recorded(astral)
    astral.feed("🦜 ok")
    astral.finish()
    assert sent2[-1] == {"type": "end", "text": 5}  # JavaScript's length: the parrot is two UTF-16 units
    assert view.state == "done" and view.text == "Hello you" and view.info["chunks"] == 3


def test_an_rlm_stream_drives_the_view_and_the_bundle_carries_provenance():
    rlm = RLM(ScriptedProvider("A **short** <b>answer</b> costing $5"))
    view = StreamView(rlm.model_id)
    sent = recorded(view)
    drive(view, rlm.stream("hi", temperature=0.2))
    assert "".join(m["d"] for m in sent if "d" in m) == view.answer == "A **short** <b>answer</b> costing $5"
    data, metadata = view.final_bundle()
    assert WIDGET_MIME not in data
    assert data["text/plain"] == view.answer
    assert "&lt;b&gt;" in data["text/markdown"] and r"\$5" in data["text/markdown"]
    assert "<strong>short</strong>" in data["text/html"] and "<b>" not in data["text/html"]
    assert metadata["rlm"]["model"] == "scripted:scripted" and metadata["rlm"]["params"] == {
        "temperature": 0.2
    }
    assert metadata["rlm"]["state"] == "done" and metadata["rlm"]["finish_reason"] == "stop"
    kept, _ = view.final_bundle(widget=True)
    assert kept[WIDGET_MIME]["model_id"] == view.model_id


def test_an_error_keeps_the_partial_text_and_one_scrubbed_line():
    error = AuthenticationError("bad key sk-proj-abcdefghijklmnopqrstuv\nTraceback: …", status_code=401)
    rlm = RLM(
        ScriptedProvider(turns=[ScriptedTurn(chunks="Partial text", error=error, error_after=2)]),
        max_retries=0,
    )
    view = StreamView(rlm.model_id)
    recorded(view)
    drive(view, rlm.stream("hi"))
    assert view.state == "error" and view.answer == "Partial text"
    assert view.error == "AuthenticationError: bad key sk-***"
    data, metadata = view.final_bundle()
    assert "abcdefghijklmnop" not in repr((data, metadata, view.info, view.error, repr(view)))
    assert data["text/plain"] == "Partial text\n[AuthenticationError: bad key sk-***]"


def test_the_widgets_text_repr_says_what_it_is_while_streaming():
    view = StreamView("openai:gpt-4o")
    data, _ = view._repr_mimebundle_()
    assert data["text/plain"] == "<rlm stream: openai:gpt-4o · streaming>"
    assert data[WIDGET_MIME]["model_id"] == view.model_id
    assert view.state == "streaming" and view.model_name == "openai:gpt-4o"
    with pytest.raises(ValueError):
        StreamView(fmt="html")


def test_stop_from_the_page_calls_the_stopper_and_resync_resends():
    view = StreamView("x:y")
    sent = recorded(view)
    stopped = []
    view.on_stop = lambda: stopped.append(True)
    view.feed("abc")
    view._on_page_message(view, {"type": "stop"}, [])
    view._on_page_message(view, {"type": "sync"}, [])  # no lengths: the page missed some
    assert stopped == [True] and sent[-1] == {"type": "snapshot", "text": "abc"}


def test_interpolation_fills_names_and_refuses_expressions():
    ns = {"topic": "SSE", "obj": type("O", (), {"name": "n", "_secret": 1})()}
    assert interpolate("About {topic} and {obj.name}; {{x}} {}", ns) == "About SSE and n; {x} {}"
    assert interpolate("def f() {\n  return 1;\n}", ns) == "def f() {\n  return 1;\n}"
    for bad, message in [
        ("{topic + 1}", "not expressions"),
        ("{f()}", "not expressions"),
        ("{nope}", "'nope'"),
        ("{obj.missing}", "no attribute 'missing'"),
        ("{obj._secret}", "private"),
        ("{import}", "not expressions"),
    ]:
        with pytest.raises(UsageError, match=message):
            interpolate(bad, ns)


def test_a_plain_generator_that_pauses_does_not_hold_back_its_last_token():
    import time

    def slow():
        yield "first "
        yield "burst "
        time.sleep(0.4)  # a pause: what came before must go out within a frame, not after it
        yield "late"

    view = StreamView("x:y")
    times: list[tuple[float, dict]] = []
    view.send = lambda content, buffers=None: times.append((time.perf_counter(), content))  # type: ignore[method-assign]
    started = time.perf_counter()
    drive(view, slow())
    deltas = [(t - started, m["d"]) for t, m in times if "d" in m]
    assert "".join(d for _, d in deltas) == "first burst late"
    before_pause = [t for t, d in deltas if "burst" in d]
    assert before_pause and before_pause[0] < 0.2, deltas


def test_a_failing_generator_ends_the_view_with_its_error_and_a_string_is_one_chunk():
    def broken():
        yield "partial "
        raise ValueError("bad\nsecond line")

    view = StreamView("x:y")
    recorded(view)
    drive(view, broken())
    assert view.state == "error" and view.answer == "partial " and view.error == "ValueError: bad"
    whole = StreamView("x:y")
    recorded(whole)
    drive(whole, "just this")
    assert whole.answer == "just this" and whole.response.chunks == 1


def test_background_without_a_running_loop_uses_the_bridge_and_can_be_stopped():
    # In a thread of its own: a session-wide Playwright driver keeps a loop running in this one.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(_background_without_a_running_loop).result(timeout=30)


def _background_without_a_running_loop():
    import asyncio

    from rlm_jupyter.stream.display import start_background

    async def words(n):
        for i in range(n):
            await asyncio.sleep(0.005)
            yield f"w{i} "

    ended = []
    view, future = start_background(words(5), model="x:y", on_end=ended.append)
    recorded(view)
    assert future.result(timeout=5) is view
    assert view.state == "done" and view.answer == "w0 w1 w2 w3 w4 " and ended == [view]
    assert view.stoppable

    endless, future = start_background(words(10_000), model="x:y")
    recorded(endless)
    import time

    time.sleep(0.1)
    endless._on_page_message(endless, {"type": "stop"}, [])
    deadline = time.monotonic() + 5
    while endless.state == "streaming" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert endless.state == "stopped" and endless.answer.startswith("w0 ")


def test_provenance_carries_a_scrubbed_one_line_error():
    def broken():
        yield "x"
        raise RuntimeError("token sk-proj-abcdefghijklmnop1234 refused\nmore")

    view = StreamView("x:y")
    recorded(view)
    drive(view, broken())
    _, metadata = view.final_bundle()
    assert metadata["rlm"]["error"] == "RuntimeError: token sk-*** refused" == view.info["error"]


def test_a_recorded_stream_replays_into_the_widget(tmp_path):
    from rlm_toolkit.trace import replay

    path = tmp_path / "s.jsonl"
    rlm = RLM(ScriptedProvider("Recorded **once**, shown twice."))
    "".join(rlm.stream("hi", record=str(path)))
    view = StreamView("scripted:scripted")
    sent = recorded(view)
    drive(view, replay(path, speed=None))
    assert view.answer == "Recorded **once**, shown twice." == "".join(m["d"] for m in sent if "d" in m)
    assert view.state == "done" and view.info["finish_reason"] == "stop"


def test_adisplay_stream_runs_on_the_callers_loop_and_returns_the_finished_view():
    # asyncio.run in a thread of its own: a session-wide Playwright driver keeps a loop running in
    # the main thread once any browser test has run, and pytest-asyncio cannot start one there.
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from rlm_jupyter import adisplay_stream

    async def main():
        rlm = RLM(ScriptedProvider("Awaited in a cell.", delay=0.001))
        loop = asyncio.get_running_loop()
        view = await adisplay_stream(rlm.astream("hi"), model=rlm.model_id)
        return view, loop

    with ThreadPoolExecutor(1) as pool:
        view, loop = pool.submit(asyncio.run, main()).result(timeout=30)
    assert view.state == "done" and view.answer == "Awaited in a cell." and view.stoppable
    assert view.info["model"] == "scripted:scripted"


def test_reasoning_travels_beside_the_text_and_the_bundle_folds_it():
    """A thinking model: its reasoning goes out as ``r`` deltas (same frames as the text), never as
    answer text; the static copy keeps it folded in <details>, escaped; plain/markdown say it briefly."""
    hostile = "I <img src=x onerror=alert(1)> think $5 "
    rlm = RLM(ScriptedProvider(turns=[ScriptedTurn(reasoning=hostile + "a lot.", chunks="The answer.")]))
    view = StreamView(rlm.model_id, frame=0.0)
    sent = recorded(view)
    drive(view, rlm.stream_events("hi"))
    assert "".join(m.get("r", "") for m in sent) == view.reasoning == hostile + "a lot."
    assert "".join(m.get("d", "") for m in sent) == view.answer == "The answer."
    offsets = [m["ro"] for m in sent if "r" in m]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert sent[-1] == {"type": "end", "text": 11, "thinking": len(view.reasoning)}
    assert view.thinking == view.reasoning and view.text == "The answer."
    data, _ = view.final_bundle()
    html = data["text/html"]
    assert html.index('<details class="rlm-thinking"') < html.index('class="rlm-answer"')
    assert "<details class=\"rlm-thinking\" open" not in html and "<img" not in html and "&lt;img" in html
    assert "&#36;5" in html
    assert data["text/plain"].startswith("[thinking: 8 words") and data["text/plain"].endswith("The answer.")
    assert data["text/markdown"].startswith("*[thinking: 8 words") and "onerror" not in data["text/markdown"]


def test_reasoning_and_text_share_frames():
    view = StreamView("x:y", frame=1.0)
    sent = recorded(view)
    from rlm_toolkit import ReasoningDelta, TextDelta

    view.feed(ReasoningDelta(text="Hmm"), now=0.0)      # first: at once (a reasoning piece counts as a token)
    view.feed(ReasoningDelta(text=" so"), now=0.1)      # held for the frame
    view.feed(TextDelta(text="Yes"), now=0.2)           # held too: one message carries both
    assert sent == [{"type": "frame", "n": 1, "r": "Hmm", "ro": 0, "e": sent[0]["e"], "t": sent[0]["t"]}]
    view.flush(now=1.0)
    assert {k: sent[1][k] for k in ("r", "ro", "d", "o")} == {"r": " so", "ro": 3, "d": "Yes", "o": 0}
    state = view.get_state()
    assert state["thinking"] == "Hmm so" and state["text"] == "Yes"  # a late view starts complete
    view._on_page_message(view, {"type": "sync", "text": 3, "thinking": 2}, [])
    assert sent[-1] == {"type": "snapshot", "text": "Yes", "thinking": "Hmm so"}


def test_a_replayed_trace_shows_its_reasoning_again(tmp_path):
    """``%rlm replay`` of a thinking model's stream: the widget gets the reasoning from the trace."""
    from rlm_toolkit.trace import replay

    rlm = RLM(ScriptedProvider(turns=[ScriptedTurn(reasoning="Think it over.", chunks="Done.")]))
    assert list(rlm.stream("q", record=tmp_path / "t.jsonl")) == ["Done."]
    view = StreamView("scripted:scripted", frame=0.0)
    sent = recorded(view)
    drive(view, replay(tmp_path / "t.jsonl"))
    assert (view.reasoning, view.answer) == ("Think it over.", "Done.")
    assert "".join(m.get("r", "") for m in sent) == "Think it over."


def test_a_settled_view_keeps_its_text_as_one_string():
    """A view someone keeps (a returned ``display_stream``) holds the answer once, not a piece per
    chunk (a 2,000-token answer was 2,000 strings and a list beside the Response's own copy)."""
    words = [f"w{i} " for i in range(2000)]
    view = StreamView("scripted:x")
    recorded(view)
    rlm = RLM(ScriptedProvider(turns=[ScriptedTurn(chunks=words, reasoning="mull it over")]))
    drive(view, rlm.stream_events("hi"))
    assert view.state == "done" and view.answer == "".join(words) and view.reasoning == "mull it over"
    assert view.frames.parts == [view.answer] and len(view.frames.thought) == 1
    assert view.answer is view.answer  # no join on each read
