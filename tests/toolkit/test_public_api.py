"""rlm_toolkit's public names, pinned: what ``__all__`` says, what ``import *`` gives, which modules
have public names, and that importing the package stays light (as tests/jupyter/test_public_api.py
does for rlm_jupyter)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import types

import rlm_toolkit

EXPECTED = {
    "RLM", "Response", "TextStream", "AsyncTextStream", "image", "Image",
    "StreamingCallback", "AsyncStreamingCallback", "CallbackWarning",
    "Provider", "Request", "ScriptedProvider", "ScriptedTurn",
    "TextDelta", "ReasoningDelta", "ToolCallDelta", "ToolCall", "Usage", "Finish",
    "RLMError", "UsageError", "ConfigurationError", "MissingCredentialsError", "MissingDependencyError",
    "ClientRequestError",
    "ProviderError", "APIConnectionError", "APITimeoutError", "APIStatusError", "AuthenticationError",
    "RateLimitError", "BadRequestError", "ServerError", "IncompleteStreamError", "MalformedResponseError",
    "MCPServerError", "MCPToolError", "StructuredOutputError",
    "__version__",
}

#: Modules without a leading underscore: each one's names are public (the rest can move freely).
PUBLIC_MODULES = {
    "agents", "budget", "callbacks", "cost", "errors", "events", "images", "mcp", "otel", "otel_import",
    "providers", "response", "rlm", "trace", "trace_diff", "typed", "web", "web_ui_stream",
}


def test_exported_names_are_pinned_and_resolve():
    assert set(rlm_toolkit.__all__) == EXPECTED
    assert len(rlm_toolkit.__all__) == len(EXPECTED)  # no name listed twice
    for name in EXPECTED:
        assert getattr(rlm_toolkit, name) is not None, name
    assert isinstance(rlm_toolkit.__version__, str)


def test_star_import_gives_exactly_the_pinned_names():
    namespace: dict[str, object] = {}
    exec("from rlm_toolkit import *", namespace)
    assert set(namespace) - {"__builtins__"} == EXPECTED


def test_nothing_else_public_is_importable_from_the_package_but_its_modules():
    others = {name for name in vars(rlm_toolkit) if not name.startswith("_") and name not in EXPECTED}
    others.discard("annotations")  # ``from __future__ import annotations`` binds this name
    assert {name for name in others if not isinstance(getattr(rlm_toolkit, name), types.ModuleType)} == set()
    public = {m.name for m in pkgutil.iter_modules(rlm_toolkit.__path__) if not m.name.startswith("_")}
    assert public == PUBLIC_MODULES


def test_import_loads_no_http_model_jupyter_or_otel_code():
    probe = (
        "import sys, json, rlm_toolkit\n"
        "heavy = ('httpx', 'llama_cpp', 'openai', 'opentelemetry', 'IPython', 'rlm_jupyter',\n"
        "         'genai_prices',\n"
        "         'rlm_toolkit.providers.openai', 'rlm_toolkit.providers.local', 'rlm_toolkit.trace',\n"
        "         'matplotlib', 'PIL')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
