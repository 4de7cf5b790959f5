"""The drift scheduler: runs stored cron schedules, one run of a schedule at a time, surviving restarts.

State lives in the state store, not in the process: each schedule records the
last due time it handled, so a restarted scheduler picks up where the last
one stopped. Policies:

* **Missed runs** (the scheduler was down, or a check ran past the next due
  time): ``latest`` (default) runs once, for the most recent missed due time,
  and logs how many were skipped; ``all`` runs every missed due time in order
  (at most ``max_catchup``); ``skip`` runs nothing missed and waits for the
  next due time.
* **Never twice at once**: a run first takes the schedule's lock row in the
  database (shared by every scheduler process on that store). A lock whose
  holder died expires after ``lock_ttl``.
* **At least once**: a due time is marked handled only after its result (or
  error) is recorded, so a crash mid-check re-runs it after restart.
* **Every result recorded**: successes and errors, in ``drift_results``.

The clock and sleep are injectable, so tests drive time by hand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from unifiedml.monitoring import db
from unifiedml.state import StateStore

logger = logging.getLogger(__name__)

__all__ = ["MissedPolicy", "RunOutcome", "Scheduler"]

MissedPolicy = Literal["latest", "all", "skip"]


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one due time of one schedule."""

    schedule: str
    due_at: datetime
    status: str  # drift | no_drift | no_data | error | locked
    error: str | None = None


Runner = Callable[[db.ScheduleRecord, datetime], dict]


def _default_runner(store: StateStore) -> Runner:
    def _run(record: db.ScheduleRecord, due: datetime) -> dict:
        from unifiedml.monitoring.spec import MonitorSpec, run_monitor

        spec = MonitorSpec.model_validate(record.spec["spec"])
        report = run_monitor(spec, endpoint=record.spec["endpoint"], provider=record.spec.get("provider", "local"),
                             now=due, store=store, schedule=record.name, due_at=due)
        return report.to_dict(histograms=False)

    return _run


class Scheduler:
    """Runs due drift schedules from the state store.

    ``run_pending()`` runs what is due now and returns the outcomes (blocking);
    ``run_forever()`` loops until ``stop()``. ``runner(record, due)`` does one
    check and returns the report dict; the default reads the endpoint's
    capture for the window ending at the due time, so catch-up runs check the
    window they were scheduled for, and records the result itself.
    """

    def __init__(
        self,
        store: StateStore | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], object] | None = None,
        runner: Runner | None = None,
        missed: MissedPolicy = "latest",
        max_catchup: int = 100,
        lock_ttl: timedelta = timedelta(hours=1),
        owner: str | None = None,
        metrics: object | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        self.store = db.open_store(store)
        self.clock = clock
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait  # the default wakes up at once on stop()
        self._custom_runner = runner is not None
        self.runner = runner or _default_runner(self.store)
        self.missed = missed
        self.max_catchup = max_catchup
        self.lock_ttl = lock_ttl
        self.owner = owner or db.lock_owner()
        self.metrics = metrics
        self.poll_interval = poll_interval

    def due_times(self, record: db.ScheduleRecord, now: datetime) -> list[datetime]:
        """The due times of ``record`` to run now, after applying the missed-run policy."""
        from croniter import croniter

        start = record.last_due_at or record.created_at
        it = croniter(record.cron, start)
        due: list[datetime] = []
        while True:
            nxt = it.get_next(datetime)
            if nxt > now:
                break
            due.append(nxt)
            if len(due) > self.max_catchup * 10:
                due = due[-self.max_catchup:]
        if len(due) <= 1:
            return due
        if self.missed == "latest":
            logger.warning("schedule %s missed %d run(s); running the latest only", record.name, len(due) - 1)
            return due[-1:]
        if self.missed == "skip":
            logger.warning("schedule %s missed %d run(s); skipping them", record.name, len(due))
            db.mark_due_handled(self.store, record.name, due[-1])
            return []
        return due[-self.max_catchup:]

    def next_due(self, now: datetime) -> datetime | None:
        """The earliest future due time over all schedules (None when there are none)."""
        from croniter import croniter

        times = [croniter(r.cron, max(r.last_due_at or r.created_at, now)).get_next(datetime)
                 for r in db.list_schedules(self.store)]
        return min(times) if times else None

    def run_pending(self) -> list[RunOutcome]:
        """Run every due (schedule, due time) once; blocking. Returns what happened to each."""
        outcomes: list[RunOutcome] = []
        now = self.clock()
        for record in db.list_schedules(self.store):
            for due in self.due_times(record, now):
                outcomes.append(self._run_one(record, due))
                if outcomes[-1].status == "locked":
                    break
        return outcomes

    def _run_one(self, record: db.ScheduleRecord, due: datetime) -> RunOutcome:
        if not db.try_lock(self.store, record.name, owner=self.owner, now=self.clock(), ttl=self.lock_ttl):
            logger.info("schedule %s is running elsewhere; not starting it again", record.name)
            return RunOutcome(record.name, due, "locked")
        endpoint = str(record.spec.get("endpoint", ""))
        try:
            started = self.clock()
            try:
                report = self.runner(record, due)
            except Exception as exc:
                logger.error("schedule %s (due %s) failed: %s", record.name, due.isoformat(), exc)
                if self._custom_runner:
                    db.record_result(self.store, schedule=record.name, due_at=due, started_at=started,
                                     finished_at=self.clock(), report=None, error=f"{type(exc).__name__}: {exc}")
                if self.metrics is not None:
                    self.metrics.error(record.name)  # type: ignore[attr-defined]
                outcome = RunOutcome(record.name, due, "error", str(exc))
            else:
                if self._custom_runner:
                    db.record_result(self.store, schedule=record.name, due_at=due, started_at=started,
                                     finished_at=self.clock(), report=report)
                if self.metrics is not None:
                    self.metrics.update(record.name, endpoint, report)  # type: ignore[attr-defined]
                outcome = RunOutcome(record.name, due, str(report.get("status", "error")))
            db.mark_due_handled(self.store, record.name, due)
            return outcome
        finally:
            db.unlock(self.store, record.name, owner=self.owner)

    def stop(self) -> None:
        """Ask ``run_forever`` to return after the current run."""
        self._stop.set()

    def run_forever(self) -> None:
        """Run due checks until :meth:`stop` (or SIGINT in the CLI); sleeps until the next due time."""
        logger.info("drift scheduler started (owner %s, missed-run policy %s)", self.owner, self.missed)
        while not self._stop.is_set():
            self.run_pending()
            now = self.clock()
            nxt = self.next_due(now)
            wait = self.poll_interval if nxt is None else min(self.poll_interval,
                                                              max((nxt - now).total_seconds(), 0.0))
            if self._stop.wait(0) or wait <= 0:
                continue
            self.sleep(wait)
