"""Traces: recording streams and agent event sequences, reading them back, replaying with timing."""

from __future__ import annotations

import asyncio
import json
import queue
import time

import pytest

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.errors import ProviderError, UsageError, register_secret
from rlm_toolkit.events import AgentEvent, Finish, TextDelta, Usage
from rlm_toolkit.trace import VERSION, TraceRecorder, load, record, replay

FAKE_KEY = "sk-test-9f8e7d6c5b4a39281706"


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def agent_events(step_pause: float = 0.0):
    """A hand-made agent run: one tool call, then a streamed final answer."""

    def gen():
        yield AgentEvent(type="token", content="I should ", step=1)
        yield AgentEvent(type="token", content="add.", step=1)
        yield AgentEvent(type="thought", content="I should add.", step=1, streamed=True)
        yield AgentEvent(type="action", tool_name="add", input={"a": 1, "b": 2}, step=1, call_id="c1")
        time.sleep(step_pause)
        yield AgentEvent(
            type="observation", content="3", tool_name="add", step=1, call_id="c1", duration=0.01
        )
        for piece in ("The ", "sum ", "is 3."):
            yield AgentEvent(type="token", content=piece, step=2)
        yield AgentEvent(type="final", content="The sum is 3.", step=2, duration=0.2)

    return gen()


def test_stream_record_writes_header_events_step_footer(tmp_path):
    path = tmp_path / "run.jsonl"
    rlm = RLM(ScriptedProvider(["Hel", "lo", "!"]), temperature=0.2)
    assert list(rlm.stream("hi", record=path)) == ["Hel", "lo", "!"]
    rows = lines(path)
    assert rows[0] == {"type": "header", "version": VERSION, "kind": "stream", "model": "scripted:scripted",
                       "created": rows[0]["created"]}
    assert [r["type"] for r in rows] == ["header", "step"] + ["event"] * 5 + ["footer"]
    assert rows[1]["messages"] == [{"role": "user", "content": "hi"}]
    assert rows[1]["params"] == {"temperature": 0.2}
    texts = [r["event"].get("text") for r in rows[2:5]]
    assert texts == ["Hel", "lo", "!"]
    assert rows[-1]["state"] == "done" and rows[-1]["response"]["finish_reason"] == "stop"
    times = [r["t"] for r in rows if r["type"] == "event"]
    assert times == sorted(times)


def test_run_and_async_stream_record_too(tmp_path):
    rlm = RLM(ScriptedProvider("one two"))
    assert rlm.run("x", record=tmp_path / "a.jsonl") == "one two"
    assert load(tmp_path / "a.jsonl").text == "one two"

    async def main():
        return [c async for c in rlm.astream("x", record=tmp_path / "b.jsonl")]

    assert "".join(asyncio.run(main())) == "one two"
    trace = load(tmp_path / "b.jsonl")
    assert trace.text == "one two" and trace.state == "done" and trace.messages(1)[0]["content"] == "x"


def test_stream_replay_round_trip_keeps_events_order_and_timing(tmp_path):
    path = tmp_path / "slow.jsonl"
    rlm = RLM(ScriptedProvider(["a", "b", "c", "d"], delay=0.05))
    live = list(rlm.stream_events("x", record=path))
    started = time.perf_counter()
    replayed = list(replay(path))
    took = time.perf_counter() - started
    assert [e for e in replayed if e.type == "text"] == [e for e in live if e.type == "text"]
    assert replayed[-2:] == [Usage(prompt_tokens=1, completion_tokens=4), Finish(reason="stop")]
    assert 0.15 <= took <= 1.5, took  # four 50 ms pauses, kept (generous: the machine is shared)
    started = time.perf_counter()
    assert list(replay(path, speed=None)) == replayed
    assert time.perf_counter() - started < 0.1


def test_agent_record_and_replay_round_trip(tmp_path):
    path = tmp_path / "agent.jsonl"
    history = [{"messages": [{"role": "user", "content": "add 1 and 2"}], "tools": [{"name": "add"}]},
               {"messages": [{"role": "user", "content": "add 1 and 2"}, {"role": "tool", "content": "3"}]}]
    live = list(record(agent_events(step_pause=0.1), path, model="scripted:scripted", history=history))
    trace = load(path)
    assert trace.kind == "agent" and trace.complete and trace.state == "done"
    assert trace.events == live
    assert trace.text == "The sum is 3."
    assert trace.messages(2)[-1] == {"role": "tool", "content": "3"}
    assert trace.steps[1]["tools"] == [{"name": "add"}]
    with pytest.raises(UsageError, match="no step 3"):
        trace.messages(3)
    gap = trace.times[4] - trace.times[3]
    assert 0.09 <= gap <= 0.3
    started = time.perf_counter()
    again, arrivals = [], []
    for event in replay(path):
        arrivals.append(time.perf_counter() - started)
        again.append(event)
    assert again == live
    # Each event comes when it came in the recording (offsets from the replay's start).
    assert all(a >= t - 0.002 for a, t in zip(arrivals, trace.times))
    assert max(a - t for a, t in zip(arrivals, trace.times)) < 0.1


async def test_async_record_and_async_replay(tmp_path):
    path = tmp_path / "a.jsonl"

    async def source():
        for event in agent_events():
            await asyncio.sleep(0.01)
            yield event

    live = [e async for e in record(source(), path, model="m")]
    assert [e async for e in replay(path, speed=4.0)] == live


def test_replay_next_with_timeout_raises_empty_until_due(tmp_path):
    path = tmp_path / "t.jsonl"
    recorder = TraceRecorder(path, kind="stream", model="m")
    recorder.event(TextDelta(text="late"), t=0.3)
    recorder.close()
    stream = replay(path)
    with pytest.raises(queue.Empty):
        stream.next(timeout=0.05)
    assert stream.next(timeout=1.0) == TextDelta(text="late")
    with pytest.raises(StopIteration):
        stream.next(timeout=0.01)


def test_failed_run_replays_its_error_after_its_events(tmp_path, monkeypatch):
    path = tmp_path / "fail.jsonl"
    boom = ProviderError("server fell over")
    rlm = RLM(
        ScriptedProvider(ScriptedTurn(chunks=["part", "ial"], error=boom, error_after=2)), max_retries=0
    )
    with pytest.raises(ProviderError):
        list(rlm.stream("x", record=path))
    trace = load(path)
    assert trace.state == "error" and "server fell over" in trace.footer["error"]
    seen = []
    with pytest.raises(ProviderError, match="server fell over") as raised:
        for event in replay(path, speed=None):
            seen.append(event)
    assert [e.text for e in seen] == ["part", "ial"] and raised.value.partial_text == "partial"


def test_no_key_is_ever_written(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "plainsecretvalue123")
    register_secret("registered-secret-xyz")
    path = tmp_path / "leak.jsonl"
    # The model echoes the key split over tokens, as a tokenizer would; a tool leaks env values.
    rlm = RLM(ScriptedProvider([" my", " key", " is", " sk", "-test", "-9f8e7d6c", "5b4a39281706", " ok"]))
    list(rlm.stream(f"use {FAKE_KEY} and registered-secret-xyz", record=path))
    text = path.read_text()
    assert FAKE_KEY not in text and "9f8e7d6c" not in text and "registered-secret-xyz" not in text
    assert load(path).text in (" my key is *** ok", " my key is sk-*** ok")
    assert len([r for r in lines(path) if r["type"] == "event" and "text" in r["event"]]) == 8

    path2 = tmp_path / "agent.jsonl"
    events = [
        AgentEvent(type="action", tool_name="env", input={"api_key": "whatever", "q": FAKE_KEY}, step=1),
        AgentEvent(type="observation", content="token=plainsecretvalue123", step=1),
        AgentEvent(type="final", content="done", step=1),
    ]
    history = [{"messages": [{"role": "user", "content": FAKE_KEY}],
                "headers": {"Authorization": "Bearer abc.def"}}]
    list(record(iter(events), path2, model="m", history=history))
    text2 = path2.read_text()
    for secret in (FAKE_KEY, "plainsecretvalue123", "whatever", "abc.def"):
        assert secret not in text2, secret


def test_unreadable_traces_are_usage_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "event"}\n')
    with pytest.raises(UsageError, match="not an rlm trace"):
        load(bad)
    bad.write_text('{"type": "header", "version": 99, "kind": "stream"}\n')
    with pytest.raises(UsageError, match="version 99"):
        load(bad)
    bad.write_text("garbage\n")
    with pytest.raises(UsageError, match="not a trace line"):
        load(bad)


def test_a_crashed_recording_still_loads(tmp_path):
    path = tmp_path / "crash.jsonl"
    recorder = TraceRecorder(path, kind="agent", model="m")
    recorder.event(AgentEvent(type="thought", content="hmm", step=1))
    recorder._file.flush()
    with path.open("a") as f:
        f.write('{"type": "event", "t": 0.5, "ev')  # cut mid-line
    trace = load(path)
    assert not trace.complete and trace.state == "stopped"
    assert [e.content for e in trace.events] == ["hmm"]


def test_a_key_pattern_split_over_tokens_is_scrubbed_without_knowing_the_key(tmp_path):
    path = tmp_path / "split.jsonl"
    rlm = RLM(ScriptedProvider([" see", " sk", "-proj", "-Zq81", "xW7pLm", " end"]))
    list(rlm.stream("x", record=path))
    assert "Zq81" not in path.read_text() and "xW7pLm" not in path.read_text()
    assert load(path).text == " see sk-*** end"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def broken(x: str) -> str:
    """Always fails."""
    raise ValueError(f"no luck with {x}")


def scripted_agent(delay: float = 0.0):
    from rlm_toolkit.agents import ReActAgent

    provider = ScriptedProvider(turns=[
        ScriptedTurn(chunks="Let me add.", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]),
        ScriptedTurn(tool_calls=[{"name": "broken", "arguments": {"x": "y"}}]),
        "The sum is 3.",
    ], delay=delay)
    return ReActAgent(RLM(provider), tools=[add, broken])


def test_agent_stream_record_writes_events_steps_and_footer(tmp_path):
    path = tmp_path / "agent.jsonl"
    agent = scripted_agent(delay=0.02)
    live = list(agent.stream("add 1 and 2", record=path))
    trace = load(path)
    assert trace.kind == "agent" and trace.model == "scripted:scripted" and trace.state == "done"
    assert trace.events == live and trace.text == "The sum is 3."
    assert sorted(trace.steps) == [1, 2, 3]
    assert trace.messages(1)[-1] == {"role": "user", "content": "add 1 and 2"}
    assert trace.messages(2)[-1]["role"] == "tool" and trace.messages(2)[-1]["content"] == "3"
    assert trace.steps[1]["tools"][0]["function"]["name"] == "add"
    assert trace.footer["response"]["steps"] == 3
    assert [r["type"] for r in lines(path)][-4:] == ["step", "step", "step", "footer"]
    again = list(replay(path, speed=None))
    assert again == live
    assert any(e.type == "observation" and e.is_error for e in again)


async def test_agent_astream_and_run_record_too(tmp_path):
    agent = scripted_agent()
    events = [e async for e in agent.astream("x", record=tmp_path / "a.jsonl")]
    assert load(tmp_path / "a.jsonl").events == events
    agent = scripted_agent()
    assert await agent.arun("x", record=tmp_path / "b.jsonl") == "The sum is 3."
    assert load(tmp_path / "b.jsonl").state == "done"


def test_a_run_left_early_is_closed_as_stopped(tmp_path):
    import gc

    path = tmp_path / "early.jsonl"
    agent = scripted_agent(delay=0.01)
    for event in agent.stream("x", record=path):
        if event.type == "action":
            break
    gc.collect()
    trace = load(path)
    assert trace.complete and trace.state == "stopped" and trace.events[-1].type == "action"
    path2 = tmp_path / "early_stream.jsonl"
    for _ in RLM(ScriptedProvider("a b c d")).stream("x", record=path2):
        break
    gc.collect()
    assert load(path2).state == "stopped"


def test_text_without_spaces_is_written_as_it_streams_not_at_the_end(tmp_path):
    """1,000 Japanese chunks: the held text is written on time (FLUSH_AFTER), so a crash keeps it."""
    path = tmp_path / "ja.jsonl"
    recorder = TraceRecorder(path, kind="stream", model="m")
    pieces = ["これは", "日本語", "の", "答え", "です", "。"] * 167
    written_during = []
    for i, piece in enumerate(pieces[:1000]):
        recorder.event(TextDelta(text=piece), t=i * 0.01)  # ten seconds of streaming
        if i % 100 == 99:
            written_during.append(sum(1 for r in lines(path) if r["type"] == "event"))
    # At most FLUSH_AFTER (0.2 s = 20 chunks here) is held at any time.
    assert all(n >= (k + 1) * 100 - 21 for k, n in enumerate(written_during)), written_during
    recorder.close()
    assert load(path).text == "".join(pieces[:1000])


def test_on_time_flush_still_scrubs_a_key_split_over_pieces(tmp_path):
    """Written on time, the text that could still be a key waits: the key is scrubbed whole."""
    path = tmp_path / "key.jsonl"
    recorder = TraceRecorder(path, kind="stream", model="m")
    pieces = ["鍵は", "sk", "-proj", "-Zq81"] + ["xW7p"] * 60 + ["です", "。", "終わり"]
    for i, piece in enumerate(pieces):
        recorder.event(TextDelta(text=piece), t=i * 0.1)
    assert "鍵は" in path.read_text()  # written before the end
    recorder.close()
    text = path.read_text()
    assert "Zq81" not in text and "xW7p" not in text
    trace = load(path)
    assert trace.text == "鍵はsk-***です。終わり" and len(trace.events) == len(pieces)


def test_recording_where_no_file_can_be_written_is_a_usage_error_before_the_call(tmp_path):
    provider = ScriptedProvider("hi")
    for where in (tmp_path / "no" / "such" / "run.jsonl", tmp_path):
        with pytest.raises(UsageError, match="cannot record to"):
            RLM(provider).stream("x", record=where)
    assert not provider.requests


def test_on_time_flush_holds_the_start_of_a_known_secret_whatever_its_characters(tmp_path, monkeypatch):
    secret = "p@ss!w0rd-1234"
    monkeypatch.setenv("MY_DB_PASSWORD", secret)
    path = tmp_path / "secret.jsonl"
    recorder = TraceRecorder(path, kind="stream", model="m")
    for i, piece in enumerate(["値は", "p@", "ss!", "w0rd-1234", "です"]):
        recorder.event(TextDelta(text=piece), t=i * 0.3)  # every piece comes after FLUSH_AFTER
    assert "値は" in path.read_text()
    recorder.close()
    assert not any(part in path.read_text() for part in ("p@", "ss!", "w0rd")), path.read_text()
    assert load(path).text == "値は***です"
