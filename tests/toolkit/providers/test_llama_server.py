"""RLM.from_openai against llama_cpp.server: the OpenAI path tested on a server nobody here wrote."""

from __future__ import annotations

import asyncio

import pytest

from rlm_toolkit import RLM, APIStatusError

pytestmark = pytest.mark.model


@pytest.fixture
def openai_env(llama_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-no-key-needed-000000")
    return llama_server


def test_stream_from_a_real_openai_compatible_server(openai_env):
    rlm = RLM.from_openai("gpt-4o")
    chunks = list(rlm.stream("What is the capital of France?", system="You are a helpful assistant.",
                             temperature=0, max_tokens=30))
    text = "".join(chunks)
    assert len(chunks) > 3 and "Paris" in text
    response = rlm.last_response
    assert response.state == "done" and response.finish_reason in ("stop", "length")
    # llama_cpp.server accepts stream_options.include_usage but sends no usage chunk: the token
    # count falls back to the chunks received (one token each on this server).
    assert response.completion_tokens is None and response.tokens == response.chunks == len(chunks)


def test_astream_and_max_tokens(openai_env):
    async def main():
        rlm = RLM.from_openai("gpt-4o")
        chunks = [c async for c in rlm.astream("Tell me a long story.", max_tokens=8)]
        return chunks, rlm.last_response

    chunks, response = asyncio.run(main())
    assert chunks and response.finish_reason == "length"
    assert response.tokens == len(chunks) <= 8


def test_breaking_out_early_then_streaming_again(openai_env):
    rlm = RLM.from_openai("gpt-4o")
    for i, _ in enumerate(rlm.stream("Write a long poem about rivers.", max_tokens=200)):
        if i == 2:
            break
    assert rlm.last_response.state == "stopped"
    assert rlm.run("Say yes.", max_tokens=5)  # the server is still usable


def test_a_request_the_server_refuses_is_a_typed_error(openai_env):
    rlm = RLM.from_openai("gpt-4o", max_retries=0)
    with pytest.raises(APIStatusError) as info:
        rlm.run("hi", temperature="hot")  # type: ignore[arg-type]
    # llama_cpp.server answers a validation failure with 500 (a real OpenAI answers 400).
    assert info.value.status_code in (400, 422, 500)
    assert "temperature" in info.value.message
    assert rlm.last_response.state == "error"
