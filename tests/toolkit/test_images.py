"""Images in a prompt: built from real matplotlib figures and PIL images, received by loopback servers
in each vendor's documented shape, refused before sending where a vendor's limits say so."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct

import pytest

from rlm_toolkit import RLM, Image, UsageError, image
from rlm_toolkit.images import for_trace, is_image, text_only
from rlm_toolkit.providers.anthropic import AnthropicProvider
from rlm_toolkit.providers.ollama import OllamaProvider

from ..fixtures.openai_server import Stream
from ..fixtures.vendor_servers import Reply, ndjson, sse
from .providers.test_anthropic import KEY, end, start, text, text_block

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
PIL = pytest.importorskip("PIL.Image")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)


@pytest.fixture
def fig():
    figure, ax = plt.subplots(figsize=(4, 3), dpi=50)
    ax.plot([1, 3, 2])
    yield figure
    plt.close(figure)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature and the chunk's name."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    length, name = struct.unpack(">I4s", data[8:16])
    assert (length, name) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


def encoded(fmt: str, size=(37, 19), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    PIL.new(mode, size, "teal").save(buffer, format=fmt)
    return buffer.getvalue()


def expected_png(figure) -> tuple[bytes, tuple[int, int]]:
    """The figure's PNG as the notebook's inline backend saves it, and its size as PIL reads it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue(), PIL.open(io.BytesIO(buffer.getvalue())).size


def test_a_figure_reaches_an_openai_server_as_a_base64_png_part(openai_server, fig):
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    assert rlm.run(["What trend does this plot show?", fig]) == Stream().chunks
    content = openai_server.requests[0]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What trend does this plot show?"}
    assert content[1]["type"] == "image_url"
    head, _, payload = content[1]["image_url"]["url"].partition(",")
    assert head == "data:image/png;base64"
    data = base64.b64decode(payload, validate=True)
    png, size = expected_png(fig)
    assert png_size(data) == size and 0 < size[0] <= 200 and 0 < size[1] <= 150
    assert data == png


def test_anthropic_gets_base64_image_blocks(vendor_server, fig):
    vendor_server.script(Reply(200, "text/event-stream", sse(start(), text_block(), text("ok"), *end())))
    rlm = RLM(AnthropicProvider("claude-test", api_key=KEY, base_url=vendor_server.base_url), max_retries=0)
    picture = PIL.new("RGB", (31, 17), "red")
    assert rlm.run([{"role": "user", "content": [fig, "Compare these two.", picture, " "]}]) == "ok"
    blocks = vendor_server.requests[0][2]["messages"][0]["content"]
    assert [b["type"] for b in blocks] == ["image", "text", "image"]  # the blank text block is left out
    assert blocks[1] == {"type": "text", "text": "Compare these two."}
    for block, size in zip((blocks[0], blocks[2]), (expected_png(fig)[1], (31, 17))):
        assert set(block["source"]) == {"type", "media_type", "data"}
        assert block["source"]["type"] == "base64" and block["source"]["media_type"] == "image/png"
        assert png_size(base64.b64decode(block["source"]["data"], validate=True)) == size


def test_ollama_gets_images_on_the_message(vendor_server, fig, tmp_path):
    vendor_server.script(Reply(200, "application/x-ndjson", ndjson(
        {"model": "llava", "message": {"role": "assistant", "content": "ok"}, "done": False},
        {"model": "llava", "message": {"role": "assistant", "content": ""}, "done": True,
         "done_reason": "stop"})))
    path = tmp_path / "photo.jpg"
    path.write_bytes(encoded("JPEG"))
    rlm = RLM(OllamaProvider("llava", host=vendor_server.base_url), max_retries=0)
    assert rlm.run(["Describe ", fig, " and ", path]) == "ok"  # a str would be text: a Path is a file
    message = vendor_server.requests[0][2]["messages"][0]
    assert set(message) == {"role", "content", "images"}
    assert message["content"] == "Describe  and "
    first, second = (base64.b64decode(b, validate=True) for b in message["images"])
    assert png_size(first) == expected_png(fig)[1]
    assert second == path.read_bytes()


def test_sources_and_formats_are_read_from_the_bytes(tmp_path, fig):
    for fmt, media_type in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"),
                            ("WEBP", "image/webp")):
        data = encoded(fmt)
        path = tmp_path / "misnamed.bin"
        path.write_bytes(data)
        for source in (data, bytearray(data), path, str(path)):
            img = Image.of(source)
            assert (img.media_type, img.dimensions, img.data) == (media_type, (37, 19), data)
        with open(path, "rb") as file:
            assert Image.of(file).data == data  # a file object, read from where it stands
        buffer = io.BytesIO()
        buffer.write(data)  # as fig.savefig(buffer) leaves it: at its end
        assert Image.of(buffer).data == data  # a BytesIO is taken whole
    axes = fig.axes[0]
    assert Image.of(axes).data == Image.of(fig).data  # an Axes stands for its figure
    cmyk = Image.of(PIL.new("CMYK", (5, 6)))  # PNG cannot hold CMYK: converted
    assert png_size(cmyk.data) == (5, 6)
    part = image(PIL.new("L", (3, 4)), detail="low")
    assert part["image_url"]["detail"] == "low" and Image.of(part).dimensions == (3, 4)
    remote = {"type": "image_url", "image_url": {"url": "https://example.org/a.png", "detail": "high"}}
    assert image(part) is part and image(remote) is remote
    assert is_image(fig) and is_image(axes) and is_image(PIL.new("L", (1, 1))) and is_image(encoded("GIF"))
    assert not is_image("chart.png") and not is_image(b"plain bytes") and not is_image(42)


@pytest.mark.parametrize("source, message", [
    (b"BM\x00\x00 a bitmap", "not a PNG, JPEG, GIF or WebP image"),
    ("/no/such/picture.png", "no image '/no/such/picture.png'"),
    (object(), "a object is not an image"),
    ({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}, "not valid base64"),
    ({"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0uLg=="}},  # "BM..": a bitmap
     "not a PNG, JPEG, GIF or WebP image"),
])
def test_what_is_not_an_image_is_a_usage_error(source, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        Image.of(source)


def test_a_prompt_of_parts_and_messages_with_figures_become_json_parts(fig):
    rlm = RLM.from_scripted("ok")
    (message,) = rlm.request(["Why?", fig]).messages
    assert message["role"] == "user" and message["content"][0] == {"type": "text", "text": "Why?"}
    assert Image.of(message["content"][1]).data == Image.of(fig).data
    messages = rlm.request([{"role": "user", "content": [fig, "Why?"]}]).messages
    json.dumps(messages)  # plain JSON, as callbacks, --chat history and traces need
    with pytest.raises(UsageError, match="a list of content parts"):
        rlm.request([{"role": "user", "content": "a"}, "b"])


def oversized_png(width: int, height: int, size: int) -> bytes:
    """A PNG header announcing ``width``×``height`` followed by ``size`` bytes: what the checks read."""
    ihdr = struct.pack(">II5B", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0" * 4 + b"\0" * size


@pytest.mark.parametrize("parts, message", [
    ([oversized_png(10, 10, 4 * 1024 * 1024)], (r"image 1 \(PNG 10×10, 4\.0 MB\) is 5\.3 MB as base64; "
                                                 "Anthropic takes at most 5 MB as base64 per image")),
    ([PIL.new("L", (8001, 2))], r"image 1 \(PNG 8001×2, .*\) is over 8000 pixels a side"),
    ([PIL.new("L", (2001, 2))] * 21, "image 1 .* is over 2000 pixels a side, Anthropic's limit with this"),
    ([PIL.new("L", (1, 1))] * 101, "101 images in one request; Anthropic takes at most 100"),
    ([oversized_png(10, 10, 3 * 1024 * 1024)] * 9, "the images of this request add up to over 32 MB"),
])
def test_anthropic_limits_are_checked_before_sending(vendor_server, parts, message):
    rlm = RLM(AnthropicProvider("claude-test", api_key=KEY, base_url=vendor_server.base_url), max_retries=0)
    with pytest.raises(UsageError, match="anthropic:claude-test: " + message):
        rlm.run(["Look:", *parts])
    assert vendor_server.requests == []
    assert rlm.last_response.state == "error"


@pytest.mark.parametrize("parts, message", [
    ([oversized_png(10, 10, 21 * 1024 * 1024)], "is 21.0 MB; OpenAI takes at most 20 MB per image"),
    ([oversized_png(10, 10, 13 * 1024 * 1024)] * 4, "add up to over 50 MB; OpenAI takes at most that"),
    ([encoded("GIF")] * 501, "501 images in one request; OpenAI takes at most 500"),
])
def test_openai_limits_are_checked_before_sending(openai_server, parts, message):
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    with pytest.raises(UsageError, match=message):
        rlm.run(["Look:", *parts])
    assert openai_server.requests == []


def test_a_remote_image_url_goes_to_openai_and_anthropic_but_not_ollama(vendor_server, openai_server):
    remote = {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}}
    openai = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    openai.run(["Cat?", remote])
    assert openai_server.requests[0]["messages"][0]["content"][1] == remote
    vendor_server.script(Reply(200, "text/event-stream", sse(start(), text_block(), text("ok"), *end())))
    RLM(AnthropicProvider("claude-test", api_key=KEY, base_url=vendor_server.base_url)).run(["Cat?", remote])
    blocks = vendor_server.requests[0][2]["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "url", "url": "https://example.org/cat.png"}}
    with pytest.raises(UsageError, match="Ollama takes images as data, not URLs"):
        RLM(OllamaProvider("llava", host=vendor_server.base_url), max_retries=0).run(["Cat?", remote])
    assert len(vendor_server.requests) == 1


def test_the_local_model_says_it_takes_no_images(fig):
    pytest.importorskip("llama_cpp")
    rlm = RLM.from_local()
    with pytest.raises(
        UsageError, match="local:smollm2 takes no images: .*SmolLM2 reads no pictures.*vision"
    ):
        rlm.run(["What is in this plot?", fig])
    assert rlm.last_response.state == "error"
    text = [{"role": "user", "content": [{"type": "text", "text": "Say "}, "hi."]}]
    # its template takes a str
    assert text_only(text, "local:smollm2", "") == [{"role": "user", "content": "Say hi."}]


def test_traces_keep_the_hash_and_size_not_the_bytes(tmp_path, fig):
    from rlm_toolkit.trace import StreamRecorder, load

    png = Image.of(fig)
    rlm = RLM.from_scripted("A rising line.")
    rlm.run(["What is this?", fig], record=tmp_path / "run.jsonl")
    written = (tmp_path / "run.jsonl").read_text()
    assert png.base64[:200] not in written and len(written) < 2000
    step = load(tmp_path / "run.jsonl").messages(1)
    assert step[0]["content"][1] == {"type": "image", "media_type": "image/png", "bytes": png.size,
                                     "sha256": hashlib.sha256(png.data).hexdigest(),
                                     "width": png.dimensions[0], "height": png.dimensions[1]}
    rlm.run(["What is this?", fig], callbacks=[StreamRecorder(tmp_path / "kept.jsonl", keep_images=True)])
    kept = load(tmp_path / "kept.jsonl").messages(1)[0]["content"][1]
    assert Image.of(kept).data == png.data
    assert for_trace([{"type": "image_url", "image_url": {"url": "data:,junk"}}]) == [{"type": "image"}]


def test_parts_of_other_types_go_to_openai_as_they_are(openai_server):
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    rlm = RLM.from_openai("gpt-4o", base_url=openai_server.base_url, api_key=openai_server.api_key)
    rlm.run([{"role": "user", "content": ["Transcribe this.", audio]}])
    assert openai_server.requests[0]["messages"][0]["content"] == [
        {"type": "text", "text": "Transcribe this."}, audio]
    with pytest.raises(UsageError, match="neither a message .* nor a content part"):
        rlm.request([{"content": "no role, no type"}])


def test_the_responses_api_gets_input_image_parts_and_openais_limits(vendor_server, fig):
    from ..fixtures.responses_events import ResponsesStream

    vendor_server.script(ResponsesStream().message("A rising line.").completed(5, 3).reply())
    rlm = RLM.from_openai("gpt-5", api="responses", base_url=vendor_server.base_url + "/v1", api_key=KEY,
                          max_retries=0)
    assert rlm.run(["What is this?", fig]) == "A rising line."
    (item,) = vendor_server.requests[0][2]["input"]
    text_part, image_part = item["content"]
    assert (
        text_part == {"type": "input_text", "text": "What is this?"} and image_part["type"] == "input_image"
    )
    head, _, payload = image_part["image_url"].partition(",")
    assert head == "data:image/png;base64"
    assert png_size(base64.b64decode(payload, validate=True)) == expected_png(fig)[1]
    with pytest.raises(UsageError, match="openai-responses:gpt-5: image 1 .* OpenAI takes at most 20 MB"):
        rlm.run(["Look:", oversized_png(10, 10, 21 * 1024 * 1024)])
    assert len(vendor_server.requests) == 1
