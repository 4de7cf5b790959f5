"""The CLI: one clear line plus a hint on error, JSON for scripts, traceback only with --debug."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from unifiedml.cli.main import app

runner = CliRunner()


def test_providers_json_lists_capabilities_with_reasons() -> None:
    result = runner.invoke(app, ["providers", "--output", "json"])
    assert result.exit_code == 0, result.output
    report = {p["name"]: p for p in json.loads(result.stdout)}
    local = report["local"]
    assert local["installed"] is True
    assert local["capabilities"]["train"]["supported"] is True
    assert "on-prem" in local["capabilities"]["billed_cost"]["reason"]


def test_providers_table_shows_the_gaps() -> None:
    result = runner.invoke(app, ["providers"])
    assert result.exit_code == 0
    assert "does not support" in result.stdout


def test_unknown_provider_is_one_line_and_a_hint_without_traceback() -> None:
    result = runner.invoke(app, ["endpoints", "list", "--provider", "nosuch"])
    assert result.exit_code == 1
    assert "error: provider: unknown provider 'nosuch'" in result.output
    assert "hint: valid providers: local" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback() -> None:
    result = runner.invoke(app, ["--debug", "endpoints", "list", "--provider", "nosuch"])
    assert result.exit_code == 1
    assert "Traceback" in result.output


def test_train_without_a_target_explains_itself() -> None:
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1
    assert "give a training script" in result.output
    assert "hint:" in result.output


def test_train_with_bad_hyperparameter_syntax_names_the_field(tmp_path: Path) -> None:
    script = tmp_path / "t.py"
    script.write_text("pass\n")
    result = runner.invoke(app, ["train", str(script), "--hp", "epochs"])
    assert result.exit_code == 1
    assert "hp: expected KEY=VALUE, got 'epochs'" in result.output


def test_spec_file_typos_name_the_file_and_field(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("entry_point: t.py\nhyperparameter: {epochs: 2}\n")
    result = runner.invoke(app, ["train", "--spec", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}:hyperparameter: unknown field" in result.output
    assert "did you mean 'hyperparameters'?" in result.output


def test_empty_listings_in_json_are_empty_lists() -> None:
    for group in ("endpoints", "jobs", "models"):
        result = runner.invoke(app, [group, "list", "--output", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []


def test_describe_missing_endpoint_is_not_found() -> None:
    result = runner.invoke(app, ["endpoints", "describe", "nope"])
    assert result.exit_code == 1
    assert "no local endpoint named 'nope'" in result.output


def test_delete_missing_endpoint_succeeds() -> None:
    result = runner.invoke(app, ["endpoints", "delete", "nope", "-o", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"deleted": "nope"}


def test_predict_needs_data() -> None:
    result = runner.invoke(app, ["predict", "ep"])
    assert result.exit_code == 1
    assert "give --data JSON" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("unifiedml ")
