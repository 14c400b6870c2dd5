"""provider:model ids, aliases, the default model and the listing %rlm models shows."""

from __future__ import annotations

import pytest

from rlm_toolkit import RLM, ConfigurationError
from rlm_toolkit.providers import default_model_id, providers, split_model_id


def test_ids_and_aliases():
    assert split_model_id("openai:gpt-4o") == ("openai", "gpt-4o")
    assert split_model_id("smollm2") == ("local", "smollm2")
    assert split_model_id("gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert split_model_id("sonnet") == ("anthropic", "claude-sonnet-4-5")
    assert split_model_id("some-model") == ("openai", "some-model")  # a bare name is an OpenAI model


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(
        ConfigurationError,
        match="known providers: anthropic, local, ollama, openai, openai-responses, scripted",
    ):
        RLM("nope:model")


def test_default_model(monkeypatch):
    assert default_model_id() == "local:smollm2"
    monkeypatch.setenv("RLM_MODEL", "scripted")
    assert default_model_id() == "scripted" and RLM().model_id == "scripted:scripted"


def test_listing_says_what_is_installed_and_which_keys_are_set(monkeypatch):
    by_name = {info.name: info for info in providers()}
    assert set(by_name) == {"openai", "openai-responses", "anthropic", "ollama", "local", "scripted"}
    assert by_name["openai"].installed and by_name["scripted"].has_credentials is None
    assert by_name["anthropic"].has_credentials is False
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-000000000000")
    assert by_name["anthropic"].has_credentials is True
    for info in by_name.values():
        assert info.load()  # every registered provider class imports
