"""object.js (the stream widget's fmt "object", a typed answer's JSON as a growing tree) in headless
Chromium, fed the frames :class:`StreamView` really sends: fields appear and grow, lists gain rows,
a number appears whole, model text stays text, the raw JSON is one click away, and JSON nested too
deep or broken stops the tree, never the page (issue 24)."""

from __future__ import annotations

import json

import pytest

from rlm_jupyter.live.drive import drive
from rlm_jupyter.stream.view import ObjectStreamView
from rlm_toolkit import RLM, ScriptedProvider

from .test_stream_js import PAGE

pytestmark = pytest.mark.browser

PEOPLE = [{"name": "Ada <script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>",
           "age": 36, "tea": True, "note": None, "tags": ["a\"b", "\\n\u00e9\ud83e\udd9c"]},
          {"name": "Alan", "age": 41, "tea": False, "note": "x", "tags": []}]
TEXT = json.dumps({"value": PEOPLE})

SNAPSHOT = """() => {
  const tree = document.querySelector('#a .rlm-obj-tree');
  const rows = [...tree.querySelectorAll(':scope > ol.rlm-arr > li')];
  const cells = [...tree.querySelectorAll('tr')].filter(r => r.firstChild.textContent === 'age');
  return {rows: rows.length, ages: cells.map(r => r.lastChild.textContent), state: tree.dataset.state,
          first: rows.length && rows[0].querySelector('.rlm-obj-str')
            ? rows[0].querySelector('.rlm-obj-str').textContent : null};
}"""


def frames(text: str, unwrap: bool, chunk: int = 1) -> list[dict]:
    view = ObjectStreamView("scripted:scripted", frame=0.0, fmt="object", unwrap=unwrap)
    sent: list[dict] = []
    view.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    drive(view, RLM(ScriptedProvider([text[i:i + chunk] for i in range(0, len(text), chunk)])).stream("hi"))
    return sent


def start(page, unwrap: bool) -> None:
    page.set_content(PAGE)
    page.wait_for_function("typeof window.setup === 'function'")
    state = {"text": "", "state": "streaming", "model_name": "scripted:scripted", "fmt": "object", "info": {},
             "error": "", "stoppable": False, "unwrap": unwrap}
    page.evaluate("([source, state]) => window.setup(source, state)", [ObjectStreamView._esm, state])


def test_the_tree_grows_field_by_field_and_row_by_row_and_model_text_stays_text(browser_page):
    page = browser_page.page
    start(page, unwrap=True)
    seen = []
    for message in frames(TEXT, unwrap=True):
        page.evaluate("msg => window.model.deliver(msg)", message)
        seen.append(page.evaluate(SNAPSHOT))
    rows = [s["rows"] for s in seen]
    assert rows == sorted(rows) and rows[0] == 0 and rows[-1] == 2  # lists gain rows, never lose one
    firsts = [s["first"] for s in seen if s["first"]]
    assert all(b.startswith(a) for a, b in zip(firsts, firsts[1:])) and len(set(firsts)) > 10  # grows
    assert firsts[-1] == PEOPLE[0]["name"]
    assert all(age in ("", "36", "41") for s in seen for age in s["ages"])  # a number appears whole
    assert seen[-1]["ages"] == ["36", "41"] and seen[-1]["state"] == "done"
    report = page.evaluate("""() => {
      const tree = document.querySelector('#a .rlm-obj-tree');
      return {pwned: window.__pwned === undefined ? null : window.__pwned,
              embeds: tree.querySelectorAll('script,img').length,
              keys: [...tree.querySelectorAll('th')].map(t => t.textContent),
              lits: [...tree.querySelectorAll('.rlm-obj-lit')].map(t => t.textContent),
              tags: [...tree.querySelectorAll('tr')].filter(r => r.firstChild.textContent === 'tags')[0]
                      .lastChild.textContent,
              raw: document.querySelector('#a .rlm-obj-raw pre').textContent,
              rawOpen: document.querySelector('#a .rlm-obj-raw').open};
    }""")
    assert report["pwned"] is None and report["embeds"] == 0
    assert report["keys"][:5] == ["name", "age", "tea", "note", "tags"] and "value" not in report["keys"]
    assert report["lits"] == ["true", "null", "false"]
    assert report["tags"] == 'a"b' + "\\n\u00e9\U0001f99c"  # escapes decoded, surrogate pair whole
    assert report["raw"] == TEXT and report["rawOpen"] is False  # the JSON, one click away
    assert browser_page.errors == []


def test_an_object_root_is_a_table_and_a_whole_answer_at_once_renders_the_same(browser_page):
    page = browser_page.page
    text = json.dumps({"name": "Ada", "age": 36, "langs": [{"n": "x"}]})
    start(page, unwrap=False)
    page.evaluate("t => window.model.set('text', t)", text)  # a view that appears after the end
    keys = "() => [...document.querySelectorAll('#a .rlm-obj-tree th')].map(t => t.textContent)"
    shape = page.evaluate(keys)
    assert shape == ["name", "age", "langs", "n"]
    assert page.evaluate("() => document.querySelector('#a .rlm-obj-tree').dataset.state") == "done"


@pytest.mark.parametrize("text", ["[" * 300 + "]" * 300, '{"a": 1 2}', '{"a": tru e}', '{"a": "x"} extra'])
def test_too_deep_or_broken_json_stops_the_tree_not_the_page(browser_page, text):
    page = browser_page.page
    start(page, unwrap=False)
    for message in frames(text, unwrap=False, chunk=7):
        page.evaluate("msg => window.model.deliver(msg)", message)
    state = page.evaluate("() => document.querySelector('#a .rlm-obj-tree').dataset.state")
    depth = page.evaluate("() => document.querySelectorAll('#a .rlm-obj-tree ol').length")
    assert state == "broken" and depth <= 128
    assert page.evaluate("() => document.querySelector('#a .rlm-obj-raw pre').textContent") == text
    assert browser_page.errors == []
