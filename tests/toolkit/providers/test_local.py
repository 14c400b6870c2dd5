"""The embedded model in process: a real answer with no key, off-loop generation, prompt stops."""

from __future__ import annotations

import asyncio
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


def test_default_model_answers_with_no_key(local):
    answer = local.run("What is the capital of France?", temperature=0, seed=1, max_tokens=30)
    assert "Paris" in answer
    response = local.last_response
    assert response.state == "done" and response.finish_reason == "stop"
    assert response.completion_tokens == response.chunks > 0
    assert response.ttft is not None and response.tokens_per_second


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


def test_closing_the_stream_stops_generation_at_once(local):
    stream = local.stream("Write a very long story about the sea.", max_tokens=400)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    started = time.perf_counter()
    stream.close()
    while _workers() and time.perf_counter() - started < 2:
        time.sleep(0.01)
    assert not _workers(), "the generation thread went on after the stream was closed"
    assert local.last_response.state == "stopped"
    assert local.last_response.chunks < 50


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
