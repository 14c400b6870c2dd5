"""Watching a ``%%rlm`` stream widget grow in the page, sample by sample, without sleeping."""

from __future__ import annotations

from typing import Any

from tests.fixtures.browser import BrowserPage

__all__ = ["sample_growth", "widget_dom_report"]

_REMEMBER = """() => {
  const root = document.querySelector('.rlm-stream');
  window.__rlmRoot = root;
  window.__rlmAnswer = root.querySelector('.rlm-answer');
}"""

_SAMPLE = """() => {
  const root = document.querySelector('.rlm-stream');
  const answer = root && root.querySelector('.rlm-answer');
  return {state: root ? root.dataset.state : null, length: answer ? answer.textContent.length : -1,
          sameRoot: root === window.__rlmRoot, sameAnswer: answer === window.__rlmAnswer,
          // (not the saved copies beside them, which hold the static twin)
          widgets: [...document.querySelectorAll('.rlm-stream')]
            .filter(e => !e.closest('.rlm-saved')).length};
}"""

_CHANGED = """(n) => {
  const root = document.querySelector('.rlm-stream');
  const answer = root && root.querySelector('.rlm-answer');
  return !answer || answer.textContent.length > n || root.dataset.state !== 'streaming';
}"""


def sample_growth(bp: BrowserPage, *, timeout: float = 120_000, shots: int = 2) -> list[dict[str, Any]]:
    """Sample the answer's length each time it changes, until the widget leaves ``streaming``.

    Returns the samples (state, length, whether root and answer are still the first elements
    seen). A few screenshots are taken along the way as artifacts.
    """
    from tests.browser._ui import wait_for_output

    page = bp.page
    wait_for_output(bp, ".rlm-stream .rlm-answer", timeout=timeout)
    page.evaluate(_REMEMBER)
    samples: list[dict[str, Any]] = []
    while True:
        sample = page.evaluate(_SAMPLE)
        samples.append(sample)
        if sample["state"] != "streaming":
            return samples
        if shots and sample["length"] > 0 and len(samples) % 4 == 0:
            bp.screenshot(f"streaming-{len(samples)}")
            shots -= 1
        page.wait_for_function(_CHANGED, arg=sample["length"], timeout=timeout, polling="raf")


_DOM_REPORT = """() => {
  const roots = [...document.querySelectorAll('.rlm-stream')];
  const all = roots.flatMap(r => [r, ...r.querySelectorAll('*')]);
  const handlers = all.flatMap(e => [...e.attributes].filter(a => a.name.toLowerCase().startsWith('on'))
                                          .map(a => `${e.tagName.toLowerCase()}[${a.name}]`));
  const badHref = all
    .filter(e => e.hasAttribute('href') || e.hasAttribute('src') || e.hasAttribute('xlink:href'))
    .map(e => (e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('xlink:href') || ''))
    .filter(v => /^(javascript|vbscript|data):/i.test(v.replace(/[\\s\\u0000-\\u001f]+/g, '')));
  return {
    widgets: roots.filter(r => !r.closest('.rlm-saved')).length,  // (not the saved copies)
    scripts: roots.reduce((n, r) => n + r.querySelectorAll('script').length, 0),
    // inside the answer: nothing but text markup (no media, frames, forms, styles or buttons)
    embeds: roots.flatMap(r => [...r.querySelectorAll(
      '.rlm-answer :is(iframe,object,embed,form,input,img,svg,math,style,link,meta,button,base)')])
                 .map(e => e.tagName.toLowerCase()),
    handlers,
    badHref,
    title: document.title,
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    text: roots.map(r => (r.querySelector('.rlm-answer') || r).textContent).join('\\n'),
  };
}"""


def widget_dom_report(bp: BrowserPage) -> dict[str, Any]:
    """What the stream widgets' DOM holds that could run code: scripts, handlers, bad URLs."""
    report: dict[str, Any] = bp.page.evaluate(_DOM_REPORT)
    return report
