"""Budgets stop a call or an agent run mid-answer: state ``stopped``, reason ``budget``, text kept."""

from __future__ import annotations

import asyncio
import json

import pytest

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, UsageError
from rlm_toolkit.agents.react import ReActAgent

from ..fixtures.openai_server import Stream

WORDS = [f" w{i}" for i in range(200)]  # 200 chunks; a one-word prompt is estimated at 2 tokens


def scripted(**kwargs) -> RLM:
    return RLM(ScriptedProvider(WORDS, **kwargs))


def assert_cut(rlm: RLM, text: str, chunks: int) -> None:
    response = rlm.last_response
    assert (response.state, response.stop_reason, response.finish_reason) == ("stopped", "budget", None)
    assert text == response.text == "".join(WORDS[:chunks])
    assert response.to_dict()["stop_reason"] == "budget"


def test_max_tokens_total_cuts_a_sync_stream_mid_answer():
    rlm = scripted()
    with rlm.stream("hello", max_tokens_total=20) as chunks:
        text = "".join(chunks)
    assert_cut(rlm, text, 19)  # 2 prompt tokens (estimated) + 19 chunks > 20: the 19th is kept


@pytest.mark.asyncio
async def test_max_tokens_total_cuts_an_async_stream_mid_answer():
    rlm = scripted()
    async with rlm.astream("hello", max_tokens_total=20) as chunks:
        text = "".join([c async for c in chunks])
    assert_cut(rlm, text, 19)


def test_run_and_arun_return_the_partial_text():
    rlm = scripted()
    assert_cut(rlm, rlm.run("hello", max_tokens_total=11), 10)
    assert_cut(rlm, asyncio.run(rlm.arun("hello", max_tokens_total=11)), 10)


def test_max_cost_cuts_a_priced_stream_from_its_estimated_cost():
    rlm = scripted(priced_as="openai:gpt-4o")  # $2.5 / M input, $10 / M output
    text = rlm.run("x" * 400, max_cost=0.000405)  # 100 prompt tokens = $0.00025; each chunk $0.00001
    assert_cut(rlm, text, 16)
    assert rlm.last_response.cost.estimated


def test_stream_events_and_callbacks_see_a_clean_end():
    seen = []

    class Spy:
        def on_llm_end(self, response, **kw):
            seen.append(("end", response.state, response.stop_reason))

        def on_llm_error(self, error, **kw):
            seen.append(("error", error))

    rlm = scripted()
    events = list(rlm.stream_events("hello", max_tokens_total=6, callbacks=[Spy()]))
    assert [e.type for e in events] == ["text"] * 5
    assert seen == [("end", "stopped", "budget")]


def test_a_usage_report_past_the_limit_does_not_cut_a_whole_answer():
    rlm = RLM(ScriptedProvider("a b c"))
    # estimated: 3 prompt tokens (11 characters) + 3 chunks = 6; reported: 6 words + 3 = 9
    assert rlm.run("a a a a a a", max_tokens_total=6) == "a b c"
    assert (rlm.last_response.state, rlm.last_response.stop_reason) == ("done", None)
    assert rlm.last_response.prompt_tokens == 6


def test_the_budget_closes_the_connection_of_a_real_stream(openai_server):
    openai_server.script(Stream(" ".join(["word"] * 400), delay=0.002))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    text = rlm.run("hi", max_tokens_total=30)
    assert rlm.last_response.stop_reason == "budget" and len(text.split()) == 30  # + 1 prompt token
    assert openai_server.wait_disconnect(2.0)  # cut mid-answer: the client hung up


@pytest.mark.parametrize("kwargs, word", [
    ({"max_tokens_total": 0}, "max_tokens_total"), ({"max_tokens_total": 2.5}, "max_tokens_total"),
    ({"max_cost": -1}, "max_cost"), ({"max_cost": "lots"}, "max_cost"), ({"max_cost": True}, "max_cost"),
])
def test_bad_budgets_are_usage_errors(kwargs, word):
    with pytest.raises(UsageError, match=word):
        scripted().stream("hi", **kwargs)


ABSURD_OR_FOREIGN = [
    "9" * 400 + "tok", "9" * 400, "9" * 400 + "ktok", "1e999", "1e999tok", "2000000000tok", "1000001",
    "\u0663\u0660\u0660tok",  # ٣٠٠tok: Arabic-Indic digits
    "\u0660.\u0660\u0665",  # ٠.٠٥
    "\uff10.\uff10\uff15",  # ０.０５: fullwidth digits
    "\u0665\u212atok",  # ٥Ktok, with the Kelvin sign that case-folds to k
    "2\u212atok",
]


@pytest.mark.parametrize("text", ABSURD_OR_FOREIGN)
def test_an_absurd_or_non_ascii_budget_is_a_usage_error_naming_it(text):
    from rlm_toolkit.budget import parse_budget

    with pytest.raises(UsageError, match="budget") as caught:
        parse_budget(text)
    assert repr(text[:20])[:-1] in str(caught.value)  # the input is named (cut when long)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("kwargs", [
    {"max_tokens_total": 10**400}, {"max_tokens_total": 10**5000}, {"max_tokens_total": 2 * 10**9},
    {"max_cost": 10**400}, {"max_cost": 10**5000}, {"max_cost": "$0"},
    {"max_cost": 1e300}, {"max_cost": "1e999"}, {"max_cost": "9" * 400}, {"max_cost": 2_000_000},
    {"max_cost": "\u0660.\u0660\u0665"}, {"max_cost": "\uff10.\uff10\uff15"}, {"max_cost": float("nan")},
])
def test_absurd_or_non_ascii_budget_arguments_are_usage_errors(kwargs):
    with pytest.raises(UsageError, match=next(iter(kwargs))):
        scripted(priced_as="openai:gpt-4o").stream("hi", **kwargs)


def test_the_largest_sane_budgets_are_accepted():
    from decimal import Decimal

    from rlm_toolkit.budget import parse_budget

    assert parse_budget("$1000000,1000000ktok") == {"max_cost": Decimal(1000000), "max_tokens_total": 10**9}
    assert parse_budget(" 0.05 USD , 2.5ktok") == {"max_cost": Decimal("0.05"), "max_tokens_total": 2500}
    rlm = scripted(priced_as="openai:gpt-4o")
    assert rlm.run("hi", max_cost="$0.5", max_tokens_total=10**9).startswith(" w0")


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agent_turns() -> list:
    call = {"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}
    return [ScriptedTurn(chunks="Let me add.", tool_calls=[call]),
            ScriptedTurn(chunks="The sum is 3." + " and more" * 100), "never asked"]


def budget_agent(**kwargs) -> tuple[ReActAgent, ScriptedProvider]:
    provider = ScriptedProvider(turns=agent_turns(), **kwargs)
    return ReActAgent(RLM(provider), [add], mode="native"), provider


def assert_agent_cut(agent: ReActAgent, provider: ScriptedProvider, events: list) -> None:
    final = events[-1]
    assert (final.type, final.stop_reason, final.is_error, final.step) == ("final", "budget", False, 2)
    tokens = "".join(e.content for e in events if e.type == "token" and e.step == 2)
    assert final.content == tokens.strip() and tokens.startswith("The sum is 3.")
    assert len(tokens) < len("The sum is 3." + " and more" * 100)  # cut mid-answer
    assert len(provider.requests) == 2
    assert agent.history[1].response["stop_reason"] == "budget"


def test_an_agent_run_is_cut_mid_answer_summed_over_its_steps():
    agent, provider = budget_agent()
    events = list(agent.stream("What is 1 + 2?", max_tokens_total=150))
    assert_agent_cut(agent, provider, events)
    first = agent.history[0].response["usage"]
    assert first["prompt_tokens"] + first["completion_tokens"] < 150  # step 1 alone was within it


@pytest.mark.asyncio
async def test_an_async_agent_run_is_cut_by_max_cost():
    agent, provider = budget_agent(priced_as="openai:gpt-4o")
    async with agent.astream("What is 1 + 2?", max_cost=0.0006) as stream:
        events = [e async for e in stream]
    assert_agent_cut(agent, provider, events)
    assert agent.last_final.stop_reason == "budget"


def test_an_agent_stops_before_its_next_step_once_a_step_used_the_budget_up():
    agent, provider = budget_agent()
    # step 1: estimated 60 + 3 chunks while it streams (within 70); reported 82 + 3 at its end
    answer = agent.run("a " * 60, max_tokens_total=70)
    assert agent.last_final.stop_reason == "budget" and agent.last_final.step == 1
    assert len(provider.requests) == 1 and answer == "Let me add."
    assert agent.history[0].response["state"] == "done"  # the step itself finished


def test_a_budget_stop_is_recorded_in_the_trace(tmp_path):
    from rlm_toolkit.trace import load

    rlm = scripted(priced_as="openai:gpt-4o")
    with rlm.stream("hello", max_tokens_total=11, record=str(tmp_path / "call.jsonl")) as chunks:
        text = "".join(chunks)
    trace = load(tmp_path / "call.jsonl")
    assert trace.state == "stopped" and trace.text == text
    footer = [json.loads(line) for line in (tmp_path / "call.jsonl").read_text().splitlines()][-1]
    assert footer["response"]["stop_reason"] == "budget"
    assert footer["response"]["cost"]["total"] == float(rlm.last_response.cost.total)


def test_an_agent_trace_sums_the_steps_costs_and_keeps_the_stop_reason(tmp_path):
    from rlm_toolkit.cost import Cost
    from rlm_toolkit.trace import load

    agent, _ = budget_agent(priced_as="openai:gpt-4o")
    agent.run("What is 1 + 2?", max_cost=0.0006, record=str(tmp_path / "run.jsonl"))
    trace = load(tmp_path / "run.jsonl")
    assert trace.state == "stopped" and trace.footer["response"]["stop_reason"] == "budget"
    steps = [Cost.from_dict(s.response["cost"]) for s in agent.history]
    assert trace.footer["response"]["cost"]["total"] == float(steps[0].total + steps[1].total)
    assert trace.events[-1].stop_reason == "budget"  # the final event, read back


def test_a_replayed_stream_shows_the_recorded_cost_and_stop_reason(tmp_path):
    from rlm_toolkit.trace import replay

    rlm = scripted(priced_as="openai:gpt-4o")
    rlm.run("hello", max_tokens_total=11, record=str(tmp_path / "call.jsonl"))
    replayed = replay(tmp_path / "call.jsonl", speed=None)
    assert "".join(e.text for e in replayed if e.type == "text") == rlm.last_response.text
    replayed.response.settle()
    assert (replayed.response.state, replayed.response.stop_reason) == ("stopped", "budget")
    assert replayed.response.cost == rlm.last_response.cost  # what it cost then, not today's table
