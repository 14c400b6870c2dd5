"""The embedded model in process: a real answer with no key, off-loop generation, prompt stops."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from rlm_toolkit import RLM, ConfigurationError

from ...conftest import require

llama_cpp = pytest.importorskip("llama_cpp", reason="the local extra is not installed") if not require(
    "model"
) else __import__("llama_cpp")

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def local():
    rlm = RLM()  # no RLM_MODEL (the conftest removes it): the embedded model
    assert rlm.model_id == "local:smollm2"
    rlm.provider.load()
    return rlm


def raw_stream(llama, messages, **settings):
    """What llama-cpp-python itself streams for a request: its text chunks and finish reason."""
    chunks, reason = [], None
    for chunk in llama.create_chat_completion(messages, stream=True, **settings):
        choice = chunk["choices"][0]
        if choice["delta"].get("content"):
            chunks.append(choice["delta"]["content"])
        reason = choice.get("finish_reason") or reason
    return chunks, reason


PROMPT = "Write a few sentences about a river."


def messages_for(prompt):
    from rlm_toolkit.providers.local import DEFAULT_SYSTEM

    return [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": prompt}]


def test_the_default_model_with_no_key_gives_exactly_what_raw_llama_cpp_gives(local):
    """rlm adds nothing and drops nothing: the same chunks, one by one, as llama-cpp-python's own
    stream for the same request on the same loaded model (temperature 0), whatever the model says."""
    llama = local.provider.load()
    settings = {"temperature": 0, "max_tokens": 40}
    llama.reset()  # each call below evaluates the whole prompt: no cached prefix to differ by
    expected, reason = raw_stream(llama, messages_for(PROMPT), **settings)
    assert len(expected) > 3
    llama.reset()
    chunks = list(local.stream(PROMPT, **settings))
    assert all(type(c) is str for c in chunks)
    assert chunks == expected
    response = local.last_response
    assert response.state == "done" and response.finish_reason == reason
    assert response.text == "".join(expected)
    assert response.completion_tokens == response.chunks == len(expected)
    assert response.prompt_tokens and response.prompt_tokens > 10
    assert response.ttft is not None and response.tokens_per_second

    async def main():
        return [c async for c in local.astream(PROMPT, **settings)]

    llama.reset()
    assert asyncio.run(main()) == expected
    assert local.last_response.finish_reason == reason and local.last_response.state == "done"
    llama.reset()
    assert local.run(PROMPT, **settings) == "".join(expected)


def test_max_tokens_gives_finish_reason_length(local):
    chunks = list(local.stream(PROMPT, temperature=0, max_tokens=5))
    assert len(chunks) == 5 and local.last_response.finish_reason == "length"


def test_a_stop_sequence_holds(local):
    """Stop at a word the model would otherwise write (taken from its own unconstrained answer)."""
    llama = local.provider.load()
    llama.reset()
    full = "".join(raw_stream(llama, messages_for(PROMPT), temperature=0, max_tokens=60)[0])
    words = [w.strip(".,;:!?\"'") for w in full.split()]
    stop = next(w for w in words[4:] if len(w) >= 4 and full.index(w) > 10)
    llama.reset()
    expected, _ = raw_stream(llama, messages_for(PROMPT), temperature=0, max_tokens=60, stop=[stop])
    llama.reset()
    text = local.run(PROMPT, temperature=0, max_tokens=60, stop=stop)
    assert text == "".join(expected) and stop not in text
    assert full.startswith(text) and len(text) >= full.index(stop) - 1
    assert local.last_response.finish_reason == "stop"


def test_prompt_tokens_match_llama_cpps_own_count(local):
    """Streamed chunks carry no usage; our count must equal llama-cpp's non-streamed one."""
    from rlm_toolkit.providers.local import DEFAULT_SYSTEM

    local.run("What is 2 + 2?", temperature=0, seed=1, max_tokens=5)
    messages = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": "What is 2 + 2?"}]
    theirs = local.provider.load().create_chat_completion(messages, temperature=0, seed=1, max_tokens=5)
    assert local.last_response.prompt_tokens == theirs["usage"]["prompt_tokens"] > 10


def test_temperature_zero_with_a_seed_repeats(local):
    first = local.run("Name three colours.", temperature=0, seed=7, max_tokens=20)
    assert first and local.run("Name three colours.", temperature=0, seed=7, max_tokens=20) == first


def test_astream_does_not_block_the_event_loop(local):
    async def main():
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        chunks = [c async for c in local.astream("Tell a short story.", max_tokens=60)]
        done.set()
        await task
        return chunks, ticks

    chunks, ticks = asyncio.run(main())
    assert len(chunks) > 10
    assert ticks > 10  # the loop kept running while the model generated


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("rlm-local-")]


def model_is_free(local) -> bool:
    """No generation holds the model: llama's generator has been closed."""
    from rlm_toolkit.providers.local import load_model

    lock = load_model(local.provider.path, local.provider.n_ctx)[1]
    if not lock.acquire(blocking=False):
        return False
    lock.release()
    return True


def test_sync_streams_generate_in_the_callers_thread(local):
    from rlm_toolkit import StreamingCallback

    seen = set()

    class Where(StreamingCallback):
        def on_llm_new_token(self, token, **kwargs):
            seen.add(threading.current_thread())
            assert not _workers()

    local.run("Count to five.", max_tokens=8, callbacks=[Where()])
    assert seen == {threading.current_thread()}


def test_closing_the_stream_stops_generation_at_once(local):
    stream = local.stream("Write a very long story about the sea.", max_tokens=400)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    assert model_is_free(local), "the model was still generating after the stream was closed"
    assert not _workers()
    assert local.last_response.state == "stopped"
    assert local.last_response.chunks == 4


def test_breaking_out_of_a_bare_for_loop_frees_the_model(local):
    for i, _ in enumerate(local.stream("Write a very long story about the sea.", max_tokens=400)):
        if i == 2:
            break
    assert model_is_free(local) and local.last_response.state == "stopped"


def test_keyboard_interrupt_while_the_model_computes_stops_at_the_next_token(local):
    chunks = []
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        for chunk in local.stream("Write a very long story about the sea.", max_tokens=400):
            chunks.append(chunk)
            if len(chunks) == 1:
                timer.start()
    timer.join()
    assert model_is_free(local) and local.last_response.state == "stopped"
    assert 1 <= len(chunks) < 400 and local.last_response.text == "".join(chunks)


def test_keyboard_interrupt_raised_in_a_callback(local):
    from rlm_toolkit import StreamingCallback

    class Interrupt(StreamingCallback):
        def on_llm_new_token(self, token, **kwargs):
            if kwargs["response"].chunks == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        local.run("Write a very long story about the sea.", max_tokens=400, callbacks=[Interrupt()])
    assert model_is_free(local) and local.last_response.state == "stopped"
    assert local.last_response.chunks == 3


def test_close_from_another_thread_stops_at_the_next_token(local):
    """What a Stop button handled on another thread does: the running token ends, nothing after it."""
    stream = local.stream("Write a very long story about the sea.", max_tokens=400)
    got = [next(stream)]
    threading.Timer(0.1, stream._source.close).start()
    got.extend(stream)
    assert model_is_free(local)
    assert 1 <= len(got) < 400


def test_cancelling_astream_stops_generation(local):
    async def main():
        async def consume():
            async for _ in local.astream("Write a very long story about the sea.", max_tokens=400):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    deadline = time.perf_counter() + 2
    while _workers() and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert not _workers()
    assert local.last_response.state == "stopped"


def test_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="no GGUF model file at .*nope.gguf"):
        RLM.from_local(str(tmp_path / "nope.gguf"))


def test_corrupt_gguf_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    rlm = RLM.from_local(str(bad))
    assert rlm.model_id == "local:broken"
    with pytest.raises(ConfigurationError, match="could not load the GGUF model"):
        rlm.run("hi")
    assert rlm.last_response.state == "error"


def test_unknown_local_model_names_the_embedded_ones():
    with pytest.raises(ConfigurationError, match="local:smollm2"):
        RLM("local:gpt-5")


@pytest.mark.timeout(120)
def test_a_stream_left_open_in_this_thread_does_not_block_the_next_one(local):
    """The model runs in the caller's thread: a half-read stream of this thread is stopped, not
    waited for (it could never go on while this thread waits), and says so when read again."""
    from rlm_toolkit import IncompleteStreamError

    first = local.stream("Write a very long story about the sea.", max_tokens=200)
    kept = [next(first), next(first)]
    second = local.run("Count to three.", max_tokens=8)
    assert second and local.last_response.state == "done"
    with pytest.raises(IncompleteStreamError) as info:
        kept.extend(first)
    assert info.value.partial_text == "".join(kept) and first.response.state == "error"
    assert model_is_free(local)
