"""unifiedml.yaml: validation names file, line and field; overlays; interpolation; credentials by reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unifiedml.config import json_schema, load_config, parse_config
from unifiedml.errors import ConfigError

BASE = """\
project: demo
models:
  penguins:
    artifact: ./model
endpoints:
  web:
    model: penguins
    replicas: 1
"""


def _err(text: str, **kw: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, **kw)  # type: ignore[arg-type]
    return info.value


def test_a_valid_file_parses() -> None:
    config = parse_config(BASE)
    assert config.project == "demo"
    assert config.endpoints["web"].model == "penguins"
    assert config.endpoint_provider("web") == "local"


def test_a_typo_names_line_and_path_and_suggests_the_key() -> None:
    err = _err(BASE.replace("replicas: 1", "replcas: 1"))
    assert str(err).startswith("unifiedml.yaml:8: endpoints.web.replcas: unknown field")
    assert err.hint == "did you mean 'replicas'?"


def test_a_typo_in_a_nested_training_spec_is_found() -> None:
    text = "project: demo\nmodels:\n  m:\n    training:\n      entry_point: t.py\n      hyperparameter: {}\n"
    err = _err(text)
    assert str(err).startswith("unifiedml.yaml:6: models.m.training.hyperparameter: unknown field")
    assert err.hint == "did you mean 'hyperparameters'?"


def test_undefined_model_reference_is_an_error_before_anything_runs() -> None:
    err = _err(BASE.replace("model: penguins", "model: penguin"))
    assert "unifiedml.yaml:7: endpoints.web.model" in str(err)
    assert err.hint == "did you mean 'penguins'?"


def test_an_endpoint_asking_for_an_unsupported_capability_fails_at_its_line() -> None:
    autoscaling = BASE.replace("replicas: 1", "autoscaling: {min_replicas: 1, max_replicas: 3}")
    err = _err(autoscaling)
    assert str(err).startswith("unifiedml.yaml:8: endpoints.web.autoscaling: endpoint 'web' asks local for")
    assert "fixed number of server processes" in (err.hint or "")
    err = _err(BASE + "    traffic: {penguins: 90, other: 10}\n")
    assert "endpoints.web.traffic" in str(err) and "traffic_split" in str(err)
    # the same request to a provider that autoscales is fine
    config = parse_config(autoscaling + "    provider: vertex\n")
    assert config.endpoints["web"].autoscaling is not None


def test_undefined_endpoint_in_a_monitor() -> None:
    err = _err(BASE + "monitors:\n  drift:\n    endpoint: webb\n    reference: ref.csv\n")
    assert "monitors.drift.endpoint" in str(err)
    assert err.hint == "did you mean 'web'?"


def test_unknown_provider_suggests_a_known_one() -> None:
    err = _err(BASE.replace("    artifact", "    provider: locl\n    artifact"))
    assert "unknown provider 'locl'" in str(err)
    assert err.hint == "did you mean 'local'?"


def test_literal_credentials_are_refused_without_echoing_them() -> None:
    text = BASE + "providers:\n  local:\n    auth_token: hunter2-literal\n"
    err = _err(text)
    assert "by reference" in str(err)
    assert "hunter2-literal" not in str(err) and "hunter2-literal" not in (err.hint or "")
    ok = parse_config(BASE + "providers:\n  local:\n    auth_token: ${UML_TEST_TOKEN}\n",
                      environ={"UML_TEST_TOKEN": "x"})
    assert ok.providers["local"]["auth_token"] == "x"


def test_interpolation_with_defaults_and_missing_variables() -> None:
    text = BASE.replace("./model", "${MODEL_DIR:-./fallback}")
    assert parse_config(text, environ={}).models["penguins"].artifact == "./fallback"
    assert parse_config(text, environ={"MODEL_DIR": "/m"}).models["penguins"].artifact == "/m"
    err = _err(BASE.replace("./model", "${MODEL_DIR}"), environ={})
    assert "MODEL_DIR is not set" in str(err)
    assert str(err).startswith("unifiedml.yaml:4: models.penguins.artifact")


def test_environment_overlays_merge_deeply() -> None:
    text = BASE + "environments:\n  prod:\n    endpoints:\n      web:\n        replicas: 3\n"
    assert parse_config(text).endpoints["web"].replicas == 1
    prod = parse_config(text, env_name="prod")
    assert prod.endpoints["web"].replicas == 3
    assert prod.endpoints["web"].model == "penguins"
    err = _err(text, env_name="staging")
    assert "unknown environment 'staging' (known: prod)" in str(err)


def test_bad_yaml_names_the_line() -> None:
    err = _err("project: demo\nmodels: [\n")
    assert "not valid YAML" in str(err)
    assert "unifiedml.yaml:" in str(err)


def test_exactly_one_model_source() -> None:
    err = _err("project: demo\nmodels:\n  m:\n    artifact: a\n    training: {entry_point: t.py}\n")
    assert "exactly one of training, automl or artifact" in str(err)


def test_load_config_missing_file_hints(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "no config file" in str(info.value)


def test_paths_resolve_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cfg = tmp_path / "sub" / "unifiedml.yaml"
    cfg.write_text(BASE)
    loaded = load_config(cfg)
    assert loaded.resolve("./model") == str((tmp_path / "sub" / "model").resolve())
    assert loaded.resolve("s3://bucket/key") == "s3://bucket/key"


def test_json_schema_is_exported_and_matches_the_docs_copy() -> None:
    schema = json_schema()
    assert schema["title"] == "unifiedml.yaml"
    assert "endpoints" in schema["properties"]
    docs_copy = Path(__file__).resolve().parents[2] / "docs" / "unifiedml.schema.json"
    assert json.loads(docs_copy.read_text()) == json.loads(json.dumps(schema)), (
        "docs/unifiedml.schema.json is stale: run `unifiedml config schema --out docs/unifiedml.schema.json`"
    )


def test_budgets_are_validated_with_the_file() -> None:
    err = _err(BASE + "budgets:\n  - {name: b, amount: -5, currency: USD}\n")
    assert "budgets[0]" in str(err)


def test_plan_refuses_what_would_push_a_budget_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unifiedml.deploy import DeploySession
    from unifiedml.errors import BudgetExceeded

    # Local cost is priced only when rates are configured: 1 USD per core-hour.
    monkeypatch.setenv("UNIFIEDML_COST_CPU_CORE_HOUR", "1.0")
    monkeypatch.setenv("UNIFIEDML_COST_CURRENCY", "USD")
    model = tmp_path / "model"
    model.mkdir()
    cfg = tmp_path / "unifiedml.yaml"
    cfg.write_text(BASE.replace("./model", str(model)) + "    size: cpu-small\n"
                   "budgets:\n  - {name: tiny, amount: 0.5, currency: USD, project: demo}\n")
    session = DeploySession.from_file(cfg)
    plan = session.plan()
    web = next(i for i in plan.items if i.name == "web")
    assert web.cost_per_hour is not None and web.currency == "USD"
    assert plan.budget_error and "tiny" in plan.budget_error
    with pytest.raises(BudgetExceeded):
        session.apply(plan)
    assert session.state.journal() == []  # nothing was attempted
    cfg.write_text(cfg.read_text().replace("amount: 0.5", "amount: 100000"))
    assert DeploySession.from_file(cfg).plan().budget_error is None


def test_two_applies_of_one_project_cannot_run_at_once(tmp_path: Path) -> None:
    from unifiedml.deploy import DeploySession

    cfg = tmp_path / "unifiedml.yaml"
    cfg.write_text("project: demo\n")
    first, second = DeploySession.from_file(cfg), DeploySession.from_file(cfg)
    with first._exclusive():
        with pytest.raises(ConfigError) as info:
            second.apply()
        assert "another apply or destroy of project 'demo' is running" in str(info.value)
    assert second.apply().ok  # released
