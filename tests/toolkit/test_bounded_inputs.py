"""Every file rlm reads is a regular file read up to a documented limit (rlm_toolkit._files).

``/dev/zero`` once grew memory without end, a FIFO hung forever and a 64 MB bytes image was copied
and base64-encoded several times before a vendor's limit refused it. Now each is one UsageError,
at once; large files here are sparse (``truncate``), so they cost no disk.
"""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from rlm_toolkit import image
from rlm_toolkit._files import MAX_IMAGE_BYTES, MAX_LINE_BYTES, MAX_OTLP_BYTES, MAX_TRACE_BYTES
from rlm_toolkit.errors import UsageError
from rlm_toolkit.images import Image
from rlm_toolkit.otel_import import read_otlp_json
from rlm_toolkit.trace import load

HEADER = {"type": "header", "version": 1, "kind": "stream", "model": "m", "created": 1_700_000_000.0}
PNG = b"\x89PNG\r\n\x1a\n"
READERS = {"load": load, "read_otlp_json": read_otlp_json, "image": image}


def sparse(path: Path, size: int, start: bytes = b"") -> Path:
    path.write_bytes(start)
    os.truncate(path, size)
    return path


@pytest.mark.timeout(10)
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_device_a_fifo_and_a_folder_are_refused_at_once(tmp_path, reader):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    read = READERS[reader]
    for path, why in (("/dev/zero", "is a device"), (fifo, "is a FIFO"), (tmp_path, "is a folder")):
        for given in (str(path), Path(path)):
            with pytest.raises(UsageError, match=why):
                read(given)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("reader, limit", [("load", MAX_TRACE_BYTES), ("read_otlp_json", MAX_OTLP_BYTES),
                                           ("image", MAX_IMAGE_BYTES)])
def test_a_file_over_its_limit_is_refused_before_it_is_read(tmp_path, reader, limit):
    path = sparse(tmp_path / "big", limit + 1, PNG if reader == "image" else json.dumps(HEADER).encode())
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match=rf"is over {limit // 2**20} MB, more than rlm reads"):
            READERS[reader](path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@pytest.mark.timeout(30)
def test_a_line_over_the_line_limit_is_skipped_in_bounded_pieces_and_listed(tmp_path):
    path = tmp_path / "run.jsonl"
    footer = {"type": "footer", "t": 1.0, "state": "done", "response": None, "error": None}
    with path.open("wb") as file:
        file.write(json.dumps(HEADER).encode() + b"\n")
        file.seek(MAX_LINE_BYTES + 4096, os.SEEK_CUR)  # a hole: a line of zeros, no disk
        event = {"type": "event", "t": 0.5, "event": {"type": "text", "text": "hi"}}
        file.write(b"\n" + json.dumps(event).encode() + b"\n" + json.dumps(footer).encode() + b"\n")
    trace = load(path)
    assert trace.text == "hi" and trace.complete and trace.skipped == 1
    assert trace.problems == [f"{path}:2: a line over {MAX_LINE_BYTES // 2**20} MB"]


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "data URL"])
def test_a_big_image_in_memory_is_refused_before_it_is_copied_or_encoded(kind):
    raw = PNG + bytes(MAX_IMAGE_BYTES + 2**20)
    if kind == "data URL":
        import base64

        given: object = {"type": "image_url", "image_url": {"url": "data:image/png;base64,"
                                                                     + base64.b64encode(raw).decode()}}
    else:
        given = {"bytes": raw, "bytearray": bytearray(raw), "memoryview": memoryview(raw)}[kind]
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match=rf"rlm takes images of at most {MAX_IMAGE_BYTES // 2**20} MB"):
            Image.of(given)  # what image() and every provider's converter (a part's data: URL) call
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # the 1.2 GB of before was copies and base64 of the whole image


class Endless(io.RawIOBase):
    """A file object that never ends (like /dev/zero), counting what it gave."""

    given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = bytes(len(buffer))
        self.given += len(buffer)
        return len(buffer)


@pytest.mark.timeout(10)
def test_a_file_object_gives_at_most_the_limit_plus_one_byte():
    endless = Endless()
    with pytest.raises(UsageError, match="at most"):
        image(endless)
    assert endless.given == MAX_IMAGE_BYTES + 1
    assert image(io.BytesIO(PNG + bytes(32)))["type"] == "image_url"
    with pytest.raises(UsageError, match="binary mode"):
        image(io.StringIO("text"))
