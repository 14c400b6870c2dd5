"""The agent on the embedded SmolLM2 (135M, weak): it need not be smart, it must not crash or hang.

Two ways in: ``llama_cpp.server`` serving the GGUF as a real OpenAI-compatible server (a server
nobody here wrote; fixture ``llama_server``; the seed's snippet runs against it), and
``RLM.from_local()`` in process.
"""

from __future__ import annotations

import contextlib
import io
import time

import pytest

from rlm_toolkit import RLM
from rlm_toolkit.agents import ReActAgent
from rlm_toolkit.errors import ConfigurationError, MissingDependencyError
from tests.conftest import require

pytestmark = pytest.mark.model


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


def test_seed_snippet_against_llama_cpp_server(llama_server, monkeypatch):
    from tests.toolkit.agents.test_react_openai import seed_agent_snippet

    for name, value in llama_server.env.items():
        monkeypatch.setenv(name, value)
    code = seed_agent_snippet().replace("tools=[...]", "tools=[search, add]")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "seed", "exec"), {"search": search, "add": add})
    printed = out.getvalue()
    assert printed.count("[Ответ]") == 1, printed
    assert printed.strip().split("[Ответ]")[0].strip(), "no tokens were printed before the answer"


def test_text_mode_over_the_server_ends_with_one_final(llama_server):
    agent = ReActAgent.from_openai(
        "gpt-4o",
        tools=[add, search],
        base_url=llama_server.base_url,
        api_key="sk-local-x",
        mode="text",
        max_steps=3,
        max_tokens=64,
        temperature=0,
    )
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
