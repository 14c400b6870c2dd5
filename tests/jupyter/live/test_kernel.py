"""The live-display rules without a kernel: snapshot spacing keeps bytes linear, a view's state
mid-stream is the whole text so far, Stop from another thread, one-line cell errors, Colab."""

from __future__ import annotations

import sys
import threading
import time
import types

from rlm_jupyter.live.drive import drive
from rlm_jupyter.live.errors import AnswerFailed, cell_error
from rlm_jupyter.live.snapshots import Snapshots
from rlm_jupyter.stream.view import StreamView
from rlm_toolkit import RLM, RateLimitError, ScriptedProvider


def test_snapshots_are_geometric_so_the_bytes_stay_linear():
    s = Snapshots(now=0.0, spacing=2.0)
    sent = 0
    length = 0
    for tick in range(1, 20_000):  # 100 characters every 10 ms for 200 s
        now, length = tick * 0.01, tick * 100
        if s.due(length, now):
            s.taken(length, now)
            sent += length
            assert s.last_length * 1.5 > length  # the copy holds two thirds of the text at least
    assert sent <= 3.0 * length, sent / length
    assert s.count >= 5


def test_the_first_snapshot_waits_two_seconds_then_the_text_must_grow_by_half():
    s = Snapshots(now=0.0)
    assert not s.due(500, now=1.9)
    assert s.due(500, now=2.0)
    s.taken(500, now=2.0)
    assert not s.due(740, now=4.5) and s.due(750, now=4.5)  # grown by half, two seconds later
    s.taken(750, now=4.5)
    assert not s.due(2000, now=6.0)  # two seconds apart
    assert not Snapshots(now=0.0, spacing=0).due(10**6, now=10**6)  # save_every = 0: never


def test_a_view_state_mid_stream_is_the_whole_text_and_deltas_carry_offsets():
    view = StreamView("scripted:x", frame=10.0)  # one delta, then everything waits for the frame
    sent = []
    view.send = lambda message, *_: sent.append(message)  # type: ignore[method-assign]
    view.feed("héllo ")
    view.feed("wörld 🌍")
    state = view.get_state()
    assert state["text"] == "héllo wörld 🌍" and state["progress"]["n"] == 2
    assert sent == [{"type": "frame", "d": "héllo ", "o": 0, "n": 1, "e": sent[0]["e"], "t": sent[0]["t"]}]
    view.flush(force=True)
    assert sent[1]["d"] == "wörld 🌍" and sent[1]["o"] == 6
    view.feed("!")
    view.flush(force=True)
    assert sent[2]["o"] == 6 + len("wörld 🌍".encode("utf-16-le")) // 2  # JavaScript's length
    view.finish()
    assert view.get_state()["text"] == view.text  # settled: the trait itself


def test_stop_from_another_thread_ends_the_drive_as_stopped_and_keeps_the_text():
    rlm = RLM(ScriptedProvider(" ".join(f"w{i}" for i in range(100_000)), delay=0.002))
    view = StreamView("scripted:x", stoppable=True)
    view.send = lambda *a, **k: None  # type: ignore[method-assign]
    timer = threading.Timer(0.3, view.request_stop)  # as a subshell thread handling the click
    timer.start()
    started = time.perf_counter()
    drive(view, rlm.stream("go"))
    assert time.perf_counter() - started < 2.0
    assert view.state == "stopped" and view.answer.startswith("w0 w1")
    assert view.response.state == "stopped"


def test_cell_error_is_one_scrubbed_line_and_keeps_the_toolkit_type():
    error = cell_error(RateLimitError("slow down sk-abcdefghijklmnop1234", status_code=429), " (kept)")
    assert isinstance(error, RateLimitError)
    lines = error._render_traceback_()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "sk-abcdefghijklmnop1234" not in lines[0] and lines[0].endswith("(kept)")
    other = cell_error(ValueError("token sk-abcdefghijklmnop9999 leaked"))
    assert isinstance(other, AnswerFailed) and "sk-abcdefghijklmnop9999" not in str(other)


def test_colab_gets_its_custom_widget_manager_enabled(monkeypatch):
    calls = []
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append(1)  # type: ignore[attr-defined]
    output._widgets = types.SimpleNamespace(_installed_url="https://example.invalid/manager.js")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    from anywidget import _util

    if hasattr(_util.enable_custom_widget_manager_once, "cache_clear"):
        _util.enable_custom_widget_manager_once.cache_clear()
    view = StreamView("scripted:x")
    data, metadata = view._repr_mimebundle_()
    assert calls == [1]
    assert metadata["application/vnd.jupyter.widget-view+json"]["colab"]["custom_widget_manager"]["url"]


def test_a_widget_sends_everything_once_unasked_a_second_in_even_while_quiet():
    view = StreamView("scripted:x", frame=10.0)
    sent = []
    view.send = lambda message, *_: sent.append(message)  # type: ignore[method-assign]
    view.feed("hello ")
    view.flush()  # before its second: nothing more (the page asks nothing on its own either)
    assert [m["type"] for m in sent] == ["frame"]
    view.catch_up_at = time.perf_counter()  # its second has passed; no frame is coming (a quiet model)
    view.flush()  # what the drive loops call on their idle wake-ups
    assert sent[-1] == {"type": "snapshot", "text": "hello "}
    view.flush()
    view.feed("world")
    view.flush(force=True)
    assert [m["type"] for m in sent] == ["frame", "snapshot", "frame"], "once"
