"""`unifiedml drift ...` and `unifiedml scheduler`: exit codes, JSON, HTML, schedules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from tests.monitoring.conftest import write_capture
from unifiedml.cli.drift import app as drift_app
from unifiedml.cli.scheduler import scheduler

runner = CliRunner()
cli = typer.Typer()
cli.add_typer(drift_app, name="drift")
cli.command("scheduler")(scheduler)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    ref = pa.table({"x": rng.normal(size=1000), "c": rng.choice(["a", "b"], 1000)})
    same = pa.table({"x": rng.normal(size=800), "c": rng.choice(["a", "b"], 800)})
    moved = pa.table({"x": rng.normal(1.5, 1, 800), "c": rng.choice(["a", "b"], 800)})
    for name, t in (("ref", ref), ("same", same), ("moved", moved)):
        pq.write_table(t, tmp_path / f"{name}.parquet")
    return tmp_path


def test_exit_code_0_without_drift_and_1_with_drift(files, home) -> None:
    ok = runner.invoke(cli, ["drift", "check", "-r", str(files / "ref.parquet"), "-c", str(files / "same.parquet")])
    assert ok.exit_code == 0, ok.output
    assert "no drift" in ok.output
    bad = runner.invoke(cli, ["drift", "check", "-r", str(files / "ref.parquet"), "-c", str(files / "moved.parquet"),
                              "--output", "json", "--html", str(files / "r.html")])
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["status"] == "drift" and data["n_drifted"] == 1
    page = (files / "r.html").read_text()
    assert "<svg" in page and "http" not in page.split("<body>")[1].replace("http://www.w3.org/2000/svg", "")


def test_errors_exit_2_with_one_line_and_hint(files, home) -> None:
    res = runner.invoke(cli, ["drift", "check", "-r", str(files / "nope.parquet"), "-c", str(files / "same.parquet")])
    assert res.exit_code == 2
    assert "error:" in res.output and "Traceback" not in res.output
    both = runner.invoke(cli, ["drift", "check", "-r", str(files / "ref.parquet")])
    assert both.exit_code == 2 and "--current" in both.output


def test_endpoint_check_reads_the_capture_log(files, home) -> None:
    now = datetime.now(UTC)
    write_capture(home, "ep", [(now - timedelta(minutes=3), [{"x": 4.0 + i / 100, "c": "a"} for i in range(100)])])
    res = runner.invoke(cli, ["drift", "check", "-r", str(files / "ref.parquet"), "--endpoint", "ep", "--since", "1h"])
    assert res.exit_code == 1, res.output
    empty = runner.invoke(cli, ["drift", "check", "-r", str(files / "ref.parquet"), "--endpoint", "ep",
                                "--since", "1s", "--fail-on-no-data"])
    assert empty.exit_code == 2 and "no data" in empty.output


def test_schedule_add_list_remove_and_bad_cron(files, home) -> None:
    bad = runner.invoke(cli, ["drift", "schedule", "add", "s", "--cron", "every day", "-r", str(files / "ref.parquet"),
                              "-e", "ep"])
    assert bad.exit_code == 2 and "every day" in bad.output
    ok = runner.invoke(cli, ["drift", "schedule", "add", "s", "--cron", "0 * * * *", "-r",
                             str(files / "ref.parquet"), "-e", "ep", "--webhook", "http://127.0.0.1:9/x"])
    assert ok.exit_code == 0, ok.output
    dup = runner.invoke(cli, ["drift", "schedule", "add", "s", "--cron", "0 * * * *", "-r",
                              str(files / "ref.parquet"), "-e", "ep"])
    assert dup.exit_code == 2 and "exists" in dup.output
    listed = runner.invoke(cli, ["drift", "schedule", "list", "--output", "json"])
    assert [r["name"] for r in json.loads(listed.stdout)] == ["s"]
    once = runner.invoke(cli, ["scheduler", "--once"])
    assert once.exit_code == 0
    assert runner.invoke(cli, ["drift", "schedule", "remove", "s"]).exit_code == 0
    assert json.loads(runner.invoke(cli, ["drift", "schedule", "list", "-o", "json"]).stdout) == []


def test_cli_modules_import_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys, unifiedml.cli.drift, unifiedml.cli.scheduler, unifiedml; "
            "print(sorted(m for m in ('numpy','pyarrow','scipy','unifiedml.monitoring') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
