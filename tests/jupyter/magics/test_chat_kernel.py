"""Named conversations through real ipykernels and the loopback OpenAI-compatible server: a chat is
back after the kernel is shut down and a new one started, two kernels share one, each turn keeps its
model, the history is cut to the window with the cut said, a hostile chat file keeps what is
readable; ``%rlm PROMPT`` and the folded "Prompt" of the answer."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.kernel import Kernel
from tests.fixtures.openai_server import TEST_KEY, Stream

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(240)]

SETUP = """
%load_ext rlm_jupyter
%config RLMMagics.chats_dir = {folder!r}
from rlm_toolkit import RLM
model = RLM.from_openai("gpt-4o", base_url={base_url!r}, api_key={api_key!r})
mini = RLM.from_openai("gpt-4o-mini", base_url={base_url!r}, api_key={api_key!r})
"""


@pytest.fixture
def start(openai_server, tmp_path):
    """Start a kernel set up with the loopback models and chats in tmp_path/chats; all are shut down."""
    kernels: list[Kernel] = []

    def started() -> Kernel:
        kernel = Kernel()
        kernels.append(kernel)
        run = kernel.execute(SETUP.format(folder=str(tmp_path / "chats"), base_url=openai_server.base_url,
                                          api_key=openai_server.api_key), timeout=60)
        assert run.ok, run.errors or run.stderr
        return kernel

    yield started
    for kernel in kernels:
        kernel.shutdown()


def turn(kernel, chat, text, model="model", ok=True):
    run = kernel.execute(f"%%rlm -m {model} --chat {chat} --no-widget\n{text}", timeout=60)
    assert run.ok is ok, run.errors or run.stderr
    return run


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def test_a_named_chat_is_back_after_the_kernel_restarts(start, openai_server, tmp_path):
    first = start()
    openai_server.script(Stream("Lisbon: walk Alfama."), Stream("Take the tram."))
    turn(first, "trip", "Plan a day in Lisbon.")
    turn(first, "trip", f"Cheaper? my key is {TEST_KEY}")
    first.shutdown()

    second = start()
    openai_server.script(Stream("Eat at a tasca."))
    run = turn(second, "trip", "And lunch?", model="mini")  # another model carries on the same history
    assert openai_server.requests[-1]["model"] == "gpt-4o-mini"
    assert openai_server.requests[-1]["messages"] == [
        user("Plan a day in Lisbon."), assistant("Lisbon: walk Alfama."),
        user("Cheaper? my key is ***"), assistant("Take the tram."), user("And lunch?")]
    assert run.stderr == ""
    listed = second.execute("%rlm chats").stdout
    assert "trip" in listed and "3 turns" in listed and "openai:gpt-4o-mini (+1 other)" in listed
    shown = second.execute("%rlm chat show trip").stdout
    assert [line.split(" · ")[1] for line in shown.splitlines() if line.startswith("── turn")] == [
        "openai:gpt-4o", "openai:gpt-4o", "openai:gpt-4o-mini"]
    saved = (tmp_path / "chats" / "trip.jsonl").read_text()
    assert TEST_KEY not in saved and TEST_KEY not in shown
    assert [json.loads(line).get("model") for line in saved.splitlines()] == [
        None, "openai:gpt-4o", "openai:gpt-4o", "openai:gpt-4o-mini"]


def test_two_kernels_on_one_chat_each_see_the_others_turns(start, openai_server):
    a, b = start(), start()
    openai_server.script(Stream("one"), Stream("two"), Stream("three"))
    turn(a, "shared", "A asks")
    turn(b, "shared", "B asks")
    turn(a, "shared", "A again")
    assert openai_server.requests[-1]["messages"] == [
        user("A asks"), assistant("one"), user("B asks"), assistant("two"), user("A again")]
    run = b.execute("%rlm chat fork shared --at 2 side\n%rlm chat forget shared\n%rlm chats")
    assert run.ok, run.errors
    assert "Chat 'side': 2 turns of 'shared'" in run.stdout
    assert "Chat 'shared' forgotten (3 turns" in run.stdout
    assert "side" in run.stdout.splitlines()[-1] and "forked from shared at turn 2" in run.stdout


def test_history_is_cut_to_the_window_oldest_first_and_the_cut_is_said(start, openai_server):
    kernel = start()
    long = " ".join(["word"] * 200)
    for n in range(3):
        openai_server.script(Stream(f"answer {n}"))
        turn(kernel, "long", f"{n} {long}")
    # each turn: (1,001 + 3) // 4 + 6 and (8 + 3) // 4 + 6: 265 tokens; the room: 700 - 100 (--max-tokens)
    # - 19 ("Now?" and the framing of the system prompt, the prompt and the answer) = 581: two turns
    assert kernel.execute("%config RLMMagics.chat_window = 700").ok
    openai_server.script(Stream("fine"))
    run = kernel.execute("%%rlm -m model --chat long --no-widget --max-tokens 100\nNow?")
    assert run.ok, run.errors
    assert openai_server.requests[-1]["messages"] == [
        user(f"1 {long}"), assistant("answer 1"), user(f"2 {long}"), assistant("answer 2"), user("Now?")]
    assert run.stderr == ("rlm: chat 'long': the oldest turn of 3 left out to fit openai:gpt-4o's context "
                          "window (700 tokens, RLMMagics.chat_window; ~530 tokens of history sent); the chat "
                          "file keeps it\n")
    assert "4 turns" in kernel.execute("%rlm chats").stdout  # nothing is lost from the file


def test_a_hostile_chat_file_keeps_what_is_readable_and_another_file_is_never_written(
        start, openai_server, tmp_path):
    folder = tmp_path / "chats"
    folder.mkdir()
    good = json.dumps({"type": "turn", "model": "openai:gpt-4o", "user": "kept", "assistant": "yes"})
    (folder / "bad.jsonl").write_text('{"type": "rlm-chat", "version": 1}\n{oops\n' + "[" * 3000 + "\n"
                                      + good + "\n")
    (folder / "notes.jsonl").write_text("name,score\nada,3\n")
    kernel = start()
    openai_server.script(Stream("ok"))
    run = turn(kernel, "bad", "next")
    assert openai_server.requests[-1]["messages"] == [user("kept"), assistant("yes"), user("next")]
    path = folder / "bad.jsonl"
    assert run.stderr.splitlines() == [
        f"rlm: chat 'bad': {path} line 2: not JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)), skipped",
        f"rlm: chat 'bad': {path} line 3: not JSON (nested deeper than 4 levels), skipped",
        "rlm: chat 'bad': the readable turns are kept"]
    assert turn(kernel, "bad", "again").stderr == ""  # said once per kernel
    requests = len(openai_server.requests)
    run = kernel.execute("%%rlm -m model --chat notes\nhi")
    assert run.usage_error == (f"'{folder / 'notes.jsonl'}' is not an rlm chat file; rlm never writes or "
                               "deletes another file (pick another chat name, or move it away)")
    assert (folder / "notes.jsonl").read_text() == "name,score\nada,3\n"
    forget = kernel.execute("%rlm chat forget notes")
    assert forget.usage_error.startswith(f"'{folder / 'notes.jsonl'}' is not")
    assert kernel.execute("%%rlm -m model --chat ../escape\nhi").usage_error.startswith(
        "--chat: a chat's name is 1 to 64 letters")
    assert len(openai_server.requests) == requests and sorted(p.name for p in folder.iterdir()) == [
        "bad.jsonl", "notes.jsonl"]


def test_the_one_line_form_is_a_one_line_cell(start, openai_server):
    kernel = start()
    n = kernel.execute("x = 41\nx").reply["content"]["execution_count"]
    assert kernel.execute("%rlm model model").ok
    run = kernel.execute(f"%rlm Is {{x}} prime, given {{In[{n}]}} ")
    assert run.ok, run.errors
    assert openai_server.requests[-1]["messages"] == [user("Is 41 prime, given x = 41\nx")]
    run = kernel.execute("%rlm -m mini --no-widget -o said -- chat with me about {x}")
    assert run.ok, run.errors
    assert openai_server.requests[-1]["model"] == "gpt-4o-mini"
    assert openai_server.requests[-1]["messages"] == [user("chat with me about 41")]
    assert kernel.value("said") == "Hello from the loopback server."
    requests = len(openai_server.requests)
    assert kernel.execute("%rlm --").usage_error == "%rlm -- PROMPT: the prompt is empty"
    assert kernel.execute("%rlm chat about x").usage_error.endswith(
        "(a prompt that reads like a command: %rlm -- chat about x)")
    assert len(openai_server.requests) == requests


def test_the_answer_shows_the_prompt_sent_folded_in_the_saved_output(start, openai_server):
    kernel = start()
    assert kernel.execute("x = '<b>bold</b>'").ok
    openai_server.script(Stream("Seen."))
    run = kernel.execute(f"%%rlm -m model -s 'Be brief.'\nLook at {{x}} ({TEST_KEY})")
    assert run.ok, run.errors
    assert openai_server.requests[-1]["messages"] == [
        {"role": "system", "content": "Be brief."}, user(f"Look at <b>bold</b> ({TEST_KEY})")]
    html = [m["content"]["data"]["text/html"] for m in run.of("display_data", "update_display_data")
            if "text/html" in m["content"]["data"]][-1]
    assert ('<summary class="rlm-prompt-title" style="opacity:0.75">Prompt'
            '</summary><div class="rlm-prompt-text" style="white-space:pre-wrap;opacity:0.75">[system]\n'
            "Be brief.\n\n[user]\nLook at &lt;b&gt;bold&lt;/b&gt; (***)</div></details>") in html
    assert '<details class="rlm-prompt" style="' in html  # folded: no "open"
    assert TEST_KEY not in json.dumps(run.of("display_data", "update_display_data", "comm_open", "comm_msg"),
                                      default=str)
    states = [m["content"]["data"]["state"] for m in run.of("comm_open", "comm_msg")
              if "prompt" in m["content"].get("data", {}).get("state", {})]
    assert states and states[0]["prompt"] == "[system]\nBe brief.\n\n[user]\nLook at <b>bold</b> (***)"


@pytest.mark.model
@pytest.mark.timeout(600)  # ~2,000 prompt tokens on a shared two-core machine
def test_the_embedded_model_continues_a_chat_cut_to_its_n_ctx(fresh_kernel, tmp_path):
    """No key, no model named: the embedded model's own window (n_ctx 2,048) cuts the history."""
    from rlm_jupyter.context.chats import ChatStore, Turn
    from tests.conftest import require
    from tests.fixtures.notebooks import embedded_model_missing

    missing = embedded_model_missing()
    if missing:
        if require("model"):
            pytest.fail(missing)
        pytest.skip(missing)
    import re

    store = ChatStore(tmp_path / "chats")
    for n in range(12):  # ~208 tokens each at four characters a token; about 400 for SmolLM2's tokenizer
        store.append("long", Turn.new("openai:gpt-4o", f"{n:02d}" + "u" * 778, "a" * 20))
    folder = str(tmp_path / "chats")
    assert fresh_kernel.execute(f"%load_ext rlm_jupyter\n%config RLMMagics.chats_dir = {folder!r}").ok
    run = fresh_kernel.execute("%%rlm --chat long --max-tokens 8 --temperature 0 --no-widget\nSay hi.",
                               timeout=540)
    assert run.ok, run.errors or run.stderr  # within the window: llama.cpp refuses a prompt past n_ctx
    said = re.fullmatch(r"rlm: chat 'long': the (\d+) oldest turns of 12 left out to fit local:smollm2's "
                        r"context window \(2,048 tokens, its n_ctx; ~([\d,]+) tokens of history sent\); the "
                        r"chat file keeps them\n", run.stderr)
    assert said, run.stderr
    left_out, kept = int(said[1]), int(said[2].replace(",", ""))
    assert left_out > 3 and 0 < kept <= 2048 - 8  # counted by the model's tokenizer, not the estimate (3)
    chat = ChatStore(tmp_path / "chats").load("long")
    assert len(chat.turns) == 13 and chat.turns[-1].model == "local:smollm2"
    assert chat.turns[-1].user == "Say hi."
