"""Budgets: stop a call or an agent run cleanly once it has spent more than it may.

::

    rlm.run("Write a long story", max_tokens_total=500)     # the text so far, state "stopped"
    rlm.last_response.stop_reason                          # 'budget'
    agent.run("…", max_cost=0.05)                          # summed over the run's steps

``max_tokens_total`` counts prompt and completion tokens together; ``max_cost`` is money in the
price table's currency (USD, see :mod:`rlm_toolkit.cost`). The budget is checked after every
event, so a stream is cut mid-answer, not only when the provider reports usage (most report it
once, at the end). Until then the counts are estimated (see :meth:`CostBasis.counts
<rlm_toolkit.cost.CostBasis.counts>`: a chunk is a token, a prompt is a token per four characters)
and the money from the model's base input and output prices, cache discounts ignored, so the
estimate errs high. Reported counts replace the estimates as soon as they arrive. Only the
answer's pieces cut a stream: a usage report that goes past the limit comes with a whole answer
(most providers send it last), which is kept as done; an agent then stops before its next step.

A budget stop is no error: the response is settled ``stopped`` with ``stop_reason == "budget"``,
its partial text kept; an agent's run ends with a ``final`` event carrying ``stop_reason="budget"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .cost import CostBasis, basis_for, money
from .errors import UsageError

__all__ = ["BUDGET_PARAMS", "BUDGET_SYNTAX", "MAX_COST", "MAX_TOKENS_TOTAL", "Budget", "parse_budget"]

#: The per-call keyword arguments that set a budget.
BUDGET_PARAMS = ("max_cost", "max_tokens_total")
BUDGET_SYNTAX = ("0.05 (USD), 2000tok (prompt + completion tokens), 2ktok, or both: 0.05,2000tok")
#: The largest budgets taken: anything above is a typo (or an attack), not a limit.
MAX_TOKENS_TOTAL = 10**9
MAX_COST = Decimal(1_000_000)
# ASCII digits only (\d and Decimal() take ٣ and ３ too; re.IGNORECASE alone folds the Kelvin sign to k).
_TOKENS = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(k?)\s*(?:tok|toks|tokens?)", re.IGNORECASE | re.ASCII)
_MONEY = re.compile(r"\$?\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:\$|usd)?", re.IGNORECASE | re.ASCII)


def parse_budget(text: str) -> dict[str, Any]:
    """``"0.05"`` → ``{"max_cost": 0.05}``, ``"2000tok"`` → ``{"max_tokens_total": 2000}``, and both
    comma-separated (what ``%%rlm --budget`` takes); anything else is a UsageError naming it."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in str(text).split(",")):
        tokens, money_ = _TOKENS.fullmatch(part), _MONEY.fullmatch(part)
        if tokens and "max_tokens_total" not in out:
            count = Decimal(tokens.group(1)) * (1000 if tokens.group(2) else 1)
            if count > MAX_TOKENS_TOTAL:
                raise UsageError(f"budget {_shown(part)}: at most {MAX_TOKENS_TOTAL:,} tokens")
            if count != count.to_integral_value():
                raise UsageError(f"budget {_shown(part)}: a whole number of tokens, please")
            out["max_tokens_total"] = int(count)
        elif money_ and "max_cost" not in out:
            out["max_cost"] = _cost(part, "budget")
        else:
            ascii_only = "" if str(text).isascii() else " (digits 0-9 only)"
            raise UsageError(f"budget {_shown(text)} is not one of: {BUDGET_SYNTAX}{ascii_only}")
    Budget.of(**out)  # a zero budget is a mistake too
    return out


def _shown(value: Any) -> str:
    """``value`` as an error names it: its repr, cut (a 400-digit number is not repeated whole)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit limit for str()
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 48 else text[:45] + "…"


def _cost(value: Any, name: str = "max_cost") -> Decimal:
    """A money amount (USD): a number, a ``Decimal`` or text in the one ASCII syntax
    (``0.05``, ``$0.05``, ``0.05 USD``); positive and at most ``MAX_COST``, else a UsageError."""
    cost: Decimal | None = None
    if isinstance(value, Decimal):
        cost = value
    elif isinstance(value, float):
        cost = Decimal(repr(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        cost = Decimal(value)
    elif not isinstance(value, bool):
        found = _MONEY.fullmatch(str(value).strip())
        cost = Decimal(found.group(1)) if found else None
    if cost is None or not cost.is_finite() or not 0 < cost <= MAX_COST:
        raise UsageError(f"{name} must be a positive amount of money (USD) up to {MAX_COST:,}, "
                         f"not {_shown(value)}")
    return cost


@dataclass
class Budget:
    """Limits for one call or one agent run, and what the calls that ended have spent so far."""

    max_cost: Decimal | None = None
    max_tokens_total: int | None = None
    spent_cost: Decimal = Decimal(0)
    spent_tokens: int = 0
    #: Why the run was stopped, once it was (``"max_tokens_total 50 exceeded: 57 tokens"``).
    reason: str | None = None
    _rates: dict[CostBasis, tuple[float, float] | None] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, max_cost: Any = None, max_tokens_total: Any = None, provider: Any = None) -> Budget | None:
        """A budget from the keyword arguments (None if both are None); checks them, and that
        ``provider``'s model has a price when ``max_cost`` is set (a cost that cannot be known
        cannot be kept to)."""
        if max_cost is None and max_tokens_total is None:
            return None
        tokens = max_tokens_total
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int)
                                   or not 1 <= tokens <= MAX_TOKENS_TOTAL):
            raise UsageError(f"max_tokens_total must be a whole number of tokens from 1 to "
                             f"{MAX_TOKENS_TOTAL:,}, not {_shown(tokens)}")
        cost = None
        if max_cost is not None:
            cost = _cost(max_cost)
            if provider is not None:
                reason = basis_for(provider).unknown_reason()
                if reason is not None:
                    raise UsageError(f"max_cost cannot be kept for {provider.model_id}: {reason}; "
                                     "use max_tokens_total, or set provider.priced_as")
        return cls(max_cost=cost, max_tokens_total=max_tokens_total)

    def over(self, response: Any, event: Any) -> bool:
        """Whether ``response``, after ``event``, takes the run past a limit; if so, marks it
        ``stop_reason = "budget"``. Called after every event, so it does no table lookup per token.
        Only the answer's pieces cut a stream: a usage report or a finish comes when the answer is
        whole (it then counts for the run's next call)."""
        basis = response.cost_basis
        if event.type in ("usage", "finish") or response.finish_reason is not None or basis is None:
            return False
        prompt, completion, estimated = basis.counts(response)
        tokens = self.spent_tokens + prompt + completion
        if self.max_tokens_total is not None and tokens > self.max_tokens_total:
            return self._stop(response, f"max_tokens_total {self.max_tokens_total} exceeded: "
                                        f"{'≈' if estimated else ''}{tokens} tokens")
        if self.max_cost is None:
            return False
        if estimated:
            if basis not in self._rates:
                self._rates[basis] = basis.rates()
            rates = self._rates[basis]
            spent = 0.0 if rates is None else prompt * rates[0] + completion * rates[1]
            total = float(self.spent_cost) + spent
        else:
            cost = response.cost
            total = float(self.spent_cost + (cost.total or 0))
        if total > self.max_cost:
            limit = money({"total": float(self.max_cost)})
            shown = money({"total": total, "estimated": estimated})
            return self._stop(response, f"max_cost {limit} exceeded: {shown}")
        return False

    def add(self, response: Any) -> None:
        """Count a call that ended (an agent's step) toward the run's total."""
        basis = response.cost_basis
        if basis is None:
            return
        prompt, completion, _ = basis.counts(response)
        self.spent_tokens += prompt + completion
        cost = response.cost
        if cost is not None and cost.total is not None:
            self.spent_cost += cost.total

    def exceeded(self) -> bool:
        """After :meth:`add`: whether the calls so far went past a limit (the run stops before its
        next step)."""
        if self.reason is not None:
            return True
        if self.max_tokens_total is not None and self.spent_tokens > self.max_tokens_total:
            self.reason = f"max_tokens_total {self.max_tokens_total} exceeded: {self.spent_tokens} tokens"
        elif self.max_cost is not None and self.spent_cost > self.max_cost:
            self.reason = (f"max_cost {money({'total': float(self.max_cost)})} exceeded: "
                           f"{money({'total': float(self.spent_cost)})}")
        return self.reason is not None

    def _stop(self, response: Any, reason: str) -> bool:
        self.reason = reason
        response.stop_reason = "budget"
        return True
