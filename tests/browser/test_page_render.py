"""One renderer, live and final, in JupyterLab 4 and Notebook 7 (Chromium): an answer with math,
code, a table and money is typeset live (KaTeX, from the page libraries sent once per page) and in
its saved copy (the front end's own MathJax, as in a markdown cell of the same text), its code is
coloured in both the same way, and its output keeps its height when the stream settles."""

from __future__ import annotations

import pytest

from tests.browser._ui import open_notebook, run_all_cells, wait_cells_done
from tests.fixtures.browser import BrowserPage
from tests.fixtures.jupyter_server import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ANSWER = """## Area

The area is $A = \\pi r^2$, so a disc of radius $r = 2\\,\\text{m}$ covers about $12.6$ square metres.
It costs $5 and $6 to paint, and a [link](javascript:window.__pwned=1) stays text.

$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$

```python
def area(r):
    return 3.14159 * r ** 2  # square metres
```

| r | area |
|---|------|
| 1 | 3.14 |
| 2 | 12.6 |

Done: $\\href{javascript:window.__pwned=2}{x}$ and `inline code`.
"""

# Display formulas are left out where heights are compared: KaTeX's MathML (live) and MathJax's
# CHTML (final) draw a tall one (an integral with limits, a fraction) at different heights.
INLINE_ANSWER = ANSWER.replace("$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n\n", "")


def setup(answer: str) -> str:
    return f'''
%load_ext rlm_jupyter
from rlm_toolkit import RLM, ScriptedProvider
text = {answer!r}
slow = RLM(ScriptedProvider([text[i:i + 6] for i in range(0, len(text), 6)], delay=0.03))
'''

# Every animation frame: the answer cell's output height and which copy it shows.
_WATCH = """() => {
  window.__heights = [];
  const tick = () => {
    const cells = [...document.querySelectorAll('.jp-CodeCell')];
    const area = cells.length > 1 ? cells[1].querySelector('.jp-OutputArea') : null;
    if (area) {
      const live = area.querySelector('.rlm-stream:not(.rlm-static)');
      // the settled copy, not the saved copy a live answer keeps hidden beside its widget (.rlm-saved)
      const copy = [...area.querySelectorAll('.rlm-stream.rlm-static')].find(e => !e.closest('.rlm-saved'));
      window.__heights.push({h: area.getBoundingClientRect().height,
                             kind: copy ? 'static' : live ? live.dataset.state : 'none',
                             math: area.querySelectorAll('mjx-container').length,
                             parts: [...area.querySelectorAll('.rlm-stream > *, .rlm-md > *')]
                               .map(e => `${e.tagName}:${e.getBoundingClientRect().height}`)});
    }
    if (!window.__stopWatch) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

_CODE_COLOURS = """(root) => [...document.querySelectorAll(`${root} .hljs-keyword, ${root} .hljs-comment`)]
  .map(e => { const s = getComputedStyle(e); return [e.textContent, s.color, s.fontWeight, s.fontStyle]; })"""


def test_math_and_code_live_and_final_like_a_markdown_cell(jupyter_frontend: JupyterServer,
                                                           browser_page: BrowserPage):
    server, page = jupyter_frontend, browser_page.page
    page.set_viewport_size({"width": 1100, "height": 1400})
    name = f"render_{server.flavor}.ipynb"
    # the same text in a markdown cell, without the money: JupyterLab's markdown cells take
    # "$5 and $" for a formula, and "\$5" too (rlm's rule, Pandoc's, leaves money alone)
    server.write_notebook(name, [setup(ANSWER), "%%rlm -m slow\nthe area of a disc"],
                          markdown=[ANSWER.replace("$5 and $6", "5 and 6 dollars")])
    open_notebook(browser_page, server, name)
    mark = browser_page.mark()
    run_all_cells(browser_page)

    # live: typeset by KaTeX (MathML), code coloured, table, money left alone
    live = '.rlm-stream:not(.rlm-static)[data-state="streaming"]'
    page.wait_for_selector(f"{live} .rlm-answer .hljs-keyword", timeout=60_000)
    assert page.locator(f"{live} .rlm-answer math").count() >= 3
    page.wait_for_selector(f"{live} .rlm-answer table td", timeout=60_000)
    live_colours = page.evaluate(_CODE_COLOURS, live + " .rlm-answer")

    # final: the static copy, typeset by the front end's MathJax like the markdown cell
    page.wait_for_selector(".rlm-stream.rlm-static mjx-container", timeout=60_000)
    wait_cells_done(browser_page)
    page.wait_for_timeout(1000)  # MathJax typesets asynchronously
    static = ".jp-CodeCell .rlm-stream.rlm-static"
    cell_math = page.evaluate("""() => [...document.querySelectorAll('.jp-MarkdownCell mjx-container')]
      .map(e => e.getAttribute('display') + ':' + e.textContent)""")
    our_math = page.evaluate(f"""() => [...document.querySelectorAll('{static} mjx-container')]
      .map(e => e.getAttribute('display') + ':' + e.textContent)""")
    assert len(cell_math) >= 4 and our_math == cell_math  # the same formulas, the same typesetter's output
    markup = """(root) => [...document.querySelectorAll(root + ' mjx-container')].map(e => e.innerHTML)"""
    assert page.evaluate(markup, static) == page.evaluate(markup, ".jp-MarkdownCell")
    answer_text = page.inner_text(f"{static} .rlm-answer")
    assert "costs $5 and $6 to paint" in answer_text
    assert page.evaluate(_CODE_COLOURS, static + " .rlm-answer") == live_colours
    assert page.locator(f"{static} .rlm-answer table td").count() == 4
    assert page.evaluate("() => window.__pwned === undefined")
    hrefs = page.evaluate("""() => [...document.querySelectorAll('.jp-CodeCell .jp-OutputArea [href]')]
      .map(e => e.getAttribute('href'))""")
    assert not any(h.lower().startswith("javascript") for h in hrefs), hrefs

    assert browser_page.errors_since(mark) == []


def test_the_answer_keeps_its_height_when_it_settles(jupyter_frontend: JupyterServer,
                                                     browser_page: BrowserPage):
    """Heading, inline math, money, code, table and footer: the output's height in the last live
    frame and once the static copy is typeset are the same (within 2 px)."""
    assert INLINE_ANSWER != ANSWER
    server, page = jupyter_frontend, browser_page.page
    page.set_viewport_size({"width": 1100, "height": 1400})
    name = f"height_{server.flavor}.ipynb"
    server.write_notebook(name, [setup(INLINE_ANSWER), "%%rlm -m slow\nthe area of a disc"])
    open_notebook(browser_page, server, name)
    mark = browser_page.mark()
    page.evaluate(_WATCH)
    run_all_cells(browser_page)
    page.wait_for_selector(".rlm-stream.rlm-static mjx-container", timeout=60_000)
    wait_cells_done(browser_page)
    page.wait_for_timeout(1500)  # MathJax typesets asynchronously; let the last frames be recorded
    page.evaluate("() => { window.__stopWatch = true; }")
    # the height does not jump when the stream settles: the last live frame against the settled copy
    heights = page.evaluate("window.__heights")
    live_frames = [s for s in heights if s["kind"] in ("streaming", "done")]
    settled = [s for s in heights if s["kind"] == "static"]
    assert live_frames and settled, heights[-5:]
    before, after = live_frames[-1]["h"], settled[-1]["h"]
    assert abs(after - before) <= 2, (before, after, live_frames[-1]["parts"], settled[-1]["parts"])
    assert browser_page.errors_since(mark) == []
