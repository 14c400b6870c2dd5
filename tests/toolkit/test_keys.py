"""Keys that must never leak: given as bytes headers, carried across a redirect, written in a URL's
query string, echoed masked by a server; and :func:`scrub` in linear time whatever the text."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import pytest

from rlm_toolkit import RLM
from rlm_toolkit.errors import AuthenticationError, UsageError, register_secret, scrub, scrub_data
from rlm_toolkit.trace.writer import TraceRecorder
from tests.fixtures.openai_server import OpenAIServer, Status
from tests.toolkit.test_hostile import bounded


class Echo(Status):
    """A 401 whose message echoes the value of a request header, whole and masked."""

    def __init__(self, header: str) -> None:
        super().__init__(401)
        self.header = header

    def payload(self, request_headers):
        value = request_headers[self.header.lower()].split()[-1]
        return {"error": {"message": f"Invalid key {value} (also {value[:8]}****{value[-4:]})"}}


def shown(rlm, error, trace):
    return [str(error), repr(error), error.message, error.body, json.dumps(rlm.last_response.to_dict()),
            trace.read_text()]


# -- a key given as a bytes header value -----------------------------------------------------------


@pytest.mark.parametrize("header, scheme",
                         [("api-key", b""), ("X-Api-Key", b""), ("Authorization", b"Token ")])
def test_a_key_given_as_bytes_in_headers_is_scrubbed_everywhere(openai_server, tmp_path, header, scheme):
    key = uuid.uuid4().hex
    openai_server.script(Echo(header), Echo(header))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, max_retries=0,
                          headers={header: scheme + key.encode()})
    with pytest.raises(AuthenticationError) as caught:
        bounded(lambda: rlm.run("hi"))
    assert "Invalid key ***" in caught.value.message  # the server did echo it
    trace = tmp_path / "run.jsonl"
    with pytest.raises(AuthenticationError) as caught:
        bounded(lambda: list(rlm.stream("hi", record=trace)))
    for text in shown(rlm, caught.value, trace):
        assert key not in text and key[:8] not in text


# -- credential headers and a redirect to another origin ------------------------------------------

CREDENTIALS = {"api-key": "azure-key-0123456789", "X-Api-Key": "anthropic-key-0123456789",
               "X-Custom-Token": "custom-token-0123456789", "Authorization": "Bearer bearer-0123456789"}


def _redirect_to(url: str) -> Status:
    return Status(307, {"error": {"message": "moved"}}, {"Location": url})


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("elsewhere", ["another port", "localhost"])
def test_credential_headers_do_not_follow_a_redirect_to_another_origin(openai_server, face, elsewhere):
    other = OpenAIServer()
    try:
        target = other.base_url if elsewhere == "another port" else openai_server.base_url.replace(
            "127.0.0.1", "localhost")
        receiver = other if elsewhere == "another port" else openai_server
        openai_server.script(_redirect_to(f"{target}/chat/completions"))
        rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, max_retries=0,
                              headers={**CREDENTIALS, "X-Request-Tag": "kept"})
        run = (lambda: rlm.run("hi")) if face == "sync" else (lambda: asyncio.run(rlm.arun("hi")))
        assert bounded(run) == "Hello from the loopback server."
        received = receiver.headers[-1]
        assert received["x-request-tag"] == "kept"  # the redirect was followed, with the other headers
        assert not {name.lower() for name in CREDENTIALS} & set(received), received
    finally:
        other.close()


def test_credential_headers_follow_a_redirect_within_the_origin(openai_server):
    openai_server.script(_redirect_to(openai_server.base_url.replace("/v1", "/v2") + "/chat/completions"))
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, max_retries=0, headers=CREDENTIALS)
    assert bounded(lambda: rlm.run("hi")) == "Hello from the loopback server."
    assert len(openai_server.headers) == 2
    assert {name.lower() for name in CREDENTIALS} <= set(openai_server.headers[-1])


# -- a key in the base URL's query string ----------------------------------------------------------


def test_a_key_in_the_base_url_query_is_sent_and_never_shown(openai_server, tmp_path, caplog):
    key = f"q{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    rlm = RLM.from_openai("gpt-4o", base_url=f"{openai_server.base_url}?api-version=2024-10-21&api_key={key}",
                          api_key="unused-by-this-server", max_retries=0)
    trace = tmp_path / "run.jsonl"
    assert bounded(lambda: "".join(rlm.stream("hi", record=trace))) == "Hello from the loopback server."
    assert openai_server.queries[-1] == f"api-version=2024-10-21&api_key={key}"  # sent, on the right path
    assert "HTTP Request: POST" in caplog.text and "api_key=***" in caplog.text
    assert rlm.provider.base_url.endswith("/v1?api-version=2024-10-21&api_key=***")
    cost = rlm.last_response.cost
    note = (cost.note or "") if cost else ""
    texts = [caplog.text, rlm.provider.base_url, note, repr(rlm), json.dumps(rlm.last_response.to_dict()),
             trace.read_text()]
    for text in texts:
        assert key not in text
    # the server echoes it: still scrubbed
    openai_server.script(Status(401, {"error": {"message": f"bad api_key {key}"}}))
    with pytest.raises(AuthenticationError) as caught:
        bounded(lambda: rlm.run("hi"))
    assert key not in str(caught.value) and "bad api_key ***" in str(caught.value)


def test_a_key_in_an_otlp_endpoint_query_is_never_shown(tmp_path, otlp_receiver, caplog):
    otel = pytest.importorskip("rlm_toolkit.otel")
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra: pip install 'rlm[otel]'")
    from tests.toolkit._runs import native_run

    native_run(tmp_path / "run.jsonl")
    key = f"otlp{uuid.uuid4().hex}"
    endpoint = f"{otlp_receiver.url}?api_key={key}"
    caplog.set_level(logging.DEBUG)
    assert otel.export_trace(tmp_path / "run.jsonl", endpoint=endpoint)
    assert otlp_receiver.queries[-1] == f"api_key={key}"
    otlp_receiver.status = 400
    with pytest.raises(UsageError) as caught:
        otel.export_trace(tmp_path / "run.jsonl", endpoint=endpoint)
    assert "/v1/traces?api_key=***" in caught.value.message
    assert "/v1/traces?api_key=" in caplog.text  # urllib3's request line
    assert key not in str(caught.value) and key not in caplog.text


@pytest.mark.parametrize("name", ["api_key", "key", "token", "access_token", "sig", "X-Amz-Signature",
                                  "apiKey", "client_secret", "password"])
def test_scrub_masks_credential_query_parameters_in_any_url(name):
    url = f"https://example.test/v1/x?api-version=2024-10-21&{name}=abc%2Fdef123&page=2#frag"
    assert scrub(f"GET {url} failed") == (
        f"GET https://example.test/v1/x?api-version=2024-10-21&{name}=***&page=2#frag failed")
    assert scrub("see https://example.test/?q=cats&lang=en") == "see https://example.test/?q=cats&lang=en"


# -- masked echoes with a short visible prefix -----------------------------------------------------

#: Keys of the shapes vendors issue, and how servers and proxies echo them masked.
MASKED_ECHOES = {
    "openai-legacy": ("sk-QoS0U7f3Zq9WmB2xYc4Lh8Tn1Rv6Pd5Gs0Ja3KCxR", ["sk-QoS0U***************KCxR",
                                                                      "sk-Qo***KCxR", "sk-Q...KCxR"]),
    "openai-project": ("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z3f9a",
                       ["sk-proj-*****************3f9a", "sk-pr*****************3f9a", "sk-p…3f9a"]),
    "anthropic": ("sk-ant-api03-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbA-wxyzAA",
                  ["sk-ant-api03-Zx8***wxyzAA", "sk-ant-***AA", "sk-an...yzAA"]),
    "azure-hex": ("3f9ab2c4d6e8f0a1b3c5d7e9f1a2b4c6", ["3f9a************************b4c6", "3f9ab...b4c6",
                                                    "3f9a…", "****b4c6"]),
    "google": ("AIzaSyD4-9xQ_Ls3kM2nB7vC1zX8wE5rT6yU0iO", ["AIza****************************U0iO",
                                                          "AIzaSy•••••0iO"]),
    "groq": ("gsk_8Hj2Kl4Mn6Pq8Rs0Tu2Vw4Xy6Za8Bc0De2Fg4Hi6Jk", ["gsk_8H**********6Jk", "gsk_...i6Jk"]),
    "xai": ("xai-Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8L9z0", ["xai-Q1...L9z0", "xai-***z0"]),
}


@pytest.mark.parametrize("vendor", sorted(MASKED_ECHOES))
def test_a_masked_echo_with_a_short_visible_prefix_is_scrubbed(vendor):
    key, echoes = MASKED_ECHOES[vendor]
    register_secret(key)
    for echo in echoes:
        for text in (f"Incorrect API key provided: {echo}.", f"key={echo}, try again", f"({echo})"):
            out = scrub(text)
            assert echo not in out and "***" in out, (echo, out)
            before, after = text.split(echo)
            assert out.startswith(before) and out.endswith(after), (text, out)  # the rest is kept


def test_ordinary_text_survives_the_masked_echo_detection():
    for key, _ in MASKED_ECHOES.values():
        register_secret(key)
    ordinary = ["risk-free, task-based", "Loading... done", "2 * 3 = 6", "a***b", "Wait…what?",
                "**bold** and *italic*", "3f9 items...", "AIz...", "x...y", "Sec. 3.2...", "****",
                "gsk_ is a prefix", "ellipsis...", "5*4*3", "xa...", "Zx...", "The end..."]
    for text in ordinary:
        assert scrub(text) == text


# -- scrubbing in linear time ------------------------------------------------------------------------


def _scrub_cpu_seconds(unit: str, size: int) -> float:
    text = unit * (size // len(unit))
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        scrub(text)
        best = min(best, time.thread_time() - started)
    return best


HOSTILE_UNITS = ["sk-proj-", "sk-pro", "3f9ab", "3f9ab*", "gsk_8H", "a.", ".", "*", "Bearer ", "://a:",
                 "?api_key=", "&key=x", "a" * 63 + " "]


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
def test_scrub_runs_in_linear_time_on_repeated_key_prefixes(unit):
    register_secret("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z3f9a")
    register_secret("3f9ab2c4d6e8f0a1b3c5d7e9f1a2b4c6")
    register_secret("gsk_8Hj2Kl4Mn6Pq8Rs0Tu2Vw4Xy6Za8Bc0De2Fg4Hi6Jk")
    small = _scrub_cpu_seconds(unit, 16 * 1024)
    big = _scrub_cpu_seconds(unit, 256 * 1024)  # 16 times the text
    # Linear: ~16x; the old masked-echo pattern rescanned the rest of the text at every prefix: ~256x.
    assert big < 64 * small + 0.05, f"{big:.3f} s for 256 KB vs {small:.4f} s for 16 KB of {unit!r}"


def test_scrub_data_runs_in_linear_time():
    register_secret("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z3f9a")

    def cpu(size):
        value = {"messages": [{"role": "user", "content": "sk-proj-" * (size // 8)}]}
        started = time.thread_time()
        scrub_data(value)
        return time.thread_time() - started

    small, big = min(cpu(16 * 1024) for _ in range(3)), min(cpu(256 * 1024) for _ in range(3))
    assert big < 64 * small + 0.05, f"{big:.3f} s vs {small:.4f} s"


@pytest.mark.parametrize("unit", ["sk-proj-", "x", "://a", "Bearer  "])
def test_the_trace_writer_holds_back_key_tails_in_linear_time(tmp_path, unit):
    register_secret("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z3f9a")

    def cpu(size):
        text = unit * (size // len(unit)) + "!"
        recorder = TraceRecorder(tmp_path / f"run-{size}.jsonl", kind="stream", overwrite=True)
        started = time.thread_time()
        for i in range(0, len(text), 64):
            recorder.event(text[i : i + 64], t=i / 1e6)
        recorder.event(text, t=1.0)  # one huge piece, too
        recorder.close()
        return time.thread_time() - started

    small, big = min(cpu(16 * 1024) for _ in range(2)), min(cpu(256 * 1024) for _ in range(2))
    assert big < 64 * small + 0.1, f"{big:.3f} s vs {small:.4f} s"
