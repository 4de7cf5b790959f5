"""The SageMaker provider passes the shared contract against the AWS emulator, with the real boto3 over HTTP.

Two runs: a fast one (the emulator writes placeholder artifacts and a stub
answers invocations; the bad-input answer is scripted as a 400 ModelError), and a
slow one where the emulator really runs the quickstart script with SageMaker's
``SM_*`` variables and serves the resulting SavedModel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PENGUINS
from tests.contract.suite import PenguinRows, ProviderContract, train_quickstart
from tests.providers.sagemaker.aws_fixtures import aws_emulator, aws_env, boto, fresh, sagemaker_client
from unifiedml import Client, Model, TrainingSpec
from unifiedml.emulators.aws import AwsEmulator, InvokeResult

__all__ = ["aws_emulator"]  # the session fixture, re-exported for pytest


def _native_tags(emulator: AwsEmulator) -> Callable[[Any], dict[str, str]]:
    def read(handle: Any) -> dict[str, str]:
        tags = boto(emulator, "sagemaker").list_tags(ResourceArn=handle.id)["Tags"]
        return {t["Key"]: t["Value"] for t in tags}

    return read


class TestSageMakerContract(ProviderContract):
    endpoint_prefix = "sagemaker-contract"

    @pytest.fixture
    def aws(self, aws_emulator: AwsEmulator, monkeypatch: pytest.MonkeyPatch) -> AwsEmulator:
        aws_env(monkeypatch, aws_emulator)
        return fresh(aws_emulator)

    @pytest.fixture
    def client(self, aws: AwsEmulator) -> Client:
        return sagemaker_client(aws, project="contract")

    @pytest.fixture
    def trained_model(self, client: Client, tmp_path: Path) -> Model:
        script = tmp_path / "train.py"
        script.write_text("from unifiedml import runtime\nprint('training', runtime.hyperparameters())\n")
        job = client.train(
            TrainingSpec(
                entry_point=str(script), inputs={"train": str(PENGUINS)}, hyperparameters={"epochs": 1}
            )
        )
        job.wait(timeout=60, progress=False)
        assert job.model is not None
        return job.model

    @pytest.fixture
    def instances(self) -> list[dict[str, Any]]:
        return [{"x": 1.0}, {"x": 2.0}]

    @pytest.fixture
    def bad_instances(self, aws: AwsEmulator) -> list[dict[str, Any]]:
        # The stub model cannot judge rows: script the container's 400 answer for the next invocation.
        aws.script_invoke(
            f"{self.endpoint_prefix}-badinput",
            [InvokeResult(body={"error": "bill_length_mm: not a number"}, status=400)],
        )
        return [{"bill_length_mm": "not a number", "island": "Dream"}]

    @pytest.fixture
    def native_tags(self, aws: AwsEmulator) -> Callable[[Any], dict[str, str]]:
        return _native_tags(aws)

    @pytest.fixture
    def vendor_calls(self, aws: AwsEmulator) -> Callable[[], int | None]:
        return lambda: aws.stats()["total_calls"]


@pytest.mark.slow
class TestSageMakerContractRealModel(PenguinRows, ProviderContract):
    """The quickstart script runs unchanged in the emulated container; the real SavedModel answers."""

    endpoint_prefix = "sagemaker-real"

    @pytest.fixture(scope="class")
    @classmethod
    def aws(cls, aws_emulator: AwsEmulator) -> Iterator[AwsEmulator]:
        pytest.importorskip("tensorflow")
        with pytest.MonkeyPatch.context() as mp:
            aws_env(mp, aws_emulator)
            yield fresh(aws_emulator, run_training=True, serve_models=True)
        aws_emulator.configure(run_training=False, serve_models=False)

    @pytest.fixture
    def client(self, aws: AwsEmulator, monkeypatch: pytest.MonkeyPatch) -> Client:
        aws_env(monkeypatch, aws)
        return sagemaker_client(aws, project="contract")

    @pytest.fixture(scope="class")
    @classmethod
    def trained_model(cls, aws: AwsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Model:
        client = sagemaker_client(aws, project="contract", home=tmp_path_factory.mktemp("sm-home"))
        return train_quickstart(client)

    @pytest.fixture
    def native_tags(self, aws: AwsEmulator) -> Callable[[Any], dict[str, str]]:
        return _native_tags(aws)

    @pytest.fixture
    def vendor_calls(self, aws: AwsEmulator) -> Callable[[], int | None]:
        return lambda: aws.stats()["total_calls"]
