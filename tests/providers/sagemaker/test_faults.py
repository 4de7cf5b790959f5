"""With 20% of AWS calls throttled (and 5% executed but answered 500), every operation completes once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.conftest import PENGUINS
from tests.providers.sagemaker.aws_fixtures import sagemaker_client
from unifiedml import TrainingSpec
from unifiedml.emulators.aws import AwsEmulator
from unifiedml.resources import Status
from unifiedml.specs import AutoMLSpec, DeploymentSpec


def test_twenty_percent_throttling_every_operation_completes_and_nothing_is_created_twice(
    aws: AwsEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    aws.configure(fault_rate=0.20, error_after_rate=0.05, fault_seed=7)
    caplog.set_level(logging.WARNING, logger="unifiedml._ops")
    client = sagemaker_client(aws, project="faults")
    script = tmp_path / "train.py"
    script.write_text("from unifiedml import runtime\nprint(runtime.hyperparameters())\n")

    jobs = [
        client.train(TrainingSpec(name=f"job-{i}", entry_point=str(script), inputs={"train": str(PENGUINS)}))
        for i in range(3)
    ]
    models = [job.wait(timeout=60, progress=False).model for job in jobs]
    automl = client.automl(
        AutoMLSpec(
            name="search", data=str(PENGUINS), target="species", task="classification", max_candidates=3
        )
    )
    automl.wait(timeout=60, progress=False)
    endpoint = client.deploy(models[0], DeploymentSpec(name="web")).wait(timeout=60, progress=False)
    for _ in range(10):
        assert len(client.predict("web", [[1.0], [2.0]]).predictions) == 2
    client.update_endpoint("web", models[1]).wait(timeout=60, progress=False)
    assert client.get_endpoint("web").model == "job-1"
    assert len(automl.leaderboard) == 3
    client.delete_endpoint("web")
    client.delete_endpoint("web")

    stats = aws.stats()
    faults = sum(stats["faults"].values())
    print(
        f"\ncalls={stats['total_calls']} faults={faults} retries_logged={len(caplog.records)} "
        f"creates={stats['creates']}"
    )
    assert faults >= 0.15 * stats["total_calls"]  # the faults really happened
    assert endpoint.status is Status.IN_SERVICE
    assert stats["creates"], "creates were counted"
    assert all(count == 1 for count in stats["creates"].values()), stats["creates"]
    assert stats["creates"]["training_job/job-0"] == 1 and stats["creates"]["endpoint/web"] == 1
    assert stats["creates"]["automl_job/search"] == 1
