"""The live answer widget: text grows in place, only new text crosses the wire.

::

    from rlm_jupyter import display_stream
    view = display_stream(rlm.stream("Tell a story"))      # or rlm.astream(...), or any iterable of str
    view.text, view.response.tokens_per_second

The kernel sends each frame's new text as one custom message (``{"type": "frame", "d": …, "o":
offset}``, the vocabulary of :mod:`rlm_jupyter.wire`; at most ~30 a second, none held longer than
a frame, see :mod:`rlm_jupyter.live.pacing`); the page appends it and renders markdown safely
(the page libraries of :mod:`rlm_jupyter.page`, incrementally). A reasoning model's thinking travels
the same way (``"r": …, "ro": offset``, in the same frames) into a "Thinking" section above the
answer, shown as plain text, that folds when the answer starts; the static copy keeps it in a folded
``<details>``. The prompt that was sent (``prompt``, scrubbed and capped) is a "Prompt" section
above both, folded from the start, in the widget and in the static copy. A view that appears
mid-stream (a reload, a second tab) gets the whole text (and reasoning) so far in the widget's state
and continues from the offsets. Beside the widget's output the display has a *saved copy* of the
text so far (``text/plain`` and safe ``text/html``, refreshed on the schedule of
:class:`rlm_jupyter.live.snapshots.Snapshots`): a page that shows the widget hides it, a notebook
saved mid-stream reopens showing it (the widget's output, whose model went with the kernel, is
hidden instead of "model not found"), and a front end without widgets sees it grow. When
the stream ends the display is replaced by a static bundle — safe ``text/html`` with the same
classes, ``text/markdown``, ``text/plain`` and the provenance (``Response.to_dict()``) in the
output's metadata. Errors end the stream with one scrubbed line and the partial text kept; the Stop
button and an interrupt mark it ``stopped``.

``--bg`` streams run on the toolkit's own loop thread (:func:`rlm_toolkit._bridge.spawn`) and send
their frames from there, so they keep going while the kernel's main thread runs other cells. A Stop
click reaches the kernel on a subshell thread (JupyterLab ≥ 4.4 with ipykernel 7) and only sets a
flag and cancels the producer, from that thread: nothing waits for the main thread.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from rlm_toolkit.cost import money
from rlm_toolkit.errors import scrub
from rlm_toolkit.response import Response

from .._mathcode import code_css
from ..live import _ipykernel
from ..live.pacing import CATCH_UP, FRAME
from ..live.show import LiveDisplay
from ..live.snapshots import Snapshots
from ..live.stop import StopSwitch
from ..page import esm, page_assets
from ..render import ANSWER_LIMIT, FORMATS, answer_html, clip
from ..wire import Type, dispatch
from .feed import AnswerView, TextFeed
from .object import OBJECT

__all__ = ["StreamView", "ObjectStreamView", "js_length"]

_HERE = Path(__file__).parent / "static"


class StreamView(LiveDisplay, AnswerView, anywidget.AnyWidget):
    """The widget. It has a :class:`~rlm_jupyter.stream.feed.TextFeed` (``frames``), a
    :class:`~rlm_jupyter.live.stop.StopSwitch` (``stop``) and the schedule of its display's text
    copy (:class:`~rlm_jupyter.live.snapshots.Snapshots`), built before it; ``feed(chunk)`` /
    ``flush()`` / ``finish()`` drive it; :func:`~rlm_jupyter.stream.display.display_stream` does all."""

    _esm = esm(_HERE / "stream.js", compact=True)
    _css = (_HERE / "stream.css").read_text(encoding="utf-8") + code_css(".rlm-stream")
    text = traitlets.Unicode("").tag(sync=True)
    thinking = traitlets.Unicode("").tag(sync=True)  # the reasoning, kept like ``text``
    # what was sent (feed.prompt_text), shown folded; the page's copy: the static one reads sent_prompt,
    # which a page cannot change
    prompt = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("streaming").tag(sync=True)
    model_name = traitlets.Unicode("").tag(sync=True)  # the language model (model_id is the comm's)
    fmt = traitlets.Unicode("markdown").tag(sync=True)
    info = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    stoppable = traitlets.Bool(False).tag(sync=True)  # a Stop button where a driver can act on it
    unwrap = traitlets.Bool(False).tag(sync=True)  # fmt "object": the JSON is {"value": …} (stream/object.py)
    # Only ever filled in get_state (never set while streaming, so it costs no message): what a
    # view that appears mid-stream needs to show the right counts and rate.
    progress = traitlets.Dict().tag(sync=True)
    # Names the display's saved copy (its HTML's data-rlm-for): a page that shows the widget hides it.
    copy_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model: str | None = None, *, fmt: str = "markdown", frame: float = FRAME,
                 response: Response | None = None, stoppable: bool = False,
                 save_every: float | None = None, prompt: str = "", unwrap: bool = False) -> None:
        if fmt not in (*FORMATS, OBJECT):
            raise ValueError(f"fmt must be one of {', '.join((*FORMATS, OBJECT))}, not {fmt!r}")
        # Its parts first: anywidget's initializer asks for the state (get_state) of a whole view.
        self.frames = TextFeed(model, frame=frame, response=response, sink=self._send_frame)
        self.stop = StopSwitch()
        self._snapshots = Snapshots(spacing=save_every)
        self._copy_handle: Any = None  # the display of the saved copy (live/show.py shows it)
        self._sent = 0  # UTF-16 code units sent in deltas: the offset of the next one
        self._thought_sent = 0  # the same for the reasoning
        self._sent_first = False
        self.catch_up_at = time.perf_counter() + CATCH_UP  # one unasked snapshot (LiveView.maybe_catch_up)
        self.sent_prompt = scrub(prompt)
        page_assets()  # the page libraries, once per kernel, before this widget's first view
        super().__init__(model_name=model or "", fmt=fmt, stoppable=stoppable, copy_id=uuid.uuid4().hex,
                         prompt=self.sent_prompt, unwrap=unwrap)
        self.on_msg(self._on_page_message)
        _ipykernel.answer_where_sent(self.comm)

    # -- driving --------------------------------------------------------------------------------

    def _send_frame(self, delta: str | None, thought: str | None = None) -> None:
        message: dict[str, Any] = {"type": Type.FRAME, "n": self.response.tokens}
        if thought is not None:
            message["r"], message["ro"] = thought, self._thought_sent
            self._thought_sent += js_length(thought)
        if delta is not None:
            message["d"], message["o"] = delta, self._sent
            self._sent += js_length(delta)
        first = self.response.first_token_at
        if first is not None:
            message["e"] = round(time.perf_counter() - first, 4)
        if not self._sent_first:
            self._sent_first = True
            if self.response.ttft is not None:
                message["t"] = round(self.response.ttft, 4)
        self.send(message)
        self.maybe_catch_up()
        self._maybe_copy()

    def _maybe_copy(self) -> None:
        """Refresh the saved copy when :class:`~rlm_jupyter.live.snapshots.Snapshots` says so."""
        if self._copy_handle is None:
            return
        length = self.frames.coalescer.chars  # the text sent so far (kept by the coalescer, O(1))
        if self._snapshots.due(length):
            self._snapshots.taken(length)
            data, metadata = self.copy_bundle()
            self._copy_handle.update(data, metadata=metadata, raw=True)

    def copy_bundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The saved copy of a live answer: the text so far as ``text/plain`` and safe ``text/html``
        (the static twin, marked ``rlm-saved``). Its ``<style>`` hides the widget's output right
        before it where that shows no widget (a reopened notebook: "model not found"; a page still
        loading the widget); the widget's page module hides the copy wherever the widget shows."""
        text = scrub(self.answer)
        info = {**self.provenance(), "state": "streaming"}
        mark = self.copy_id  # uuid4().hex: nothing in it needs escaping
        html = (f'<div class="rlm-saved" data-rlm-for="{mark}">{answer_html(text, self.fmt, info)}</div>'
                f"<style>.jp-OutputArea-child:not(:has(.rlm-stream))"
                f':has(+ .jp-OutputArea-child [data-rlm-for="{mark}"]){{display:none}}</style>')
        data = {"text/plain": clip(text, ANSWER_LIMIT, "the answer's HTML copy has it all") or "…",
                "text/html": html}
        return data, {"rlm": {"kind": "stream", "state": "streaming", "partial": True, "copy": True}}

    def end_copy(self) -> None:
        """The answer has settled into the widget's output: its saved copy shows nothing any more."""
        if self._copy_handle is not None:
            # (no data: front ends show nothing; "partial": this is not the answer's display)
            self._copy_handle.update({}, metadata={"rlm": {"kind": "stream", "partial": True, "copy": True}},
                                     raw=True)
            self._copy_handle = None

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        """The synced state; while streaming, ``text`` is the whole text so far (the page builds it
        from deltas, the kernel does not sync it per frame), so a view that appears mid-stream
        (reload, second tab) starts complete and continues from the deltas' offsets."""
        state = super().get_state(key, drop_defaults)
        if self.state == "streaming":
            with self.frames.lock:
                if "text" in state:
                    state["text"] = self.answer
                if "thinking" in state:
                    state["thinking"] = self.reasoning
                if "progress" in state:
                    response = self.response
                    first = response.first_token_at
                    state["progress"] = {
                        "n": response.tokens,
                        "t": None if response.ttft is None else round(response.ttft, 4),
                        "e": None if first is None else round(time.perf_counter() - first, 4),
                    }
        return state

    def finish(self, error: BaseException | None = None) -> None:
        """Send what is left, settle the state (done / stopped / error) and keep the whole text."""
        with self.hold_sync():
            state = self.settle(error)
            info = self.provenance()
            self.info = {**info, "cost_text": money(info.get("cost"))}  # the page shows it as formatted
            self.state = state
        text, thought = self.answer, self.reasoning
        with self._lock_property(text=text, thinking=thought):  # the page already has them: not re-sent
            self.text, self.thinking = text, thought
        self.send({"type": Type.END, "text": js_length(text),
                   **({"thinking": js_length(thought)} if thought else {})})

    # -- page messages --------------------------------------------------------------------------

    def _on_page_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Runs on whichever thread the kernel hands the message to: a subshell's while a cell
        runs (JupyterLab ≥ 4.4, ipykernel 7). It only sets flags and sends; it never waits."""
        dispatch(content, {
            Type.STOP: lambda _m: self.request_stop(),
            Type.SYNC: self._sync,
        })

    def _sync(self, held: dict[str, Any]) -> None:
        """A page holds ``text`` / ``thinking`` characters (none said: it missed some): the whole
        text if the kernel has more."""
        have, have_thought = _length(held.get("text")), _length(held.get("thinking", 0))
        with self.frames.lock:
            text, thought = self.answer, self.reasoning
            if (have is None or js_length(text) > have
                    or have_thought is None or js_length(thought) > have_thought):
                self._send_snapshot()

    def catch_up(self) -> None:
        self._send_snapshot()

    def _send_snapshot(self) -> None:
        """The whole text (and reasoning) so far, for a page that missed some."""
        with self.frames.lock:
            text, thought = self.answer, self.reasoning
            self.send({"type": Type.SNAPSHOT, "text": text, **({"thinking": thought} if thought else {})})

    # -- display --------------------------------------------------------------------------------

    def final_bundle(self, *, widget: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The static display of the answer, with ``widget=True`` the live view first."""
        data, metadata = self.static_bundle()
        return (self.with_widget(data) if widget else data), metadata

    def __repr__(self) -> str:
        return f"<StreamView {self.summary()}>"


class ObjectStreamView(StreamView):
    """A typed answer's view (``fmt="object"``): the same widget with ``static/object.js`` in
    front, the tree of its JSON; only typed answers carry that code (anywidget sends a widget's
    module with every display)."""

    _esm = esm(_HERE / "object.js", _HERE / "stream.js", compact=True)
    _css = "\n".join((_HERE / name).read_text(encoding="utf-8") for name in ("stream.css", "object.css"))


def _length(value: Any) -> int | None:
    """A length a page says it holds; None when it is not one (``true``, text, nothing)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def js_length(text: str) -> int:
    """``text.length`` as JavaScript counts it (UTF-16 code units), for the page's end-of-stream check."""
    return len(text.encode("utf-16-le")) // 2
