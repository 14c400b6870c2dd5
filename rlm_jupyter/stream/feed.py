"""An answer's feed: ``str`` chunks or stream events in, frames of text out, and what the view
and its static copy show of it.

:class:`TextFeed` coalesces the text (and a reasoning model's reasoning, in the same frames) per
frame (:class:`~rlm_jupyter.live.pacing.Coalescer`), counts it in a
:class:`~rlm_toolkit.response.Response` and hands each frame to its sink — the widget's
``send`` or the plain stand-in's ``print``. :class:`AnswerView` is what both views of an answer
(:class:`~rlm_jupyter.stream.view.StreamView`, :class:`~rlm_jupyter.stream.plain.PlainStream`)
read from the feed they have: the answer, the provenance, the static bundle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rlm_toolkit.errors import scrub
from rlm_toolkit.events import TextDelta
from rlm_toolkit.response import Response

from ..live.errors import one_line
from ..live.pacing import FRAME, Coalescer
from ..live.view import LiveView
from ..render import ANSWER_LIMIT, TEXT_LIMIT, answer_html, clip, footer_text, thinking_note, to_markdown

__all__ = ["TextFeed", "AnswerView", "Sink", "prompt_text"]

#: Where a frame goes: ``sink(text, reasoning)``, either None when it carries none.
Sink = Callable[[str | None, str | None], None]


class TextFeed:
    """Chunks in, one frame of text (and reasoning) out per frame deadline, to ``sink``."""

    def __init__(self, model: str | None = None, *, frame: float = FRAME, response: Response | None = None,
                 sink: Sink | None = None) -> None:
        provider, _, name = (model or "stream").partition(":")
        self.response = response or Response(model=name or provider, provider=provider if name else "")
        self._source_response: Response | None = None
        self.coalescer = Coalescer(frame)
        self.thinking_coalescer = Coalescer(frame)  # the reasoning, sent in the same frames as the text
        self.parts: list[str] = []
        self.thought: list[str] = []
        self.lock = threading.RLock()  # the page's requests come on other threads than the feed
        self.sink: Sink = sink or (lambda _text, _thought: None)

    def use_response(self, response: Response | None) -> None:
        """Report the source's own Response (an RLM stream's) instead of counting chunks here."""
        if response is not None:
            self.response = self._source_response = response

    def push(self, item: Any, now: float | None = None) -> None:
        """Take a ``str`` chunk or a stream event; text goes out when its frame is due."""
        if isinstance(item, str):
            text = item  # an RLM stream's own Response has counted it already
            if text and self.response is not self._source_response:
                self.response.feed(TextDelta(text=text))
            parts, coalescer = self.parts, self.coalescer
        else:
            if self.response is not self._source_response:
                self.response.feed(item)
            kind = getattr(item, "type", None)
            if kind == "text":
                parts, coalescer = self.parts, self.coalescer
            elif kind == "reasoning":
                parts, coalescer = self.thought, self.thinking_coalescer
            else:
                return
            text = item.text
        if text:
            with self.lock:
                parts.append(text)
                coalescer.push(text, now)
            if coalescer.due(now) == 0.0:
                self.flush(now)

    def due(self, now: float | None = None) -> float | None:
        if not self.thinking_coalescer.pending:
            return self.coalescer.due(now)
        dues = [d for d in (self.coalescer.due(now), self.thinking_coalescer.due(now)) if d is not None]
        return min(dues)

    def flush(self, now: float | None = None, *, force: bool = False) -> None:
        """Send the pending text (and reasoning) as one frame, if it is due (or ``force``)."""
        with self.lock:
            thought = None
            if self.thinking_coalescer.pending:  # both leave in one frame once either is due
                force = force or self.due(now) == 0.0
                thought = self.thinking_coalescer.take(now, force=force)
            delta = self.coalescer.take(now, force=force)
            if delta is not None or thought is not None:
                self.sink(delta, thought)
                # one pace for both: a frame that carried either starts the wait for the next
                self.coalescer.last_sent = self.thinking_coalescer.last_sent = max(
                    self.coalescer.last_sent, self.thinking_coalescer.last_sent)

    def compact(self) -> None:
        """The stream has ended: keep the text (and reasoning) as one string each, not a piece per
        chunk, so a view someone keeps holds the answer once and reads it without a join."""
        with self.lock:
            self.parts = [self.answer] if self.parts else []
            self.thought = [self.reasoning] if self.thought else []

    @property
    def answer(self) -> str:
        return "".join(self.parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.thought)


_PROMPT_WHOLE = "%%rlm --record FILE keeps the whole request"


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """The messages a call sends as the text the folded "Prompt" section shows: each message's role
    in brackets, then its content (an image as ``[image]``); scrubbed, cut at ``TEXT_LIMIT``."""
    blocks = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "[image]") if isinstance(p, dict) else str(p) for p in content)
        blocks.append(f"[{message.get('role')}]\n{'' if content is None else content}")
    return clip(scrub("\n\n".join(blocks)), TEXT_LIMIT, _PROMPT_WHOLE)


_ANSWER_WHOLE = "this output's HTML copy, view.answer and %%rlm -o NAME have it all"
_REASONING_WHOLE = "view.reasoning and the trace (%%rlm --record FILE) have it all"


class AnswerView(LiveView):
    """What a view of an answer reads from the :class:`TextFeed` it has (``self.frames``): the
    answer, the reasoning, the provenance and the static bundle. Each view has ``state``,
    ``fmt`` and ``error`` of its own (the widget's are synced traits)."""

    frames: TextFeed
    #: Whether the view shows a failure's line (``error``). False where the caller reports the
    #: failure itself — a ``%%rlm`` cell that fails with that line — so it is shown once; the
    #: footer still says ``error``.
    error_shown = True
    unwrap = False  # fmt "object": the JSON is {"value": …} (stream/object.py; the widget's is a trait)
    if TYPE_CHECKING:
        state: str
        fmt: str
        error: str
        sent_prompt: str  # what was sent (prompt_text, scrubbed), kept by the kernel; "" when not known

    def live(self) -> bool:
        return self.state == "streaming"

    def use_response(self, response: Response | None) -> None:
        """Report the source's own Response (an RLM stream's) instead of counting chunks here."""
        self.frames.use_response(response)

    @property
    def response(self) -> Response:
        return self.frames.response

    @property
    def answer(self) -> str:
        return self.frames.answer

    @property
    def reasoning(self) -> str:
        """The model's reasoning shown so far ("" when it streamed none)."""
        return self.frames.reasoning

    def settle(self, error: BaseException | None) -> str:
        """Send what is left and settle the Response; the state it ended in (``error`` set from it)."""
        self.flush(force=True)
        self.frames.compact()
        self.response.settle(error)
        state = self.response.state if self.response.state != "streaming" else "done"
        if error is not None and state == "error" and self.error_shown:
            self.error = one_line(error)
        return state

    def provenance(self) -> dict[str, Any]:
        """``Response.to_dict()`` with its error as one scrubbed line (it is saved with the notebook)."""
        info = self.response.to_dict()
        if self.response.error is not None:
            info["error"] = one_line(self.response.error)
        return info

    def summary(self) -> str:
        return footer_text(self.provenance())

    def static_bundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``text/plain``, ``text/markdown`` and safe ``text/html`` of the answer, provenance in the metadata.

        This is what a saved notebook keeps, so the text is scrubbed of anything key-shaped. The answer
        is the user's: the HTML copy (what front ends show) keeps it whole, the text and markdown
        copies keep ``ANSWER_LIMIT`` characters of it (a note says where the rest is), the reasoning
        is cut at ``TEXT_LIMIT``, so nothing is saved three times over. The prompt sent, if known, is
        in the HTML copy only, folded.
        """
        fmt, error = self.fmt, self.error
        text, info, thought = scrub(self.answer), self.provenance(), scrub(self.reasoning)
        short = clip(text, ANSWER_LIMIT, _ANSWER_WHOLE)
        plain = short if not error else f"{short}\n[{error}]" if short else f"[{error}]"
        note = thinking_note(thought)
        thought = clip(thought, TEXT_LIMIT, _REASONING_WHOLE)
        data: dict[str, Any] = {
            "text/plain": f"[{note}]\n{plain}" if note else plain,
            "text/markdown": (f"*[{note}]*\n\n" if note else "") + to_markdown(short, fmt)
            + (f"\n\n*{to_markdown(error, 'text')}*" if error else ""),
            "text/html": answer_html(text, fmt, info, error or None, thinking=thought,
                                     prompt=self.sent_prompt, unwrap=self.unwrap),
        }
        return data, {"rlm": {"kind": "stream", **info}}
