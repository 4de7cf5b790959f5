"""Estimated cost as CostRecords: lifecycle intervals x price, split at UTC midnights.

Used for the *estimate* column of every report, and as the only figure for
Hugging Face (no billing API: hardware price x measured duration) and the
local backend (configured rates x measured core/GPU hours). Records carry
``kind="estimate"`` and say so in ``source``; an interval whose price is
unknown produces no record (reported as unknown, never as zero) and is
listed in :attr:`LifecycleEstimateReader.unknown` after a read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from unifiedml.cost.catalog import Catalog
from unifiedml.cost.estimates import UsageEstimate, estimate_running
from unifiedml.cost.records import CostRecord
from unifiedml.cost.settings import CostSettings

if TYPE_CHECKING:
    from unifiedml.state.store import StateStore

__all__ = ["HuggingFaceEstimateReader", "LifecycleEstimateReader", "LocalEstimateReader", "split_by_day"]


def split_by_day(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """``[start, end)`` cut at UTC midnights."""
    cur = start
    while cur < end:
        midnight = datetime(cur.year, cur.month, cur.day, tzinfo=UTC) + timedelta(days=1)
        nxt = min(midnight, end)
        yield cur, nxt
        cur = nxt


class LifecycleEstimateReader:
    """Estimates for every resource with lifecycle events (optionally only some providers)."""

    name = "lifecycle-estimate"
    source = "estimate: catalog price x uptime from lifecycle events"

    def __init__(
        self,
        *,
        store: StateStore | None = None,
        catalog: Catalog | None = None,
        settings: CostSettings | None = None,
        providers: tuple[str, ...] | None = None,
        now: datetime | None = None,
    ) -> None:
        if store is None:
            from unifiedml.state.store import StateStore

            store = StateStore()
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.providers = providers
        self.now = now
        self.unknown: list[UsageEstimate] = []

    def read(self, *, since: datetime, until: datetime, project: str | None = None) -> Iterator[CostRecord]:
        """Blocking, reads the state store only."""
        owners = {
            (r.provider, r.kind, r.name): r for r in reversed(self.store.list_resources(include_deleted=True))
        }
        events = [e for e in self.store.events() if self.providers is None or e.provider in self.providers]
        self.unknown = []
        for usage in estimate_running(
            events=events,
            since=since,
            until=until,
            now=self.now,
            catalog=self.catalog,
            settings=self.settings,
        ):
            i = usage.interval
            owner = owners.get((i.provider, i.kind, i.name))
            rec_project = owner.project if owner else None
            if project is not None and rec_project != project:
                continue
            if usage.price.per_hour is None:
                self.unknown.append(usage)
                continue
            tags = dict(owner.tags) if owner else {}
            tags.setdefault("unifiedml-resource", f"{i.kind}/{i.name}")
            for a, b in split_by_day(usage.start, usage.end):
                hours = (b - a).total_seconds() / 3600
                yield CostRecord(
                    provider=i.provider,
                    project=rec_project,
                    resource=f"{i.kind}/{i.name}",
                    service=i.kind,
                    kind="estimate",
                    start=a,
                    end=b,
                    amount=usage.price.per_hour * usage.estimate.count * hours,
                    currency=usage.price.currency,
                    source=self.source,
                    tags=tags,
                    usage_quantity=hours * usage.estimate.count,
                    usage_unit="instance-hours",
                )


class HuggingFaceEstimateReader(LifecycleEstimateReader):
    """Hugging Face has no billing API: hardware price x measured duration, labelled as an estimate."""

    name = "huggingface-estimate"
    source = "estimate: Hugging Face hardware price x measured duration (no billing API)"

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("providers", ("huggingface",))
        super().__init__(**kwargs)  # type: ignore[arg-type]


class LocalEstimateReader(LifecycleEstimateReader):
    """On-prem has no bill: configured core-hour / GPU-hour rates x measured hours."""

    name = "local-estimate"
    source = "estimate: configured local rates x measured core/GPU hours"

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("providers", ("local",))
        super().__init__(**kwargs)  # type: ignore[arg-type]
