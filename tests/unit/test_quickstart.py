"""The quickstart, the project's main job, runs end to end: train, deploy, predict, drift, cost, tear down."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from unifiedml import Client
from unifiedml.cli.main import app

pytestmark = pytest.mark.slow


def test_quickstart_runs_end_to_end_and_catches_the_shifted_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIFIEDML_COST_CPU_CORE_HOUR", "0.04")
    result = CliRunner().invoke(app, ["quickstart", "--epochs", "15", "--output", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["training_job"]["status"] == "succeeded"
    assert summary["predictions"]["correct"] >= 4
    assert summary["drift"]["clean"]["status"] == "no_drift"
    shifted = summary["drift"]["shifted"]
    assert shifted["status"] == "drift"
    drifted = {f["name"] for f in shifted["features"] if f["drifted"]}
    assert {"body_mass_g", "flipper_length_mm"} <= drifted
    runs = summary["cost"]["runs"]
    assert {r["kind"] for r in runs} == {"training_job", "endpoint"}
    assert all(r["local"]["known"] and r["local"]["amount"] > 0 for r in runs)
    # torn down: nothing left running
    assert Client("local", project="quickstart").endpoints() == []


def test_client_monitor_runs_a_check_against_captured_traffic() -> None:
    from tests.conftest import PENGUINS, QUICKSTART
    from unifiedml import MonitorSpec, TrainingSpec

    client = Client("local")
    job = client.train(TrainingSpec(entry_point=str(QUICKSTART / "train.py"), inputs={"train": str(PENGUINS)},
                                    hyperparameters={"epochs": 1}))
    job.wait(timeout=300, progress=False)
    ep = client.deploy(job.model, {"name": "monitored"}).wait(timeout=120, progress=False)
    try:
        rows = [{"bill_length_mm": 39.0 + i % 10, "bill_depth_mm": 18.0, "flipper_length_mm": 190.0,
                 "body_mass_g": 4000.0, "island": "Dream", "sex": "male"} for i in range(50)]
        ep.predict(rows)
        import time

        time.sleep(0.6)  # capture is written from a background thread
        mon = client.monitor(ep, MonitorSpec(reference=str(PENGUINS), columns=["bill_depth_mm", "island"],
                                             window="1h"))
        report = mon.last_report
        assert report is not None and report.status == "drift"  # every row is a male from Dream with 18 mm bills
        scheduled = client.monitor("monitored", {"reference": str(PENGUINS), "schedule": "0 * * * *"})
        assert scheduled.last_report is None
    finally:
        ep.delete()
