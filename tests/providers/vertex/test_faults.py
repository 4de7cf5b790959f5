"""Throttling and lost responses: every operation still completes, and no resource is created twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PENGUINS
from tests.providers.vertex.vertex_fixtures import PARENT, gapic, vertex_client
from unifiedml import TrainingSpec
from unifiedml.resources import Status
from unifiedml.specs import AutoMLSpec, DeploymentSpec

pytest.importorskip("google.cloud.aiplatform_v1")


@pytest.mark.parametrize("seed", [7, 11])
def test_retries_complete_without_duplicate_resources(vertex: Any, tmp_path: Path, seed: int) -> None:
    # 15% throttled, 5% answered 503 before running, 5% run and then answered 503 (response lost).
    vertex.configure(throttle_rate=0.15, error_rate=0.05, error_after_rate=0.05, fault_seed=seed)
    client = vertex_client(vertex)
    script = tmp_path / "train.py"
    script.write_text(
        "import os\nfrom unifiedml import runtime\n"
        "open(os.path.join(runtime.model_dir(), 'saved_model.pb'), 'wb').write(b'x')\n"
    )
    job = client.train(TrainingSpec(name="faulty-job", entry_point=str(script), inputs={"train": str(PENGUINS)}))
    job.wait(timeout=60, progress=False)
    automl = client.automl(AutoMLSpec(name="faulty-automl", data=str(PENGUINS), target="species",
                                      task="classification"))
    automl.wait(timeout=60, progress=False)
    assert automl.status is Status.SUCCEEDED
    endpoint = client.deploy(job.model, DeploymentSpec(name="faulty-ep"))
    endpoint.wait(timeout=60, progress=False)
    for _ in range(10):
        assert client.predict("faulty-ep", [{"x": 1.0}]).predictions == [[1.0]]
    vertex.configure(throttle_rate=0.0, error_rate=0.0, error_after_rate=0.0)  # for this test's own reads
    live = gapic(vertex, "endpoint").get_endpoint(name=f"{PARENT}/endpoints/faulty-ep")
    assert len(live.deployed_models) == 1
    vertex.configure(throttle_rate=0.15, error_rate=0.05, error_after_rate=0.05)
    client.delete_endpoint("faulty-ep")
    client.delete_endpoint("faulty-ep")

    stats = vertex.stats()
    assert stats["faults"].get("throttle", 0) > 5 and stats["faults"].get("error_after", 0) > 1
    assert stats["creates"] and all(count == 1 for count in stats["creates"].values()), stats["creates"]
    assert set(stats["creates"]) == {
        "customJobs/faulty-job", "datasets/faulty-automl", "trainingPipelines/faulty-automl",
        "models/faulty-automl", "models/faulty-job", "endpoints/faulty-ep",
    }
    assert vertex.resources("endpoints") == []
