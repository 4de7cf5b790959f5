"""Estimates before and while spending: price x instances x time.

* :func:`estimate_training` - a training spec: hourly price x instance count
  x expected runtime (when given) and x ``max_runtime`` (the ceiling).
* :func:`estimate_deployment` - a deployment spec: per hour and per 30-day
  month at the minimum and maximum replica counts.
* :func:`estimate_running` - what recorded resources cost: the uptime
  intervals in the state store's lifecycle events x the hourly price.

Local resources are priced from configured core-hour / GPU-hour rates
(:class:`~unifiedml.cost.settings.CostSettings`), cloud ones from the
catalog. Any figure whose price is not known is ``None`` with a note saying
why, never zero, and every figure carries its currency.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from unifiedml.cost.catalog import Catalog, PriceQuote, default_catalog
from unifiedml.cost.settings import CostSettings, load_cost_settings
from unifiedml.errors import NotFound
from unifiedml.specs import DeploymentSpec, Resources, TrainingSpec

if TYPE_CHECKING:
    from unifiedml.state.store import Event, StateStore

logger = logging.getLogger(__name__)

__all__ = [
    "HOURS_PER_MONTH",
    "LOCAL_SIZES",
    "DeploymentEstimate",
    "Estimate",
    "HourlyPrice",
    "TrainingEstimate",
    "UsageEstimate",
    "UsageInterval",
    "estimate_deployment",
    "estimate_running",
    "estimate_training",
    "hourly_price",
    "service_for_kind",
    "usage_intervals",
]

#: A month is 30 days of 24 hours in every monthly figure.
HOURS_PER_MONTH = 24 * 30
#: Cores and GPUs the local backend gives each portable size (for local estimates before a run).
LOCAL_SIZES: dict[str, tuple[int, int]] = {
    "cpu-small": (1, 0),
    "cpu-medium": (2, 0),
    "cpu-large": (4, 0),
    "gpu-small": (4, 1),
    "gpu-medium": (8, 1),
    "gpu-large": (16, 4),
}


@dataclass(frozen=True)
class HourlyPrice:
    """The price of one replica/instance for one hour, or ``None`` with the reason."""

    provider: str
    instance_type: str | None
    region: str | None
    per_hour: float | None
    currency: str
    sources: tuple[str, ...] = ()
    note: str | None = None

    @property
    def known(self) -> bool:
        return self.per_hour is not None


@dataclass(frozen=True)
class Estimate:
    """``amount`` for ``hours`` at ``per_hour`` (per instance) x ``count``; None if the price is unknown."""

    amount: float | None
    currency: str
    per_hour: float | None
    hours: float
    count: int = 1
    note: str | None = None

    @property
    def known(self) -> bool:
        return self.amount is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"known": self.known}


def _times(price: HourlyPrice, hours: float, count: int) -> Estimate:
    amount = None if price.per_hour is None else round(price.per_hour * count * hours, 6)
    return Estimate(amount, price.currency, price.per_hour, hours, count, price.note)


def service_for_kind(kind: str) -> str:
    """``hosting`` for endpoints, ``training`` for jobs (training, AutoML, ...)."""
    return "hosting" if kind == "endpoint" else "training"


def _pick_instance(
    provider: str, resources: Resources, service: str, catalog: Catalog
) -> tuple[str, str | None]:
    """(instance type to price, note). ``instance_type`` wins over ``size``; neither means ``cpu-small``."""
    if resources.instance_type:
        return resources.instance_type, None
    if resources.size:
        return catalog.portable_instance(provider, resources.size, service), None
    return catalog.portable_instance(provider, "cpu-small", service), "no size given: priced as cpu-small"


def hourly_price(
    provider: str,
    resources: Resources | None = None,
    *,
    service: str,
    region: str | None = None,
    instance_type: str | None = None,
    cores: float | None = None,
    gpus: float | None = None,
    catalog: Catalog | None = None,
    settings: CostSettings | None = None,
) -> HourlyPrice:
    """One instance's hourly price on ``provider``.

    ``local`` is priced as ``cores`` x core-hour + ``gpus`` x GPU-hour (from
    the resources' size when not given). Cloud providers look the type up in
    the catalog; an accelerator on ``resources`` is priced per unit and added.
    Raises :class:`NotFound` for an unknown type or region (with close
    matches); a known type without a price gives ``per_hour=None``.
    """
    settings = settings or load_cost_settings()
    if provider == "local":
        if cores is None:
            size = (resources.size if resources else None) or "cpu-small"
            cores, size_gpus = LOCAL_SIZES[size]
            gpus = size_gpus if gpus is None else gpus
        gpus = gpus or 0
        per_hour = settings.local_hourly(cores=cores, gpus=gpus)
        note = (
            None if per_hour is not None else "local rates are not configured (cost.cpu_core_hour/gpu_hour)"
        )
        return HourlyPrice(
            "local",
            f"{cores:g} cores + {gpus:g} GPUs",
            None,
            per_hour,
            settings.currency,
            ("configured rates",) if per_hour is not None else (),
            note,
        )
    catalog = catalog or default_catalog()
    region = region or settings.regions.get(provider)
    note = None
    if instance_type is None:
        instance_type, note = _pick_instance(provider, resources or Resources(), service, catalog)
    quote: PriceQuote = catalog.lookup(provider, instance_type, service=service, region=region)
    per_hour, sources = quote.price_per_hour, list(quote.sources)
    notes = [n for n in (note, quote.note) if n]
    if resources is not None and resources.accelerator_type and resources.accelerator_count:
        acc = catalog.lookup(provider, resources.accelerator_type, service=service, region=quote.region)
        if acc.price_per_hour is None or per_hour is None:
            per_hour = None
            if acc.note:
                notes.append(acc.note)
        else:
            per_hour += acc.price_per_hour * resources.accelerator_count
            sources += list(acc.sources)
    return HourlyPrice(
        provider,
        instance_type,
        quote.region,
        per_hour,
        quote.currency,
        tuple(dict.fromkeys(sources)),
        "; ".join(notes) or None,
    )


@dataclass(frozen=True)
class TrainingEstimate:
    """Cost of one training run: at the expected runtime (when given) and at ``max_runtime``."""

    price: HourlyPrice
    instance_count: int
    expected: Estimate | None
    maximum: Estimate
    spot: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.price.provider,
            "instance_type": self.price.instance_type,
            "region": self.price.region,
            "instance_count": self.instance_count,
            "price_per_hour": self.price.per_hour,
            "currency": self.price.currency,
            "expected": self.expected.to_dict() if self.expected else None,
            "maximum": self.maximum.to_dict(),
            "spot": self.spot,
            "sources": list(self.price.sources),
            "note": self.price.note,
        }


def estimate_training(
    spec: TrainingSpec,
    *,
    provider: str,
    region: str | None = None,
    expected_runtime: timedelta | None = None,
    catalog: Catalog | None = None,
    settings: CostSettings | None = None,
) -> TrainingEstimate:
    """Price x instance count x runtime for ``spec`` on ``provider``. Pure: no network, no state.

    Spot training is priced on demand (an upper bound) and says so in the note.
    """
    price = hourly_price(
        provider, spec.resources, service="training", region=region, catalog=catalog, settings=settings
    )
    if spec.spot:
        price = HourlyPrice(
            price.provider,
            price.instance_type,
            price.region,
            price.per_hour,
            price.currency,
            price.sources,
            "; ".join(filter(None, [price.note, "spot priced on demand (upper bound)"])),
        )
    count = spec.resources.instance_count
    maximum = _times(price, spec.max_runtime.total_seconds() / 3600, count)
    expected = _times(price, expected_runtime.total_seconds() / 3600, count) if expected_runtime else None
    return TrainingEstimate(price, count, expected, maximum, spot=spec.spot)


@dataclass(frozen=True)
class DeploymentEstimate:
    """An endpoint's price per hour and per 30-day month at its minimum and maximum replicas."""

    price: HourlyPrice
    min_replicas: int
    max_replicas: int

    def _at(self, replicas: int, hours: float) -> float | None:
        return None if self.price.per_hour is None else round(self.price.per_hour * replicas * hours, 6)

    @property
    def per_hour_min(self) -> float | None:
        return self._at(self.min_replicas, 1)

    @property
    def per_hour_max(self) -> float | None:
        return self._at(self.max_replicas, 1)

    @property
    def per_month_min(self) -> float | None:
        return self._at(self.min_replicas, HOURS_PER_MONTH)

    @property
    def per_month_max(self) -> float | None:
        return self._at(self.max_replicas, HOURS_PER_MONTH)

    @property
    def currency(self) -> str:
        return self.price.currency

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.price.provider,
            "instance_type": self.price.instance_type,
            "region": self.price.region,
            "price_per_hour": self.price.per_hour,
            "currency": self.currency,
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "per_hour_min": self.per_hour_min,
            "per_hour_max": self.per_hour_max,
            "per_month_min": self.per_month_min,
            "per_month_max": self.per_month_max,
            "sources": list(self.price.sources),
            "note": self.price.note,
        }


def estimate_deployment(
    spec: DeploymentSpec,
    *,
    provider: str,
    region: str | None = None,
    catalog: Catalog | None = None,
    settings: CostSettings | None = None,
) -> DeploymentEstimate:
    """Hourly and monthly cost of ``spec`` at min and max replicas (max defaults to min). Pure."""
    price = hourly_price(
        provider, spec.resources, service="hosting", region=region, catalog=catalog, settings=settings
    )
    low = spec.min_replicas
    high = spec.max_replicas if spec.max_replicas is not None else low
    return DeploymentEstimate(price, low, high)


# -- running resources: lifecycle events -> intervals -> cost --------------------
@dataclass(frozen=True)
class UsageInterval:
    """A resource running from ``start`` to ``end`` (``end`` None: still running) on given hardware."""

    provider: str
    kind: str
    name: str
    start: datetime
    end: datetime | None
    instance_type: str | None = None
    count: int = 1
    cores: float | None = None
    gpus: float | None = None
    region: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


_OPEN = {"job_start": "training", "endpoint_up": "hosting"}
_CLOSE = {"job_end", "endpoint_down"}


def usage_intervals(events: Iterable[Event], *, now: datetime | None = None) -> list[UsageInterval]:
    """Pair start/up with end/down events per resource, in time order.

    A second ``endpoint_up`` while one is open (an update to new hardware)
    closes the first interval and opens another. A ``job_end`` without a
    start but with ``wall_seconds`` (the local backend) makes its own
    interval. Intervals still open have ``end=None``.
    """
    del now
    open_: dict[tuple[str, str, str], UsageInterval] = {}
    out: list[UsageInterval] = []
    for ev in sorted(events, key=lambda e: e.ts):
        key = (ev.provider, ev.kind, ev.name)
        attrs = ev.attrs or {}
        if ev.event in _OPEN:
            prev = open_.pop(key, None)
            if prev is not None:
                out.append(_closed(prev, ev.ts, {}))
            open_[key] = UsageInterval(
                ev.provider,
                ev.kind,
                ev.name,
                ev.ts,
                None,
                instance_type=attrs.get("instance_type"),
                count=int(attrs.get("instance_count") or attrs.get("replicas") or 1),
                cores=attrs.get("cores"),
                gpus=attrs.get("gpus"),
                region=attrs.get("region"),
                attrs=dict(attrs),
            )
        elif ev.event in _CLOSE:
            prev = open_.pop(key, None)
            if prev is None:
                wall = attrs.get("wall_seconds")
                if wall is None:
                    continue
                prev = UsageInterval(
                    ev.provider, ev.kind, ev.name, ev.ts - timedelta(seconds=float(wall)), None
                )
            out.append(_closed(prev, ev.ts, attrs))
    out.extend(open_.values())
    return sorted(out, key=lambda i: (i.start, i.provider, i.kind, i.name))


def _closed(prev: UsageInterval, end: datetime, attrs: dict[str, Any]) -> UsageInterval:
    """Close ``prev`` at ``end``; the end event's hardware attributes fill what the start lacked."""
    return UsageInterval(
        prev.provider,
        prev.kind,
        prev.name,
        prev.start,
        end,
        instance_type=prev.instance_type or attrs.get("instance_type"),
        count=int(attrs.get("instance_count") or prev.count or 1),
        cores=attrs.get("cores", prev.cores) if attrs.get("cores") is not None else prev.cores,
        gpus=attrs.get("gpus", prev.gpus) if attrs.get("gpus") is not None else prev.gpus,
        region=prev.region or attrs.get("region"),
        attrs={**prev.attrs, **attrs},
    )


@dataclass(frozen=True)
class UsageEstimate:
    """What one interval costs between ``start`` and ``end`` (clipped to the asked window)."""

    interval: UsageInterval
    start: datetime
    end: datetime
    price: HourlyPrice
    estimate: Estimate

    def to_dict(self) -> dict[str, Any]:
        i = self.interval
        return {
            "provider": i.provider,
            "kind": i.kind,
            "name": i.name,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "running": i.end is None,
            "instance_type": self.price.instance_type,
            "count": self.estimate.count,
            "hours": self.estimate.hours,
            "price_per_hour": self.price.per_hour,
            "amount": self.estimate.amount,
            "currency": self.estimate.currency,
            "note": self.estimate.note,
        }


def price_interval(
    interval: UsageInterval, *, catalog: Catalog | None = None, settings: CostSettings | None = None
) -> HourlyPrice:
    """The hourly price of one instance of the interval's hardware; unknown (with a note), not raising."""
    settings = settings or load_cost_settings()
    service = service_for_kind(interval.kind)
    if interval.provider == "local":
        return hourly_price(
            "local",
            service=service,
            cores=float(interval.cores or 1),
            gpus=float(interval.gpus or 0),
            settings=settings,
        )
    currency = "USD"
    try:
        catalog = catalog or default_catalog()
        currency = catalog.currency(interval.provider)
        if not interval.instance_type:
            return HourlyPrice(
                interval.provider,
                None,
                interval.region,
                None,
                currency,
                note="the lifecycle events do not name an instance type",
            )
        return hourly_price(
            interval.provider,
            service=service,
            region=interval.region,
            instance_type=interval.instance_type,
            catalog=catalog,
            settings=settings,
        )
    except NotFound as exc:
        return HourlyPrice(
            interval.provider, interval.instance_type, interval.region, None, currency, note=str(exc)
        )


def estimate_running(
    store: StateStore | None = None,
    *,
    events: Iterable[Event] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    catalog: Catalog | None = None,
    settings: CostSettings | None = None,
) -> list[UsageEstimate]:
    """Uptime x price for every resource with lifecycle events overlapping ``[since, until)``.

    Reads ``store.events()`` unless ``events`` are given. Resources still
    running are counted up to ``until`` or ``now``. Blocking, read-only.
    """
    now = now or datetime.now(UTC)
    until = until or now
    if events is None:
        if store is None:
            from unifiedml.state.store import StateStore

            store = StateStore()
        events = store.events()
    settings = settings or load_cost_settings()
    out = []
    for interval in usage_intervals(events):
        start = max(interval.start, since) if since else interval.start
        end = min(interval.end or until, until)
        if end <= start:
            continue
        price = price_interval(interval, catalog=catalog, settings=settings)
        hours = (end - start).total_seconds() / 3600
        out.append(UsageEstimate(interval, start, end, price, _times(price, hours, interval.count)))
    return out
