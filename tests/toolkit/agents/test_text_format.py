"""The text ReAct format: the incremental parser (whole and split anywhere) and the agent on it."""

from __future__ import annotations

import pytest

from rlm_toolkit import RLM, ScriptedProvider
from rlm_toolkit.agents import ReActAgent, tool
from rlm_toolkit.agents._text_format import STOP, TextReActParser, parse_action_input, text_prompt


def parse(chunks):
    parser = TextReActParser()
    items = [item for chunk in chunks for item in parser.feed(chunk)]
    rest, step = parser.finish()
    return items + rest, step


def splits(text):
    """The text whole, one character at a time, and cut at every position in two."""
    yield [text]
    yield list(text)
    for i in range(1, len(text)):
        yield [text[:i], text[i:]]


ACTION = 'Thought: I need the sum.\nAction: add\nAction Input: {"a": 2, "b": 3}\n'
FINAL = "Thought: I know it now.\nFinal Answer: The sum is 5."


@pytest.mark.parametrize("chunks", list(splits(ACTION)))
def test_action_parsed_the_same_however_it_is_split(chunks):
    items, step = parse(chunks)
    assert items == [("thought", "I need the sum.", False)]
    assert (step.action, step.action_input, step.final) == ("add", '{"a": 2, "b": 3}', None)


@pytest.mark.parametrize("chunks", list(splits(FINAL)))
def test_final_answer_streams_as_tokens_and_labels_never_leak(chunks):
    items, step = parse(chunks)
    assert items[0] == ("thought", "I know it now.", False)
    assert all(kind == "token" for kind, *_ in items[1:])
    assert "".join(text for kind, text, *_ in items[1:]) == "The sum is 5."
    assert step.final == "The sum is 5." and step.action is None


def test_final_answer_tokens_come_before_the_turn_ends():
    parser = TextReActParser()
    assert parser.feed("Final Answer: Paris is") == [("token", "Paris is")]
    assert parser.feed(" the capital") == [("token", " the capital")]


def test_plain_text_is_the_answer_and_streams_live():
    items, step = parse(["Hello", " there,", " friend."])
    assert items == [("token", "Hello"), ("token", " there,"), ("token", " friend.")]
    assert step.final == "Hello there, friend." and step.action is None
    # A labelled thought with no action or answer is still the answer, and is streamed at the end.
    items, step = parse(["Thought: just ", "this"])
    assert items == [("token", "just this")] and step.final == "just this"


def test_unlabelled_reasoning_then_action_is_a_streamed_thought():
    items, step = parse(["Let me look.\nAct", "ion: search\nAction Input: python\n"])
    assert items == [("token", "Let me look.\n"), ("thought", "Let me look.", True)]
    assert step.action == "search" and step.action_input == "python"


def test_hallucinated_observation_and_rambling_are_cut():
    text = 'Action: add\nAction Input: {"a": 1, "b": 1}\nObservation: 2\nThought: done\nFinal Answer: 2'
    items, step = parse([text])
    assert items == [] and step.action == "add" and step.final is None
    items, step = parse(["Final Answer: 42\nThought: more\nAction: add"])
    assert step.final == "42" and step.action is None


@pytest.mark.parametrize(
    "junk",
    ["", "\n\n", "Action:", "Action: None\nFinal Answer: x", "**Final Answer:** bold",
     "Thought:\nAction Input: {", "ACTION INPUT: 3", "Final answer:", "AAAAAAAA",
     "Action: `add`\nAction Input: ```json\n{\"a\": 1, \"b\": 2}\n```"],
)
def test_junk_never_raises(junk):
    for chunks in splits(junk) if junk else [[junk]]:
        items, step = parse(chunks)
        assert step.action is None or step.action.strip()
        assert step.final is None or isinstance(step.final, str)
    if junk.startswith("Action: None"):
        assert step.final == "x"
    if junk.startswith("**Final"):
        assert step.final == "bold"
    if junk.startswith("Action: `add`"):
        assert step.action == "add"


def test_tool_name_recovered_from_a_copied_format_line():
    _, step = parse(["Action: The tool to use, one of [add]\nAction Input: 1\n"])
    assert step.action == "The" and step.tool_name(["add", "search"]) == "add"
    _, step = parse(["Action: one of [add, search]\n"])
    assert step.tool_name(["add", "search"]) == "one"  # ambiguous: left as written, reported as unknown


def test_action_input_forms():
    @tool
    def search(query: str) -> str:
        """Search."""
        return query

    assert parse_action_input('{"query": "x"}', search) == {"query": "x"}
    assert parse_action_input('"python"', search) == {"query": "python"}
    assert parse_action_input("python 3", search) == {"query": "python 3"}
    assert parse_action_input('Sure: {"query": "y"} ok', search) == {"query": "y"}
    assert parse_action_input("", search) == {}
    assert parse_action_input("```json\n{\"query\": \"z\"}\n```", search) == {"query": "z"}


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def text_agent(*turns, **kw):
    provider = ScriptedProvider(turns=list(turns), supports_tools_=False)
    return ReActAgent(RLM(provider), tools=[add], **kw), provider


def test_agent_in_text_mode_acts_observes_and_answers():
    agent, provider = text_agent(
        ['Thought: add them\nAc', 'tion: add\nAction Input: {"a": 2,', ' "b": 40}\n'],
        ["Thought: done\nFinal ", "Answer: It is", " 42."])
    assert not agent.native
    events = list(agent.stream("2+40?"))
    kinds = [e.type for e in events]
    assert kinds == ["thought", "action", "observation", "thought", "token", "token", "final"]
    assert events[1].input == {"a": 2, "b": 40} and events[2].content == "42"
    assert events[-1].content == "It is 42." and events[-1].step == 2
    first = provider.requests[0]
    assert first.tools is None and first.stop == [STOP]
    assert "add(a: integer, b: integer) - Add two integers." in first.messages[0]["content"]
    second = provider.requests[1].messages
    assert second[-2]["role"] == "assistant" and second[-2]["content"].endswith('"b": 40}')
    assert second[-1] == {"role": "user", "content": "Observation: 42"}
    assert agent.history[0].mode == "text" and agent.history[0].tool_calls[0]["input"] == {"a": 2, "b": 40}


def test_text_mode_errors_are_observations_too():
    agent, provider = text_agent(
        "Action: subtract\nAction Input: {}",
        'Action: add\nAction Input: {"a": "x"}',
        "Final Answer: gave up",
        max_steps=5,
    )
    events = list(agent.stream("go"))
    errors = [e.content for e in events if e.type == "observation" and e.is_error]
    assert "no tool named 'subtract'" in errors[0] and "missing required argument(s): b" in errors[1]
    assert events[-1].content == "gave up" and [e.type for e in events].count("final") == 1


def test_text_mode_explicit_on_a_native_provider_and_user_stop_kept():
    provider = ScriptedProvider(turns=["Final Answer: ok"])
    agent = ReActAgent(RLM(provider, stop="END"), tools=[add], mode="text", system_prompt="Be terse.")
    assert agent.run("x") == "ok"
    assert provider.requests[0].stop == ["END", STOP]
    assert provider.requests[0].messages[0]["content"].startswith("Be terse.\n\nAnswer the question")
    assert "Final Answer" in text_prompt([], None)
