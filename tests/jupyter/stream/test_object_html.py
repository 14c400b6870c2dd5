"""The static twin of a typed answer's tree (``rlm_jupyter.stream.object``): what a saved notebook
keeps is readable in JupyterLab, GitHub and nbconvert (tables and numbered lists, the raw JSON
folded), escaped, cut where it must be, and a stopped answer shows as far as it got (issue 24)."""

from __future__ import annotations

import json

from rlm_jupyter.live.drive import drive
from rlm_jupyter.stream.object import MAX_DEPTH, MAX_NODES, object_html
from rlm_jupyter.stream.view import ObjectStreamView
from rlm_toolkit import RLM, ScriptedProvider

PEOPLE = {"value": [{"name": "Ada <script>alert(1)</script>", "age": 36, "tea": True, "note": None}]}


def test_a_wrapped_list_is_numbered_rows_of_field_tables_escaped_with_the_json_folded():
    page = object_html(json.dumps(PEOPLE), unwrap=True)
    assert page.startswith('<div class="rlm-obj-tree"><ol class="rlm-arr" start="0"><li class="rlm-obj-item">'
                           '<table class="rlm-obj"')
    assert ">name</th>" in page and ">value</th>" not in page
    assert "<script>" not in page and "Ada &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<span class="rlm-obj-num">36</span>' in page and '<span class="rlm-obj-lit">true</span>' in page
    assert '<span class="rlm-obj-lit">null</span>' in page
    assert page.endswith('</pre></details>') and '<summary class="rlm-obj-raw-title">JSON</summary>' in page


def test_a_stopped_answer_shows_as_far_as_it_got_and_junk_shows_only_as_json():
    cut = object_html('{"value": [{"name": "Ada", "age": 36}, {"name": "Al', unwrap=True)
    assert cut.count('<li class="rlm-obj-item">') == 2 and ">Al</span>" in cut
    junk = object_html("Sure! Here is <b>JSON</b>", unwrap=False)
    assert junk.startswith('<div class="rlm-obj-tree"></div>') and "&lt;b&gt;JSON&lt;/b&gt;" in junk


def test_depth_and_size_are_cut_and_say_so():
    deep = object_html("[" * 150 + "]" * 150)
    assert deep.count("<ol") == MAX_DEPTH and '<span class="rlm-obj-deep">…</span>' in deep
    wide = object_html(json.dumps(list(range(MAX_NODES + 500))))
    assert wide.count('class="rlm-obj-num"') == MAX_NODES - 1  # the list itself is one value
    assert "… 501 more values (the JSON below has them)" in wide


def test_the_widgets_saved_copy_is_the_tree_and_markdown_is_a_json_block():
    text = json.dumps(PEOPLE)
    view = ObjectStreamView("scripted:scripted", fmt="object", unwrap=True)
    view.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    drive(view, RLM(ScriptedProvider(list(text))).stream("hi"))
    data, _ = view.final_bundle()
    assert '<div class="rlm-answer"><div class="rlm-md' in data["text/html"]
    assert '<ol class="rlm-arr" start="0">' in data["text/html"] and "<script>" not in data["text/html"]
    assert data["text/markdown"] == f"```json\n{text}\n```" and data["text/plain"] == text
