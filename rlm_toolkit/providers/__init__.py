"""Providers and the registry that turns ``provider:model`` ids into them.

``resolve("openai:gpt-4o")`` builds a provider; ``resolve(None)`` builds the default model
(``$RLM_MODEL``, else the embedded ``local:smollm2``). Vendor modules are imported only when
used, so importing rlm_toolkit stays fast and optional SDKs stay optional.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from .base import Provider, Request

__all__ = [
    "Provider",
    "Request",
    "ProviderInfo",
    "register",
    "resolve",
    "providers",
    "ALIASES",
    "DEFAULT_MODEL",
    "default_model_id",
    "openai_model_id",
]

DEFAULT_MODEL = "local:smollm2"

#: Short names a user may type instead of a ``provider:model`` id.
ALIASES: dict[str, str] = {
    "smollm2": "local:smollm2",
    "local": "local:smollm2",
    "scripted": "scripted:scripted",
    "gpt-4o": "openai:gpt-4o",
    "gpt-4o-mini": "openai:gpt-4o-mini",
    "gpt-4.1": "openai:gpt-4.1",
    "gpt-4.1-mini": "openai:gpt-4.1-mini",
    "gpt-5": "openai-responses:gpt-5",
    "gpt-5-mini": "openai-responses:gpt-5-mini",
    "claude": "anthropic:claude-sonnet-4-5",
    "sonnet": "anthropic:claude-sonnet-4-5",
    "haiku": "anthropic:claude-haiku-4-5",
}


@dataclass(frozen=True)
class ProviderInfo:
    """What the registry knows of one provider, for listings (``%rlm models``)."""

    name: str
    target: str  # "module:Class"
    description: str
    env_var: str | None = None  # the key it needs, if any
    requires: tuple[str, ...] = ()  # importable modules it needs
    extra: str | None = None  # the pip extra that installs them
    example: str = ""

    @property
    def installed(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    @property
    def has_credentials(self) -> bool | None:
        """True/False for providers that need a key, None for those that need none."""
        return None if self.env_var is None else bool(os.environ.get(self.env_var))

    def load(self) -> Callable[..., Provider]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module, __name__), attr)


_REGISTRY: dict[str, ProviderInfo] = {}


def register(info: ProviderInfo) -> None:
    """Add or replace a provider (third-party providers can register themselves)."""
    _REGISTRY[info.name] = info


def providers() -> list[ProviderInfo]:
    return list(_REGISTRY.values())


register(ProviderInfo("openai", ".openai:OpenAIProvider", "OpenAI or any OpenAI-compatible server "
                      "($OPENAI_BASE_URL)", env_var="OPENAI_API_KEY", requires=("httpx",),
                      example="openai:gpt-4o-mini"))
register(ProviderInfo("openai-responses", ".openai_responses:OpenAIResponsesProvider",
                      "OpenAI's Responses API (reasoning summaries; $OPENAI_BASE_URL)",
                      env_var="OPENAI_API_KEY", requires=("httpx",), example="openai-responses:gpt-5"))
register(
    ProviderInfo(
        "anthropic",
        ".anthropic:AnthropicProvider",
        "Anthropic Messages API",
        env_var="ANTHROPIC_API_KEY",
        requires=("httpx",),
        example="anthropic:claude-sonnet-4-5",
    )
)
register(ProviderInfo("ollama", ".ollama:OllamaProvider", "Ollama's native API ($OLLAMA_HOST)",
                      requires=("httpx",), example="ollama:llama3.2"))
register(ProviderInfo("local", ".local:LocalProvider", "GGUF model in this process (llama-cpp-python); "
                      "local:smollm2 is embedded", requires=("llama_cpp",), extra="local",
                      example="local:smollm2"))
register(ProviderInfo("scripted", ".scripted:ScriptedProvider", "deterministic scripted answers "
                      "(tests, offline teaching)", example="scripted"))


def default_model_id() -> str:
    """``$RLM_MODEL`` if set, else the embedded local model."""
    return os.environ.get("RLM_MODEL") or DEFAULT_MODEL


#: The wire formats of the OpenAI provider, as ``RLM.from_openai(model, api=…)`` names them.
OPENAI_APIS = {"chat": "openai", "responses": "openai-responses"}


def openai_model_id(model: str, api: str = "chat") -> str:
    """``("gpt-5", "responses")`` → ``"openai-responses:gpt-5"``: the id of an OpenAI model spoken
    to through Chat Completions (``api="chat"``) or the Responses API (``api="responses"``)."""
    if api not in OPENAI_APIS:
        raise ConfigurationError(f"api must be one of {', '.join(map(repr, OPENAI_APIS))}, not {api!r}")
    return f"{OPENAI_APIS[api]}:{model}"


def split_model_id(model_id: str | None) -> tuple[str, str]:
    """``"openai:gpt-4o"`` → ``("openai", "gpt-4o")``, after aliases; a bare name is an OpenAI model."""
    model_id = (model_id or default_model_id()).strip()
    model_id = ALIASES.get(model_id, model_id)
    name, sep, model = model_id.partition(":")
    if not sep:
        return "openai", model_id
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigurationError(f"unknown provider {name!r} in {model_id!r}; known providers: {known}")
    return name, model


def resolve(model_id: str | None = None, **kwargs: Any) -> Provider:
    """Build the provider for ``model_id`` (``None``: the default model), passing ``kwargs`` on."""
    name, model = split_model_id(model_id)
    info = _REGISTRY[name]
    if not info.installed:
        from ..errors import MissingDependencyError

        extra = f"pip install 'rlm[{info.extra}]'" if info.extra else f"pip install {' '.join(info.requires)}"
        raise MissingDependencyError(f"the {name} provider needs {', '.join(info.requires)}: {extra}")
    factory = info.load()
    if name == "scripted":
        return factory(**kwargs) if model == "scripted" else factory(model=model, **kwargs)
    return factory(model, **kwargs)
