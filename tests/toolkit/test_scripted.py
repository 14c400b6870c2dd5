"""The scripted provider: exact chunks, delays, tool calls, failures, max_tokens, recorded requests."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, errors
from rlm_toolkit.providers.scripted import split_words


def test_split_words_keeps_every_character():
    text = "  Hello,  brave\nnew world! "
    assert "".join(split_words(text)) == text and split_words("a b") == ["a", " b"]


def test_turns_in_order_then_the_last_repeats_and_requests_are_recorded():
    model = ScriptedProvider(turns=["one", ["t", "wo"]])
    rlm = RLM(model)
    assert [rlm.run(p) for p in ("a", "b", "c")] == ["one", "two", "two"]
    assert [r.messages[-1]["content"] for r in model.requests] == ["a", "b", "c"]


def test_delay_is_per_chunk():
    rlm = RLM(ScriptedProvider(["a", "b", "c", "d"], delay=0.05))
    started = time.monotonic()
    assert rlm.run("x") == "abcd"
    assert 0.18 <= time.monotonic() - started < 2
    assert rlm.last_response.ttft >= 0.04


def test_tool_calls_stream_in_pieces_and_assemble():
    turn = ScriptedTurn(
        chunks="Let me add.",
        tool_calls=[
            {"name": "add", "arguments": {"a": 1, "b": 2}},
            {"name": "echo", "arguments": '{"s": "x"}', "id": "c9"},
        ],
    )
    rlm = RLM(ScriptedProvider(turn))
    events = list(rlm.stream_events("x"))
    pieces = [e for e in events if e.type == "tool_call"]
    assert len(pieces) > 2
    calls = rlm.last_response.tool_calls
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("add", {"a": 1, "b": 2}),
        ("echo", {"s": "x"}),
    ]
    assert calls[1].call_id == "c9" and rlm.last_response.finish_reason == "tool_calls"
    assert rlm.last_response.text == "Let me add."


def test_scripted_failure_after_chunks_keeps_partial_text():
    failure = errors.ServerError("boom", status_code=500)
    rlm = RLM(ScriptedProvider(ScriptedTurn(chunks=["a", "b", "c"], error=failure, error_after=2)))
    seen = []
    with pytest.raises(errors.ServerError) as caught:
        for chunk in rlm.stream("x"):
            seen.append(chunk)
    assert seen == ["a", "b"] and caught.value.partial_text == "ab" and caught.value.model == "scripted"


def test_retryable_failure_before_the_first_chunk_is_retried():
    model = ScriptedProvider(turns=[ScriptedTurn(error=errors.RateLimitError("slow down", status_code=429,
                                                                              retry_after=0)), "ok"])
    assert RLM(model, retry_backoff=0.01).run("x") == "ok" and len(model.requests) == 2


def test_missing_finish_is_an_incomplete_stream():
    with pytest.raises(errors.IncompleteStreamError) as caught:
        RLM(ScriptedProvider(ScriptedTurn(chunks="cut here", finish=None))).run("x")
    assert caught.value.partial_text == "cut here"


def test_max_tokens_cuts_with_finish_length():
    rlm = RLM(ScriptedProvider("one two three four"))
    assert rlm.run("x", max_tokens=2) == "one two" and rlm.last_response.finish_reason == "length"


def test_fn_computes_the_turn_from_the_request():
    rlm = RLM(ScriptedProvider(fn=lambda request: f"echo: {request.messages[-1]['content']}"))

    async def main():
        return await rlm.arun("ping")

    assert asyncio.run(main()) == "echo: ping"
