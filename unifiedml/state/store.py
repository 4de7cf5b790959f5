"""The embedded state store: one SQLite file (WAL) under the unifiedml home.

What it records, and why:

* ``resources``: every resource unifiedml created (provider, kind, name,
  native id, tags, config hash), so `plan` can compare desired vs recorded and
  `gc` can find orphans.
* ``journal``: an intent written *before* each create or delete and closed
  after it, so an interrupted apply can be reconciled on the next run.
* ``events``: lifecycle events with timestamps (job start/end, endpoint
  up/down); cost estimates are uptime x price, so they need these.

Components own their tables: each registers an ordered list of migrations
under its own name (``core``, ``drift``, ``cost`` ...) and the store applies
the ones not yet applied, recording ``(component, version)`` in
``schema_versions``. Adding a table for a new feature never renumbers anyone
else's migrations.

The store is safe to share between threads (one connection per thread) and
between processes (SQLite WAL with a busy timeout): the CLI, a local endpoint
process and a training supervisor all write to it at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unifiedml.errors import ConfigError, NotFound

logger = logging.getLogger(__name__)

__all__ = [
    "Event",
    "JournalEntry",
    "ResourceRecord",
    "StateStore",
    "config_hash",
    "default_home",
    "register_migrations",
]

# A migration is SQL text or a callable taking the connection.
Migration = str | Callable[[sqlite3.Connection], None]
_MIGRATIONS: dict[str, list[Migration]] = {}


def register_migrations(component: str, migrations: Sequence[Migration]) -> None:
    """Register a component's migrations, oldest first. Never reorder or edit a released one: append."""
    _MIGRATIONS[component] = list(migrations)


register_migrations(
    "core",
    [
        """
        CREATE TABLE resources (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            provider TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            native_id TEXT,
            project TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '{}',
            config_hash TEXT,
            spec TEXT,
            extra TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            deleted_at TEXT
        );
        CREATE UNIQUE INDEX resources_live ON resources(provider, kind, name) WHERE deleted_at IS NULL;
        CREATE INDEX resources_project ON resources(project);
        CREATE TABLE journal (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            action TEXT NOT NULL,
            config_hash TEXT,
            state TEXT NOT NULL,
            error TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX journal_open ON journal(state);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            provider TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            event TEXT NOT NULL,
            ts TEXT NOT NULL,
            attrs TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_resource ON events(provider, kind, name, ts);
        """,
    ],
)


def default_home() -> Path:
    """The unifiedml home: ``$UNIFIEDML_HOME`` or ``./.unifiedml`` in the working directory."""
    env = os.environ.get("UNIFIEDML_HOME")
    return Path(env).expanduser() if env else Path.cwd() / ".unifiedml"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts else None


def _parse_ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def config_hash(payload: Any) -> str:
    """A stable hash of a JSON-serialisable payload (sorted keys); 16 hex chars."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ResourceRecord:
    """A resource unifiedml created, as recorded (not necessarily as it is live)."""

    provider: str
    kind: str
    name: str
    project: str
    native_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    config_hash: str | None = None
    spec: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class JournalEntry:
    """An intent: ``state`` is ``pending`` until the action finished (``done``) or failed (``failed``)."""

    id: str
    provider: str
    kind: str
    name: str
    action: str
    config_hash: str | None
    state: str
    error: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Event:
    """A lifecycle event: ``job_start``, ``job_end``, ``endpoint_up``, ``endpoint_down`` ..."""

    provider: str
    kind: str
    name: str
    event: str
    ts: datetime
    attrs: dict[str, Any] = field(default_factory=dict)


class StateStore:
    """SQLite-backed state. Opening it creates the file and applies pending migrations.

    All methods are blocking and short. Writers retry on a locked database for
    up to ``busy_timeout`` seconds (SQLite's own busy handler).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = 30.0) -> None:
        if path is None:
            path = default_home() / "state.db"
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the state directory {self.path.parent}: {exc.strerror}",
                field="state.path",
                hint="set UNIFIEDML_HOME to a writable directory",
            ) from exc
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._migrate()

    @property
    def home(self) -> Path:
        """The directory holding the database (artifacts of the local backend live beside it)."""
        return self.path.parent

    # -- connections -------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): all or nothing."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (other threads close theirs at exit)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def migrate(self) -> None:
        """Apply every registered migration not yet applied. Idempotent.

        Opening a store migrates already; a component whose migrations were
        registered after the store was opened (a lazily imported module) calls
        this once before using its tables.
        """
        self._migrate()

    def _migrate(self) -> None:
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            applied = {
                row["component"]: row["version"] for row in conn.execute("SELECT * FROM schema_versions")
            }
            for component, migrations in _MIGRATIONS.items():
                have = applied.get(component, 0)
                if have > len(migrations):
                    raise ConfigError(
                        f"the state database {self.path} was written by a newer unifiedml "
                        f"({component} schema v{have}, this version knows v{len(migrations)})",
                        field="state.path",
                        hint="upgrade unifiedml, or point UNIFIEDML_HOME elsewhere",
                    )
                for version, migration in enumerate(migrations[have:], start=have + 1):
                    logger.debug("applying %s schema migration v%d", component, version)
                    if callable(migration):
                        migration(conn)
                    else:
                        for statement in _split_sql(migration):
                            conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_versions(component, version) VALUES (?, ?) "
                        "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                        (component, version),
                    )

    def schema_versions(self) -> dict[str, int]:
        """The applied migration version of each component."""
        rows = self._conn().execute("SELECT component, version FROM schema_versions").fetchall()
        return {row["component"]: row["version"] for row in rows}

    # -- resources ---------------------------------------------------------
    def record_resource(self, record: ResourceRecord) -> None:
        """Record a live resource. Idempotent: re-recording the same live (provider, kind, name) updates it."""
        created = _iso(record.created_at or utcnow())
        with self.transaction() as conn:
            conn.execute(
                """
                INSERT INTO resources(provider, kind, name, native_id, project, tags, config_hash, spec,
                                      extra, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(provider, kind, name) WHERE deleted_at IS NULL DO UPDATE SET
                    native_id = excluded.native_id, tags = excluded.tags,
                    config_hash = excluded.config_hash, spec = excluded.spec, extra = excluded.extra
                """,
                (
                    record.provider,
                    record.kind,
                    record.name,
                    record.native_id,
                    record.project,
                    json.dumps(record.tags, sort_keys=True),
                    record.config_hash,
                    json.dumps(record.spec, default=str) if record.spec is not None else None,
                    json.dumps(record.extra, default=str),
                    created,
                ),
            )

    def mark_deleted(self, provider: str, kind: str, name: str, *, when: datetime | None = None) -> bool:
        """Mark the live record deleted. Returns False when there was none (idempotent)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE resources SET deleted_at = ? WHERE provider = ? AND kind = ? AND name = ? "
                "AND deleted_at IS NULL",
                (_iso(when or utcnow()), provider, kind, name),
            )
            return cur.rowcount > 0

    def get_resource(self, provider: str, kind: str, name: str) -> ResourceRecord:
        """The live record, or :class:`NotFound`."""
        row = (
            self._conn()
            .execute(
                "SELECT * FROM resources WHERE provider = ? AND kind = ? AND name = ? AND deleted_at IS NULL",
                (provider, kind, name),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound(f"no {kind} named {name!r} is recorded", provider=provider)
        return _row_to_resource(row)

    def list_resources(
        self,
        *,
        provider: str | None = None,
        kind: str | None = None,
        project: str | None = None,
        include_deleted: bool = False,
    ) -> list[ResourceRecord]:
        """Recorded resources, newest first, filtered by the given fields."""
        sql = "SELECT * FROM resources WHERE 1=1"
        args: list[Any] = []
        for column, value in (("provider", provider), ("kind", kind), ("project", project)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        sql += " ORDER BY created_at DESC, id DESC"
        return [_row_to_resource(row) for row in self._conn().execute(sql, args)]

    # -- journal -----------------------------------------------------------
    def begin_intent(
        self, *, provider: str, kind: str, name: str, action: str, config_hash: str | None = None
    ) -> str:
        """Write an intent before acting; returns its id. Close it with :meth:`finish_intent`."""
        intent_id = uuid.uuid4().hex
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO journal(id, provider, kind, name, action, config_hash, state, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                (intent_id, provider, kind, name, action, config_hash, _iso(utcnow())),
            )
        return intent_id

    def finish_intent(self, intent_id: str, *, error: str | None = None) -> None:
        """Close an intent as ``done`` (no error) or ``failed``."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE journal SET state = ?, error = ?, finished_at = ? WHERE id = ?",
                ("failed" if error else "done", error, _iso(utcnow()), intent_id),
            )

    def pending_intents(self, *, provider: str | None = None) -> list[JournalEntry]:
        """Intents never closed: the actions an interrupted process may have half done."""
        sql = "SELECT * FROM journal WHERE state = 'pending'"
        args: list[Any] = []
        if provider:
            sql += " AND provider = ?"
            args.append(provider)
        sql += " ORDER BY started_at"
        return [_row_to_journal(row) for row in self._conn().execute(sql, args)]

    def journal(self, *, limit: int = 100) -> list[JournalEntry]:
        """The newest journal entries."""
        rows = self._conn().execute("SELECT * FROM journal ORDER BY started_at DESC LIMIT ?", (limit,))
        return [_row_to_journal(row) for row in rows]

    # -- events ------------------------------------------------------------
    def add_event(
        self,
        *,
        provider: str,
        kind: str,
        name: str,
        event: str,
        ts: datetime | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        """Append a lifecycle event (timestamps are stored in UTC)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO events(provider, kind, name, event, ts, attrs) VALUES (?, ?, ?, ?, ?, ?)",
                (provider, kind, name, event, _iso(ts or utcnow()), json.dumps(attrs or {}, default=str)),
            )

    def events(
        self,
        *,
        provider: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        since: datetime | None = None,
    ) -> list[Event]:
        """Events in time order, filtered by the given fields."""
        sql = "SELECT * FROM events WHERE 1=1"
        args: list[Any] = []
        for column, value in (("provider", provider), ("kind", kind), ("name", name)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if since is not None:
            sql += " AND ts >= ?"
            args.append(_iso(since))
        sql += " ORDER BY ts, id"
        return [
            Event(
                provider=row["provider"],
                kind=row["kind"],
                name=row["name"],
                event=row["event"],
                ts=datetime.fromisoformat(row["ts"]),
                attrs=json.loads(row["attrs"]),
            )
            for row in self._conn().execute(sql, args)
        ]


def _split_sql(script: str) -> list[str]:
    return [stmt.strip() for stmt in script.split(";") if stmt.strip()]


def _row_to_resource(row: sqlite3.Row) -> ResourceRecord:
    return ResourceRecord(
        provider=row["provider"],
        kind=row["kind"],
        name=row["name"],
        native_id=row["native_id"],
        project=row["project"],
        tags=json.loads(row["tags"]),
        config_hash=row["config_hash"],
        spec=json.loads(row["spec"]) if row["spec"] else None,
        extra=json.loads(row["extra"]),
        created_at=_parse_ts(row["created_at"]),
        deleted_at=_parse_ts(row["deleted_at"]),
    )


def _row_to_journal(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        id=row["id"],
        provider=row["provider"],
        kind=row["kind"],
        name=row["name"],
        action=row["action"],
        config_hash=row["config_hash"],
        state=row["state"],
        error=row["error"],
        started_at=datetime.fromisoformat(row["started_at"]),
        finished_at=_parse_ts(row["finished_at"]),
    )
