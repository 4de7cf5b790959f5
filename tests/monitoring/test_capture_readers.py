"""The local capture log and the reader registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from tests.monitoring.conftest import write_capture
from unifiedml.errors import ConfigError, NotFound
from unifiedml.monitoring import check, get_reader, register_reader
from unifiedml.monitoring.readers import LocalCaptureReader, parse_since, registered_readers
from unifiedml.monitoring.sources import TabularSource

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_local_reader_reads_the_window_across_hourly_files(home) -> None:
    write_capture(home, "ep", [
        (NOW - timedelta(hours=30), [{"x": 100.0, "c": "old"}]),  # outside a 24h window
        (NOW - timedelta(hours=5), [{"x": 1.0, "c": "a"}, {"x": None, "c": "b"}]),
        (NOW - timedelta(minutes=10), [{"x": 2.5, "c": None}]),
    ])
    src = LocalCaptureReader().read("ep", since=NOW - timedelta(hours=24), until=NOW)
    table = pa.Table.from_batches(list(src.batches()))
    assert table.num_rows == 3
    assert table.column("x").to_pylist() == [1.0, None, 2.5]
    assert table.column("c").to_pylist() == ["a", "b", None]


def test_unreadable_lines_are_skipped(home) -> None:
    d = write_capture(home, "ep", [(NOW - timedelta(minutes=5), [{"x": 1.0}])])
    with next(d.iterdir()).open("a") as fh:
        fh.write('{"ts": "2026-11-24T11:59:00+00:00", "instances": [{"x": 2')  # half-written last line
    src = LocalCaptureReader().read("ep", since=NOW - timedelta(hours=1), until=NOW)
    assert sum(b.num_rows for b in src.batches()) == 1


def test_empty_window_is_a_no_data_report(home) -> None:
    write_capture(home, "ep", [(NOW - timedelta(days=3), [{"x": 1.0}])])
    src = get_reader("local").read("ep", since=NOW - timedelta(hours=1), until=NOW)
    report = check({"x": np.arange(10.0)}, src)
    assert report.status == "no_data"


def test_endpoint_without_capture_is_not_found(home) -> None:
    with pytest.raises(NotFound, match="capture"):
        get_reader("local").read("nope", since=NOW)


def test_registry_lists_known_readers_and_accepts_plugins() -> None:
    with pytest.raises(ConfigError, match="local"):
        get_reader("nosuch")

    class Fake:
        provider = "fake"

        def read(self, endpoint: str, *, since: datetime, until: datetime | None = None) -> TabularSource:
            from unifiedml.monitoring.sources import open_source

            return open_source({"x": [1.0, 2.0]})

    register_reader("fake", Fake)
    assert "fake" in registered_readers()
    assert sum(b.num_rows for b in get_reader("fake").read("e", since=NOW).batches()) == 2


def test_parse_since() -> None:
    assert parse_since("24h", now=NOW) == NOW - timedelta(hours=24)
    assert parse_since("30m", now=NOW) == NOW - timedelta(minutes=30)
    assert parse_since("2026-11-20T00:00:00", now=NOW) == datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(ConfigError, match="yesterday"):
        parse_since("yesterday")


def test_every_replica_process_file_is_read(home) -> None:
    # Written by the server's own CaptureWriter, as two processes of one endpoint write them.
    from unifiedml.providers.local.capture import CaptureWriter

    directory = home / "local" / "endpoints" / "ep" / "capture"
    for suffix, x in (("", 1.0), ("-w1", 2.0), ("-w2", 3.0)):
        writer = CaptureWriter(directory, endpoint="ep", model="m", rows_of=lambda p: p, file_suffix=suffix)
        writer.record(request_id=f"r{x}", payload=[{"x": x}], predictions=[0.5], ts=NOW - timedelta(minutes=5))
        writer.close()
    assert len(list(directory.glob("capture-*.jsonl"))) == 3
    src = LocalCaptureReader().read("ep", since=NOW - timedelta(hours=1), until=NOW)
    table = pa.Table.from_batches(list(src.batches()))
    assert sorted(table.column("x").to_pylist()) == [1.0, 2.0, 3.0]


def test_arrow_and_line_by_line_paths_give_the_same_rows(home) -> None:
    from unifiedml.monitoring import readers

    rows_a = [{"x": float(i), "n": i, "c": "ab"[i % 2]} for i in range(50)]
    rows_b = [{"x": 0.5 + i, "n": None, "c": None} for i in range(30)]
    d = write_capture(home, "ep", [
        (NOW - timedelta(hours=2, minutes=30), rows_a[:10]),  # before the window
        (NOW - timedelta(hours=1, minutes=50), rows_a[10:]),
        (NOW - timedelta(minutes=20), rows_b),
        (NOW + timedelta(minutes=1), [{"x": 99.0, "n": 1, "c": "z"}]),  # at/after until: excluded
    ])
    newest = sorted(d.glob("capture-*.jsonl"))[-1]
    with newest.open("a") as fh:  # a half-written line: that file takes the line-by-line path
        fh.write('{"ts": "2026-11-24T11:59:00+00:00", "instances": [{"x": 2')

    def rows_via(fast: bool) -> list[dict]:
        original = readers._fast_window_table
        if not fast:
            readers._fast_window_table = lambda *a: None  # type: ignore[assignment]
        try:
            src = LocalCaptureReader().read("ep", since=NOW - timedelta(hours=2), until=NOW)
            return pa.Table.from_batches(list(src.batches()), schema=src.schema).to_pylist()
        finally:
            readers._fast_window_table = original  # type: ignore[assignment]

    fast, slow = rows_via(True), rows_via(False)
    assert fast == slow
    want = {float(i) for i in range(10, 50)} | {0.5 + i for i in range(30)}
    assert len(fast) == 70 and {r["x"] for r in fast} == want
    assert all(isinstance(r["n"], float) or r["n"] is None for r in fast)  # integers widened to float64
