"""docs/agents.md: every snippet that shows its output runs, in order, and prints exactly that."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[3] / "docs" / "agents.md"
_WITH_OUTPUT = re.compile(r"```python\n(?P<code>(?:(?!```).)*)```\s*```text\n(?P<out>(?:(?!```).)*)```", re.S)


def test_agents_page_snippets_print_what_the_page_shows():
    blocks = list(_WITH_OUTPUT.finditer(PAGE.read_text(encoding="utf-8")))
    assert len(blocks) >= 5
    namespace: dict = {"__name__": "__main__"}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block["code"], str(PAGE), "exec"), namespace)
        assert out.getvalue() == block["out"], block["code"]


def test_agents_page_is_linked_and_names_every_event_type():
    from rlm_toolkit.agents import EVENT_TYPES

    text = PAGE.read_text(encoding="utf-8")
    assert all(f"`{kind}`" in text for kind in EVENT_TYPES)
