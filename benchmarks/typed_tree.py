"""What the live typed tree costs the page: a typed answer's JSON fed to the stream widget's
``object.js`` (fmt "object") in headless Chromium, in 2,000 and 20,000 frames.

::

    .venv/bin/python -m benchmarks.typed_tree

Each frame is the message the kernel sends (``{"type": "frame", "d": …, "o": …}``), delivered to
the widget's own handlers (initialize + render, on a stand-in model as tests/jupyter/stream uses).
Each row: milliseconds of the page's work for every frame, against the baseline of the same run,
one update with the whole answer; and (0.12 MB only, in 200 frames) rebuilding the tree from the
whole text at every frame, the quadratic way a view that re-parses would go. The stand-in model does not
compare the old and new text as Backbone's ``set`` does in a real front end (a cost every answer
pays per frame, at most ~30 frames a second). Uses Debian's ``/usr/bin/chromium``
(``$RLM_CHROMIUM``), as the tests do.
"""

from __future__ import annotations

import json
import os
import shutil

from rlm_jupyter.stream.view import ObjectStreamView

PAGE = """<!doctype html><html><body><div id="a"></div><script type="module">
function fakeModel(state) {
  const handlers = {};
  return {on(n, f) { (handlers[n] ||= []).push(f); }, off() {}, get(k) { return state[k]; },
          set(k, v) { state[k] = v; for (const f of handlers["change:" + k] || []) f(); }, send() {},
          deliver(msg) { for (const f of handlers["msg:custom"] || []) f(msg, []); }};
}
window.run = async (source, chunks, mode) => {
  const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
  const widget = (await import(url)).default;
  const fresh = () => {
    const el = document.getElementById("a");
    el.replaceChildren();
    const model = fakeModel({text: "", state: "done", fmt: "object", unwrap: true, info: {}, error: "",
                             model_name: "b", stoppable: false});
    widget.initialize({model});
    widget.render({model, el});
    return model;
  };
  const start = performance.now();
  if (mode === "whole") fresh().deliver({type: "frame", d: chunks.join(""), o: 0});
  else if (mode === "frames") {
    const m = fresh();
    let at = 0;
    for (const d of chunks) { m.deliver({type: "frame", d, o: at}); at += d.length; }
  } else {
    let text = "";
    for (const c of chunks) { text += c; fresh().deliver({type: "frame", d: text, o: 0}); }
  }
  const ms = performance.now() - start;
  const rows = document.querySelectorAll("#a .rlm-obj-tree > ol > li").length;
  return {ms, rows};
};
</script></body></html>"""


def text_of(items: int) -> str:
    return json.dumps({"value": [{"id": i, "name": f"item number {i}", "tags": ["a", "b"]}
                                 for i in range(items)]})


def chunks_of(text: str, n: int) -> list[str]:
    size = max(1, len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)]


def main() -> None:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("RLM_CHROMIUM") or "/usr/bin/chromium"
    chromium = chromium if os.path.exists(chromium) else (shutil.which("chromium") or chromium)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content(PAGE)
        page.wait_for_function("typeof window.run === 'function'")
        source = ObjectStreamView._esm
        run = "([s, c, m]) => window.run(s, c, m)"
        for items, n in ((2_400, 2_000), (24_000, 20_000)):
            text = text_of(items)
            chunks = chunks_of(text, n)
            runs = {mode: [page.evaluate(run, [source, chunks, mode]) for _ in range(3)]
                    for mode in ("whole", "frames")}
            whole = min(r["ms"] for r in runs["whole"])
            streamed = min(r["ms"] for r in runs["frames"])
            assert {r["rows"] for r in runs["whole"] + runs["frames"]} == {items}
            line = (f"{len(text) / 1e6:.2f} MB in {len(chunks):,} frames: {streamed:.0f} ms; "
                    f"the whole answer in one frame {whole:.0f} ms ({streamed / whole:.1f}x)")
            if items == 2_400:  # in 200 frames: in 2,000 it takes minutes
                again = page.evaluate(run, [source, chunks_of(text, 200), "rebuild"])
                line += f"; rebuilt at each of 200 frames {again['ms']:.0f} ms ({again['ms'] / whole:.0f}x)"
            print(line, flush=True)
        browser.close()


if __name__ == "__main__":
    main()
