"""The folded "Prompt" section of the answer widget (stream.js in headless Chromium, on the bare page
of test_stream_js) and its static twin: what was sent, as text, folded from the start and kept so."""

from __future__ import annotations

import pytest

from rlm_jupyter.live.drive import drive
from rlm_jupyter.render import answer_html, prompt_html
from rlm_jupyter.stream.feed import prompt_text
from rlm_jupyter.stream.view import StreamView
from rlm_toolkit import RLM, ScriptedProvider
from tests.fixtures.openai_server import TEST_KEY
from tests.jupyter.stream.test_stream_js import start

HOSTILE = "Look <img src=x onerror=\"window.__pwned='prompt'\"> <script>window.__pwned='s'</script> here"


def test_the_prompt_text_names_each_role_and_is_capped():
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "image_url"}]},
                {"role": "user", "content": f"key {TEST_KEY}"}]
    assert prompt_text(messages) == "[system]\nBe brief.\n\n[user]\nWhat is [image]\n\n[user]\nkey sk-***"
    long = prompt_text([{"role": "user", "content": "x" * 50_000}])
    assert len(long) < 20_200 and long.endswith("more characters not shown here; %%rlm --record FILE keeps "
                                                "the whole request]")


def test_the_static_copy_keeps_the_prompt_folded_and_escaped():
    view = StreamView("scripted:scripted", frame=0.0, prompt=f"[user]\n{HOSTILE} {TEST_KEY}")
    view.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    drive(view, RLM(ScriptedProvider("ok")).stream("hi"))
    view.set_state({"prompt": "[user]\nI never said this"})  # a page that rewrites its copy
    html = view.static_bundle()[0]["text/html"]
    assert prompt_html("") == "" and "rlm-prompt" not in answer_html("a", "markdown", {})
    section = html[html.index('<details class="rlm-prompt"'):html.index("</details>") + 10]
    assert section.startswith('<details class="rlm-prompt" style="') and "><summary" in section
    assert " open" not in section
    assert "&lt;img src=x onerror=" in section and "<img" not in section and "<script" not in section
    assert TEST_KEY not in html and TEST_KEY not in view.sent_prompt and "never said" not in html
    assert html.index("rlm-prompt") < html.index("rlm-answer")


@pytest.mark.browser
def test_the_widget_shows_the_prompt_folded_as_text(browser_page):
    page = browser_page.page
    view = StreamView("scripted:scripted", frame=0.0)
    start(page, view, prompt=f"[user]\n{HOSTILE}")
    details = "#a .rlm-prompt"
    assert page.evaluate(f"() => !document.querySelector('{details}').open && "
                         f"!document.querySelector('{details}').hidden")
    assert page.locator(f"{details} summary").inner_text() == "Prompt"
    assert page.locator(f"{details} .rlm-prompt-text").text_content() == f"[user]\n{HOSTILE}"
    assert page.locator(f"{details} img, {details} script").count() == 0
    page.locator(f"{details} summary").click()
    assert page.evaluate(f"() => document.querySelector('{details}').open")
    assert page.evaluate("window.__pwned === undefined")
    page.evaluate("window.lateView()")  # another view of the same answer: folded, same text
    assert not page.evaluate("() => document.querySelector('#b .rlm-prompt').open")
    start(page, view)  # no prompt known (display_stream of a plain iterable): no section
    assert page.evaluate("() => document.querySelector('#a .rlm-prompt').hidden")
    assert browser_page.errors == [] and browser_page.dialogs == []
