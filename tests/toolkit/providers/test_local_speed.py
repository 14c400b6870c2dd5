"""The embedded model streams at the speed of llama-cpp-python called directly (issue 15).

llama.cpp's OpenMP threads spin between and inside each token's compute; libgomp stops spinning
(and every one of hundreds of barriers per token sleeps in the kernel) once the process holds more
OpenMP threads than CPUs — which a second thread's idle pool causes. These tests run the raw call
in this thread first, as a user or the benchmark does, and then each rlm path. The throughput
ratio itself (≥ 0.8× llama-cpp-python called directly) is measured by benchmarks/local_model.py,
not asserted here: a loaded machine fails a ratio, not the code.
"""

from __future__ import annotations

import asyncio
import resource

import pytest

from rlm_toolkit import RLM
from rlm_toolkit.agents import ReActAgent

from ...conftest import require

llama_cpp = pytest.importorskip("llama_cpp", reason="the local extra is not installed") if not require(
    "model"
) else __import__("llama_cpp")

pytestmark = pytest.mark.model
PROMPT = "Write a short story about a lighthouse keeper and the sea."
SETTINGS = {"temperature": 0, "max_tokens": 48}


@pytest.fixture(scope="module")
def local():
    rlm = RLM.from_local(**SETTINGS)
    rlm.provider.load()
    return rlm


def raw(local) -> int:
    from rlm_toolkit.providers.local import DEFAULT_SYSTEM

    messages = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": PROMPT}]
    chunks = local.provider.load().create_chat_completion(messages, stream=True, **SETTINGS)
    return sum(1 for c in chunks if c["choices"][0]["delta"].get("content"))


def switches_per_token(run) -> float:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    tokens = run()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - before) / tokens


def stream(local) -> int:
    return len(list(local.stream(PROMPT)))


def astream(local) -> int:
    async def main():
        return len([c async for c in local.astream(PROMPT)])

    return asyncio.run(main())


def agent(local) -> int:
    from rlm_toolkit import StreamingCallback

    tokens = []

    class Count(StreamingCallback):
        def on_llm_new_token(self, token, **kwargs):
            tokens.append(token)

    for _ in ReActAgent(local, tools=[], mode="text", max_steps=1).stream(PROMPT, callbacks=[Count()]):
        pass
    return len(tokens)


@pytest.mark.parametrize("path", [stream, astream, agent], ids=["stream", "astream", "agent"])
def test_openmp_keeps_spinning_on_every_path_after_a_raw_call(local, path):
    """Voluntary context switches per token: ~0 for raw; ~880 when OpenMP throttles (the bug)."""
    from rlm_toolkit.providers import local as local_module

    raw(local)  # this thread now holds an idle OpenMP pool, as after any direct llama call
    local_module.release_openmp_threads()
    if not local_module._openmp_pause:
        pytest.skip("llama.cpp here runs without an OpenMP runtime that can release its threads")
    raw(local)
    assert switches_per_token(lambda: path(local)) < 100


def test_the_openmp_runtime_is_looked_up_only_once_a_model_could_have_loaded_it():
    """A first stream's thread calls release before the model is loaded; that must not disable it."""
    import subprocess
    import sys

    code = (
        "from rlm_toolkit.providers import local as l\n"
        "l.release_openmp_threads(); assert l._openmp_pause is None\n"
        "import llama_cpp\n"
        "l.release_openmp_threads()\n"
        "gomp = 'libgomp' in open('/proc/self/maps').read()\n"
        "print(gomp, bool(l._openmp_pause))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    gomp, found = done.stdout.split()
    assert found == gomp
