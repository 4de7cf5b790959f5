"""The Vertex AI provider passes the shared contract against the Vertex emulator, with the real GAPIC clients.

The emulator really runs the training package (``python -m unifiedml_job._entry``
with ``AIP_MODEL_DIR``): the script below is written against
:mod:`unifiedml.runtime` only. Two runs: a fast one where predictions come from
the emulator's stub (the bad-input answer is scripted as the 400 the prediction
container would give), and a slow one where the quickstart's TensorFlow script
trains unchanged and the emulator serves the SavedModel it wrote to GCS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PENGUINS
from tests.contract.suite import PenguinRows, ProviderContract, train_quickstart
from tests.providers.vertex.vertex_fixtures import PARENT, fresh, gapic, gcp_env, vertex_client, vertex_emulator
from unifiedml import Client, Model, TrainingSpec
from unifiedml.providers.vertex.naming import from_labels

__all__ = ["vertex_emulator"]

SCRIPT = """\
import os
from unifiedml import runtime

hp = runtime.hyperparameters()
print("training with", hp, "data in", runtime.data_dir("train"))
os.makedirs(runtime.model_dir(), exist_ok=True)
with open(os.path.join(runtime.model_dir(), "saved_model.pb"), "wb") as fh:
    fh.write(b"stand-in")
"""


class TestVertexContract(ProviderContract):
    endpoint_prefix = "vertex-contract"

    @pytest.fixture
    def vertex(self, vertex_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
        gcp_env(monkeypatch)
        return fresh(vertex_emulator)

    @pytest.fixture
    def client(self, vertex: Any) -> Client:
        return vertex_client(vertex, project="contract")

    @pytest.fixture
    def trained_model(self, client: Client, tmp_path: Path) -> Model:
        script = tmp_path / "train.py"
        script.write_text(SCRIPT)
        job = client.train(
            TrainingSpec(entry_point=str(script), inputs={"train": str(PENGUINS)}, hyperparameters={"epochs": 1})
        )
        job.wait(timeout=60, progress=False)
        assert job.model is not None
        return job.model

    @pytest.fixture
    def instances(self) -> list[dict[str, Any]]:
        return [{"x": 1.0}, {"x": 2.0}]

    @pytest.fixture
    def bad_instances(self, vertex: Any) -> list[dict[str, Any]]:
        from unifiedml.emulators.vertex import PredictResult

        vertex.script_predict(f"{self.endpoint_prefix}-badinput",
                              [PredictResult(status=400, message="bill_length_mm: not a number")])
        return [{"bill_length_mm": "not a number", "island": "Dream"}]

    @pytest.fixture
    def native_tags(self, vertex: Any) -> Callable[[Any], dict[str, str]]:
        def read(handle: Any) -> dict[str, str]:
            if handle.kind == "training_job":
                labels = gapic(vertex, "job").get_custom_job(name=handle.id).labels
            else:
                labels = gapic(vertex, "endpoint").get_endpoint(name=f"{PARENT}/endpoints/{handle.name}").labels
            return from_labels(dict(labels))

        return read

    @pytest.fixture
    def vendor_calls(self, vertex: Any) -> Callable[[], int | None]:
        return lambda: vertex.stats()["total_calls"]


@pytest.mark.slow
class TestVertexContractRealModel(PenguinRows, TestVertexContract):
    """The quickstart script trains unchanged under ``AIP_*``; the real SavedModel answers from GCS."""

    endpoint_prefix = "vertex-real"

    @pytest.fixture(scope="class")
    @classmethod
    def emulator(cls, vertex_emulator: Any) -> Iterator[Any]:
        pytest.importorskip("tensorflow")
        with pytest.MonkeyPatch.context() as mp:
            gcp_env(mp)
            yield fresh(vertex_emulator, serve_models=True)
        vertex_emulator.configure(serve_models=False)

    @pytest.fixture
    def vertex(self, emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
        gcp_env(monkeypatch)
        return emulator  # not reset per test: the trained model (and its server) is shared by the class

    @pytest.fixture(scope="class")
    @classmethod
    def trained_model(cls, emulator: Any) -> Model:
        client = vertex_client(emulator, project="contract")
        return train_quickstart(client)

    def test_predictions_come_from_the_trained_model(self, client: Client, trained_model: Model,
                                                     instances: list[Any]) -> None:
        name = f"{self.endpoint_prefix}-answers"
        endpoint = client.deploy(trained_model, {"name": name}).wait(timeout=300, progress=False)
        try:
            predictions = client.predict(endpoint, instances).predictions
        finally:
            client.delete_endpoint(name)
        # the quickstart model's softmax over three species (the stub would answer one number per row)
        assert [len(p) for p in predictions] == [3, 3]
        assert all(abs(sum(p) - 1.0) < 1e-5 for p in predictions)
