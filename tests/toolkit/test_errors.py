"""The error hierarchy, HTTP status mapping and key scrubbing."""

from __future__ import annotations

import pytest

import rlm_toolkit
from rlm_toolkit import errors
from rlm_toolkit.errors import scrub, status_error


def test_every_error_is_exported_and_in_the_tree():
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.RLMError)
            assert getattr(rlm_toolkit, name) is obj
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    assert issubclass(errors.MissingDependencyError, errors.UsageError)
    assert not issubclass(errors.UsageError, errors.ProviderError)


@pytest.mark.parametrize(("status", "cls", "retryable"), [
    (400, errors.BadRequestError, False), (401, errors.AuthenticationError, False),
    (403, errors.AuthenticationError, False), (404, errors.BadRequestError, False),
    (429, errors.RateLimitError, True), (500, errors.ServerError, True), (503, errors.ServerError, True),
])
def test_status_mapping(status, cls, retryable):
    error = status_error(status, "detail", provider="openai", model="gpt-4o")
    assert type(error) is cls and error.status_code == status and error.retryable is retryable
    assert str(error) == f"{status} from openai:gpt-4o: detail"


@pytest.mark.parametrize("text", [
    "Incorrect API key provided: sk-QoS0U***************************KCxR.",
    "key=sk-proj-AbCdEf0123456789AbCdEf0123456789",
    "Authorization: Bearer abc.def-ghi",
    "x-api-key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAA",
])
def test_scrub_removes_keys_and_masked_echoes(text):
    out = scrub(text)
    assert "QoS0U" not in out and "KCxR" not in out and "AbCdEf" not in out
    assert "abc.def" not in out and "AAAAAAAA" not in out


def test_scrub_keeps_ordinary_words():
    text = "a task-based plan, risk-free, for desk-top use; see sk-"
    assert scrub(text) == text


def test_registered_secret_is_removed_even_without_the_sk_prefix():
    errors.register_secret("my-private-token-1234567890")
    error = errors.APIStatusError("failed with my-private-token-1234567890", status_code=500,
                                  body='{"token": "my-private-token-1234567890"}')
    for text in (str(error), repr(error), error.body, error.message):
        assert "private-token" not in text


def test_response_provenance_never_carries_a_key():
    from rlm_toolkit import Response

    response = Response(model="m", provider="p")
    response.settle(ValueError("handler saw sk-proj-AbCdEf0123456789AbCdEf0123456789"))
    assert response.state == "error" and "AbCdEf" not in str(response.to_dict())


def test_masked_echo_is_scrubbed_but_words_sharing_the_prefix_are_not():
    from rlm_toolkit.errors import register_secret, scrub

    register_secret("mytoken1234567890abcd")
    assert scrub("echo mytoke***abcd here") == "echo *** here"
    assert scrub("mytokens are words") == "mytokens are words"
