"""``describe(error)``, the one ``Type: message`` text, and ``scrub_data``, the one recursive scrub."""

from __future__ import annotations

import asyncio
import json

from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
from rlm_toolkit.errors import RateLimitError, describe, register_secret, scrub_data
from rlm_toolkit.events import Usage
from rlm_toolkit.web import ui_message_stream

KEY = "sk-proj-DESCRIBEtest0123456789abcdef"


def test_describe_names_the_type_and_scrubs_the_message():
    register_secret(KEY)
    assert describe(RateLimitError(f"429 for {KEY}", status_code=429)) == "RateLimitError: 429 for ***"
    assert describe(ValueError(f"  bad key {KEY}\nsecond line ")) == "ValueError: bad key ***\nsecond line"
    assert describe(KeyError("x")) == "KeyError: 'x'"
    assert describe(SystemExit()) == "SystemExit"  # no message: the type alone, no dangling colon
    assert describe(RuntimeError("   ")) == "RuntimeError"


def test_scrub_data_scrubs_every_string_and_blanks_credential_keys():
    register_secret(KEY)
    value = {
        "messages": [{"role": "user", "content": f"my key is {KEY}"}],
        "headers": {"Authorization": "Bearer abc.def", "X-Api-Key": "anything", "Accept": "text/plain"},
        "usage": Usage(prompt_tokens=3, completion_tokens=None),
        "tuple": (1, 2.5, True, None),
        "other": object(),
        7: f"url http://user:{KEY}@host/v1",
    }
    clean = scrub_data(value)
    assert clean["messages"] == [{"role": "user", "content": "my key is ***"}]
    assert clean["headers"] == {"Authorization": "***", "X-Api-Key": "***", "Accept": "text/plain"}
    assert clean["usage"] == scrub_data(Usage(prompt_tokens=3, completion_tokens=None).to_dict())
    assert clean["tuple"] == [1, 2.5, True, None]
    assert clean["other"].startswith("<object object")
    assert clean["7"] == "url http://***@host/v1"
    json.dumps(clean)  # JSON-ready
    assert KEY not in json.dumps(clean)


def test_the_response_and_the_ui_stream_show_the_same_description():
    register_secret(KEY)
    error = RateLimitError(f"slow down, {KEY}", status_code=429)
    rlm = RLM(ScriptedProvider(ScriptedTurn(chunks=["a", "b"], error=error, error_after=1)), max_retries=0)

    async def main() -> str:
        return "".join([chunk async for chunk in ui_message_stream(rlm.astream("hi"))])

    sent = [json.loads(line[6:]) for line in asyncio.run(main()).splitlines() if line.startswith("data: {")]
    assert {"type": "error", "errorText": describe(error)} in sent
    assert rlm.last_response.to_dict()["error"] == describe(error)
    assert describe(error).startswith("RateLimitError: ") and KEY not in describe(error)


def test_one_line_is_the_scrubbed_message_on_one_line_or_the_type():
    from rlm_toolkit.errors import one_line, register_secret

    register_secret("sk-one-line-secret-123456")
    assert one_line(ValueError("bad\n  key sk-one-line-secret-123456\tthere")) == "bad key *** there"
    assert one_line(ValueError("   ")) == "ValueError"

    class Raises(Exception):
        def __str__(self):
            raise SystemExit(1)

    assert one_line(Raises()) == "(str() of it raised SystemExit)"
