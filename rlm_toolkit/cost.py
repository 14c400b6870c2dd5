"""What a call cost in money, from genai-prices' price table (``pip install 'rlm[cost]'``).

::

    rlm = RLM("openai:gpt-4o")
    rlm.run("Hello")
    rlm.last_response.cost             # Cost(total=Decimal('0.0000825'), currency='USD', …)
    str(rlm.last_response.cost)        # '$0.000082'

Prices come from `genai-prices <https://github.com/pydantic/genai-prices>`_ (pydantic's maintained
table, also used by pydantic-ai), read from the copy bundled in the installed package: rlm never
starts its auto-update (``UpdatePrices``), so pricing works offline and never touches the network;
``pip install -U genai-prices`` brings new prices. A model the table does not know gets a
:class:`Cost` whose ``total`` is None and whose ``note`` says why, never a guess. Models that run
on this machine cost nothing: the embedded model (``local``) and the scripted test model are
priced at 0 with a note saying so. An OpenAI-compatible server is looked up by its URL
(OpenRouter, Groq, DeepSeek… are in the table; a server on 127.0.0.1 is not, so it is unknown);
``provider.priced_as = "openai:gpt-4o"`` prices a proxy or a scripted model as a known model.

Token counts follow genai-prices' rule, which is also :class:`~rlm_toolkit.events.Usage`'s:
``prompt_tokens`` is the whole input, cache reads and writes included (priced at their own rates).
Counts not reported yet (a stream stopped before its usage arrived) are estimated: the answer's
chunks count one token each, the prompt one token per four characters. Such a cost says
``estimated``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .errors import scrub

__all__ = ["FREE", "Cost", "CostBasis", "Recorded", "basis_for", "estimate_prompt_tokens", "money", "summed"]

#: Providers whose calls cost no money, and why.
FREE = {"local": "free: runs in this process", "scripted": "free: a scripted model"}
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Cost:
    """Money spent on one call or a run: ``total`` (None when unknown), the ``input`` / ``output``
    split where the price table gives one, the ``currency``, whether counts were ``estimated``,
    and a ``note`` (why unknown, why free)."""

    total: Decimal | None
    input: Decimal | None = None
    output: Decimal | None = None
    currency: str = "USD"
    estimated: bool = False
    note: str | None = None

    @property
    def known(self) -> bool:
        return self.total is not None

    def __add__(self, other: Cost) -> Cost:
        """The sum of two costs (an agent's steps); unknown if either is unknown."""
        def add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
            return None if a is None or b is None else a + b

        note = self.note if not self.known else other.note if not other.known else self.note or other.note
        return Cost(add(self.total, other.total), add(self.input, other.input),
                    add(self.output, other.output), self.currency, self.estimated or other.estimated, note)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"total": _float(self.total), "input": _float(self.input),
                               "output": _float(self.output), "currency": self.currency}
        if self.estimated:
            out["estimated"] = True
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cost:
        """A cost read back from :meth:`to_dict` (traces)."""
        def dec(value: Any) -> Decimal | None:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return Decimal(repr(value)) if ok else None

        return cls(dec(data.get("total")), dec(data.get("input")), dec(data.get("output")),
                   str(data.get("currency") or "USD"), bool(data.get("estimated")),
                   data.get("note") if isinstance(data.get("note"), str) else None)

    def __str__(self) -> str:
        return money(self.to_dict())


def money(cost: dict[str, Any] | None) -> str:
    """A cost dict (:meth:`Cost.to_dict`) as footers show it: ``$0.0012``, ``≈$0.0012`` (estimated),
    ``$0.000083`` (two significant digits below a cent), ``free``, ``cost unknown``; "" for None."""
    if not cost:
        return ""
    total = cost.get("total")
    if total is None:
        return "cost unknown"
    if total == 0 and str(cost.get("note") or "").startswith("free"):
        return "free"
    sign = "$" if cost.get("currency", "USD") == "USD" else f"{cost.get('currency')} "
    if total == 0:
        amount = "0"
    else:
        digits = 2 if total >= 1 else max(4, 1 - math.floor(math.log10(total)))
        amount = f"{total:.{digits}f}"
    return f"{'≈' if cost.get('estimated') else ''}{sign}{amount}"


@dataclass(frozen=True, slots=True)
class CostBasis:
    """What prices one call: the model as genai-prices knows it (by provider id or API URL), or
    why it is free; ``prompt_estimate`` stands in for a prompt count not reported yet."""

    model: str
    provider_id: str | None = None
    api_url: str | None = None
    free: str | None = None
    prompt_estimate: int = 0

    def cost(self, response: Any) -> Cost:
        """The cost of a :class:`~rlm_toolkit.response.Response` from its counts (estimated where missing)."""
        prompt, completion, estimated = self.counts(response)
        cached, written = response.cached_input_tokens, response.cache_write_tokens
        return self.price(prompt, completion, cached, written, estimated)

    def counts(self, response: Any) -> tuple[int, int, bool]:
        """Prompt and completion tokens as reported, else estimated (and whether they were)."""
        prompt, completion = response.prompt_tokens, response.completion_tokens
        estimated = prompt is None or completion is None
        if prompt is None:
            prompt = self.prompt_estimate
        if completion is None:
            completion = response.chunks + response.reasoning_chunks
        return prompt, completion, estimated

    def price(self, prompt: int, completion: int, cached: int | None = None, written: int | None = None,
              estimated: bool = False) -> Cost:
        if self.free is not None:
            return Cost(_ZERO, _ZERO, _ZERO, estimated=estimated, note=self.free)
        found = _price(self.model, self.provider_id, self.api_url, prompt, completion, cached, written)
        if isinstance(found, str):
            return Cost(None, estimated=estimated, note=found)
        input_price, output_price, total = found
        return Cost(total, input_price, output_price, estimated=estimated)

    def rates(self) -> tuple[float, float] | None:
        """Money per input and per output token (base rates, no cache discount); None if unknown.
        A budget uses them to estimate mid-stream without a table lookup per token."""
        if self.free is not None:
            return 0.0, 0.0
        million = 1_000_000
        inp = _price(self.model, self.provider_id, self.api_url, million, 0, None, None)
        out = _price(self.model, self.provider_id, self.api_url, 0, million, None, None)
        if isinstance(inp, str) or isinstance(out, str):
            return None
        return float(inp[2]) / million, float(out[2]) / million

    def unknown_reason(self) -> str | None:
        """Why this model has no price (None if it has one)."""
        found = self.price(1, 1)
        return None if found.known else found.note


@dataclass(frozen=True, slots=True)
class Recorded:
    """A cost read back from a trace: a replay shows what the run cost then, not today's prices."""

    recorded: Cost

    def cost(self, response: Any) -> Cost:
        return self.recorded


def summed(responses: Any) -> Cost | None:
    """The total of the costs in ``Response.to_dict()`` dicts (an agent's steps); None if none has one."""
    costs = [Cost.from_dict(r["cost"]) for r in responses
             if isinstance(r, dict) and isinstance(r.get("cost"), dict)]
    if not costs:
        return None
    total = costs[0]
    for cost in costs[1:]:
        total += cost
    return total


def basis_for(provider: Any, messages: list[dict[str, Any]] | None = None) -> CostBasis:
    """How to price a provider's calls: ``provider.priced_as`` (``"openai:gpt-4o"``) if set, free
    for models run here, else the provider's API URL (``base_url``) and model name."""
    estimate = estimate_prompt_tokens(messages or [])
    priced_as = getattr(provider, "priced_as", None)
    if priced_as:
        provider_id, _, model = str(priced_as).partition(":")
        return CostBasis(model or provider_id, provider_id if model else None, prompt_estimate=estimate)
    if provider.name in FREE:
        return CostBasis(provider.model, free=FREE[provider.name], prompt_estimate=estimate)
    url = getattr(provider, "base_url", None) or getattr(provider, "host", None)
    if url:
        return CostBasis(provider.model, api_url=str(url), prompt_estimate=estimate)
    return CostBasis(provider.model, provider_id=provider.name, prompt_estimate=estimate)


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """About one token per four characters of the messages' text (what a budget assumes until the
    provider reports the real count)."""
    chars = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return (chars + 3) // 4


@lru_cache(maxsize=4096)
def _price(model: str, provider_id: str | None, api_url: str | None, prompt: int, completion: int,
           cached: int | None, written: int | None) -> tuple[Decimal, Decimal, Decimal] | str:
    """(input, output, total) in USD from genai-prices, or a sentence saying why there is none."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return "no price table: pip install 'rlm[cost]' (genai-prices)"
    usage = Usage(input_tokens=prompt, output_tokens=completion,
                  cache_read_tokens=cached or None, cache_write_tokens=written or None)
    try:
        if provider_id:
            found = calc_price(usage, model, provider_id=provider_id)
        else:
            found = calc_price(usage, model, provider_api_url=api_url or None)
    except LookupError:
        at = f" at {api_url}" if api_url else f" from {provider_id}" if provider_id else ""
        return scrub(f"genai-prices has no price for {model!r}{at}")
    except ValueError as error:  # counts the table cannot price (cache reads above the input count)
        return scrub(f"genai-prices cannot price this usage of {model!r}: {error}")
    return found.input_price, found.output_price, found.total_price


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
