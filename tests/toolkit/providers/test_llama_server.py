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


def sdk_stream(server, messages, **settings):
    """What the openai SDK itself reads from the server for a request: text chunks and finish reason."""
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key="sk-local-no-key-needed-000000")
    chunks, reason = [], None
    request = client.chat.completions.create(model=server.model, messages=messages, stream=True, **settings)
    with request as stream:
        for chunk in stream:
            if not chunk.choices:
                continue
            if chunk.choices[0].delta.content:
                chunks.append(chunk.choices[0].delta.content)
            reason = chunk.choices[0].finish_reason or reason
    return chunks, reason


def test_stream_from_a_real_openai_compatible_server(openai_env):
    """RLM.from_openai streams exactly what the openai SDK reads from the same server for the same
    request at temperature 0, chunk for chunk — whatever the model says."""
    pytest.importorskip("openai")
    system, prompt = "You are a helpful assistant.", "Write a few sentences about a river."
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    settings = {"temperature": 0, "max_tokens": 30}
    sdk_stream(openai_env, messages, **settings)  # the same prompt cached on the server for both calls below
    expected, reason = sdk_stream(openai_env, messages, **settings)
    assert len(expected) > 3
    rlm = RLM.from_openai("gpt-4o")
    chunks = list(rlm.stream(prompt, system=system, **settings))
    assert all(type(c) is str for c in chunks)
    assert chunks == expected
    response = rlm.last_response
    assert response.state == "done" and response.finish_reason == reason in ("stop", "length")
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
