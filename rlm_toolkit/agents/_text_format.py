"""The text ReAct format, for models without native tool calls: prompt and incremental parser.

The model writes::

    Thought: I should look it up.
    Action: search
    Action Input: {"query": "Python"}

and stops at ``Observation:`` (a stop sequence); the agent runs the tool and sends back
``Observation: …``. A step that ends in ``Final Answer: …`` — or that has no Action at all —
ends the run. :class:`TextReActParser` reads the text as it streams, so the answer can stream
as tokens while labels (``Action:`` …) split across chunks are never shown. Weak models write
junk: anything it cannot read is simply text, never an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .._json_depth import loads
from .tools import Tool

__all__ = ["TextReActParser", "ParsedStep", "text_prompt", "parse_action_input", "STOP"]

STOP = "Observation:"
_LABELS = ("thought", "action input", "action", "observation", "final answer")
_LABEL = re.compile(
    r"[ \t]*\**[ \t]*(thought|action[ \t_]*input|action|observation|final[ \t_]*answer)"
    r"[ \t]*\**[ \t]*:[ \t]*\**[ \t]?",
    re.I,
)
_NO_ACTION = {"", "none", "n/a", "na", "null", "nothing", "no action", "final answer"}

FORMAT = """Answer the question as well as you can. You can use these tools:

{tools}

Use this format:

Thought: think about what to do next
Action: the tool to use, one of [{names}]
Action Input: the tool's arguments as a JSON object, e.g. {example}
Observation: the tool's result (it will be given to you)
... (Thought / Action / Action Input / Observation can repeat)
Thought: I now know the answer
Final Answer: the answer to the question"""

NO_TOOLS = "Answer the question as well as you can.\n\nThought: think it through\nFinal Answer: the answer"


def text_prompt(tools: list[Tool], system_prompt: str | None) -> str:
    """The system prompt for text mode: the caller's prompt, the tools and the format."""
    if tools:
        first = tools[0]
        example = json.dumps({p: "..." for p in list(first.parameters.get("properties") or {})[:2]})
        body = FORMAT.format(
            tools="\n".join(t.signature_text() for t in tools),
            names=", ".join(t.name for t in tools),
            example=example,
        )
    else:
        body = NO_TOOLS
    return f"{system_prompt.strip()}\n\n{body}" if system_prompt else body


@dataclass
class ParsedStep:
    """What one model turn said: its reasoning, an action (or none), and/or a final answer."""

    thought: str = ""
    action: str | None = None
    action_input: str = ""
    final: str | None = None
    action_text: str = ""

    def tool_name(self, names: list[str]) -> str | None:
        """The action's tool: its first word, or else the one tool name the line mentions
        (weak models copy the prompt: "Action: the tool to use, one of [add]")."""
        if self.action is None or self.action in names:
            return self.action
        mentioned = [n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", self.action_text)]
        return mentioned[0] if len(mentioned) == 1 else self.action


def _canonical(label: str) -> str:
    return re.sub(r"[ \t_]+", " ", label.lower())


def _maybe_label(head: str) -> bool:
    """Whether an unfinished line could still turn into a label (so it must not be shown yet)."""
    text = _canonical(head.lstrip(" \t*"))
    return any(label.startswith(text) or text.rstrip(" *") == label for label in _LABELS)


@dataclass
class TextReActParser:
    """Feed text chunks; get ``("token", text)`` and ``("thought", text, streamed)`` items back.

    Unlabelled text streams as tokens (it may be the answer); ``Thought:`` text is held and
    reported as a thought; ``Final Answer:`` text streams as tokens. After an action's input,
    or after ``Observation:``, the turn is over and the rest is ignored.
    """

    section: str = "pre"
    pre: str = ""
    thought: str = ""
    action: str = ""
    action_input: str = ""
    final: str | None = None
    _pending: str = ""
    _line_start: bool = True
    _fresh: bool = True
    _thought_sent: bool = False
    _items: list[tuple[Any, ...]] = field(default_factory=list)

    def feed(self, text: str) -> list[tuple[Any, ...]]:
        self._items = []
        buf = self._pending + text
        self._pending = ""
        while buf and self.section != "done":
            if self._line_start:
                newline = buf.find("\n")
                head = buf if newline < 0 else buf[: newline + 1]
                match = _LABEL.match(head)
                if match:
                    self._switch(_canonical(match.group(1)))
                    buf = buf[match.end():]
                    self._line_start = False
                    continue
                if newline < 0 and _maybe_label(head):
                    self._pending = buf
                    break
                self._line_start = False
            newline = buf.find("\n")
            piece, buf = (buf, "") if newline < 0 else (buf[: newline + 1], buf[newline + 1:])
            self._content(piece)
            self._line_start = newline >= 0
        return self._items

    def finish(self) -> tuple[list[tuple[Any, ...]], ParsedStep]:
        """Flush what is held; the step as parsed, and the last items to emit."""
        items = []
        if self._pending:
            pending, self._pending = self._pending, ""
            self._line_start = False  # an unfinished label-like line is just text now
            items = self.feed(pending)
        self._items = items
        action = _action_name(self.action)
        if action is None and self.final is None and self.thought.strip():
            # No action and no "Final Answer:": the text is the answer; it must stream as tokens.
            rest = self.thought.strip()
            self._token(("\n\n" + rest) if self.pre.strip() else rest)
        thought = self._thought_text()
        if action is not None and not self._thought_sent and thought:
            self._emit_thought()
        if action is None and self.final is None:
            final: str | None = (self.pre + ("\n\n" if self.pre.strip() and self.thought.strip() else "")
                                 + self.thought).strip()
        else:
            final = None if self.final is None else self.final.strip()
        step = ParsedStep(thought=thought if (action or self.final is not None) else "", action=action,
                          action_input=self.action_input.strip(), final=None if action else final,
                          action_text=self.action.strip())
        return self._items, step

    # -- internals ---------------------------------------------------------------------------

    def _switch(self, label: str) -> None:
        previous = self.section
        if previous == "final" or label == "observation":
            self.section = "done"
            return
        if previous == "action" and label != "action input" and _action_name(self.action) is None:
            self.action = ""  # "Action: None" and the like: no action after all
        elif previous in ("action", "input") and label != "action input":
            self.section = "done"  # one action per turn; anything after it is the model rambling
            return
        if label in ("action", "final answer") and previous in ("pre", "thought"):
            self._emit_thought()
        self.section = {"thought": "thought", "action": "action", "action input": "input",
                        "final answer": "final"}[label]
        if self.section == "final":
            self.final = ""
        self._fresh = True

    def _content(self, text: str) -> None:
        if self._fresh:
            text = text.lstrip()
            if not text:
                return
            self._fresh = False
        section = self.section
        if section == "pre":
            self.pre += text
            self._token(text)
        elif section == "thought":
            self.thought += text
        elif section == "action":
            self.action += text
        elif section == "input":
            self.action_input += text
        elif section == "final":
            self.final = (self.final or "") + text
            self._token(text)

    def _token(self, text: str) -> None:
        if text:
            self._items.append(("token", text))

    def _thought_text(self) -> str:
        return "\n".join(part.strip() for part in (self.pre, self.thought) if part.strip())

    def _emit_thought(self) -> None:
        text = self._thought_text()
        if text and not self._thought_sent:
            self._thought_sent = True
            self._items.append(("thought", text, bool(self.pre.strip())))


def _action_name(raw: str) -> str | None:
    text = raw.strip().strip("`'\"*").strip()
    match = re.match(r"[A-Za-z0-9_.-]+", text)
    name = match.group(0) if match else text
    return None if name.lower() in _NO_ACTION else name


def parse_action_input(raw: str, tool: Tool | None) -> Any:
    """The arguments in ``Action Input:``: a JSON object, or a bare value for a one-argument tool."""
    text = raw.strip()
    if text.startswith("```"):
        text = re.sub(r"^```\w*\s*|\s*```$", "", text)
    if not text:
        return {}
    try:
        value = loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        value = None
        if 0 <= start < end:
            try:
                value = loads(text[start : end + 1])
            except ValueError:
                value = None
        if value is None:
            value = text.strip("'\"")
    if isinstance(value, dict) or tool is None:
        return value
    names = list(tool.parameters.get("properties") or {})
    required = tool.parameters.get("required") or []
    target = required[0] if len(required) == 1 else names[0] if len(names) == 1 else None
    return {target: value} if target else value
