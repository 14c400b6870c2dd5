"""The vendored page libraries: the committed build is the lockfile's, and the page and the kernel
render math and code by the same rules, inertly (node runs the committed bundle itself)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rlm_jupyter.page import BUNDLE, KEY, esm
from rlm_jupyter.render import to_html

JS = Path(__file__).resolve().parents[2] / "js"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def test_the_committed_bundle_names_the_locked_versions():
    lock = json.loads((JS / "package-lock.json").read_text())
    wanted = sorted(json.loads((JS / "package.json").read_text())["dependencies"])
    banner = BUNDLE.read_text(encoding="utf-8").splitlines()[0]
    named = dict(re.findall(r"(\S+)@(\d[\w.\-]*)", banner))
    assert sorted(named) == wanted
    for name, version in named.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    licences = (BUNDLE.parent / "LICENSES.txt").read_text(encoding="utf-8")
    assert all(f"== {name}@{version} ==" in licences for name, version in named.items())


@pytest.mark.timeout(900)
def test_the_committed_bundle_is_what_the_build_script_makes():
    """js/build.mjs --check: the libraries installed from the lockfile (``npm ci`` into
    js/node_modules when they are not there) build the committed bundle byte for byte."""
    npm = shutil.which("npm")
    if NODE is None or npm is None:
        from tests.conftest import require

        if require("node"):
            pytest.fail("RLM_REQUIRE_NODE=1 but node/npm is not on the PATH")
        pytest.skip("node/npm is not installed (set RLM_REQUIRE_NODE=1 to make this a failure)")
    if not (JS / "node_modules" / "esbuild").is_dir():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"npm ci in {JS} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    done = subprocess.run([NODE, "build.mjs", "--check"], cwd=JS, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_widget_modules_carry_the_key_not_the_libraries():
    from rlm_jupyter.stream.view import StreamView
    from rlm_jupyter.timeline.view import TimelineView

    for module in (StreamView._esm, TimelineView._esm):
        assert KEY in module and "renderToString" not in module and len(module) < 40_000
    assert len(esm(Path(__file__))) > 0


def _page_render(texts: list[str]) -> list[str]:
    """The page's toHtml of each text, run by node on the committed bundle."""
    script = ("const m = await import(process.argv[1]);"
              " const texts = JSON.parse(await new Promise((r) => { let s = '';"
              " process.stdin.on('data', (d) => { s += d; }); process.stdin.on('end', () => r(s)); }));"
              " process.stdout.write(JSON.stringify(texts.map((t) => m.toHtml(t))));")
    done = subprocess.run([NODE, "--input-type=module", "-e", script, str(BUNDLE)], input=json.dumps(texts),
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


MATH_CASES = [
    "costs $5 and $6", "costs $5 and $6, $$x$$", "$x\\,y$ and $$\\frac12$$", "a $x$5 b", "$ x$ and $x $",
    "\\(a\\) and \\[b\\]", "$$\nx^2\n+ y\n$$", "$$\nx\n\nnot closed", "\\$5 and $x$", "`$x$` in code",
    "price: $3.50 or $4", "$a$$b$", "$$a$", "$\\$$", "x $y\n$ z", "```\n$x$\n```", "- $a$\n- $5",
]


def _page_formulas(html: str) -> list[str]:
    """Each formula's source: KaTeX's annotation, or the text of its error mark (not TeX)."""
    found = re.findall(r'<annotation encoding="application/x-tex">(.*?)</annotation>'
                       r'|<span class="katex-error"[^>]*>(.*?)</span>', html, re.S)
    return [(a or b).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") for a, b in found]


def _kernel_formulas(html: str) -> list[str]:
    found = re.findall(r'<span class="rlm-math[^"]*">\\[(\[](.*?)\\[)\]]</span>', html, re.S)
    return [t.replace("&#36;", "$").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
            for t in found]


@needs_node
def test_page_and_kernel_find_the_same_formulas():
    for text, page in zip(MATH_CASES, _page_render(MATH_CASES)):
        assert _page_formulas(page) == _kernel_formulas(to_html(text)), text
    assert _kernel_formulas(to_html("costs $5 and $6")) == []
    assert _kernel_formulas(to_html("$x\\,y$")) == ["x\\,y"]  # the backslash kept


def _coloured(html: str) -> dict[str, str]:
    """Each coloured token's text → its highlight.js class."""
    import html as html_module

    return {html_module.unescape(text): cls.split()[0]
            for cls, text in re.findall(r'<span class="(hljs-[^"]*)"[^>]*>([^<]*)</span>', html)}


@needs_node
def test_page_and_kernel_colour_code_alike():
    code = "```python\ndef f(x):\n    return len('a') + 1  # note\n```"
    page, = _page_render([code])
    page_classes, kernel_classes = _coloured(page), _coloured(to_html(code))
    for word in ("def", "return", "'a'", "1", "# note", "f"):
        assert page_classes[word] == kernel_classes[word], word
    assert 'style="color:var(--jp-mirror-editor-keyword-color' in to_html(code)  # no style sheet needed


HOSTILE_MATH = [
    "$\\href{javascript:alert(1)}{x}$", "$\\url{javascript:alert(1)}$", "$\\htmlClass{x}{y}$",
    "$\\includegraphics{http://evil/x.png}$", "$\\htmlData{onload=alert(1)}{x}$",
    "$$\\def\\a{\\a\\a}\\a$$", "$" + "{" * 3000 + "x" + "}" * 3000 + "$", "$" + "x" * 5000 + "$",
    "$</span><img src=x onerror=alert(1)>$",
    "```python\" onmouseover=\"alert(1)\n</code><script>x</script>\n```",
]


def _inert(html: str) -> None:
    assert not re.search(r"<(script|img|iframe|object|embed|style|svg|a)\b", html, re.I), html[:400]
    assert not re.search(r"\son\w+\s*=", html, re.I) and "javascript:" not in html.split("annotation")[0]


def test_hostile_math_and_code_stay_inert_in_the_kernel_copy():
    """A formula is text for the front end's typesetter (tests/browser: no link comes of it)."""
    for text in HOSTILE_MATH:
        _inert(re.sub(r'(<span class="rlm-math[^"]*">)[^<]*</span>', r"\1</span>", to_html(text)))


@needs_node
def test_hostile_math_and_code_stay_inert_in_the_page():
    for text, html in zip(HOSTILE_MATH, _page_render(HOSTILE_MATH)):
        outside = re.sub(r"<annotation[^>]*>.*?</annotation>", "", html, flags=re.S)  # the source, escaped
        _inert(outside)
        assert not re.search(r"\shref\s*=", outside), (text, outside[:300])
