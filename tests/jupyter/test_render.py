"""render.py: untrusted model text becomes static outputs that run nothing."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import rlm_jupyter
from rlm_jupyter.render import answer_html, footer_text, to_html, to_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt&#58;alert(1))",
    "[x]( javascript:alert(1) )",
    "<a href=\"javascript:alert(1)\">a</a>",
    "<button data-commandlinker-command=\"terminal:create-new\">run</button>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<style>body{display:none}</style>",
    "<svg onload=alert(1)></svg>",
    "<form action=x><input name=y></form>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "![img](https://evil.example/track.png)",
    "[data](data:text/html;base64,PHNjcmlwdD4=)",
]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


TEXT_TAGS = {
    "div",
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "s",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
}


@pytest.mark.parametrize("text", HOSTILE)
def test_html_keeps_no_active_content(text):
    found = elements(to_html(text))
    assert {tag for tag, _ in found} <= TEXT_TAGS, found
    for _tag, attrs in found:
        assert not [
            a for a in attrs if a.startswith(("on", "data-", "style", "src", "action", "formaction"))
        ], attrs
        if "href" in attrs:
            assert re.match(r"(https?:|mailto:)", attrs["href"] or ""), attrs
            assert attrs.get("rel") == "noopener noreferrer" and attrs.get("target") == "_blank"


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_escapes_raw_html_and_defuses_links(text):
    out = to_markdown(text)
    assert "<" not in out.replace("&lt;", "")
    for dest in re.findall(r"\]\(\s*<?([^)\s>]*)", out) + re.findall(r"^\[[^\]]+\]:\s*(\S+)", out, re.M):
        assert dest.startswith(("#", "http://", "https://", "mailto:")), dest


def test_links_get_rel_and_target_and_markdown_survives():
    out = to_html("# T\n\n**b** *e* `c` [ok](https://example.org)\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert (
        "<h1>T</h1>" in out
        and "<strong>b</strong>" in out
        and "<em>e</em>" in out
        and "<code>c</code>" in out
    )
    assert (
        'href="https://example.org"' in out
        and 'rel="noopener noreferrer"' in out
        and 'target="_blank"' in out
    )
    assert "<table>" in out


def test_dollars_stay_text_for_mathjax():
    out = to_html("costs $5 and $6, $$x$$")
    assert "$" not in out and "&#36;5" in out and "mathjax_ignore" in out and "tex2jax_ignore" in out
    assert to_markdown("costs $5 and `$6`") == r"costs \$5 and `$6`"


def test_code_is_left_alone_in_markdown_and_fenced_whole_in_code_format():
    text = "Use `<b>` here:\n```html\n<script>x</script>\n```\nafter <i>"
    out = to_markdown(text)
    assert "`<b>`" in out and "<script>x</script>" in out and out.endswith("after &lt;i&gt;")
    code = to_markdown("a ``` b", fmt="code")
    assert code.startswith("````\n") and code.endswith("\n````")
    assert "&lt;script&gt;" in to_html("<script>", fmt="code") and "<pre" in to_html("x", fmt="text")


def test_unclosed_fence_and_half_table_render():
    assert "<pre><code" in to_html("```python\nprint(1)")
    assert "<table>" in to_html("| a | b |\n|---|---|\n| 1")


def test_text_format_markdown_escapes_everything():
    out = to_markdown("*not em* <b> # no heading $1", fmt="text")
    assert out == r"\*not em\* \<b\> \# no heading \$1"


def test_answer_html_is_the_widgets_static_twin():
    info = {"model": "scripted:scripted", "state": "error", "chunks": 30, "ttft_s": 0.5, "elapsed_s": 2.9,
            "tokens_per_s": 12.5}
    out = answer_html("<img src=x onerror=alert(1)> partial", "markdown", info, "RateLimitError: slow <down>")
    assert 'class="rlm-stream' in out and 'data-state="error"' in out and 'class="rlm-answer"' in out
    assert 'class="rlm-footer"' in out and "<img" not in out and "slow &lt;down&gt;" in out
    assert footer_text(info) == "scripted:scripted · 30 tokens · first token 0.50 s · 12.5 tok/s · error"


@pytest.mark.parametrize(("tokens", "span", "shown"), [
    (2000, 0.034, False),  # a burst read at once: "59473.1 tok/s" measures the network
    (9, 3.0, False),  # too few tokens for a rate
    (10, 0.3, True),
    (300, 2.0, True),
    (300, None, False),  # no timings (an old trace's provenance)
])
def test_no_rate_until_it_means_something(tokens, span, shown):
    from rlm_jupyter.render import RATE_MIN_SECONDS, RATE_MIN_TOKENS, rate_shown

    info = {"model": "m", "state": "done", "chunks": tokens, "tokens_per_s": tokens / (span or 1),
            "ttft_s": 0.1, **({"elapsed_s": 0.1 + span} if span is not None else {})}
    assert ("tok/s" in footer_text(info)) is shown is rate_shown(tokens, span)
    # the page's live and final footer apply the same rule (stream.js)
    js = (Path(rlm_jupyter.__file__).parent / "stream" / "static" / "stream.js").read_text()
    assert f"RLM_RATE_MIN_SECONDS = {RATE_MIN_SECONDS}, RLM_RATE_MIN_TOKENS = {RATE_MIN_TOKENS};" in js


def test_code_format_shows_an_already_fenced_answer_as_that_block():
    fenced = "```python\nprint('<b>')\n```"
    assert to_markdown(fenced, fmt="code") == fenced  # not fenced twice
    html = to_html(fenced, fmt="code")
    assert '<code class="language-python">' in html and "```" not in html and "&lt;b&gt;" in html
    assert to_markdown("x = 1", fmt="code") == "```\nx = 1\n```"


# Link targets CommonMark finds after whitespace that holds a line ending, definitions in list items
# and with labels over two lines, and places where a line-based reading of code could disagree.
HOSTILE_ACROSS_LINES = [
    "[x](\njavascript:alert(1))",
    "[x](  \n  javascript:alert(1))",
    "[x](\t\n\tjavascript:alert(1) \"title\")",
    "[x](\r\njavascript:alert(1))",
    "[x](\rjavascript:alert(1))",
    "[x](\n<javascript:alert(1)>)",
    "[x](\n  data:text/html;base64,PHNjcmlwdD4=)",
    "[x]:\n javascript:alert(1)\n\n[x]",
    "[x]:\njavascript:alert(1)\n\n[x]",
    "[x]: \t\r\n\t javascript:alert(1)\n\n[x]",
    "[x\ny]: javascript:alert(1)\n\n[x y]",
    "[x\ny]:\njavascript:alert(1)\n\n[x y]",
    "- [x]: javascript:alert(1)\n\n[x]",
    "1. [x]:\n   javascript:alert(1)\n\n[x]",
    "foo `\n`[x](javascript:alert(1))`",
    "```js`x`\n<img src=x onerror=alert(1)>",
]


def active_markdown(markdown: str) -> list[str]:
    """What a CommonMark reader that keeps raw HTML and any URL would make active in ``markdown``."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True})
    md.validateLink = lambda url: True
    found = []
    for token in md.parse(markdown):
        found += [token.content] if token.type == "html_block" else []
        for child in token.children or ():
            href = child.attrGet("href") if child.type == "link_open" else None
            if child.type == "html_inline" or (href and re.match(r"(?i)[a-z][a-z0-9+.-]*:", href)
                                               and not re.match(r"(?i)(https?|mailto):", href)):
                found.append(href or child.content)
    return found


@pytest.mark.parametrize("text", HOSTILE_ACROSS_LINES)
def test_markdown_defuses_link_targets_on_the_next_line_and_every_whitespace_variant(text):
    assert active_markdown(text), "the case must be dangerous unescaped"
    assert active_markdown(to_markdown(text)) == []


def test_a_target_on_the_next_line_is_defused_in_place_and_safe_ones_are_kept():
    assert to_markdown("[x](\njavascript:alert(1))") == "[x](\n#javascript:alert(1))"
    assert to_markdown("[x]:\n  javascript:alert(1)\n\n[x]") == "[x]:\n  #javascript:alert(1)\n\n[x]"
    for safe in ("[ok](\nhttps://example.org)", "[ok]:\n  https://example.org\n\n[ok]", "a `](`\nb:c"):
        assert to_markdown(safe) == safe


# Images the model chooses: a saved notebook would fetch them when it is opened (issue 20, item 18).
IMAGES = [
    "![x](https://evil.example/t.png)",
    "a ![x](http://evil.example/t.png \"title\") b",
    "![x][ref]\n\n[ref]: https://evil.example/t.png",
    "![ref][]\n\n[ref]: https://evil.example/t.png",
    "![ref]\n\n[ref]: https://evil.example/t.png",
    "![x][ref]\n\n[ref]:\n  https://evil.example/t.png",
    "[![x](https://evil.example/t.png)](https://example.org)",
    "[a ![x][i] b](https://example.org)\n\n[i]: https://evil.example/t.png",
    "\\\\![x](https://evil.example/t.png)",  # an escaped backslash, then an image
    "- ![x](https://evil.example/t.png)\n> ![y](https://evil.example/u.png)",
    "# ![x](https://evil.example/t.png)\n\n| a |\n|---|\n| ![x](https://evil.example/t.png) |",
    "*![x](https://evil.example/t.png)*",
    "![x](<https://evil.example/a b.png>)",
    "![x](\nhttps://evil.example/t.png)",
    "`code` ![x](https://evil.example/t.png) `code`",
    "<img src=https://evil.example/t.png>",
    "<https://evil.example/t.png>",
]


def images(markdown: str) -> list[str]:
    """The images a CommonMark reader (images on, any URL) finds in ``markdown``, nested ones too."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table"])
    md.validateLink = lambda url: True
    found: list[str] = []

    def walk(tokens):
        for token in tokens or ():
            if token.type == "image":
                found.append(str(token.attrGet("src")))
            elif token.type in ("html_block", "html_inline") and "<img" in token.content.lower():
                found.append(token.content)
            walk(token.children)

    walk(md.parse(markdown))
    return found


def links(html: str) -> list[str]:
    return [attrs["href"] for tag, attrs in elements(html) if tag == "a"]


@pytest.mark.parametrize("text", IMAGES)
def test_the_markdown_copy_turns_images_into_links_as_the_html_copy_does(text):
    from markdown_it import MarkdownIt

    if not text.startswith("<"):
        assert images(text), "the case must be an image unescaped"
    out = to_markdown(text)
    assert images(out) == []
    assert "evil.example" in out  # the target stays readable, as a link or text
    # Both copies agree: rendered by a reader that shows images, the markdown copy links where the
    # HTML copy links, and neither has an image. (The markdown copy escapes every "<", so an autolink
    # or a <…> target is text there: a difference in links only, older than this.)
    reader = MarkdownIt("commonmark").enable(["table"])
    if "<" not in text:
        assert links(reader.render(out)) == links(to_html(text))
    assert "<img" not in reader.render(out) and "<img" not in to_html(text)


def test_an_image_becomes_a_bang_and_a_link_and_other_bangs_stay():
    assert to_markdown("![x](https://evil.example/t.png)") == "\\![x](https://evil.example/t.png)"
    assert to_markdown("Hi! [ok](https://example.org)!") == "Hi! [ok](https://example.org)!"
    assert to_markdown("`![x](https://e.example/t.png)`") == "`![x](https://e.example/t.png)`"
    assert to_markdown("```\n![x](https://e.example/t.png)\n```") == "```\n![x](https://e.example/t.png)\n```"


def test_no_image_survives_in_any_saved_copy():
    """The stream's and the timeline's saved bundles, read by a real CommonMark parser."""
    from rlm_jupyter.live.drive import drive
    from rlm_jupyter.live.drive import drive as drive_run
    from rlm_jupyter.stream.view import StreamView
    from rlm_jupyter.timeline.view import TimelineView
    from rlm_toolkit import RLM, ScriptedProvider, ScriptedTurn
    from rlm_toolkit.agents import ReActAgent

    answer = "\n\n".join(IMAGES)
    view = StreamView("scripted:scripted")
    view.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    drive(view, RLM(ScriptedProvider([answer])).stream("go"))

    def look(q: str) -> str:
        """Look something up."""
        return "![seen](https://evil.example/obs.png)"

    provider = ScriptedProvider(turns=[
        ScriptedTurn(chunks=answer, tool_calls=[{"name": "look", "arguments": {"q": answer}}]), answer])
    stream = ReActAgent(RLM(provider), tools=[look]).stream("go")
    run = TimelineView(steps=lambda: stream.history)
    run.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    drive_run(run, stream)
    for data in (view.final_bundle()[0], run.final_bundle()[0]):
        assert "evil.example" in data["text/markdown"]
        assert images(data["text/markdown"]) == []
        assert not [tag for tag, _ in elements(data["text/html"]) if tag == "img"]


def test_formulas_are_left_to_the_front_ends_typesetter_and_money_stays_text():
    out = to_html(r"Area $A = \pi r^2$, width $2\,\text{m}$; costs $5 and $6." "\n\n$$\\int_0^1 x\\,dx$$")
    assert r'<span class="rlm-math tex2jax_process mathjax_process">\(A = \pi r^2\)</span>' in out
    assert r"\(2\,\text{m}\)" in out  # the backslash of \, kept
    assert r"\[\int_0^1 x\,dx\]" in out
    assert "costs &#36;5 and &#36;6." in out and "mathjax_ignore" in out  # the rest stays ignored


def test_code_is_coloured_inline_with_the_live_classes():
    out = to_html("```python\ndef f():\n    return 'x'  # c\n```")
    assert '<span class="hljs-keyword" style="color:var(--jp-mirror-editor-keyword-color' in out
    assert '<span class="hljs-string"' in out and "&#x27;x&#x27;" not in out.split("hljs-string")[0]
    assert '<span class="hljs-comment"' in out
    plain = to_html("```\ndef f(): pass\n```")  # no language: no colours, as the page does
    assert "hljs" not in plain
