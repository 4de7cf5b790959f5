"""Local AutoML: a stated search over the tabular trainer, run as a detached job, best candidate deployable."""

from __future__ import annotations

import math

import pytest

from tests.conftest import PENGUINS
from unifiedml import Client
from unifiedml.errors import ConfigError, NotFound
from unifiedml.resources import Status
from unifiedml.specs import AutoMLSpec
from unifiedml.trainers.search import OBJECTIVES, SEARCH_SPACE, objective_value

ROW = {"bill_length_mm": 46.5, "bill_depth_mm": 17.9, "flipper_length_mm": 192.0, "body_mass_g": 3500.0,
       "island": "Dream", "sex": "female", "year": 2008}


@pytest.mark.slow
def test_search_ranks_candidates_and_its_best_model_serves() -> None:
    client = Client("local", project="automl")
    job = client.automl(AutoMLSpec(name="penguins-search", data=str(PENGUINS), target="species",
                                   task="classification", max_candidates=3,
                                   provider_options={"local": {"epochs": 4}}))
    job.wait(timeout=600, progress=False)
    job = client.provider.get_automl_job("penguins-search")
    assert job.status is Status.SUCCEEDED
    assert [c.extra["hyperparameters"]["hidden_units"] for c in job.leaderboard] != []
    assert len(job.leaderboard) == 3
    values = [c.objective_value for c in job.leaderboard]
    assert values == sorted(values)  # log loss: lower is better, best first
    assert {c.objective_metric for c in job.leaderboard} == {"log_loss"}
    tried = sorted((c.extra["hyperparameters"]["hidden_units"], c.extra["hyperparameters"]["learning_rate"])
                   for c in job.leaderboard)
    assert tried == sorted((p["hidden_units"], p["learning_rate"]) for p in SEARCH_SPACE[:3])
    assert job.metrics["objective_value"] == pytest.approx(values[0])
    assert job.model is not None
    endpoint = client.deploy(job.model, {"name": "penguins-search"}).wait(timeout=120, progress=False)
    try:
        (answer,) = client.predict(endpoint, [ROW]).predictions
    finally:
        client.delete_endpoint("penguins-search")
    assert answer["label"] in ("Adelie", "Chinstrap", "Gentoo")
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_the_time_budget_stops_the_search_after_the_first_candidate() -> None:
    client = Client("local", project="automl")
    job = client.automl(AutoMLSpec(name="penguins-budget", data=str(PENGUINS), target="body_mass_g",
                                   task="regression", objective="rmse", time_budget="1s",
                                   provider_options={"local": {"epochs": 2}}))
    job.wait(timeout=600, progress=False)
    job = client.provider.get_automl_job("penguins-budget")
    assert job.status is Status.SUCCEEDED
    (only,) = job.leaderboard  # the first candidate always runs; the next would overrun one second
    assert only.objective_metric == "rmse"
    assert only.objective_value == pytest.approx(math.sqrt(only.metrics["val_loss"]))


def test_bad_automl_input_is_refused_before_anything_starts(tmp_path) -> None:
    client = Client("local", project="automl", home=tmp_path)
    with pytest.raises(ConfigError) as err:
        client.automl(AutoMLSpec(data=str(PENGUINS), target="species", task="classification", objective="auc"))
    assert err.value.field == "objective" and "log_loss" in (err.value.hint or "")
    with pytest.raises(ConfigError) as err:
        client.automl(AutoMLSpec(data="gs://bucket/penguins.csv", target="species", task="classification"))
    assert err.value.field == "data"
    assert client.jobs() == []
    with pytest.raises(NotFound):
        client.provider.get_automl_job("nope")


def test_objectives_read_the_validation_metrics() -> None:
    metrics = {"val_loss": 4.0, "val_mae": 1.5, "val_accuracy": 0.75}
    assert objective_value(metrics, "regression", "rmse") == 2.0
    assert objective_value(metrics, "regression", "mae") == 1.5
    assert objective_value(metrics, "classification", "accuracy") == 0.75
    assert math.isnan(objective_value({}, "classification", "log_loss"))
    assert set(OBJECTIVES) == {"classification", "regression"}


@pytest.mark.slow
def test_cli_automl_waits_and_prints_the_leaderboard_as_json(tmp_path, monkeypatch) -> None:
    import json

    from typer.testing import CliRunner

    from unifiedml.cli.main import app

    monkeypatch.setenv("UNIFIEDML_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["automl", str(PENGUINS), "--target", "species", "--task", "classification",
                                      "--max-candidates", "2", "--option", "local.epochs=2", "-o", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["status"] == "succeeded" and len(out["leaderboard"]) == 2
    assert out["leaderboard"][0]["objective_metric"] == "log_loss"
    assert out["model"]["name"] == out["name"]
