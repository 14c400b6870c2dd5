"""Test-wide rules: no network beyond loopback, slow tiers marked, fixture modules auto-loaded.

Fixture modules live in ``tests/fixtures/*.py`` and are loaded as pytest plugins, so every
tier (toolkit, jupyter, notebooks, browser) can use the same loopback servers.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_loopback(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if not isinstance(address, tuple) or not address:
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded(real):  # type: ignore[no-untyped-def]
    def connect(self, address):  # type: ignore[no-untyped-def]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
        return real(self, address)

    return connect


@pytest.fixture(autouse=True, scope="session")
def _loopback_only():
    """Refuse every outgoing connection that is not to 127.0.0.0/8 or ::1 (this process only)."""
    socket.socket.connect = _guarded(_real_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded(_real_connect_ex)  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch):
    """No test reaches a real vendor: keys and base URLs from the developer's shell are removed."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "OLLAMA_HOST", "RLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


def require(kind: str) -> bool:
    """Whether CI demands a slow tier (``RLM_REQUIRE_MODEL=1`` / ``RLM_REQUIRE_BROWSER=1``)."""
    return os.environ.get(f"RLM_REQUIRE_{kind.upper()}") == "1"
