"""The magics in an in-process IPython shell (``shell``, tests/jupyter/conftest.py): loading, settings, line
forms, unloading."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from rlm_jupyter.magics.line import parse_line
from rlm_jupyter.magics.rlm import RLMMagics
from rlm_toolkit import RLM, ScriptedProvider


def magics(ip) -> RLMMagics:
    return next(m for m in ip.magics_manager.registry.values() if isinstance(m, RLMMagics))


def test_load_registers_both_forms_and_config_reaches_the_traits(shell, capsys):
    assert "rlm" in shell.magics_manager.magics["cell"] and "rlm" in shell.magics_manager.magics["line"]
    shell.run_line_magic("load_ext", "rlm_jupyter")  # twice is harmless
    assert sum(isinstance(m, RLMMagics) for m in shell.magics_manager.registry.values()) == 1
    shell.run_line_magic("config", "RLMMagics.temperature = 0.25")
    shell.run_line_magic("config", "RLMMagics.format = 'text'")
    assert magics(shell).temperature == 0.25 and magics(shell).format == "text"
    shell.run_line_magic("rlm", "config")
    assert "RLMMagics.temperature = 0.25" in capsys.readouterr().out


def test_settings_apply_to_the_request_and_options_override_them(shell, capsys):
    provider = ScriptedProvider("ok")
    shell.user_ns["m"] = RLM(provider)
    shell.run_line_magic("config", "RLMMagics.system = 'Be brief.'")
    shell.run_line_magic("config", "RLMMagics.max_tokens = 50")
    shell.run_cell_magic("rlm", "-m m -t 0.5 -o out", "Hi")
    request = provider.requests[-1]
    assert request.messages[0] == {"role": "system", "content": "Be brief."}
    assert request.temperature == 0.5 and request.max_tokens == 50
    assert shell.user_ns["out"] == "ok" and "ok" in capsys.readouterr().out  # no widgets here: stdout
    shell.run_cell_magic("rlm", "-m m -s 'Be long.' --max-tokens 7", "Hi")
    assert (
        provider.requests[-1].messages[0]["content"] == "Be long." and provider.requests[-1].max_tokens == 7
    )


def test_a_provider_variable_works_as_a_model_and_other_values_do_not(shell):
    shell.user_ns["p"] = ScriptedProvider("from a provider")
    shell.run_cell_magic("rlm", "-m p -o out", "Hi")
    assert shell.user_ns["out"] == "from a provider"
    shell.user_ns["n"] = 3
    with pytest.raises(UsageError, match="holds a int, not an RLM"):
        shell.run_cell_magic("rlm", "-m n", "Hi")
    with pytest.raises(UsageError, match="-o needs a variable name"):
        shell.run_cell_magic("rlm", "-m p -o 1x", "Hi")
    with pytest.raises(UsageError, match="empty"):
        shell.run_cell_magic("rlm", "-m p", "  \n")
    with pytest.raises(UsageError, match="unknown provider"):
        shell.run_cell_magic("rlm", "-m nosuch:model", "Hi")


def test_line_forms(shell, capsys):
    shell.run_line_magic("rlm", "help")
    assert "%rlm model NAME" in capsys.readouterr().out
    shell.run_line_magic("rlm", "model scripted")
    assert "Default model: scripted (scripted:scripted)" in capsys.readouterr().out
    shell.run_cell_magic("rlm", "-o out", "Hi")
    assert shell.user_ns["out"] == "Hello from the scripted model."
    with pytest.raises(UsageError):
        shell.run_line_magic("rlm", "model")
    with pytest.raises(UsageError):
        shell.run_line_magic("rlm", "models extra")


def test_the_line_magic_is_one_parser_whose_help_lists_every_subcommand(shell, capsys):
    """``%rlm?`` (the line magic's docstring) and ``%rlm help`` come from the one parser; every
    mistake is one line naming the subcommand's usage."""
    doc = shell.find_line_magic("rlm").__doc__
    for command in ("model NAME", "models", "config", "reset", "replay [--instant] [--speed X] FILE",
                    "export", "diff A B", "stop", "help", "chats",
                    "chat [--at N] show|fork|forget NAME [NEW]"):
        assert f"%rlm {command}" in doc
    shell.run_line_magic("rlm", "")
    assert capsys.readouterr().out.strip() in doc
    for line, message in (("chat nosuch trip", r"invalid choice: 'nosuch'.*\(a prompt that reads like a "
                           r"command: %rlm -- chat nosuch trip\)"),
                          ("stop now", "unrecognized arguments: now"),
                          ("model", "required: NAME; usage: %rlm model NAME"),
                          ('replay "unclosed', "No closing quotation")):
        with pytest.raises(UsageError, match=message) as caught:
            shell.run_line_magic("rlm", line)
        assert "\n" not in str(caught.value)
    speeds = [parse_line(f"replay a.jsonl{o}").speed for o in ("", " --instant", " --speed 2")]
    assert speeds == [1.0, None, 2.0]


def test_unload_removes_the_magics(shell):
    shell.run_line_magic("unload_ext", "rlm_jupyter")
    assert (
        "rlm" not in shell.magics_manager.magics["cell"] and "rlm" not in shell.magics_manager.magics["line"]
    )
    assert not any(isinstance(m, RLMMagics) for m in shell.configurables)
    shell.run_line_magic("load_ext", "rlm_jupyter")  # and it loads again
    assert "rlm" in shell.magics_manager.magics["cell"]


def test_bg_with_no_widget_prints_in_the_background_and_rlm_stop_stops_it(shell, capsys):
    import time

    from rlm_jupyter.stream.plain import PlainStream
    from rlm_jupyter.timeline.plain import PlainTimeline

    words = "one two three four five six seven eight nine ten"
    shell.user_ns["slow"] = ScriptedProvider(words, delay=0.2)
    started = time.monotonic()
    shell.run_cell_magic("rlm", "-m slow --bg --no-widget -o counted", "Count slowly.")
    view, task = magics(shell).streams[-1]  # --bg runs are kept where %rlm stop finds them
    assert isinstance(view, PlainStream) and time.monotonic() - started < 1.5  # returned at once
    time.sleep(0.7)
    shell.run_line_magic("rlm", "stop")
    deadline = time.monotonic() + 5  # the stop settles it on the loop thread
    while "counted" not in shell.user_ns and time.monotonic() < deadline:
        time.sleep(0.02)
    assert task.cancelled() and view.state == "stopped"
    counted = shell.user_ns["counted"]
    assert words.startswith(counted) and 0 < len(counted) < len(words)  # the words that had arrived
    assert counted in capsys.readouterr().out  # printed as they came

    shell.user_ns["agent_model"] = RLM(ScriptedProvider(turns=["All done."], delay=0.2))
    started = time.monotonic()
    shell.run_cell_magic("rlm", "-m agent_model --agent --bg --no-widget -o final", "Finish.")
    plain, _ = magics(shell).streams[-1]
    assert isinstance(plain, PlainTimeline) and plain.task is not None
    assert time.monotonic() - started < 1.5
    plain.task.result(timeout=10)
    assert plain.state == "done" and "All done." in capsys.readouterr().out


def test_a_failed_answer_writes_its_error_once(shell, capsys):
    """The cell's one line is the error's only line; with ``fail_cell = False`` the answer says it."""
    from rlm_toolkit import RateLimitError, ScriptedTurn

    def broken() -> RLM:
        turn = ScriptedTurn(chunks="Half an answer", error=RateLimitError("over quota", status_code=429),
                            error_after=2)
        return RLM(ScriptedProvider(turns=[turn]), max_retries=0)

    shell.user_ns["broken"] = broken()
    with pytest.raises(RateLimitError) as raised:
        shell.run_cell_magic("rlm", "-m broken --no-widget", "hi")
    (line,) = raised.value._render_traceback_()  # type: ignore[attr-defined]
    assert line == "RateLimitError: over quota (the partial answer is kept above)"
    assert capsys.readouterr().out == "Half an\n"  # the answer as it came, no error line beside it
    magics(shell).fail_cell = False
    shell.user_ns["broken"] = broken()
    shell.run_cell_magic("rlm", "-m broken --no-widget", "hi")
    assert capsys.readouterr().out == "Half an\n[RateLimitError: over quota]\n"
