"""Billed cost records kept in the state store (component ``cost``), so reports work offline.

:func:`sync_billed` asks a reader for a period and replaces what was stored
for that reader and period (idempotent: syncing twice stores the same rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from unifiedml.cost.records import CostRecord
from unifiedml.state.store import register_migrations

if TYPE_CHECKING:
    from unifiedml.cost.readers.base import BillingReader
    from unifiedml.state.store import StateStore

__all__ = ["load_records", "save_records", "sync_billed"]

register_migrations(
    "cost",
    [
        """
        CREATE TABLE cost_records (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            reader TEXT NOT NULL,
            provider TEXT NOT NULL,
            project TEXT,
            resource TEXT,
            service TEXT,
            kind TEXT NOT NULL,
            start TEXT NOT NULL,
            end TEXT NOT NULL,
            amount REAL NOT NULL,
            currency TEXT NOT NULL,
            source TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '{}',
            fetched_at TEXT NOT NULL
        );
        CREATE INDEX cost_records_period ON cost_records(start, provider)
        """,
    ],
)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def save_records(
    store: StateStore, reader: str, records: Iterable[CostRecord], *, since: datetime, until: datetime
) -> int:
    """Replace ``reader``'s records starting in ``[since, until)`` with ``records``; returns the count."""
    store.migrate()
    rows = [
        (
            reader,
            r.provider,
            r.project,
            r.resource,
            r.service,
            r.kind,
            _iso(r.start),
            _iso(r.end),
            r.amount,
            r.currency,
            r.source,
            json.dumps(r.tags, sort_keys=True),
            _iso(datetime.now(UTC)),
        )
        for r in records
    ]
    with store.transaction() as conn:
        conn.execute(
            "DELETE FROM cost_records WHERE reader = ? AND start >= ? AND start < ?",
            (reader, _iso(since), _iso(until)),
        )
        conn.executemany(
            "INSERT INTO cost_records(reader, provider, project, resource, service, kind, start, end, "
            "amount, currency, source, tags, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def load_records(
    store: StateStore,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    project: str | None = None,
) -> list[CostRecord]:
    """Stored records starting in ``[since, until)`` (for ``project`` when given)."""
    store.migrate()
    sql, args = "SELECT * FROM cost_records WHERE 1=1", []
    if since:
        sql += " AND start >= ?"
        args.append(_iso(since))
    if until:
        sql += " AND start < ?"
        args.append(_iso(until))
    if project:
        sql += " AND project = ?"
        args.append(project)
    rows = store._conn().execute(sql + " ORDER BY start, id", args).fetchall()
    return [
        CostRecord(
            provider=r["provider"],
            project=r["project"],
            resource=r["resource"],
            service=r["service"],
            kind=r["kind"],
            start=datetime.fromisoformat(r["start"]),
            end=datetime.fromisoformat(r["end"]),
            amount=r["amount"],
            currency=r["currency"],
            source=r["source"],
            tags=json.loads(r["tags"]),
        )
        for r in rows
    ]


def sync_billed(
    store: StateStore, reader: BillingReader, *, since: datetime, until: datetime, project: str | None = None
) -> int:
    """Read ``reader`` for the period and store the result (blocking; network for cloud readers)."""
    records = list(reader.read(since=since, until=until, project=project))
    return save_records(store, reader.name, records, since=since, until=until)
