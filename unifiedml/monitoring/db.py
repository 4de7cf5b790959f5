"""The drift component's tables in the state store: schedules, run locks and results.

Registered under the component name ``drift``; call :func:`open_store` (or
``store.migrate()`` after importing this module) before use.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from unifiedml.errors import AlreadyExists, NotFound
from unifiedml.state import StateStore, register_migrations

__all__ = ["DriftResultRecord", "ScheduleRecord", "open_store"]

register_migrations(
    "drift",
    [
        """
        CREATE TABLE drift_schedules (
            name TEXT PRIMARY KEY,
            cron TEXT NOT NULL,
            spec TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_due_at TEXT
        );
        CREATE TABLE drift_locks (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            acquired_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE TABLE drift_results (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            schedule TEXT,
            due_at TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            status TEXT NOT NULL,
            drifted INTEGER NOT NULL,
            drift_share REAL,
            n_drifted INTEGER,
            n_checked INTEGER,
            error TEXT,
            report TEXT
        );
        CREATE INDEX drift_results_schedule ON drift_results(schedule, started_at);
        """,
    ],
)


def open_store(store: StateStore | None = None) -> StateStore:
    """The state store with the drift tables in place."""
    store = store or StateStore()
    store.migrate()
    return store


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts else None


def _ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class ScheduleRecord:
    """A stored schedule: ``spec`` is a MonitorSpec as JSON; ``last_due_at`` the last due time handled."""

    name: str
    cron: str
    spec: dict[str, Any]
    created_at: datetime
    last_due_at: datetime | None


@dataclass(frozen=True)
class DriftResultRecord:
    """One recorded check (scheduled or not): its verdict, or the error that stopped it."""

    id: int
    schedule: str | None
    due_at: datetime | None
    started_at: datetime
    finished_at: datetime
    status: str
    drifted: bool
    drift_share: float | None
    n_drifted: int | None
    n_checked: int | None
    error: str | None
    report: dict[str, Any] | None


def add_schedule(store: StateStore, *, name: str, cron: str, spec: dict[str, Any], now: datetime,
                 replace: bool = False) -> ScheduleRecord:
    """Store a schedule. Raises :class:`AlreadyExists` unless ``replace``. ``last_due_at`` starts at ``now``."""
    with store.transaction() as conn:
        exists = conn.execute("SELECT 1 FROM drift_schedules WHERE name = ?", (name,)).fetchone()
        if exists and not replace:
            raise AlreadyExists(f"a drift schedule named {name!r} exists",
                                hint="remove it first, or add with --replace")
        conn.execute(
            "INSERT INTO drift_schedules(name, cron, spec, created_at, last_due_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET cron = excluded.cron, spec = excluded.spec, "
            "last_due_at = excluded.last_due_at",
            (name, cron, json.dumps(spec, default=str), _iso(now), _iso(now)),
        )
    return get_schedule(store, name)


def get_schedule(store: StateStore, name: str) -> ScheduleRecord:
    row = store._conn().execute("SELECT * FROM drift_schedules WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no drift schedule named {name!r}", hint="see `unifiedml drift schedule list`")
    return _schedule(row)


def list_schedules(store: StateStore) -> list[ScheduleRecord]:
    rows = store._conn().execute("SELECT * FROM drift_schedules ORDER BY name").fetchall()
    return [_schedule(r) for r in rows]


def remove_schedule(store: StateStore, name: str) -> bool:
    """Delete a schedule; False when there was none (idempotent)."""
    with store.transaction() as conn:
        cur = conn.execute("DELETE FROM drift_schedules WHERE name = ?", (name,))
        conn.execute("DELETE FROM drift_locks WHERE name = ?", (name,))
        return cur.rowcount > 0


def mark_due_handled(store: StateStore, name: str, due: datetime) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE drift_schedules SET last_due_at = ? WHERE name = ?", (_iso(due), name))


def _schedule(row: Any) -> ScheduleRecord:
    return ScheduleRecord(name=row["name"], cron=row["cron"], spec=json.loads(row["spec"]),
                          created_at=datetime.fromisoformat(row["created_at"]), last_due_at=_ts(row["last_due_at"]))


def lock_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def try_lock(store: StateStore, name: str, *, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take the run lock of schedule ``name`` unless someone else holds an unexpired one.

    The lock lives in the database, so it holds across threads and processes;
    ``ttl`` bounds how long a crashed holder blocks the schedule.
    """
    with store.transaction() as conn:
        row = conn.execute("SELECT owner, expires_at FROM drift_locks WHERE name = ?", (name,)).fetchone()
        if row is not None and row["owner"] != owner and datetime.fromisoformat(row["expires_at"]) > now:
            return False
        conn.execute(
            "INSERT INTO drift_locks(name, owner, acquired_at, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, acquired_at = excluded.acquired_at, "
            "expires_at = excluded.expires_at",
            (name, owner, _iso(now), _iso(now + ttl)),
        )
    return True


def unlock(store: StateStore, name: str, *, owner: str) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM drift_locks WHERE name = ? AND owner = ?", (name, owner))


def record_result(
    store: StateStore,
    *,
    schedule: str | None,
    due_at: datetime | None,
    started_at: datetime,
    finished_at: datetime,
    report: dict[str, Any] | None,
    error: str | None = None,
) -> int:
    """Record a check's result (``report`` as from ``DriftReport.to_dict``) or its error; returns the id."""
    status = "error" if error else (report or {}).get("status", "error")
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO drift_results(schedule, due_at, started_at, finished_at, status, drifted, drift_share, "
            "n_drifted, n_checked, error, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                schedule, _iso(due_at), _iso(started_at), _iso(finished_at), status,
                int(bool(report and report.get("drifted"))),
                report.get("drift_share") if report else None,
                report.get("n_drifted") if report else None,
                report.get("n_checked") if report else None,
                error,
                json.dumps(report) if report else None,
            ),
        )
        return int(cur.lastrowid or 0)


def results(store: StateStore, *, schedule: str | None = None, limit: int = 50) -> list[DriftResultRecord]:
    """Recorded results, newest first."""
    sql = "SELECT * FROM drift_results"
    args: list[Any] = []
    if schedule is not None:
        sql += " WHERE schedule = ?"
        args.append(schedule)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return [
        DriftResultRecord(
            id=r["id"], schedule=r["schedule"], due_at=_ts(r["due_at"]),
            started_at=datetime.fromisoformat(r["started_at"]), finished_at=datetime.fromisoformat(r["finished_at"]),
            status=r["status"], drifted=bool(r["drifted"]), drift_share=r["drift_share"], n_drifted=r["n_drifted"],
            n_checked=r["n_checked"], error=r["error"], report=json.loads(r["report"]) if r["report"] else None,
        )
        for r in store._conn().execute(sql, args)
    ]
