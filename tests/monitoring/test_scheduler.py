"""The scheduler with a hand-driven clock: due times, missed runs, locks, restarts, recorded results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from tests.monitoring.conftest import write_capture
from unifiedml.errors import ConfigError
from unifiedml.monitoring import MonitorSpec, db, monitor
from unifiedml.monitoring.scheduler import Scheduler
from unifiedml.monitoring.spec import validate_cron
from unifiedml.state import StateStore

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _store(home) -> StateStore:
    return db.open_store(StateStore(home / "state.db"))


def _add(store: StateStore, name: str = "s", cron: str = "0 * * * *") -> None:
    db.add_schedule(store, name=name, cron=cron, now=T0, spec={"endpoint": "ep", "spec": {}})


def _ok_runner(calls: list):
    def run(record, due):
        calls.append((record.name, due))
        return {"status": "no_drift", "drifted": False, "drift_share": 0.0, "features": []}

    return run


def test_runs_each_due_time_once_and_records_it(home) -> None:
    store = _store(home)
    _add(store)
    clock, calls = Clock(T0 + timedelta(minutes=30)), []
    sched = Scheduler(store, clock=clock, runner=_ok_runner(calls))
    assert sched.run_pending() == []
    clock.now = T0 + timedelta(hours=1, minutes=1)
    assert [o.status for o in sched.run_pending()] == ["no_drift"]
    assert sched.run_pending() == []  # not again for the same due time
    assert calls == [("s", T0 + timedelta(hours=1))]
    assert [r.status for r in db.results(store, schedule="s")] == ["no_drift"]


@pytest.mark.parametrize(("policy", "expected"), [("latest", 1), ("all", 5), ("skip", 0)])
def test_missed_run_policy_after_a_restart(home, policy: str, expected: int) -> None:
    store = _store(home)
    _add(store)
    calls: list = []
    clock = Clock(T0 + timedelta(hours=5, minutes=5))  # the scheduler was down for five due times
    Scheduler(store, clock=clock, runner=_ok_runner(calls), missed=policy).run_pending()  # type: ignore[arg-type]
    assert len(calls) == expected
    if policy == "latest":
        assert calls[0][1] == T0 + timedelta(hours=5)
    # a new process (restart) continues from the recorded state: nothing is due again
    again: list = []
    Scheduler(_store(home), clock=clock, runner=_ok_runner(again)).run_pending()
    assert again == []


def test_a_schedule_locked_by_another_process_is_not_run_twice(home) -> None:
    store = _store(home)
    _add(store)
    clock, calls = Clock(T0 + timedelta(hours=1, minutes=1)), []
    assert db.try_lock(store, "s", owner="other:1", now=clock.now, ttl=timedelta(hours=1))
    sched = Scheduler(store, clock=clock, runner=_ok_runner(calls), owner="me:2")
    assert [o.status for o in sched.run_pending()] == ["locked"]
    assert calls == []
    clock.now += timedelta(hours=2)  # the other holder died: its lock expires
    assert "no_drift" in [o.status for o in sched.run_pending()]


def test_errors_are_recorded_and_do_not_stop_the_scheduler(home) -> None:
    store = _store(home)
    _add(store, "bad")
    _add(store, "good")
    calls: list = []

    def runner(record, due):
        if record.name == "bad":
            raise RuntimeError("boom")
        return _ok_runner(calls)(record, due)

    clock = Clock(T0 + timedelta(hours=1, minutes=1))
    out = {o.schedule: o.status for o in Scheduler(store, clock=clock, runner=runner).run_pending()}
    assert out == {"bad": "error", "good": "no_drift"}
    assert db.results(store, schedule="bad")[0].error == "RuntimeError: boom"


def test_run_forever_stops_and_sleeps_until_the_next_due_time(home) -> None:
    store = _store(home)
    _add(store)
    clock, calls, sleeps = Clock(T0 + timedelta(minutes=59)), [], []
    sched = Scheduler(store, clock=clock, runner=_ok_runner(calls), poll_interval=3600)

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += timedelta(seconds=seconds)
        if len(sleeps) == 2:
            sched.stop()

    sched.sleep = fake_sleep
    sched.run_forever()
    assert sleeps[0] == pytest.approx(60.0)
    assert calls == [("s", T0 + timedelta(hours=1))]


def test_bad_cron_is_rejected_naming_it() -> None:
    with pytest.raises(ConfigError, match="every hour"):
        validate_cron("every hour")
    with pytest.raises(ValidationError, match="61"):
        MonitorSpec(reference="r.parquet", schedule="61 * * * *")


def test_monitor_end_to_end_with_the_default_runner(home, tmp_path) -> None:
    rng = np.random.default_rng(0)
    pq.write_table(pa.table({"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)}), tmp_path / "ref.parquet")
    now = datetime.now(UTC)
    rows = [{"x": float(v), "c": "a"} for v in rng.normal(3, 1, 200)]
    write_capture(home, "ep", [(now - timedelta(minutes=5), rows)])
    spec = MonitorSpec(reference=str(tmp_path / "ref.parquet"), window="1h")
    mon = monitor("ep", spec)
    assert mon.last_report is not None and mon.last_report.drifted
    assert set(mon.last_report.drifted_features) == {"x", "c"}
    scheduled = monitor("ep", spec.model_copy(update={"schedule": "*/5 * * * *", "name": "ep-5m"}))
    store = db.open_store(StateStore(home / "state.db"))
    assert [s.name for s in db.list_schedules(store)] == ["ep-5m"]
    out = Scheduler(store, clock=lambda: datetime.now(UTC) + timedelta(minutes=6)).run_pending()
    assert [o.status for o in out] == ["drift"]
    assert db.results(store, schedule="ep-5m")[0].report["n_drifted"] == 2
    assert len(list((home / "drift" / "sketches").iterdir())) == 1  # sketched once, reused
    assert scheduled.delete() and not scheduled.delete()
