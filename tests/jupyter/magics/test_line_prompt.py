"""``%rlm PROMPT`` in an in-process shell: which lines are prompts (magics/line.py: prompt_line), the
braces rlm's own lookups and never IPython's eval, subcommands still expanded as IPython expands a
line magic, and plain ``--chat`` cut to the window like a named chat."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from rlm_jupyter.magics.line import prompt_line
from rlm_toolkit import ScriptedProvider


@pytest.mark.parametrize("line, parsed", [
    ("What is {x}", ("", "What is {x}")),
    ("  modelling is hard ", ("", "modelling is hard")),  # a word that starts like a command is a prompt
    ("model local:smollm2", None), ("chat show trip", None), ("explain 3", None), ("", None),
    ("-- model answers", ("", "model answers")),
    ("-m demo -s 'Be brief.' -- explain {ratio}", ("-m demo -s 'Be brief.'", "explain {ratio}")),
    ("-m demo", None), ("-h", None),  # options without a prompt: the parser's (help, or its error)
])
def test_which_lines_are_prompts(line, parsed):
    assert prompt_line(line) == parsed


@pytest.fixture
def echo(shell):
    sent = []

    def answer(request):
        sent.append(request.messages)
        return "heard"

    shell.user_ns["echo"] = ScriptedProvider(fn=answer)
    shell.run_line_magic("rlm", "model echo")
    return sent


def test_a_prompt_is_a_one_line_cell_and_its_braces_are_never_evaluated(shell, echo, capsys):
    shell.user_ns["x"] = 41
    shell.run_line_magic("rlm", "--no-widget -o said -- Is {x} odd")
    assert echo[-1] == [{"role": "user", "content": "Is 41 odd"}] and shell.user_ns["said"] == "heard"
    shell.user_ns["pwned"] = []
    with pytest.raises(UsageError, match=r"only variable names \(and .attributes\) are filled in"):
        shell.run_line_magic("rlm", "--no-widget -- {pwned.append(1)}")
    assert shell.user_ns["pwned"] == [] and len(echo) == 1


def test_a_prompt_that_reads_like_a_command_is_told_how_to_send_it(shell, echo):
    for line in ("help me write a loop", "fix my code please", "explain recursion to me"):
        with pytest.raises(UsageError, match=rf"\(a prompt that reads like a command: %rlm -- {line}\)$"):
            shell.run_line_magic("rlm", line)
    assert echo == []


def test_subcommands_still_get_ipythons_expansion(shell, echo, capsys):
    shell.user_ns["other"] = ScriptedProvider("other")
    shell.user_ns["name"] = "other"
    shell.run_line_magic("rlm", "model $name")
    assert "Default model: other" in capsys.readouterr().out
    shell.run_line_magic("rlm", "model {name}")
    assert "Default model: other" in capsys.readouterr().out


def test_plain_chat_is_cut_to_the_window_and_says_so(shell, echo, capsys):
    shell.run_line_magic("config", "RLMMagics.chat_window = 200")
    for n in range(3):
        shell.run_cell_magic("rlm", "--chat --no-widget --max-tokens 10", f"{n} " + "word " * 40)
    # a turn: (201 + 3) // 4 + 6 and (5 + 3) // 4 + 6 = 65; the room: 200 - 10 (--max-tokens) - 51 (the
    # prompt) - 18 (framing) = 121: one turn
    assert [m["content"][:2] for m in echo[-1]] == ["1 ", "he", "2 "]
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == ("rlm: --chat: the oldest turn of 2 left out to fit scripted:scripted's "
                                    "context window (200 tokens, RLMMagics.chat_window; ~65 tokens of "
                                    "history sent); rlm keeps it")
    shell.run_line_magic("rlm", "reset")
    assert "Conversation cleared (3 exchanges forgotten)." in capsys.readouterr().out
