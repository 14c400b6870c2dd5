"""How ``%%rlm`` builds a prompt with images, in an in-process IPython shell: which values are images,
where they go, and what stays text as before."""

from __future__ import annotations

import io

import pytest

from rlm_jupyter.magics.prompt import interpolate
from rlm_toolkit import RLM, Image, ScriptedProvider

PIL = pytest.importorskip("PIL.Image")


def png(size=(4, 3)) -> bytes:
    buffer = io.BytesIO()
    PIL.new("RGB", size).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_become_parts_in_place_and_everything_else_stays_text(tmp_path):
    path = tmp_path / "p.png"
    path.write_bytes(png((5, 6)))
    ns = {"pic": PIL.new("L", (2, 2)), "raw": png(), "file": path, "name": str(path), "blob": b"not an image",
          "n": 3}
    parts = interpolate("{{ {n} }} {pic}{raw} then {file}, named {name}; {blob}", ns)
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "text", "image_url", "text"]
    assert parts[0]["text"] == "{ 3 } " and parts[3]["text"] == " then "
    assert parts[5]["text"] == f", named {path}; b'not an image'"  # a str path and other bytes are text
    assert [Image.of(parts[i]).dimensions for i in (1, 2, 4)] == [(2, 2), (4, 3), (5, 6)]
    assert interpolate("{n} and {name}", ns) == f"3 and {path}"  # no image: a string, as before


def test_image_options_go_first_and_an_image_alone_is_a_prompt(shell):
    provider = ScriptedProvider("ok")
    shell.user_ns.update(m=RLM(provider), pic=PIL.new("RGB", (7, 8)), raw=png())
    shell.run_cell_magic("rlm", "-m m --image pic --image raw", "\n  What differs?\n\n")
    content = provider.requests[-1].messages[-1]["content"]
    assert [p["type"] for p in content] == ["image_url", "image_url", "text"]
    assert Image.of(content[0]).dimensions == (7, 8) and content[2]["text"] == "What differs?"
    shell.run_cell_magic("rlm", "-m m", "{pic}")
    (only,) = provider.requests[-1].messages[-1]["content"]
    assert Image.of(only).dimensions == (7, 8)
