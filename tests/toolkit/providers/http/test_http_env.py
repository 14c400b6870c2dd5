"""Proxies from the environment are honoured (as the openai SDK does), loopback never proxied."""

from __future__ import annotations

from rlm_toolkit import RLM
from tests.fixtures.openai_server import Stream


def test_loopback_server_is_reached_directly_even_with_a_proxy_set(openai_server, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    openai_server.script(Stream("direct"))
    rlm = RLM.from_openai(
        "gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key, max_retries=0
    )
    assert rlm.run("hi") == "direct"


def test_a_remote_server_goes_through_the_environment_proxy(openai_server, monkeypatch):
    proxy = openai_server.base_url.removesuffix("/v1")  # the loopback server plays the proxy
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    openai_server.script(Stream("via proxy"))
    rlm = RLM.from_openai(
        "gpt-4o", base_url="http://api.example.invalid/v1", api_key="sk-viaproxy-0123456789", max_retries=0
    )
    assert rlm.run("hi") == "via proxy"
    assert openai_server.headers[0]["host"] == "api.example.invalid"
