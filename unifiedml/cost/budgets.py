"""Budgets: monthly limits per project, provider or tag; checks, forecasts, alerts and the plan guard.

The ``budgets:`` section of ``unifiedml.yaml`` is a list of :class:`Budget`
(the config-file model reuses this one)::

    budgets:
      - name: team-ml
        amount: 500
        currency: USD
        project: churn          # any of project / provider / tags narrows the scope
        provider: sagemaker
        tags: {team: ml}
        webhook: https://hooks.example/cost   # optional alert target

Spend in the month so far uses the billed figure where a resource has one
and the estimate otherwise (never both). The forecast adds, for the rest of
the month, the hourly rate of what is running now (and, for ``plan``, of what
an apply would add).
"""

from __future__ import annotations

import calendar
import json
import logging
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from unifiedml.cost.records import CostRecord
from unifiedml.errors import BudgetExceeded, ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "Budget",
    "BudgetStatus",
    "check_plan_against_budgets",
    "current_statuses",
    "evaluate_budgets",
    "load_budgets",
    "month_bounds",
    "send_budget_alert",
]


class Budget(BaseModel):
    """A monthly spending limit for the resources matching every given scope field."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    amount: float = Field(gt=0)
    currency: str = Field("USD", min_length=3, max_length=3)
    period: Literal["monthly"] = "monthly"
    project: str | None = None
    provider: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    webhook: str | None = None

    def matches(self, *, provider: str | None, project: str | None, tags: dict[str, str]) -> bool:
        """True when a record (or planned resource) with these attributes counts against this budget."""
        if self.provider and provider != self.provider:
            return False
        if self.project and project != self.project:
            return False
        return all(tags.get(k) == v for k, v in self.tags.items())


def load_budgets(data: Iterable[dict[str, Any]] | None, *, where: str = "budgets") -> list[Budget]:
    """Validate the ``budgets:`` list; the first problem is a ConfigError naming ``budgets[i].field``."""
    from unifiedml.specs import validate_spec

    out = [validate_spec(Budget, item, where=f"{where}[{i}]") for i, item in enumerate(data or [])]
    names = [b.name for b in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"budget names must be unique; repeated: {', '.join(dupes)}", field=where)
    return out


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Start of this UTC month and start of the next."""
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    days = calendar.monthrange(now.year, now.month)[1]
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    del days
    return start, end


@dataclass(frozen=True)
class BudgetStatus:
    """Month-to-date spend and end-of-month forecast for one budget (in the budget's currency)."""

    budget: Budget
    spent: float
    forecast: float
    hourly_run_rate: float
    other_currency_records: int = 0

    @property
    def over(self) -> bool:
        return self.spent > self.budget.amount

    @property
    def forecast_over(self) -> bool:
        return self.forecast > self.budget.amount

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget.name,
            "amount": self.budget.amount,
            "currency": self.budget.currency,
            "spent": round(self.spent, 4),
            "forecast": round(self.forecast, 4),
            "hourly_run_rate": round(self.hourly_run_rate, 6),
            "over": self.over,
            "forecast_over": self.forecast_over,
            "records_in_other_currencies": self.other_currency_records,
        }


def _best_figures(records: Iterable[CostRecord]) -> list[CostRecord]:
    """Billed where a (provider, resource, day) has a bill, else the estimate: never both."""
    billed_keys = {(r.provider, r.resource, r.start.date()) for r in records if r.kind == "billed"}
    return [
        r
        for r in records
        if r.kind == "billed" or (r.provider, r.resource, r.start.date()) not in billed_keys
    ]


def evaluate_budgets(
    budgets: Sequence[Budget],
    records: Iterable[CostRecord],
    *,
    now: datetime | None = None,
    running_hourly: Iterable[tuple[dict[str, Any], float, str]] = (),
) -> list[BudgetStatus]:
    """Spend this month and forecast per budget.

    ``running_hourly`` are ``(attributes, cost per hour, currency)`` of what
    runs now (attributes: provider, project, tags), extrapolated to the end
    of the month. Records and rates in another currency than the budget's
    are not converted; they are counted in ``other_currency_records``.
    """
    now = now or datetime.now(UTC)
    start, end = month_bounds(now)
    records = [r for r in records if start <= r.start < end and r.start <= now]
    best = _best_figures(records)
    running = list(running_hourly)
    hours_left = max(0.0, (end - now).total_seconds() / 3600)
    out = []
    for b in budgets:
        spent, other = 0.0, 0
        for r in best:
            if b.matches(provider=r.provider, project=r.project, tags=r.tags):
                if r.currency == b.currency:
                    spent += r.amount
                else:
                    other += 1
        rate = sum(
            per_hour
            for attrs, per_hour, cur in running
            if cur == b.currency
            and b.matches(
                provider=attrs.get("provider"), project=attrs.get("project"), tags=attrs.get("tags") or {}
            )
        )
        out.append(BudgetStatus(b, spent, spent + rate * hours_left, rate, other))
    return out


def check_plan_against_budgets(
    statuses: Sequence[BudgetStatus],
    added_hourly: Iterable[tuple[dict[str, Any], float | None, str | None]],
    *,
    now: datetime | None = None,
) -> list[BudgetStatus]:
    """Raise :class:`BudgetExceeded` when an apply adding ``added_hourly`` would push a forecast over.

    ``added_hourly`` are ``(attributes, cost per hour, currency)`` of the
    endpoints the plan creates or resizes (the increase). Unknown prices are
    skipped (the plan lists them as unknown). Returns the new statuses.
    """
    now = now or datetime.now(UTC)
    _, end = month_bounds(now)
    hours_left = max(0.0, (end - now).total_seconds() / 3600)
    added = [(a, p, c) for a, p, c in added_hourly if p is not None]
    new = []
    over = []
    for s in statuses:
        b = s.budget
        extra = sum(
            p
            for a, p, c in added
            if c == b.currency
            and b.matches(provider=a.get("provider"), project=a.get("project"), tags=a.get("tags") or {})
        )
        ns = BudgetStatus(
            b, s.spent, s.forecast + extra * hours_left, s.hourly_run_rate + extra, s.other_currency_records
        )
        new.append(ns)
        if extra and ns.forecast_over:
            over.append(ns)
    if over:
        worst = over[0]
        raise BudgetExceeded(
            f"applying this plan would forecast {worst.forecast:,.2f} {worst.budget.currency} this month, "
            f"over budget {worst.budget.name!r} ({worst.budget.amount:,.2f} {worst.budget.currency})",
            hint="shrink the plan, raise the budget, or delete running resources",
        )
    return new


def send_budget_alert(url: str, statuses: Sequence[BudgetStatus], *, timeout: float = 10.0) -> int:
    """POST ``{"text": ..., "budgets": [...]}`` to a webhook; returns the HTTP status. Blocking."""
    over = [s for s in statuses if s.over or s.forecast_over]
    text = (
        "; ".join(
            f"{s.budget.name}: spent {s.spent:,.2f} / {s.budget.amount:,.2f} {s.budget.currency}"
            f" (forecast {s.forecast:,.2f})"
            for s in over
        )
        or "all budgets within limits"
    )
    body = json.dumps({"text": f"unifiedml budgets: {text}", "budgets": [s.to_dict() for s in statuses]})
    req = urllib.request.Request(
        url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return int(resp.status)


def current_statuses(store: Any, budgets: Sequence[Budget], *, now: datetime | None = None) -> list[BudgetStatus]:
    """This month's spend and forecast per budget, from what the state store knows.

    Spend is the lifecycle estimates plus billed records saved with
    ``sync_billed``; the forecast extrapolates what runs now to the month's end.
    Used by ``unifiedml cost check`` and by ``plan``'s budget guard.
    """
    from unifiedml.cost.estimates import estimate_running
    from unifiedml.cost.readers.estimated import LifecycleEstimateReader
    from unifiedml.cost.snapshots import load_records

    now = now or datetime.now(UTC)
    start, end = month_bounds(now)
    recs = list(LifecycleEstimateReader(store=store, now=now).read(since=start, until=now))
    recs += load_records(store, since=start, until=end)
    owners = {(r.provider, r.kind, r.name): r for r in store.list_resources()}
    running = []
    for u in estimate_running(store, since=start, until=now, now=now):
        if u.interval.end is None and u.price.per_hour is not None:
            o = owners.get((u.interval.provider, u.interval.kind, u.interval.name))
            attrs = {"provider": u.interval.provider, "project": o.project if o else None,
                     "tags": o.tags if o else {}}
            running.append((attrs, u.price.per_hour * u.interval.count, u.price.currency))
    return evaluate_budgets(budgets, recs, now=now, running_hourly=running)
