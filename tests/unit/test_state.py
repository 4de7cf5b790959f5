from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from unifiedml.errors import ConfigError, NotFound
from unifiedml.state import ResourceRecord, StateStore, config_hash, register_migrations
from unifiedml.state import store as store_module


def test_opens_in_wal_mode_and_records_schema_versions(tmp_path: Path) -> None:
    s = StateStore(tmp_path / "s.db")
    assert s.schema_versions()["core"] == 1
    mode = sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_default_location_follows_unifiedml_home(home: Path) -> None:
    s = StateStore()
    assert s.path == home / "state.db"


def test_component_migrations_apply_once_and_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_MIGRATIONS", dict(store_module._MIGRATIONS))
    register_migrations("extra", ["CREATE TABLE t1 (x INTEGER)"])
    s = StateStore(tmp_path / "s.db")
    assert s.schema_versions()["extra"] == 1
    register_migrations("extra", ["CREATE TABLE t1 (x INTEGER)", "ALTER TABLE t1 ADD COLUMN y TEXT"])
    s.migrate()
    s.migrate()  # idempotent
    assert s.schema_versions()["extra"] == 2
    cols = [r[1] for r in s._conn().execute("PRAGMA table_info(t1)")]
    assert cols == ["x", "y"]


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    StateStore(tmp_path / "s.db")
    con = sqlite3.connect(tmp_path / "s.db")
    con.execute("UPDATE schema_versions SET version = 99 WHERE component = 'core'")
    con.commit()
    with pytest.raises(ConfigError) as info:
        StateStore(tmp_path / "s.db")
    assert "newer unifiedml" in str(info.value)


def test_resources_record_update_and_delete(tmp_path: Path) -> None:
    s = StateStore(tmp_path / "s.db")
    rec = ResourceRecord("local", "endpoint", "web", "p", native_id="1", tags={"a": "b"}, config_hash="h1")
    s.record_resource(rec)
    s.record_resource(ResourceRecord("local", "endpoint", "web", "p", native_id="2", config_hash="h2"))
    live = s.list_resources(kind="endpoint")
    assert len(live) == 1 and live[0].native_id == "2" and live[0].config_hash == "h2"
    assert s.mark_deleted("local", "endpoint", "web") is True
    assert s.mark_deleted("local", "endpoint", "web") is False  # idempotent
    with pytest.raises(NotFound):
        s.get_resource("local", "endpoint", "web")
    # a new resource may reuse the name once the old one is deleted
    s.record_resource(rec)
    assert len(s.list_resources(kind="endpoint", include_deleted=True)) == 2


def test_intent_journal(tmp_path: Path) -> None:
    s = StateStore(tmp_path / "s.db")
    a = s.begin_intent(provider="local", kind="endpoint", name="a", action="create", config_hash="x")
    b = s.begin_intent(provider="local", kind="endpoint", name="b", action="create")
    s.finish_intent(a)
    s.finish_intent(b, error="boom")
    c = s.begin_intent(provider="local", kind="endpoint", name="c", action="delete")
    assert [e.id for e in s.pending_intents()] == [c]
    states = {e.name: e.state for e in s.journal()}
    assert states == {"a": "done", "b": "failed", "c": "pending"}


def test_events_are_ordered_and_filtered(tmp_path: Path) -> None:
    s = StateStore(tmp_path / "s.db")
    s.add_event(provider="local", kind="endpoint", name="e", event="endpoint_up", attrs={"cores": 2})
    s.add_event(provider="local", kind="endpoint", name="e", event="endpoint_down")
    s.add_event(provider="local", kind="training_job", name="j", event="job_start")
    evs = s.events(kind="endpoint", name="e")
    assert [e.event for e in evs] == ["endpoint_up", "endpoint_down"]
    assert evs[0].attrs == {"cores": 2}
    assert evs[0].ts.tzinfo is not None


def _writer(path: str, n: int, tag: str) -> None:
    s = StateStore(path)
    for i in range(n):
        s.add_event(provider="local", kind="k", name=f"{tag}-{i}", event="e")


def test_concurrent_writers_from_threads_and_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    StateStore(path)
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(path, 50, f"p{i}")) for i in range(2)]
    threads = [threading.Thread(target=_writer, args=(path, 50, f"t{i}")) for i in range(3)]
    for w in [*procs, *threads]:
        w.start()
    for w in [*procs, *threads]:
        w.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(StateStore(path).events(kind="k")) == 250


def test_config_hash_is_stable_under_key_order() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
