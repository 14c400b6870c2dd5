"""How two recorded runs differ: steps aligned by their actions, and what changed in each.

::

    from rlm_toolkit import trace
    d = trace.diff("before.jsonl", "after.jsonl")
    assert not d.changed_actions        # pin an agent's behaviour in a test or a notebook
    d                                   # in a notebook: a table of the steps, word diffs of the text

Steps are aligned with :class:`difflib.SequenceMatcher` over each step's tool calls (names and
arguments; the final answer's step counts as ``final``), and stretches that do not match are
aligned again by tool names alone: a step whose arguments changed pairs up with its counterpart,
and a run that inserts a lookup still lines up with the rest.
For each aligned pair it reports what changed — tool, arguments, observation, text (as a word
diff) — and the deltas in tokens and latency; the run's totals add cost when the traces carry it
(``cost`` in the footer's provenance), else cost shows as unknown.

The point where the runs part is marked (``divergence``: the index of that aligned pair): for a
fork and its parent (:mod:`rlm_toolkit.agents.fork`; the fork's header names its parent's file) the
fork's step, where its edits went in; for any other two runs, the first pair that differs.
"""

from __future__ import annotations

import difflib
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from .._json_depth import cut_deep
from ..errors import scrub
from .format import PathLike
from .reader import Trace, load

__all__ = ["diff", "TraceDiff", "StepDiff", "word_diff"]

Op = Literal["same", "changed", "added", "removed"]
_WORDS = re.compile(r"\s+|[^\s]+")


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """``[(op, text), …]`` with op ``=`` (kept), ``-`` (only in a), ``+`` (only in b)."""
    wa, wb = _WORDS.findall(a or ""), _WORDS.findall(b or "")
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("=", "".join(wa[i1:i2])))
            continue
        if i2 > i1:
            out.append(("-", "".join(wa[i1:i2])))
        if j2 > j1:
            out.append(("+", "".join(wb[j1:j2])))
    return out


@dataclass
class _Step:
    """One step of a run, as the diff sees it."""

    number: int
    tools: list[str] = field(default_factory=list)
    arguments: list[Any] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    text: str = ""
    final: str | None = None
    tokens: int | None = None
    latency: float | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(self.tools) or (("final",) if self.final is not None else ("text",))


def _steps(trace: Trace) -> list[_Step]:
    steps: dict[int, _Step] = {}
    for event in trace.events:
        e: Any = event  # dispatched on e.type below; each branch reads its own class's fields
        number = getattr(event, "step", 1) or 1
        step = steps.setdefault(number, _Step(number))
        kind = e.type
        if kind == "text":  # a stream trace: one step
            step.text += e.text
        elif kind == "token" or (kind == "thought" and not getattr(event, "streamed", False)):
            step.text += e.content
        elif kind == "action":
            step.tools.append(e.tool_name or "")
            step.arguments.append(e.input)
        elif kind == "observation":
            step.observations.append(e.content)
        elif kind == "final":
            step.final = e.content
    if trace.kind != "agent" and steps:
        steps[1].final = trace.text
    for number, record in trace.steps.items():
        step = steps.setdefault(number, _Step(number))
        response = record.get("response") or {}
        usage = response.get("usage") or {}
        if usage.get("prompt_tokens") is not None or usage.get("completion_tokens") is not None:
            step.tokens = (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
        duration = record.get("duration", response.get("elapsed_s"))
        step.latency = float(duration) if duration is not None else None
    return [steps[n] for n in sorted(steps)]


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


@dataclass
class StepDiff:
    """One aligned pair of steps (``a`` or ``b`` is None for a step only one run has)."""

    op: Op
    a: _Step | None
    b: _Step | None
    changes: list[str] = field(default_factory=list)  # "tool", "arguments", "observation", "text"
    text: list[tuple[str, str]] = field(default_factory=list)

    @property
    def step_a(self) -> int | None:
        return self.a.number if self.a else None

    @property
    def step_b(self) -> int | None:
        return self.b.number if self.b else None

    @property
    def tokens_delta(self) -> int | None:
        delta = _delta(self.a.tokens if self.a else None, self.b.tokens if self.b else None)
        return None if delta is None else int(delta)

    @property
    def latency_delta(self) -> float | None:
        return _delta(self.a.latency if self.a else None, self.b.latency if self.b else None)

    @property
    def action_changed(self) -> bool:
        """A tool call differs: added, removed, another tool, or other arguments."""
        if self.op in ("added", "removed"):
            return bool((self.a or self.b).tools)  # type: ignore[union-attr]  # added/removed: one side is set
        return "tool" in self.changes or "arguments" in self.changes


def _pair(a: _Step | None, b: _Step | None) -> StepDiff:
    if a is None or b is None:
        return StepDiff("added" if a is None else "removed", a, b)
    changes = []
    if a.tools != b.tools:
        changes.append("tool")
    elif _canon(a.arguments) != _canon(b.arguments):
        changes.append("arguments")
    if a.observations != b.observations:
        changes.append("observation")
    if (a.text, a.final) != (b.text, b.final):
        changes.append("text")
    text = word_diff(
        a.final if a.final is not None and not a.tools else a.text,
        b.final if b.final is not None and not b.tools else b.text,
    )
    return StepDiff("changed" if changes else "same", a, b, changes, text)


def _canon(value: Any) -> str:
    return json.dumps(cut_deep(value), sort_keys=True, ensure_ascii=False, default=str)


def _total(trace: Trace, key: str) -> Any:
    response = (trace.footer or {}).get("response") or {}
    if key == "tokens":
        usage = response.get("usage") or {}
        if usage.get("prompt_tokens") is None and usage.get("completion_tokens") is None:
            return None
        return (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
    if key == "latency":
        value = response.get("elapsed_s", (trace.footer or {}).get("t"))
        return float(value) if value is not None else None
    value = response.get("cost", response.get("cost_usd"))
    if isinstance(value, dict):  # rlm_toolkit.cost.Cost.to_dict()
        value = value.get("total")
    return float(value) if value is not None else None


@dataclass
class TraceDiff:
    """The result of :func:`diff`; falsy attributes mean "no difference"."""

    a: Trace
    b: Trace
    steps: list[StepDiff]
    names: tuple[str, str] = ("a", "b")

    @property
    def changed_actions(self) -> list[StepDiff]:
        """Aligned steps whose tool calls differ (the behaviour a test pins)."""
        return [s for s in self.steps if s.action_changed]

    @property
    def changed(self) -> list[StepDiff]:
        return [s for s in self.steps if s.op != "same"]

    @property
    def final_changed(self) -> bool:
        return self.a.text != self.b.text

    @property
    def fork_step(self) -> int | None:
        """The step at which one run is a fork of the other (its header names the other's file)."""
        for child, other in ((self.b, self.a), (self.a, self.b)):
            parent = child.parent
            if parent is not None and other.path is not None and _same_file(parent["file"], other.path):
                return int(parent["step"])
        return None

    @property
    def divergence(self) -> int | None:
        """Index in ``steps`` of the pair where the runs part: a fork's step, else the first pair
        that differs; None when no step differs (and neither is a fork of the other)."""
        at = self.fork_step
        if at is not None:
            for i, s in enumerate(self.steps):
                if at in (s.step_a, s.step_b):
                    return i
        return next((i for i, s in enumerate(self.steps) if s.op != "same"), None)

    def _marker(self) -> str:
        return f"◀ fork point (step {self.fork_step}, edited)" if self.fork_step else "◀ diverges here"

    def totals(self) -> dict[str, tuple[Any, Any, Any]]:
        """``{"tokens"|"latency"|"cost": (a, b, b - a)}``; None where a run did not record it."""
        out = {}
        for key in ("tokens", "latency", "cost"):
            x, y = _total(self.a, key), _total(self.b, key)
            out[key] = (x, y, _delta(x, y))
        return out

    def __str__(self) -> str:
        lines = [
            f"diff {self.names[0]} → {self.names[1]}: {len(self.changed)} of {len(self.steps)} steps differ, "
            f"{len(self.changed_actions)} in their actions"
        ]
        divergence = self.divergence
        for i, s in enumerate(self.steps):
            lines.append(
                f"  {_label(s)}  {s.op}"
                + (f" ({', '.join(s.changes)})" if s.changes else "")
                + f"  {_calls(s.a)} → {_calls(s.b)}"
                + (f"  {self._marker()}" if i == divergence else "")
            )
            if "text" in s.changes:
                lines.append(
                    "      " + "".join({"=": t, "-": f"[-{t}-]", "+": f"{{+{t}+}}"}[op] for op, t in s.text)
                )
        for key, (x, y, d) in self.totals().items():
            lines.append(f"  {key}: {_num(x)} → {_num(y)} (Δ {_num(d, signed=True)})")
        return scrub("\n".join(lines))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": str(self), "text/html": self.to_html()}

    def to_html(self) -> str:
        """A table of the aligned steps; every text is escaped (model output is untrusted)."""
        rows = []
        divergence = self.divergence
        for i, s in enumerate(self.steps):
            colour = {
                "same": "",
                "changed": "background:#fff8e1",
                "added": "background:#e8f5e9",
                "removed": "background:#ffebee",
            }[s.op]
            text = "".join(_word_html(op, t) for op, t in s.text) if "text" in s.changes else ""
            if i == divergence:
                rows.append(f'<tr class="rlm-diverge"><td colspan="8" style="border-top:2px solid #e65100;'
                            f'color:#e65100">{_h(self._marker())}</td></tr>')
            rows.append(
                f'<tr style="{colour}"><td>{_h(_label(s))}</td><td>{_h(s.op)}</td>'
                f"<td>{_h(', '.join(s.changes))}</td><td><code>{_h(_calls(s.a))}</code></td>"
                f"<td><code>{_h(_calls(s.b))}</code></td><td>{_h(_num(s.tokens_delta, signed=True))}</td>"
                f"<td>{_h(_num(s.latency_delta, signed=True))}</td>"
                f'<td style="white-space:pre-wrap">{text}</td></tr>'
            )
        totals = "".join(
            f"<li>{_h(k)}: {_h(_num(x))} → {_h(_num(y))} (Δ {_h(_num(d, signed=True))})</li>"
            for k, (x, y, d) in self.totals().items()
        )
        head = "".join(
            f"<th>{_h(c)}</th>"
            for c in ("step", "", "changed", self.names[0], self.names[1], "Δ tokens", "Δ s", "text")
        )
        return (
            f'<div class="rlm-diff"><p>{_h(self.names[0])} → {_h(self.names[1])}: {len(self.changed)} of '
            f"{len(self.steps)} steps differ, {len(self.changed_actions)} in their actions</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<ul>{totals}</ul></div>"
        )


def _same_file(a: str, b: str) -> bool:
    try:
        return a == b or Path(a).resolve() == Path(b).resolve()
    except (OSError, ValueError, RuntimeError):
        return False


def _h(text: Any) -> str:
    """Escaped, scrubbed, and ``$`` kept from MathJax."""
    return html.escape(scrub(str(text)), quote=True).replace("$", "&#36;")


def _word_html(op: str, text: str) -> str:
    if op == "=":
        return _h(text)
    tag = "del" if op == "-" else "ins"
    colour = "#ffcdd2" if op == "-" else "#c8e6c9"
    return f'<{tag} style="background:{colour}">{_h(text)}</{tag}>'


def _label(s: StepDiff) -> str:
    return f"{s.step_a if s.step_a is not None else '–'}/{s.step_b if s.step_b is not None else '–'}"


def _calls(step: _Step | None) -> str:
    if step is None:
        return "–"
    if not step.tools:
        return "final" if step.final is not None else "text"
    return "; ".join(f"{t}({_canon(a)})" for t, a in zip(step.tools, step.arguments))


def _num(value: Any, signed: bool = False) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return f"{value:+d}" if signed else str(value)


def diff(a: Union[Trace, PathLike], b: Union[Trace, PathLike]) -> TraceDiff:
    """Compare two runs (traces or trace files): steps aligned by action sequence."""
    names = (str(a) if not isinstance(a, Trace) else "a", str(b) if not isinstance(b, Trace) else "b")
    ta, tb = (x if isinstance(x, Trace) else load(x) for x in (a, b))
    sa, sb = _steps(ta), _steps(tb)
    return TraceDiff(ta, tb, _align(sa, sb, lambda s: (s.key, _canon(s.arguments))), names)


def _align(sa: list[_Step], sb: list[_Step], key: Any) -> list[StepDiff]:
    """Match steps by tool names and arguments; what is left in between, by tool names alone
    (so a changed argument pairs the two steps up), and pair the rest in order."""
    out: list[StepDiff] = []
    matcher = difflib.SequenceMatcher(None, [key(s) for s in sa], [key(s) for s in sb], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = sa[i1:i2], sb[j1:j2]
        if tag == "replace" and len(left) != len(right) and key is not _by_tools:
            out.extend(_align(left, right, _by_tools))
            continue
        for k in range(max(len(left), len(right))):
            out.append(_pair(left[k] if k < len(left) else None, right[k] if k < len(right) else None))
    return out


def _by_tools(step: _Step) -> tuple[str, ...]:
    return step.key
