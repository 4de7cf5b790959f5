"""One script, every platform: the same file runs under each platform's variables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from unifiedml import runtime

SCRIPT = '''
import json, os, sys
from pathlib import Path
from unifiedml import runtime

hp = runtime.hyperparameters()
rows = sum(1 for p in Path(runtime.data_dir("train")).glob("*.csv") for _ in open(p))
out = Path(runtime.model_dir())
out.mkdir(parents=True, exist_ok=True)
(out / "result.json").write_text(json.dumps({"platform": runtime.platform(), "hp": hp, "rows": rows}))
'''


def _run(tmp_path: Path, env: dict[str, str], args: list[str]) -> dict:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), *args], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "model" / "result.json").read_text())


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "part.csv").write_text("a,b\n1,2\n3,4\n")
    return d


def test_same_script_under_sagemaker_variables(tmp_path: Path, data: Path) -> None:
    env = {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(data),
           "SM_HPS": json.dumps({"epochs": 3, "lr": 0.1})}
    # SageMaker also passes hyperparameters as arguments; both agree.
    out = _run(tmp_path, env, ["--epochs", "3", "--lr", "0.1"])
    assert out == {"platform": "sagemaker", "hp": {"epochs": 3, "lr": 0.1}, "rows": 3}


def test_same_script_under_vertex_variables(tmp_path: Path, data: Path) -> None:
    env = {"AIP_MODEL_DIR": str(tmp_path / "model"), "AIP_TRAINING_DATA_URI": str(data)}
    out = _run(tmp_path, env, ["--epochs=3", "--lr", "0.1", "--shuffle"])
    assert out == {"platform": "vertex", "hp": {"epochs": 3, "lr": 0.1, "shuffle": True}, "rows": 3}


def test_same_script_under_azureml_variables(tmp_path: Path, data: Path) -> None:
    env = {"AZURE_ML_OUTPUT_model_dir": str(tmp_path / "model"), "AZURE_ML_INPUT_train": str(data)}
    out = _run(tmp_path, env, ["--epochs", "3", "--lr", "0.1"])
    assert out == {"platform": "azureml", "hp": {"epochs": 3, "lr": 0.1}, "rows": 3}


def test_same_script_under_local_variables(tmp_path: Path, data: Path) -> None:
    env = {"UML_MODEL_DIR": str(tmp_path / "model"), "UML_CHANNEL_TRAIN": str(data),
           "UML_HYPERPARAMETERS": json.dumps({"epochs": 3, "lr": 0.1})}
    out = _run(tmp_path, env, [])
    assert out == {"platform": "local", "hp": {"epochs": 3, "lr": 0.1}, "rows": 3}


def test_missing_channel_names_the_available_ones() -> None:
    with pytest.raises(KeyError) as info:
        runtime.data_dir("eval", env={"SM_CHANNEL_TRAIN": "/x", "SM_CHANNEL_TEST": "/y"})
    assert "test, train" in str(info.value)


def test_no_platform_means_a_clear_error_not_a_guess() -> None:
    with pytest.raises(RuntimeError) as info:
        runtime.model_dir(env={})
    assert "UML_MODEL_DIR" in str(info.value)


def test_vertex_output_dir_sits_beside_the_model_dir() -> None:
    assert runtime.output_dir(env={"AIP_MODEL_DIR": "gs://b/job/model/"}) == "gs://b/job/output"


def test_hyperparameter_values_are_decoded() -> None:
    hp = runtime.hyperparameters(env={"SM_HPS": json.dumps({"n": "5", "name": "x", "flag": "true"})}, argv=[])
    assert hp == {"n": 5, "name": "x", "flag": True}


def test_runtime_is_standard_library_only() -> None:
    # Cloud providers ship runtime.py alone into the training container.
    source = Path(runtime.__file__).read_text()
    imports = [line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert set(imports) <= {"__future__", "json", "os", "sys", "collections.abc", "typing"}


def test_savedmodel_dir_follows_each_platforms_serving_layout() -> None:
    assert runtime.savedmodel_dir(env={"SM_MODEL_DIR": "/opt/ml/model"}) == "/opt/ml/model/1"
    assert runtime.savedmodel_dir(env={"AIP_MODEL_DIR": "gs://b/m"}) == "gs://b/m"
    assert runtime.savedmodel_dir(env={"UML_MODEL_DIR": "/m", "SM_MODEL_DIR": "/m"}) == "/m"
