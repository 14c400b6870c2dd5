"""rlm_toolkit: stream language-model output, from scripts, servers and notebooks.

::

    from rlm_toolkit import RLM
    for chunk in RLM.from_openai("gpt-4o").stream("Tell a story"):
        print(chunk, end="", flush=True)
"""

from __future__ import annotations

from ._version import __version__
from .callbacks import AsyncStreamingCallback, CallbackWarning, StreamingCallback
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientRequestError,
    ConfigurationError,
    IncompleteStreamError,
    MalformedResponseError,
    MCPServerError,
    MCPToolError,
    MissingCredentialsError,
    MissingDependencyError,
    ProviderError,
    RateLimitError,
    RLMError,
    ServerError,
    StructuredOutputError,
    UsageError,
)
from .events import Finish, ReasoningDelta, TextDelta, ToolCall, ToolCallDelta, Usage
from .images import Image, image
from .providers import Provider, Request
from .providers.scripted import ScriptedProvider, ScriptedTurn
from .response import Response
from .rlm import RLM, AsyncTextStream, TextStream

__all__ = [
    "RLM",
    "Response",
    "image",
    "Image",
    "TextStream",
    "AsyncTextStream",
    "StreamingCallback",
    "AsyncStreamingCallback",
    "CallbackWarning",
    "Provider",
    "Request",
    "ScriptedProvider",
    "ScriptedTurn",
    "TextDelta",
    "ReasoningDelta",
    "ToolCallDelta",
    "ToolCall",
    "Usage",
    "Finish",
    "RLMError",
    "UsageError",
    "ConfigurationError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "ClientRequestError",
    "ProviderError",
    "MCPServerError",
    "MCPToolError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "AuthenticationError",
    "RateLimitError",
    "BadRequestError",
    "ServerError",
    "IncompleteStreamError",
    "MalformedResponseError",
    "StructuredOutputError",
    "__version__",
]
