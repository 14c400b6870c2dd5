"""``%%rlm`` through a real ipykernel: what crosses iopub, how fast, and how it ends."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """
%load_ext rlm_jupyter
import json, time, asyncio
from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn, RateLimitError
story = " ".join(f"word{i}" for i in range(120))
slow = RLM(ScriptedProvider(story, delay=0.004))
echo_provider = ScriptedProvider(
    fn=lambda r: "You said: " + r.messages[-1]["content"] + f" ({len(r.messages)} messages)")
echo = RLM(echo_provider)
"""


@pytest.fixture(scope="module")
def kernel(ipy_kernel):
    run = ipy_kernel.execute(SETUP)
    assert run.ok, run.errors
    return ipy_kernel


def final(run):
    """The last display update (the static bundle); before it, the saved copy's refreshes (partial
    text/plain and HTML of the text so far, then emptied), never the widget's own output."""
    updates = run.of("update_display_data")
    assert updates, [m["msg_type"] for m in run.messages]
    for early in updates[:-1]:
        assert early["content"]["metadata"]["rlm"]["partial"] is True
        assert early["content"]["metadata"]["rlm"]["copy"] is True
        assert set(early["content"]["data"]) in ({"text/plain", "text/html"}, set())
    assert not updates[-1]["content"]["metadata"]["rlm"].get("copy")
    return updates[-1]["content"]


def is_final(m):
    """The display update that replaces a settled stream (not a partial text/plain snapshot)."""
    return m["msg_type"] == "update_display_data" and not m["content"]["metadata"]["rlm"].get("partial")


def deltas(run):
    return [m for m in run.comm_msgs() if "d" in m]


def test_answer_grows_in_place_and_ends_as_static_text(kernel):
    run = kernel.execute("%%rlm -m slow -o answer\nTell me a story.")
    assert run.ok, run.errors
    story = kernel.value("story")
    displays = run.of("display_data")
    assert len(displays) == 2 and WIDGET in displays[0]["content"]["data"]
    assert 'class="rlm-saved"' in displays[1]["content"]["data"]["text/html"]  # its saved copy, after it
    display_id = displays[0]["content"]["transient"]["display_id"]
    sent = deltas(run)
    assert len(sent) >= 3, "the answer should arrive in several frames"
    assert "".join(m["d"] for m in sent) == story
    assert {m["_comm"] for m in sent} == {displays[0]["content"]["data"][WIDGET]["model_id"]}
    end = final(run)
    assert end["transient"]["display_id"] == display_id
    assert end["data"]["text/plain"] == story
    assert "word119" in end["data"]["text/markdown"] and "word0" in end["data"]["text/html"]
    assert 'data-state="done"' in end["data"]["text/html"]
    provenance = end["metadata"]["rlm"]
    assert provenance["model"] == "scripted:scripted" and provenance["state"] == "done"
    assert provenance["usage"]["completion_tokens"] == 120 and provenance["ttft_s"] is not None
    assert kernel.value("answer") == story
    # the page builds the text from the deltas; the kernel never re-sends it as a trait
    syncs = [
        m["content"]["data"] for m in run.of("comm_msg") if m["content"]["data"].get("method") == "update"
    ]
    assert syncs and all("text" not in s["state"] for s in syncs)
    assert any(s["state"].get("state") == "done" for s in syncs)


def test_message_rate_and_token_latency_including_before_a_pause(kernel):
    # Tokens come in bursts with pauses; the kernel records when each was yielded (epoch seconds),
    # and each message carries the kernel's send time in its header: client-side lag does not count.
    code = """
yielded = []
async def bursts():
    for burst in range(4):
        for i in range(40):
            await asyncio.sleep(0.003)
            yielded.append(time.time())
            yield f"b{burst}t{i} "
        await asyncio.sleep(0.3)
from rlm_jupyter import display_stream
view = display_stream(bursts(), model="scripted:bursts")
"""
    run = kernel.execute(code)
    assert run.ok, run.errors
    yielded = kernel.value("yielded")
    sent = deltas(run)
    assert "".join(m["d"] for m in sent) == "".join(f"b{b}t{i} " for b in range(4) for i in range(40))
    # ≤ 30 messages a second. The coalescer spaces flushes one frame apart on its own clock
    # (live/test_pacing.py checks that exactly, on a fake clock); the header dates are stamped when
    # the kernel sends, a few ms of scheduling jitter later on a busy machine. So: no two deltas
    # closer than a frame less that jitter, and on average at least a frame apart.
    gaps = [b["_sent"] - a["_sent"] for a, b in zip(sent, sent[1:])]
    assert min(gaps) >= 1 / 30 - 0.005, gaps
    assert sum(gaps) / len(gaps) >= 1 / 30, gaps
    # no token waits more than 50 ms to be sent, the last of each burst included
    latencies = []
    for index, at in enumerate(yielded):
        carrier = next(m for m in sent if m["n"] >= index + 1)
        latencies.append(carrier["_sent"] - at)
    assert max(latencies) <= 0.05, f"max latency {max(latencies) * 1000:.1f} ms"
    lasts = [latencies[40 * b + 39] for b in range(4)]
    assert max(lasts) <= 0.05, lasts


def test_bytes_on_the_wire_stay_linear_in_the_text(kernel):
    setup = 'big = " ".join(f"tok{i:04d}" for i in range(2000)); fast = RLM(ScriptedProvider(big))'
    assert kernel.execute(setup).ok
    run = kernel.execute("%%rlm -m fast\nGo.")
    assert run.ok, run.errors
    text_bytes = len(kernel.value("big").encode())
    display = run.of("display_data")[0]
    update = run.of("update_display_data")[-1]
    streaming = [m for m in run.messages if display["_t"] < m["_t"] < update["_t"]]
    stream_bytes = sum(m["_bytes"] for m in streaming if m["msg_type"] == "comm_msg")
    assert stream_bytes <= 1.5 * text_bytes, (stream_bytes, text_bytes)
    # the text/plain snapshots for saving and widget-less front ends grow geometrically: linear too
    snapshot_bytes = sum(m["_bytes"] for m in streaming if m["msg_type"] == "update_display_data")
    assert snapshot_bytes <= 3.5 * text_bytes, (snapshot_bytes, text_bytes)
    opens = run.of("comm_open")
    assets = [m for m in opens if str(m["content"]["data"]["state"].get("key", "")).startswith("__rlm_page_")]
    fixed = sum(m["_bytes"] for m in opens if m not in assets) + display["_bytes"]
    # the widget's own module and CSS, once per display (the page libraries once per kernel)
    assert fixed < 20_000, f"per-display fixed cost {fixed} bytes"
    again = kernel.execute("%%rlm -m fast\nGo.")
    assert again.ok, again.errors
    assert not [m for m in again.of("comm_open")
                if str(m["content"]["data"]["state"].get("key", "")).startswith("__rlm_page_")]
    assert update["_bytes"] < 5 * text_bytes  # plain + markdown + html of the answer


def test_error_keeps_partial_text_and_shows_one_scrubbed_line(kernel):
    code = (
        'broken = RLM(ScriptedProvider(turns=[ScriptedTurn(chunks="Half an answer then", '
        'error=RateLimitError("slow down, key sk-abcdefghijklmnop1234 over quota", status_code=429), '
        "error_after=3)]), max_retries=0)"
    )
    assert kernel.execute(code).ok
    run = kernel.execute("%%rlm -m broken\nhi")
    # the cell fails (Run All, nbconvert --execute and papermill stop here) with one line, no traceback
    assert not run.ok
    reply = run.reply["content"]
    assert reply["ename"] == "RateLimitError" and "slow down" in reply["evalue"]
    assert len(reply["traceback"]) == 1 and "partial answer is kept" in reply["traceback"][0]
    assert reply["traceback"][0].startswith("RateLimitError: slow down")
    end = final(run)
    assert end["metadata"]["rlm"]["state"] == "error"
    assert "RateLimitError: slow down" in end["metadata"]["rlm"]["error"]  # the provenance keeps it
    # shown once: the cell's error line; the answer's copies keep the text, their footer says error
    assert end["data"]["text/plain"] == "Half an answer"
    assert "slow down" not in end["data"]["text/html"] and "· error</div>" in end["data"]["text/html"]
    assert "slow down" not in end["data"]["text/markdown"]
    state = [m for m in run.of("comm_msg") if m["content"]["data"].get("method") == "update"]
    assert any(m["content"]["data"]["state"].get("state") == "error" for m in state)
    assert not any(m["content"]["data"]["state"].get("error") for m in state)  # nor in the widget


def test_a_failure_before_any_text_claims_no_partial_answer(kernel, openai_server):
    from tests.fixtures.openai_server import Unauthorized

    openai_server.script(Unauthorized())
    exports = "".join(f"os.environ[{k!r}] = {v!r}\n" for k, v in openai_server.env.items())
    assert kernel.execute("import os\n" + exports).ok
    try:
        run = kernel.execute("%%rlm -m openai:gpt-4o\nhi")
    finally:
        kernel.execute("for k in ('OPENAI_BASE_URL', 'OPENAI_API_KEY'): os.environ.pop(k, None)")
    (line,) = run.reply["content"]["traceback"]
    assert line.startswith("AuthenticationError: ") and "kept" not in line and "partial" not in line
    assert final(run)["data"]["text/plain"] == ""
    assert kernel.execute("%config RLMMagics.fail_cell = False").ok
    try:  # the cell does not fail: the widget is where the error shows
        openai_server.script(Unauthorized())
        kernel.execute("import os\n" + exports)
        run = kernel.execute("%%rlm -m openai:gpt-4o\nhi")
    finally:
        kernel.execute("%config RLMMagics.fail_cell = True")
        kernel.execute("for k in ('OPENAI_BASE_URL', 'OPENAI_API_KEY'): os.environ.pop(k, None)")
    assert run.ok and final(run)["data"]["text/plain"].startswith("[AuthenticationError: ")
    wire = json.dumps([m["content"] for m in run.messages])
    assert "sk-abcdefghijklmnop1234" not in wire and "Traceback" not in wire


def test_missing_key_is_one_line_naming_the_variable(kernel):
    run = kernel.execute("%%rlm -m openai:gpt-4o\nhi")
    message = run.usage_error
    assert message and "OPENAI_API_KEY" in message and "local:smollm2" in message
    assert run.stderr.strip().count("\n") == 0, run.stderr


def test_interpolation_names_only(kernel):
    assert kernel.execute("topic = 'SSE'; cfg = type('C', (), {'name': 'deep'})()").ok
    run = kernel.execute("%%rlm -m echo -o said\nExplain {topic} at {cfg.name} level, {{literally}}.")
    assert run.ok, run.errors
    assert kernel.value("said") == "You said: Explain SSE at deep level, {literally}. (1 messages)"
    run = kernel.execute("%%rlm -m echo\n{topic.upper()}")
    assert "not expressions" in (run.usage_error or "")
    run = kernel.execute("%%rlm -m echo\n{__import__('os').system('echo pwned')}")
    assert "not expressions" in (run.usage_error or "") and "pwned" not in run.stdout
    run = kernel.execute("%%rlm -m echo\nAbout {nowhere}")
    assert "'nowhere'" in (run.usage_error or "")


def test_chat_keeps_history_across_cells_and_reset_forgets(kernel):
    assert kernel.execute("%rlm reset").ok
    kernel.execute("%%rlm -m echo --chat -o one\nFirst.")
    kernel.execute("%%rlm -m echo --chat -o two\nSecond.")
    assert kernel.value("two") == "You said: Second. (3 messages)"
    sent = kernel.value("[m['content'] for m in echo_provider.requests[-1].messages]")
    assert sent == ["First.", "You said: First. (1 messages)", "Second."]
    run = kernel.execute("%rlm reset")
    assert "2 exchanges forgotten" in run.stdout
    kernel.execute("%%rlm -m echo --chat -o three\nThird.")
    assert kernel.value("three") == "You said: Third. (1 messages)"


def test_line_forms_and_help(kernel):
    run = kernel.execute("%rlm models")
    assert all(name in run.stdout for name in ("openai", "local", "scripted", "OPENAI_API_KEY"))
    run = kernel.execute("%rlm model echo\n%rlm config")
    assert "RLMMagics.model = 'echo'" in run.stdout
    run = kernel.execute("%%rlm -o via_default\nHello")
    assert run.ok and kernel.value("via_default") == "You said: Hello (1 messages)"
    assert kernel.execute("%config RLMMagics.model = None").ok
    run = kernel.execute("%rlm chat frobnicate x")  # (a line not naming a subcommand is a prompt)
    assert "invalid choice: 'frobnicate'" in (run.usage_error or "")
    run = kernel.execute("%rlm model nosuch:thing")
    assert "unknown provider" in (run.usage_error or "")
    run = kernel.execute("%%rlm --temperature hot\nhi")
    assert run.usage_error and "temperature" in run.usage_error
    run = kernel.execute("%%rlm?")
    help_text = "".join(m["content"]["data"].get("text/plain", "") for m in run.of("display_data")) + \
        json.dumps(run.reply["content"].get("payload", []))
    for option in (
        "--model",
        "--system",
        "--max-tokens",
        "--format",
        "--out",
        "--chat",
        "--no-widget",
        "--bg",
    ):
        assert option in help_text, option


def test_no_widget_streams_plain_text(kernel):
    run = kernel.execute("%%rlm -m echo --no-widget\nplain please")
    assert run.ok
    assert "You said: plain please" in run.stdout
    assert not run.of("comm_open")
    # then the printed text is swapped for the static answer, so the saved notebook keeps it richly
    kinds = [
        m["msg_type"] for m in run.messages if m["msg_type"] in ("stream", "clear_output", "display_data")
    ]
    assert kinds[-2:] == ["clear_output", "display_data"] and run.of("clear_output")[0]["content"]["wait"]
    shown = run.of("display_data")[0]["content"]
    assert shown["data"]["text/plain"] == "You said: plain please (1 messages)"
    assert "text/html" in shown["data"] and shown["metadata"]["rlm"]["state"] == "done"


def test_background_streams_do_not_mix_and_the_stop_message_cancels(kernel):
    code = """
a_text = " ".join(f"alpha{i}" for i in range(60)); b_text = " ".join(f"beta{i}" for i in range(60))
ra = RLM(ScriptedProvider(a_text, delay=0.01)); rb = RLM(ScriptedProvider(b_text, delay=0.012))
endless = RLM(ScriptedProvider(" ".join(f"w{i}" for i in range(100000)), delay=0.01))
"""
    assert kernel.execute(code).ok
    started = time.perf_counter()
    ra_run = kernel.execute("%%rlm --bg -m ra -o a_out\nA")
    rb_run = kernel.execute("%%rlm --bg -m rb -o b_out\nB")
    assert time.perf_counter() - started < 1.0, "--bg cells must return at once"
    other = kernel.execute("print(6 * 7)")  # another cell runs while both stream
    assert other.stdout.strip() == "42"
    ids = {r.of("display_data")[0]["content"]["data"][WIDGET]["model_id"]: name
           for r, name in ((ra_run, "a"), (rb_run, "b"))}
    messages: list = [*ra_run.messages, *rb_run.messages]  # what arrived before each cell went idle
    deadline = time.perf_counter() + 15
    while time.perf_counter() < deadline and len([m for m in messages if is_final(m)]) < 2:
        messages += kernel.collect(0.5)
    texts = {"a": "", "b": ""}
    for m in messages:
        data = m["content"].get("data", {})
        if m["msg_type"] == "comm_msg" and data.get("method") == "custom" and "d" in data["content"]:
            texts[ids[m["content"]["comm_id"]]] += data["content"]["d"]
    assert texts["a"] == kernel.value("a_text") == kernel.value("a_out")
    assert texts["b"] == kernel.value("b_text") == kernel.value("b_out")

    kernel.collect(0.2)  # drop what is left of the two streams
    run = kernel.execute("%%rlm --bg -m endless -o stopped_out\ngo")
    comm_id = run.of("display_data")[0]["content"]["data"][WIDGET]["model_id"]
    time.sleep(0.3)
    kernel.send_comm(comm_id, {"type": "stop"})
    got = kernel.collect(5, until=is_final)
    assert got and is_final(got[-1])
    assert got[-1]["content"]["metadata"]["rlm"]["state"] == "stopped"
    partial = kernel.value("stopped_out")
    assert partial.startswith("w0 w1") and len(partial) < 20 * 100000


def test_interrupt_stops_within_half_a_second_and_closes_the_connection(fresh_kernel, openai_server):
    from tests.fixtures.openai_server import Stream

    openai_server.script(Stream(" ".join(f"t{i}" for i in range(2000)), delay=0.01))
    setup = (
        f"%load_ext rlm_jupyter\nfrom rlm_toolkit import RLM\n"
        f"remote = RLM.from_openai('gpt-4o', base_url={openai_server.base_url!r},\n"
        f"                         api_key={openai_server.api_key!r})"
    )
    assert fresh_kernel.execute(setup).ok
    run = fresh_kernel.execute("%%rlm -m remote -o partial\nLong story please.", interrupt_after=1.0)
    assert run.interrupted_at is not None
    assert run.ended - run.interrupted_at <= 0.5, f"took {run.ended - run.interrupted_at:.3f} s"
    assert any(e[0] == "KeyboardInterrupt" for e in run.errors)
    end = final(run)
    assert end["metadata"]["rlm"]["state"] == "stopped"
    assert end["data"]["text/plain"].startswith("t0 t1")
    assert openai_server.wait_disconnect(2.0), "the HTTP connection stayed open after the interrupt"
    assert fresh_kernel.execute("print(len(partial) > 0)").stdout.strip() == "True"
    assert openai_server.api_key not in json.dumps([m["content"] for m in run.messages])


def test_stop_wakes_a_foreground_cell_whose_server_has_not_answered_yet(kernel, openai_server):
    """A foreground answer reads its socket in the kernel's main thread, so nothing else runs there
    while the server is silent: the Stop click (a comm message on a subshell) shuts that socket
    down, here before the response's first byte, and the cell ends at once as stopped."""
    from tests.fixtures.openai_server import Stall

    openai_server.script(Stall(30))
    setup = (f"from rlm_toolkit import RLM\n"
             f"silent = RLM.from_openai('gpt-4o', base_url={openai_server.base_url!r},\n"
             f"                         api_key={openai_server.api_key!r}, max_retries=0)")
    assert kernel.execute(setup).ok
    kernel.collect(0.2)
    subshell = kernel.subshell()
    msg_id = kernel.start("%%rlm -m silent -o unanswered\nhi")
    comm, _ = kernel.widget()
    time.sleep(0.5)  # the request is out; the server sends nothing
    clicked = time.perf_counter()
    kernel.send_comm(comm, {"type": "stop"}, subshell=subshell)
    run = kernel.until_idle(msg_id, timeout=20)
    assert run.ended - clicked < 1.0, f"the cell took {run.ended - clicked:.2f} s to end after Stop"
    assert run.ok, run.errors
    end = [m for m in run.messages if is_final(m)][-1]["content"]
    assert end["metadata"]["rlm"]["state"] == "stopped"
    assert openai_server.wait_disconnect(2.0), "the connection stayed open after the Stop"
    assert kernel.value("unanswered") == ""


def test_openai_models_use_the_environments_url_and_key_and_a_401_shows_one_scrubbed_line(
    kernel, openai_server
):
    from tests.fixtures.openai_server import Stream, Unauthorized

    openai_server.script(Stream("Hello from the loopback server"), Unauthorized())
    exports = "".join(f"os.environ[{k!r}] = {v!r}\n" for k, v in openai_server.env.items())
    assert kernel.execute("import os\n" + exports).ok
    try:
        run = kernel.execute("%%rlm -m openai:gpt-4o -o via_env\nhi")
        assert run.ok, run.errors
        assert kernel.value("via_env") == "Hello from the loopback server"
        assert openai_server.requests[-1]["model"] == "gpt-4o"
        assert openai_server.headers[-1]["authorization"] == f"Bearer {openai_server.api_key}"
        run = kernel.execute("%%rlm -m openai:gpt-4o-mini\nhi")  # 401, echoing the key masked
        end = final(run)
        assert end["metadata"]["rlm"]["state"] == "error"
        assert run.errors[0][0] == "AuthenticationError"
        wire = json.dumps([m["content"] for m in run.messages], default=str)
        key = openai_server.api_key
        assert key not in wire and key[:8] not in wire and "Traceback" not in wire
    finally:
        kernel.execute("for k in ('OPENAI_BASE_URL', 'OPENAI_API_KEY'): os.environ.pop(k, None)")


@pytest.mark.model
@pytest.mark.timeout(300)
def test_no_model_named_and_no_key_the_embedded_model_answers_in_place(fresh_kernel):
    from tests.conftest import require
    from tests.fixtures.notebooks import embedded_model_missing

    missing = embedded_model_missing()
    if missing:
        if require("model"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert fresh_kernel.execute("%load_ext rlm_jupyter").ok
    run = fresh_kernel.execute(
        "%%rlm --max-tokens 24 --temperature 0 -o said\nSay hello to a new user.", timeout=240
    )
    assert run.ok, run.errors or run.stderr
    sent = deltas(run)
    assert sent and "".join(m["d"] for m in sent).strip()
    end = final(run)
    assert end["metadata"]["rlm"]["model"] == "local:smollm2" and end["metadata"]["rlm"]["state"] == "done"
    assert end["data"]["text/plain"] == "".join(m["d"] for m in sent)
    assert fresh_kernel.execute("print(len(said) > 0)").stdout.strip() == "True"


def test_await_adisplay_stream_in_a_cell(kernel):
    run = kernel.execute(
        "from rlm_jupyter import adisplay_stream\nview = await adisplay_stream(slow.astream('hi'))"
    )
    assert run.ok, run.errors
    assert "".join(m["d"] for m in deltas(run)) == kernel.value("story") == kernel.value("view.answer")
    assert final(run)["metadata"]["rlm"]["state"] == "done"


def test_a_character_split_into_its_utf16_halves_ends_the_cell_normally(kernel):
    """Issue 20 #2: the two JSON halves of an emoji in two chunks, and a lone half, once broke the
    widget (its UTF-16 offsets), the cell (a 31-frame traceback) and left the widget streaming."""
    run = kernel.execute('halves = RLM(ScriptedProvider(["Hello ", "\\ud83d", "\\ude00 bye", "\\udc00"]))')
    assert run.ok, run.errors
    run = kernel.execute("%%rlm -m halves -o answer\nHi")
    assert run.ok, run.errors
    whole = "Hello \U0001F600 bye\ufffd"
    assert kernel.value("answer") == whole
    end = final(run)
    assert end["data"]["text/plain"] == whole and end["metadata"]["rlm"]["state"] == "done"
    assert "".join(m["d"] for m in deltas(run)) == whole
