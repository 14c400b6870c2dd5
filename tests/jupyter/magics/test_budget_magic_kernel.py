"""``%%rlm --budget`` through a real ipykernel: the answer or the agent run stops cleanly at the budget."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

SETUP = """
%load_ext rlm_jupyter
import json
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
words = [f" w{i}" for i in range(300)]
priced = RLM(ScriptedProvider(words, delay=0.002, priced_as="openai:gpt-4o"))
def add(a: int, b: int) -> int:
    '''Add two integers.'''
    return a + b
steps = RLM(ScriptedProvider(turns=[
    ScriptedTurn(chunks="Let me add.",
                 tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}]),
    "The sum is 3." + " and more" * 200], priced_as="openai:gpt-4o"))
"""


@pytest.fixture(scope="module")
def kernel(ipy_kernel):
    run = ipy_kernel.execute(SETUP)
    assert run.ok, run.errors
    return ipy_kernel


def settled(run):
    return [m["content"] for m in run.of("update_display_data")
            if not m["content"]["metadata"]["rlm"].get("partial")][-1]


def test_a_token_budget_stops_the_answer_mid_stream(kernel):
    run = kernel.execute("%%rlm -m priced --budget 40tok -o answer\nhello")
    assert run.ok, run.errors  # a budget stop is no failure
    end = settled(run)
    info = end["metadata"]["rlm"]
    assert (info["state"], info["stop_reason"], info["finish_reason"]) == ("stopped", "budget", None)
    assert info["cost"]["estimated"] is True and info["cost"]["total"] > 0
    assert "stopped (budget)" in end["data"]["text/html"]
    answer = kernel.value("answer")
    assert answer == kernel.value("''.join(words[:39])")  # 2 prompt tokens (estimated) + 39 chunks > 40


def test_a_money_budget_stops_the_answer(kernel):
    run = kernel.execute("%%rlm -m priced --budget 0.0001\nhello")  # $10 / M output: 10 chunks
    assert run.ok, run.errors
    info = settled(run)["metadata"]["rlm"]
    assert (info["state"], info["stop_reason"]) == ("stopped", "budget")
    assert info["usage"]["completion_tokens"] is None and info["chunks"] == 10


def test_an_agent_run_stops_at_its_budget_summed_over_steps(kernel):
    run = kernel.execute("%%rlm --agent -m steps --tools add --budget 0.0005,150tok -o final\nWhat is 1 + 2?")
    assert run.ok, run.errors
    info = run.of("update_display_data")[-1]["content"]["metadata"]["rlm"]
    assert (info["kind"], info["state"], info["reason"], info["steps"]) == ("agent", "stopped", "budget", 2)
    assert info["cost"].startswith("≈$")
    final = kernel.value("final")
    assert final.startswith("The sum is 3.") and len(final) < len("The sum is 3." + " and more" * 200)


@pytest.mark.parametrize("spec", ["lots", "0", "2.5tok"])
def test_a_bad_budget_is_one_usage_line(kernel, spec):
    run = kernel.execute(f"%%rlm -m priced --budget {spec}\nhello")
    assert not run.ok and "--budget" in (run.usage_error or ""), run.errors
    assert not run.of("display_data")


def test_a_money_budget_for_a_model_without_a_price_is_a_usage_error(kernel):
    run = kernel.execute("%%rlm -m ollama:llama3.2 --budget 0.01\nhello")
    assert not run.ok, run.messages
    assert "max_cost cannot be kept for ollama:llama3.2" in (run.usage_error or "")
    assert not run.of("display_data")
