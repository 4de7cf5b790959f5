"""MonitorSpec (what a user asks to watch) and the functions the Client and the scheduler call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from unifiedml.errors import ConfigError
from unifiedml.monitoring.methods import DEFAULT_CATEGORICAL_METHOD, DEFAULT_NUMERIC_METHOD, Method

if TYPE_CHECKING:
    from unifiedml.monitoring.report import DriftReport
    from unifiedml.monitoring.sketch import ReferenceSketch
    from unifiedml.state import StateStore

logger = logging.getLogger(__name__)

__all__ = ["EndpointMonitor", "MonitorSpec", "cached_sketch", "monitor", "run_monitor", "validate_cron"]


def validate_cron(expr: str) -> str:
    """Return ``expr`` if croniter accepts it, else raise :class:`ConfigError` naming it."""
    from croniter import croniter

    if not isinstance(expr, str) or not croniter.is_valid(expr):
        raise ConfigError(f"invalid cron expression {expr!r}", field="schedule",
                          hint="five fields: minute hour day-of-month month day-of-week, e.g. '0 * * * *'")
    return expr


class MonitorSpec(BaseModel):
    """A drift monitor: reference data, methods, thresholds, window, schedule and alerts.

    ``reference`` is a Parquet/CSV path (or directory/glob) or a saved sketch
    directory. ``window`` is how far back each check reads captured traffic
    (``24h``, ``30m``, ``7d``). ``schedule`` is a five-field cron expression
    (UTC); None means check once, now. ``webhook`` receives a JSON POST
    (Slack-compatible ``text``) whenever a check finds drift.
    """

    model_config = ConfigDict(extra="forbid")

    reference: str
    name: str | None = None
    columns: list[str] | None = None
    categorical: list[str] = Field(default_factory=list)
    numeric_method: Method = DEFAULT_NUMERIC_METHOD
    categorical_method: Method = DEFAULT_CATEGORICAL_METHOD
    methods: dict[str, Method] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    min_drift_share: float = Field(0.0, ge=0.0, le=1.0)
    bins: int = Field(10, ge=2, le=1000)
    window: str = "24h"
    schedule: str | None = None
    webhook: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        from unifiedml.monitoring.readers import parse_since

        try:
            parse_since(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from exc
        return value

    def check_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`unifiedml.monitoring.check`."""
        return {
            "columns": self.columns,
            "categorical": self.categorical,
            "numeric_method": self.numeric_method,
            "categorical_method": self.categorical_method,
            "methods": self.methods,
            "thresholds": self.thresholds,
            "min_drift_share": self.min_drift_share,
            "bins": self.bins,
        }


def cached_sketch(reference: str, *, columns: list[str] | None, categorical: list[str], bins: int,
                  home: Path | None = None) -> ReferenceSketch:
    """The sketch of ``reference``, built once and kept under ``<home>/drift/sketches``.

    The cache key covers the path, size and modification time of every file,
    the sketch options and the sketch format, so a changed reference (or an
    upgraded unifiedml) sketches it again.
    """
    from unifiedml.monitoring.sketch import SKETCH_FORMAT, ReferenceSketch
    from unifiedml.monitoring.sketching import build_sketch
    from unifiedml.monitoring.sources import _expand_paths
    from unifiedml.state import config_hash, default_home

    if (Path(reference) / "sketch.json").exists():
        return ReferenceSketch.load(reference)
    paths = _expand_paths(reference)
    key = config_hash({
        "files": [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths],
        "columns": columns, "categorical": sorted(categorical), "bins": bins,
        "format": SKETCH_FORMAT,  # a new sketch format is a new cache entry, never a failing load
    })
    directory = (home or default_home()) / "drift" / "sketches" / key
    if (directory / "sketch.json").exists():
        return ReferenceSketch.load(directory)
    sketch = build_sketch(reference, columns=columns, categorical=categorical, bins=bins)
    sketch.save(directory)
    logger.info("sketched reference %s into %s", reference, directory)
    return ReferenceSketch.load(directory)


def run_monitor(
    spec: MonitorSpec,
    *,
    endpoint: str,
    provider: str = "local",
    now: datetime | None = None,
    store: StateStore | None = None,
    schedule: str | None = None,
    due_at: datetime | None = None,
    alert: bool = True,
) -> DriftReport:
    """Run one check of ``endpoint``'s captured traffic in ``[now - window, now)``; record and alert.

    Blocking. The result (or the error, re-raised) is recorded in the state
    store; a webhook is POSTed when ``spec.webhook`` is set and drift is found.
    """
    from unifiedml.monitoring import db
    from unifiedml.monitoring.alerts import send_webhook
    from unifiedml.monitoring.engine import check
    from unifiedml.monitoring.readers import get_reader, parse_since

    now = now or datetime.now(UTC)
    started = datetime.now(UTC)
    store = db.open_store(store)
    try:
        sketch = cached_sketch(spec.reference, columns=spec.columns, categorical=spec.categorical,
                               bins=spec.bins, home=store.home)
        reader = get_reader(provider)
        source = reader.read(endpoint, since=parse_since(spec.window, now=now), until=now)
        report = check(sketch, source, **spec.check_options())
    except Exception as exc:
        db.record_result(store, schedule=schedule, due_at=due_at, started_at=started,
                         finished_at=datetime.now(UTC), report=None, error=f"{type(exc).__name__}: {exc}")
        raise
    db.record_result(store, schedule=schedule, due_at=due_at, started_at=started, finished_at=datetime.now(UTC),
                     report=report.to_dict(histograms=False))
    if alert and spec.webhook and report.drifted:
        send_webhook(spec.webhook, report, endpoint=endpoint, schedule=schedule)
    return report


class EndpointMonitor:
    """What ``Client.monitor`` returns: a monitor of one endpoint, scheduled or run once.

    ``last_report`` holds the report when the spec had no schedule (checked at
    once). ``check_now()`` runs a check; ``results()`` lists recorded ones;
    ``delete()`` removes the schedule (idempotent).
    """

    def __init__(self, *, name: str, endpoint: str, provider: str, spec: MonitorSpec,
                 store: StateStore | None, last_report: DriftReport | None = None) -> None:
        self.name = name
        self.endpoint = endpoint
        self.provider = provider
        self.spec = spec
        self._store = store
        self.last_report = last_report

    def check_now(self) -> DriftReport:
        self.last_report = run_monitor(self.spec, endpoint=self.endpoint, provider=self.provider,
                                       store=self._store, schedule=self.name if self.spec.schedule else None)
        return self.last_report

    def results(self, limit: int = 20) -> list[Any]:
        from unifiedml.monitoring import db

        return db.results(db.open_store(self._store), schedule=self.name, limit=limit)

    def delete(self) -> bool:
        from unifiedml.monitoring import db

        return db.remove_schedule(db.open_store(self._store), self.name)

    def __repr__(self) -> str:
        return f"EndpointMonitor(name={self.name!r}, endpoint={self.endpoint!r}, schedule={self.spec.schedule!r})"


def monitor(endpoint: str, spec: MonitorSpec, *, provider: str = "local",
            store: StateStore | None = None) -> EndpointMonitor:
    """The function ``Client.monitor(endpoint, spec)`` calls.

    With ``spec.schedule``: stores (or replaces: idempotent) the schedule named
    ``spec.name`` (default ``<endpoint>-drift``) for ``unifiedml scheduler`` to
    run, and returns at once. Without: runs one check now (blocking) and
    returns the monitor with ``last_report`` set.
    """
    from unifiedml.monitoring import db

    name = spec.name or f"{endpoint}-drift"
    if spec.schedule:
        st = db.open_store(store)
        payload = {"endpoint": endpoint, "provider": provider, "spec": spec.model_dump(mode="json")}
        db.add_schedule(st, name=name, cron=spec.schedule, spec=payload, now=datetime.now(UTC), replace=True)
        return EndpointMonitor(name=name, endpoint=endpoint, provider=provider, spec=spec, store=st)
    report = run_monitor(spec, endpoint=endpoint, provider=provider, store=store)
    return EndpointMonitor(name=name, endpoint=endpoint, provider=provider, spec=spec, store=store,
                           last_report=report)


