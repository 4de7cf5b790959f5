from __future__ import annotations

from typing import Any

import pytest

from unifiedml.errors import CapabilityNotSupported, ConfigError
from unifiedml.providers.base import TAG_PROJECT, TAG_RESOURCE, TAG_RUN_ID, Capability, Provider
from unifiedml.resources import Status, TrainingJob
from unifiedml.specs import TrainingSpec
from unifiedml.state import StateStore


class Recorder(Provider):
    """A provider that records calls instead of making them."""

    name = "recorder"
    capabilities = frozenset({Capability.TRAIN})
    UNSUPPORTED = {c: f"{c.value} is not offered by the recorder" for c in Capability if c is not Capability.TRAIN}

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls: list[str] = []
        self.fail_with: BaseException | None = None

    def _train(self, spec: TrainingSpec, *, name: str, tags: dict[str, str]) -> TrainingJob:
        self.calls.append(f"train:{name}")
        if self.fail_with is not None:
            raise self.fail_with
        return TrainingJob(provider=self.name, name=name, id=f"native-{name}", status=Status.PENDING, tags=tags,
                           _client=self)

    def _automl(self, spec: Any, *, name: str, tags: dict[str, str]) -> Any:  # pragma: no cover
        self.calls.append("automl")  # must never be reached
        raise AssertionError("called despite being unsupported")


@pytest.fixture
def rec(tmp_path: Any) -> Recorder:
    return Recorder(project="proj", state=StateStore(tmp_path / "s.db"))


def test_a_provider_must_declare_every_capability() -> None:
    with pytest.raises(TypeError) as info:

        class Sloppy(Provider):
            name = "sloppy"
            capabilities = frozenset({Capability.TRAIN})

    assert "undeclared" in str(info.value)


def test_unsupported_capability_raises_before_any_call(rec: Recorder) -> None:
    with pytest.raises(CapabilityNotSupported) as info:
        rec.automl({"data": "d.csv", "target": "y", "task": "regression"})
    assert info.value.reason == "automl is not offered by the recorder"
    assert info.value.provider == "recorder"
    assert rec.calls == []
    with pytest.raises(CapabilityNotSupported):
        rec.deploy("some-model")
    with pytest.raises(CapabilityNotSupported):
        rec.train({"entry_point": "t.py", "spot": True})
    assert rec.calls == []


def test_invalid_spec_is_rejected_before_the_provider_is_called(rec: Recorder) -> None:
    with pytest.raises(ConfigError):
        rec.train({"entry_point": "t.py", "max_runtime": -5})
    assert rec.calls == []


def test_created_resources_carry_the_standard_tags_and_are_recorded(rec: Recorder) -> None:
    job = rec.train({"entry_point": "train.py", "tags": {"team": "ml"}})
    assert job.tags[TAG_PROJECT] == "proj"
    assert job.tags[TAG_RESOURCE] == f"training_job/{job.name}"
    assert len(job.tags[TAG_RUN_ID]) == 12
    assert job.tags["team"] == "ml"
    recorded = rec.state.get_resource("recorder", "training_job", job.name)
    assert recorded.native_id == f"native-{job.name}"
    assert recorded.tags == job.tags
    assert recorded.config_hash


def test_the_intent_is_journaled_before_the_create_and_closed_after(rec: Recorder) -> None:
    job = rec.train({"entry_point": "train.py", "name": "j1"})
    entries = rec.state.journal()
    assert [(e.name, e.action, e.state) for e in entries] == [(job.name, "create", "done")]


def test_a_failed_create_closes_the_intent_as_failed(rec: Recorder) -> None:
    rec.fail_with = ConfigError("no", field="x")
    with pytest.raises(ConfigError):
        rec.train({"entry_point": "train.py", "name": "j2"})
    assert rec.state.journal()[0].state == "failed"
    assert rec.state.list_resources() == []


def test_an_interrupted_create_leaves_a_pending_intent_to_reconcile(rec: Recorder) -> None:
    rec.fail_with = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        rec.train({"entry_point": "train.py", "name": "j3"})
    pending = rec.state.pending_intents()
    assert [(p.name, p.action) for p in pending] == [("j3", "create")]


def test_generated_names_are_valid_and_unique(rec: Recorder) -> None:
    from unifiedml.specs import validate_name

    names = {rec.new_name("My Script.py") for _ in range(20)}
    assert len(names) == 20
    for n in names:
        validate_name(n)
    assert rec.new_name("123").startswith("uml-123")


def test_settings_typos_are_config_errors_naming_the_field(tmp_path: Any) -> None:
    from unifiedml.providers.local.provider import LocalProvider

    with pytest.raises(ConfigError) as info:
        LocalProvider(state=StateStore(tmp_path / "s.db"), settings={"max_core": 2})
    assert str(info.value).startswith("providers.local.max_core: unknown field")
    assert info.value.hint == "did you mean 'max_cores'?" or "max_cores" in (info.value.hint or "")


def test_project_names_are_validated(tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Recorder(project="Bad Project", state=StateStore(tmp_path / "s.db"))
    assert info.value.field == "project"


def test_capability_matrix_has_a_reason_for_every_gap() -> None:
    matrix = Recorder.describe_capabilities()
    assert set(matrix) == {c.value for c in Capability}
    assert matrix["train"] == {"supported": True, "reason": None}
    assert all(v["reason"] for k, v in matrix.items() if not v["supported"])


def test_autoscaling_is_a_declared_capability_checked_before_any_call(tmp_path: Any) -> None:
    from unifiedml.providers.local.provider import LocalProvider

    local = LocalProvider(project="proj", state=StateStore(tmp_path / "s.db"))
    with pytest.raises(CapabilityNotSupported) as info:
        local.deploy("no-such-model", {"min_replicas": 1, "max_replicas": 3})
    assert info.value.capability == "autoscaling"
    assert "fixed number of server processes" in info.value.reason
    with pytest.raises(CapabilityNotSupported):
        local.update_endpoint("web", "no-such-model", {"name": "web", "min_replicas": 2, "max_replicas": 4})
