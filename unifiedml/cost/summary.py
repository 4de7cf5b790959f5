"""What local runs cost at configured rates, and what the same runs would cost on each cloud.

For the quickstart: every local training job and endpoint recorded in the
state store, its measured hours and hardware, the local cost at configured
rates (unknown when no rate is configured) and, per cloud provider, the
price of the portable size that fits the same cores/GPUs x the same hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from unifiedml.cost.catalog import PROVIDERS, Catalog, default_catalog
from unifiedml.cost.estimates import LOCAL_SIZES, hourly_price, service_for_kind, usage_intervals
from unifiedml.cost.settings import CostSettings, load_cost_settings
from unifiedml.errors import NotFound
from unifiedml.specs import Resources

if TYPE_CHECKING:
    from unifiedml.state.store import StateStore

__all__ = ["LocalRunCost", "LocalRunSummary", "portable_size_for", "summarize_local_runs"]


def portable_size_for(cores: float, gpus: float) -> str:
    """The smallest portable size with at least ``cores`` cores and ``gpus`` GPUs (local backend sizes)."""
    family = [s for s in LOCAL_SIZES if s.startswith("gpu-" if gpus else "cpu-")]
    for size in family:
        c, g = LOCAL_SIZES[size]
        if c >= cores and g >= gpus:
            return size
    return family[-1]


@dataclass(frozen=True)
class LocalRunCost:
    """One local job or endpoint: measured use, local cost, and the same use priced on each cloud."""

    kind: str
    name: str
    hours: float
    cores: float
    gpus: float
    size: str
    local: dict[str, Any]
    clouds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "hours": round(self.hours, 6),
            "cores": self.cores,
            "gpus": self.gpus,
            "size": self.size,
            "local": self.local,
            "clouds": self.clouds,
        }


@dataclass(frozen=True)
class LocalRunSummary:
    """All local runs, with totals per provider (None where any part is unknown)."""

    runs: list[LocalRunCost]
    totals: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.runs], "totals": self.totals}


def _figure(amount: float | None, currency: str, **extra: Any) -> dict[str, Any]:
    return {
        "amount": None if amount is None else round(amount, 6),
        "currency": currency,
        "known": amount is not None,
        **extra,
    }


def summarize_local_runs(
    store: StateStore,
    *,
    settings: CostSettings | None = None,
    catalog: Catalog | None = None,
    now: datetime | None = None,
    providers: tuple[str, ...] = PROVIDERS,
) -> LocalRunSummary:
    """Summarise every local training job and endpoint in ``store`` (running ones up to ``now``)."""
    settings = settings or load_cost_settings()
    catalog = catalog or default_catalog()
    now = now or datetime.now(UTC)
    runs = []
    for i in usage_intervals(store.events(provider="local")):
        hours = ((i.end or now) - i.start).total_seconds() / 3600
        cores, gpus = float(i.cores or 1), float(i.gpus or 0)
        size = portable_size_for(cores, gpus)
        service = service_for_kind(i.kind)
        local = hourly_price("local", service=service, cores=cores, gpus=gpus, settings=settings)
        local_fig = _figure(
            None if local.per_hour is None else local.per_hour * hours, local.currency, note=local.note
        )
        clouds = {}
        for provider in providers:
            try:
                price = hourly_price(
                    provider,
                    Resources(size=size),
                    service=service,  # type: ignore[arg-type]
                    catalog=catalog,
                    settings=settings,
                )
            except NotFound as exc:
                clouds[provider] = _figure(None, catalog.currency(provider), note=str(exc))
                continue
            amount = None if price.per_hour is None else price.per_hour * hours
            clouds[provider] = _figure(
                amount,
                price.currency,
                instance_type=price.instance_type,
                region=price.region,
                price_per_hour=price.per_hour,
                note=price.note,
                sources=list(price.sources),
            )
        runs.append(LocalRunCost(i.kind, i.name, hours, cores, gpus, size, local_fig, clouds))
    totals: dict[str, dict[str, Any]] = {}
    for provider in ("local", *providers):
        figs = [r.local if provider == "local" else r.clouds[provider] for r in runs]
        currency = figs[0]["currency"] if figs else (settings.currency if provider == "local" else "USD")
        known = all(f["known"] for f in figs)
        totals[provider] = _figure(sum(f["amount"] for f in figs) if known else None, currency)
    return LocalRunSummary(runs, totals)
