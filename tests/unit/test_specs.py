from __future__ import annotations

from datetime import timedelta

import pytest

from unifiedml.errors import ConfigError
from unifiedml.specs import (
    DataRef,
    DeploymentSpec,
    TrainingSpec,
    parse_duration,
    validate_name,
    validate_spec,
)


def _err(model: type, data: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        validate_spec(model, data)
    return info.value


def test_unknown_nested_field_names_the_path_and_suggests_the_right_key() -> None:
    err = _err(TrainingSpec, {"entry_point": "t.py", "resources": {"instance_cont": 2}})
    assert err.field == "resources.instance_count" or err.field == "resources.instance_cont"
    assert str(err).startswith("resources.instance_cont: unknown field")
    assert err.hint == "did you mean 'instance_count'?"


def test_typo_in_top_level_field_is_an_error_with_suggestion() -> None:
    err = _err(DeploymentSpec, {"max_replica": 3})
    assert "max_replica" in str(err)
    assert err.hint == "did you mean 'max_replicas'?"


def test_where_prefixes_the_field_path() -> None:
    with pytest.raises(ConfigError) as info:
        validate_spec(DeploymentSpec, {"min_replicas": -1}, where="endpoints.web")
    assert str(info.value).startswith("endpoints.web.min_replicas:")


def test_exactly_one_entry_point() -> None:
    assert "exactly one" in str(_err(TrainingSpec, {}))
    assert "exactly one" in str(_err(TrainingSpec, {"entry_point": "a.py", "module": "m"}))


def test_invalid_names_are_rejected_with_the_rule() -> None:
    assert "not a valid name" in str(_err(TrainingSpec, {"entry_point": "a.py", "name": "Bad_Name"}))
    with pytest.raises(ConfigError) as info:
        validate_name("-x", field="endpoints.0.name")
    assert info.value.field == "endpoints.0.name"
    assert validate_name("penguins-v2") == "penguins-v2"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1.5h", 5400), ("250ms", 0.25)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_bad_duration_is_a_config_error() -> None:
    err = _err(TrainingSpec, {"entry_point": "a.py", "max_runtime": "soon"})
    assert err.field == "max_runtime"
    assert "not a duration" in str(err)


def test_traffic_must_add_up_to_100() -> None:
    assert "add up to 100" in str(_err(DeploymentSpec, {"traffic": {"a": 50, "b": 40}}))
    assert validate_spec(DeploymentSpec, {"traffic": {"a": 60, "b": 40}}).traffic == {"a": 60, "b": 40}


def test_replica_bounds() -> None:
    assert "max_replicas" in str(_err(DeploymentSpec, {"min_replicas": 3, "max_replicas": 2}))


def test_dataref_from_string_and_scheme() -> None:
    spec = validate_spec(TrainingSpec, {"entry_point": "a.py", "inputs": {"train": "s3://b/k.csv", "v": "x.parquet"}})
    assert spec.inputs["train"].scheme == "s3"
    assert not spec.inputs["train"].is_local
    assert spec.inputs["v"].is_local
    assert spec.inputs["v"].resolved_format() == "parquet"
    with pytest.raises(ConfigError):
        DataRef(uri="gs://b/x").local_path()


def test_bad_channel_name() -> None:
    assert "channel name" in str(_err(TrainingSpec, {"entry_point": "a.py", "inputs": {"1bad": "x"}}))


def test_tabular_builder_targets_the_builtin_trainer() -> None:
    spec = TrainingSpec.tabular(data="d.csv", target="y", task="regression", epochs=3)
    assert spec.module == "unifiedml.trainers.tabular"
    assert spec.hyperparameters["target"] == "y"
    assert spec.hyperparameters["task"] == "regression"
    assert spec.inputs["train"].uri == "d.csv"


def test_provider_options_escape_hatch() -> None:
    spec = TrainingSpec(entry_point="a.py", provider_options={"sagemaker": {"EnableNetworkIsolation": True}})
    assert spec.options_for("sagemaker") == {"EnableNetworkIsolation": True}
    assert spec.options_for("vertex") == {}


def test_auth_token_is_secret_in_repr_and_dump() -> None:
    spec = DeploymentSpec(auth_token="s3cr3t-value")
    assert "s3cr3t-value" not in repr(spec)
    assert "s3cr3t-value" not in spec.model_dump_json()
