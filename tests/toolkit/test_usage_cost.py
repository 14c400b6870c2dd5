"""Cached and reasoning tokens as each vendor reports them, and cost from genai-prices' table.

The usage tests speak the vendors' documented wire formats on a loopback server; the cost tests
compare with genai-prices' own ``calc_price`` called directly.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from rlm_toolkit import RLM, ScriptedProvider, UsageError
from rlm_toolkit.cost import Cost, basis_for, money
from rlm_toolkit.events import Finish, TextDelta, Usage
from rlm_toolkit.providers.anthropic import AnthropicProvider
from rlm_toolkit.providers.ollama import OllamaProvider
from rlm_toolkit.providers.openai import OpenAIProvider
from rlm_toolkit.response import Response

from ..fixtures.vendor_servers import Reply, ndjson, sse

genai_prices = pytest.importorskip("genai_prices")

KEY = "sk-ant-api03-TESTKEY0123456789abcdefghijkl"


def openai_chunks(usage: dict) -> list[bytes]:
    """OpenAI's streamed chat completion with ``include_usage``: text, finish, then the usage chunk."""
    base = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o"}
    chunks = [
        {**base, "usage": None,
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
        {**base, "choices": [], "usage": usage},
    ]
    import json

    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def test_openai_reports_cached_and_reasoning_tokens(vendor_server):
    usage = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
             "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0}}
    vendor_server.script(Reply(200, "text/event-stream", openai_chunks(usage)))
    rlm = RLM(OpenAIProvider("gpt-4o", base_url=vendor_server.base_url, api_key="sk-test"))
    assert rlm.run("hi") == "Hi"
    response = rlm.last_response
    assert (response.prompt_tokens, response.completion_tokens) == (1200, 300)
    assert (response.cached_input_tokens, response.reasoning_tokens) == (1024, 256)
    assert response.to_dict()["usage"]["cached_input_tokens"] == 1024


def test_a_compatible_server_without_details_reports_none_not_zero(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream",
                               openai_chunks({"prompt_tokens": 5, "completion_tokens": 1})))
    rlm = RLM(OpenAIProvider("qwen", base_url=vendor_server.base_url, api_key="sk-test"))
    rlm.run("hi")
    assert rlm.last_response.cached_input_tokens is None
    assert rlm.last_response.reasoning_tokens is None
    assert "cached_input_tokens" not in rlm.last_response.to_dict()["usage"]


def anthropic_events(start_usage: dict, delta_usage: dict) -> list[bytes]:
    return sse(
        ("message_start", {"type": "message_start", "message": {"id": "m", "usage": start_usage}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": delta_usage}),
        ("message_stop", {"type": "message_stop"}),
    )


def anthropic(vendor_server, start_usage, delta_usage) -> Response:
    vendor_server.script(Reply(200, "text/event-stream", anthropic_events(start_usage, delta_usage)))
    provider = AnthropicProvider("claude-sonnet-4-5", base_url=vendor_server.base_url, api_key=KEY)
    provider.priced_as = "anthropic:claude-sonnet-4-5"  # the loopback stand-in is priced as the real API
    rlm = RLM(provider)
    rlm.run("hi")
    return rlm.last_response


def test_anthropic_prompt_tokens_are_the_whole_input_cache_reads_and_writes_included(vendor_server):
    response = anthropic(vendor_server, {"input_tokens": 50, "cache_read_input_tokens": 1000,
                                         "cache_creation_input_tokens": 200, "output_tokens": 1},
                         {"output_tokens": 30})
    assert response.prompt_tokens == 1250
    assert (response.cached_input_tokens, response.cache_write_tokens) == (1000, 200)
    assert response.completion_tokens == 30
    assert response.reasoning_tokens is None


def test_anthropic_counts_repeated_in_message_delta_win(vendor_server):
    response = anthropic(vendor_server, {"input_tokens": 50, "output_tokens": 1},
                         {"input_tokens": 60, "cache_read_input_tokens": 5, "output_tokens": 30})
    counts = (response.prompt_tokens, response.cached_input_tokens, response.cache_write_tokens)
    assert counts == (65, 5, None)


def test_anthropic_cost_prices_cache_reads_and_writes_at_their_own_rates(vendor_server):
    response = anthropic(vendor_server, {"input_tokens": 50, "cache_read_input_tokens": 1000,
                                         "cache_creation_input_tokens": 200}, {"output_tokens": 30})
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1250, output_tokens=30, cache_read_tokens=1000,
                           cache_write_tokens=200),
        "claude-sonnet-4-5", provider_id="anthropic")
    assert response.cost.total == expected.total_price
    assert response.cost.total != genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1250, output_tokens=30), "claude-sonnet-4-5",
        provider_id="anthropic").total_price


def test_ollama_reports_neither(vendor_server):
    vendor_server.script(Reply(200, "application/x-ndjson", ndjson(
        {"model": "llama3.2", "message": {"role": "assistant", "content": "Hi"}, "done": False},
        {"model": "llama3.2", "message": {"role": "assistant", "content": ""}, "done": True,
         "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 2},
    )))
    rlm = RLM(OllamaProvider("llama3.2", host=vendor_server.base_url))
    rlm.run("hi")
    response = rlm.last_response
    assert (response.prompt_tokens, response.completion_tokens) == (9, 2)
    assert response.cached_input_tokens is None and response.reasoning_tokens is None
    assert response.cost.total is None and "llama3.2" in response.cost.note  # unknown, not guessed


def priced(provider, *events) -> Response:
    response = Response(model=provider.model, provider=provider.name, cost_basis=basis_for(provider))
    for event in events:
        response.feed(event)
    response.settle()
    return response


def test_gpt4o_cost_matches_genai_prices_own_calculation():
    provider = OpenAIProvider("gpt-4o", api_key="sk-test")  # api.openai.com: priced as OpenAI's
    response = priced(provider, TextDelta(text="Hi"),
                      Usage(prompt_tokens=1000, completion_tokens=500, cached_input_tokens=200),
                      Finish(reason="stop"))
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200), "gpt-4o",
        provider_id="openai")
    cost = response.cost
    assert (cost.total, cost.input, cost.output, cost.currency) == (
        expected.total_price, expected.input_price, expected.output_price, "USD")
    assert not cost.estimated and cost.note is None
    assert response.to_dict()["cost"]["total"] == float(expected.total_price)


def test_an_openai_compatible_server_is_priced_by_its_url_and_unknown_urls_say_so(vendor_server):
    local = OpenAIProvider("gpt-4o", base_url=vendor_server.base_url, api_key="sk-test")
    cost = priced(local, Usage(prompt_tokens=10, completion_tokens=5), Finish(reason="stop")).cost
    assert cost.total is None and cost.input is None
    assert "no price for 'gpt-4o'" in cost.note and vendor_server.base_url in cost.note
    assert str(cost) == "cost unknown"
    router = OpenAIProvider("openai/gpt-4o", base_url="https://openrouter.ai/api/v1", api_key="sk-test")
    expected = genai_prices.calc_price(genai_prices.Usage(input_tokens=10, output_tokens=5), "openai/gpt-4o",
                                       provider_api_url="https://openrouter.ai/api/v1")
    assert priced(router, Usage(prompt_tokens=10, completion_tokens=5)).cost.total == expected.total_price


def test_priced_as_prices_a_proxy_or_a_scripted_model_as_a_known_model(vendor_server):
    vendor_server.script(Reply(200, "text/event-stream",
                               openai_chunks({"prompt_tokens": 100, "completion_tokens": 20})))
    provider = OpenAIProvider("gpt-4o", base_url=vendor_server.base_url, api_key="sk-test")
    provider.priced_as = "openai:gpt-4o"
    rlm = RLM(provider)
    rlm.run("hi")
    expected = genai_prices.calc_price(genai_prices.Usage(input_tokens=100, output_tokens=20), "gpt-4o",
                                       provider_id="openai")
    assert rlm.last_response.cost.total == expected.total_price


def test_models_run_here_are_free_and_say_so():
    rlm = RLM.from_scripted("a b c")
    rlm.run("hi")
    cost = rlm.last_response.cost
    assert cost.total == 0 and cost.note == "free: a scripted model"
    assert str(cost) == "free"
    local = type("Local", (), {"name": "local", "model": "smollm2"})()
    assert basis_for(local).price(100, 100).note == "free: runs in this process"


def test_a_stream_stopped_before_its_usage_is_priced_from_estimates():
    rlm = RLM(ScriptedProvider("one two three four five", priced_as="openai:gpt-4o"))
    with rlm.stream("x" * 400) as chunks:
        next(chunks), next(chunks)
    cost = rlm.last_response.cost
    expected = genai_prices.calc_price(genai_prices.Usage(input_tokens=100, output_tokens=2), "gpt-4o",
                                       provider_id="openai")
    assert cost.estimated and cost.total == expected.total_price
    assert str(cost).startswith("≈$")


def test_pricing_never_fetches_prices():
    """No update thread, no custom snapshot: the bundled table (the conftest refuses non-loopback sockets)."""
    from genai_prices import data_snapshot

    provider = OpenAIProvider("gpt-4o-mini", api_key="sk-test")
    assert priced(provider, Usage(prompt_tokens=7, completion_tokens=3)).cost.known
    assert not any(t.name.startswith("genai_prices") for t in threading.enumerate())
    assert data_snapshot._custom_snapshot is None


def test_max_cost_on_a_model_without_a_price_is_a_usage_error(vendor_server):
    rlm = RLM(OpenAIProvider("my-model", base_url=vendor_server.base_url, api_key="sk-test"))
    with pytest.raises(UsageError, match="max_cost cannot be kept for openai:my-model.*max_tokens_total"):
        rlm.stream("hi", max_cost=0.01)
    assert vendor_server.requests == []


def test_costs_add_up_and_unknown_stays_unknown():
    a = Cost(total=Decimal("0.001"), input=None, output=None)
    b = Cost.from_dict(a.to_dict())
    assert (a + b).total == Decimal("0.002")
    unknown = Cost(None, note="no price")
    assert (a + unknown).total is None and (a + unknown).note == "no price"
    assert money({"total": 0.0000826}) == "$0.000083" and money({"total": 1.5}) == "$1.50"
    assert money({"total": 0.0}) == "$0" and money({"total": 0.01234, "estimated": True}) == "≈$0.0123"


def test_anthropic_is_priced_by_its_api_url():
    provider = AnthropicProvider("claude-sonnet-4-5", api_key=KEY)
    usage = genai_prices.Usage(input_tokens=10, output_tokens=5)
    expected = genai_prices.calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic")
    assert basis_for(provider).price(10, 5).total == expected.total_price


def test_the_responses_api_is_priced_as_openai():
    provider = RLM("openai-responses:gpt-5", api_key="sk-test").provider
    expected = genai_prices.calc_price(genai_prices.Usage(input_tokens=1000, output_tokens=100), "gpt-5",
                                       provider_id="openai")
    assert basis_for(provider).price(1000, 100).total == expected.total_price
