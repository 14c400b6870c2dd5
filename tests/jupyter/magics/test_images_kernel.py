"""``%%rlm`` sends figures and images from a real ipykernel: ``{fig}`` in place, ``--image NAME`` before
the text; what the loopback OpenAI-compatible server receives is decoded and checked."""

from __future__ import annotations

import base64
import json
import struct

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]
pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

SETUP = """
%load_ext rlm_jupyter
import io, json
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import PIL.Image
from rlm_toolkit import RLM
vision = RLM.from_openai("gpt-4o", base_url={base_url!r}, api_key={api_key!r})
fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
ax.plot([1, 3, 2])
photo = PIL.Image.new("RGB", (33, 21), "navy")
buffer = io.BytesIO()
fig.savefig(buffer, format="png", bbox_inches="tight")
expected = {{"fig": list(PIL.Image.open(io.BytesIO(buffer.getvalue())).size), "png": buffer.getvalue().hex()}}
"""


@pytest.fixture
def kernel(ipy_kernel, openai_server):
    run = ipy_kernel.execute(SETUP.format(base_url=openai_server.base_url, api_key=openai_server.api_key))
    assert run.ok, run.errors or run.stderr
    return ipy_kernel


def expected(kernel) -> dict:
    run = kernel.execute("print(json.dumps(expected))")
    assert run.ok, run.errors
    return json.loads(run.stdout)


def png_of(part: dict) -> bytes:
    """The PNG inside an OpenAI image part: a base64 data URL, with a PNG signature and IHDR chunk."""
    assert part["type"] == "image_url"
    head, _, payload = part["image_url"]["url"].partition(",")
    assert head == "data:image/png;base64"
    data = base64.b64decode(payload, validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return data


def size_of(png: bytes) -> list[int]:
    return list(struct.unpack(">II", png[16:24]))


def test_a_figure_named_in_the_cell_is_sent_in_its_place(kernel, openai_server):
    run = kernel.execute("%%rlm -m vision -o said\nWhat trend does {fig} show?")
    assert run.ok, run.errors or run.stderr
    text_part, image_part, tail = openai_server.requests[-1]["messages"][0]["content"]
    assert text_part == {"type": "text", "text": "What trend does "}
    assert tail == {"type": "text", "text": " show?"}
    png = png_of(image_part)
    want = expected(kernel)
    assert size_of(png) == want["fig"] and png.hex() == want["png"]
    assert kernel.execute("print(said)").stdout.strip() == "Hello from the loopback server."


def test_image_options_attach_variables_before_the_text(kernel, openai_server, tmp_path):
    path = tmp_path / "shot.png"
    assert kernel.execute(f"photo.save({str(path)!r}); shot = {str(path)!r}").ok
    run = kernel.execute("%%rlm -m vision --image fig --image photo --image shot\n\n  Compare them.  \n")
    assert run.ok, run.errors or run.stderr
    first, second, third, text = openai_server.requests[-1]["messages"][0]["content"]
    assert size_of(png_of(first)) == expected(kernel)["fig"]
    assert size_of(png_of(second)) == [33, 21]
    assert png_of(third) == path.read_bytes()  # a string held by --image is a path
    assert text == {"type": "text", "text": "Compare them."}


@pytest.mark.parametrize("cell, message", [
    ("%%rlm -m vision --image nope\nhi", "--image nope: no variable named 'nope' in the notebook"),
    ("%%rlm -m vision --image ax.nope\nhi", "--image ax.nope: Axes has no attribute 'nope'"),
    ("%%rlm -m vision --image vision\nhi", "--image vision: a RLM is not an image"),
    ("%%rlm -m vision\nWhat about {nope}?", "{nope}: no variable named 'nope'"),
    ("%%rlm -m vision --agent\nUse {fig}.", "--agent takes a text task; images go with a plain %%rlm prompt"),
])
def test_mistakes_are_one_line_usage_errors_and_send_nothing(kernel, openai_server, cell, message):
    run = kernel.execute(cell)
    assert run.usage_error is not None and message in run.usage_error, run.stderr
    assert openai_server.requests == []


def test_an_image_over_the_vendors_limit_fails_the_cell_with_one_line_before_sending(kernel, openai_server):
    assert kernel.execute('big = b"\\x89PNG\\r\\n\\x1a\\n" + bytes(21 * 1024 * 1024)').ok
    run = kernel.execute("%%rlm -m vision --image big\nWhat is this?")
    assert not run.ok
    ((name, message),) = run.errors
    assert name == "UsageError" and message.startswith(
        "openai:gpt-4o: image 1 (PNG, 21.0 MB) is 21.0 MB; OpenAI takes at most 20 MB per image")
    assert "Traceback" not in json.dumps([m["content"] for m in run.messages])
    assert openai_server.requests == []
