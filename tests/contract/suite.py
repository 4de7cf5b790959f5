"""The shared provider contract suite (fsspec-style abstract tests).

Every provider runs these against its backend: the local backend for real,
each cloud provider against its emulator with the real vendor SDK. A provider's
test module subclasses :class:`ProviderContract` and supplies the fixtures:

* ``client``: a :class:`unifiedml.Client` for the provider;
* ``trained_model``: a deployable :class:`Model` produced by a training job
  run through ``client.train`` (session-scoped where training is slow);
* ``instances``: a few valid rows for that model; ``bad_instances``: rows the
  endpoint must reject as bad input;
* ``native_tags(handle)``: the tags as the provider itself stores them;
* ``vendor_calls()``: how many calls reached the backend so far (``None`` when
  it cannot be counted), to prove unsupported capabilities fail before any call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from unifiedml import Client
from unifiedml.errors import CapabilityNotSupported, ConfigError, NotFound
from unifiedml.providers.base import TAG_PROJECT, TAG_RESOURCE, TAG_RUN_ID, Capability
from unifiedml.resources import Endpoint, Model, Status, TrainingJob
from unifiedml.specs import AutoMLSpec, DeploymentSpec, TrainingSpec

# How to exercise each capability that has a public entry point.
_CALLS: dict[Capability, Callable[[Client], Any]] = {
    Capability.AUTOML: lambda c: c.automl(AutoMLSpec(data="d.csv", target="y", task="regression")),
    Capability.UPDATE_ENDPOINT: lambda c: c.update_endpoint("some-endpoint", "some-model"),
    Capability.SPOT: lambda c: c.train(TrainingSpec(entry_point="train.py", spot=True)),
    Capability.GPU: lambda c: c.train(TrainingSpec(entry_point="train.py", resources={"size": "gpu-small"})),
    Capability.TRAIN: lambda c: c.train(TrainingSpec(entry_point="train.py")),
    Capability.DEPLOY: lambda c: c.deploy("some-model"),
    Capability.PREDICT: lambda c: c.predict("some-endpoint", [{"x": 1}]),
    Capability.TRAINING_LOGS: lambda c: list(c.logs("some-job")),
    Capability.STOP_TRAINING: lambda c: c.provider.stop_training_job("some-job"),
    Capability.AUTOSCALING: lambda c: c.deploy("some-model", DeploymentSpec(min_replicas=1, max_replicas=3)),
    Capability.TRAFFIC_SPLIT: lambda c: c.update_endpoint(
        "some-endpoint", "some-model", DeploymentSpec(name="some-endpoint", traffic={"a": 90, "some-model": 10})),
}

#: Rows the quickstart's penguin model answers, and rows it must refuse (for the runs that serve it for real).
PENGUIN_ROWS: list[dict[str, Any]] = [
    {"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181.0, "body_mass_g": 3750.0,
     "island": "Torgersen", "sex": "male"},
    {"bill_length_mm": 46.5, "bill_depth_mm": 17.9, "flipper_length_mm": 192.0, "body_mass_g": 3500.0,
     "island": "Dream", "sex": "female"},
]
BAD_PENGUIN_ROWS: list[dict[str, Any]] = [{"bill_length_mm": "not a number", "island": "Dream"}]


def train_quickstart(client: Client) -> Model:
    """Train the quickstart's TensorFlow script on the penguins (two epochs) and return its model. Blocking."""
    from tests.conftest import PENGUINS, QUICKSTART

    job = client.train(TrainingSpec(entry_point=str(QUICKSTART / "train.py"), inputs={"train": str(PENGUINS)},
                                    hyperparameters={"epochs": 2}))
    job.wait(timeout=300, progress=False)
    assert job.model is not None
    return job.model


class PenguinRows:
    """Mix in before :class:`ProviderContract` where the quickstart's model answers for real."""

    @pytest.fixture
    def instances(self) -> list[dict[str, Any]]:
        return PENGUIN_ROWS

    @pytest.fixture
    def bad_instances(self) -> list[dict[str, Any]]:
        return BAD_PENGUIN_ROWS


class ProviderContract:
    """Mix into a test class and provide the fixtures named in the module docstring."""

    endpoint_prefix = "contract"

    @pytest.fixture
    def vendor_calls(self) -> Callable[[], int | None]:
        return lambda: None

    @pytest.fixture
    def deployment_spec(self) -> Callable[[str], DeploymentSpec]:
        return lambda name: DeploymentSpec(name=name)

    # -- training ----------------------------------------------------------
    def test_training_produces_a_deployable_model(self, client: Client, trained_model: Model) -> None:
        assert trained_model.provider == client.name
        assert trained_model.artifact_uri
        job = client.get_job(trained_model.source_job) if trained_model.source_job else None
        if job is not None:
            assert isinstance(job, TrainingJob)
            assert job.status is Status.SUCCEEDED
            assert job.model is not None and job.model.name == trained_model.name

    def test_training_jobs_carry_the_standard_tags(
        self, client: Client, trained_model: Model, native_tags: Callable[[Any], dict[str, str]]
    ) -> None:
        job = client.get_job(trained_model.source_job)
        for tags in (job.tags, native_tags(job)):
            assert tags[TAG_PROJECT] == client.provider.project
            assert tags[TAG_RESOURCE] == f"training_job/{job.name}"
            assert tags[TAG_RUN_ID]

    # -- serving -----------------------------------------------------------
    def test_deploy_predict_delete_round_trip(
        self,
        client: Client,
        trained_model: Model,
        instances: list[Any],
        deployment_spec: Callable[[str], DeploymentSpec],
        native_tags: Callable[[Any], dict[str, str]],
    ) -> None:
        name = f"{self.endpoint_prefix}-roundtrip"
        endpoint = client.deploy(trained_model, deployment_spec(name))
        try:
            assert isinstance(endpoint, Endpoint)
            endpoint.wait(timeout=300, progress=False)
            assert endpoint.status is Status.IN_SERVICE
            assert endpoint.model == trained_model.name
            for tags in (endpoint.tags, native_tags(endpoint)):
                assert tags[TAG_PROJECT] == client.provider.project
                assert tags[TAG_RESOURCE] == f"endpoint/{name}"
            result = client.predict(endpoint, instances)
            assert len(result.predictions) == len(instances)
            assert [e.name for e in client.endpoints()] == [name]
            assert client.state.get_resource(client.name, "endpoint", name).native_id == endpoint.id
        finally:
            client.delete_endpoint(name)
        with pytest.raises(NotFound):
            client.get_endpoint(name)
        assert all(r.name != name for r in client.state.list_resources(kind="endpoint"))

    def test_deploy_is_idempotent_by_name(
        self, client: Client, trained_model: Model, deployment_spec: Callable[[str], DeploymentSpec]
    ) -> None:
        name = f"{self.endpoint_prefix}-idem"
        first = client.deploy(trained_model, deployment_spec(name))
        try:
            second = client.deploy(trained_model, deployment_spec(name))
            assert second.id == first.id
            assert len([e for e in client.endpoints() if e.name == name]) == 1
        finally:
            client.delete_endpoint(name)

    def test_delete_is_idempotent(self, client: Client) -> None:
        client.delete_endpoint(f"{self.endpoint_prefix}-never-existed")
        client.delete_endpoint(f"{self.endpoint_prefix}-never-existed")

    def test_missing_resources_are_not_found(self, client: Client) -> None:
        with pytest.raises(NotFound):
            client.get_endpoint(f"{self.endpoint_prefix}-missing")
        with pytest.raises(NotFound):
            client.get_job("contract-missing-job")
        with pytest.raises(NotFound):
            client.get_model("contract-missing-model")

    def test_bad_prediction_input_is_a_config_error(
        self,
        client: Client,
        trained_model: Model,
        bad_instances: list[Any],
        deployment_spec: Callable[[str], DeploymentSpec],
    ) -> None:
        name = f"{self.endpoint_prefix}-badinput"
        endpoint = client.deploy(trained_model, deployment_spec(name))
        try:
            endpoint.wait(timeout=300, progress=False)
            with pytest.raises(ConfigError):
                client.predict(endpoint, bad_instances)
            with pytest.raises(ConfigError):
                client.predict(endpoint, [])
        finally:
            client.delete_endpoint(name)

    # -- declared gaps -----------------------------------------------------
    def test_unsupported_capabilities_raise_the_named_error_before_any_call(
        self, client: Client, vendor_calls: Callable[[], int | None]
    ) -> None:
        gaps = [cap for cap in Capability if not client.provider.supports(cap) and cap in _CALLS]
        for cap in gaps:
            before = vendor_calls()
            with pytest.raises(CapabilityNotSupported) as info:
                _CALLS[cap](client)
            assert info.value.capability == cap.value
            assert info.value.reason == client.provider.UNSUPPORTED[cap]
            assert vendor_calls() == before

    def test_every_gap_has_a_reason(self, client: Client) -> None:
        for cap in Capability:
            if not client.provider.supports(cap):
                assert client.provider.UNSUPPORTED[cap].strip()
