"""The local backend really trains: scripts and the built-in tabular trainer, in a detached supervisor."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import PENGUINS
from unifiedml import Client, TrainingSpec
from unifiedml.errors import ConfigError, NotFound, OperationFailed
from unifiedml.resources import Status

pytestmark = pytest.mark.slow


def _script(tmp_path: Path, body: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_tabular_trainer_exports_a_servable_savedmodel() -> None:
    client = Client("local")
    job = client.train(TrainingSpec.tabular(data=str(PENGUINS), target="species", epochs=3))
    job.wait(timeout=300, progress=False)
    assert job.status is Status.SUCCEEDED
    assert job.model is not None
    assert job.model.signature["task"] == "classification"
    assert job.model.signature["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert set(job.model.signature["categorical"]) == {"island", "sex"}
    assert "accuracy" in job.metrics
    # the resources used are measured, not assumed
    assert job.resources_used["cpu_seconds"] > 0
    assert job.resources_used["max_rss_bytes"] > 10_000_000
    events = [e.event for e in client.state.events(kind="training_job", name=job.name)]
    assert events == ["job_start", "job_end"]

    import tensorflow as tf

    loaded = tf.saved_model.load(job.model.extra["path"])
    fn = loaded.signatures["serving_default"]
    out = fn(
        bill_length_mm=tf.constant([[39.1]]), bill_depth_mm=tf.constant([[18.7]]),
        flipper_length_mm=tf.constant([[181.0]]), body_mass_g=tf.constant([[3750.0]]),
        year=tf.constant([[2007.0]]), island=tf.constant([["Torgersen"]]), sex=tf.constant([["male"]]),
    )
    assert out["probabilities"].shape == (1, 3)
    assert out["label"].numpy()[0].decode() in ("Adelie", "Chinstrap", "Gentoo")


def test_tabular_regression_and_missing_values(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    lines = ["x,cat,y"] + [f"{i % 7 if i % 5 else ''},{'ab'[i % 2]},{(i % 7) * 2.5 + 1}" for i in range(120)]
    csv.write_text("\n".join(lines) + "\n")
    job = Client("local").train(TrainingSpec.tabular(data=str(csv), target="y", epochs=2))
    job.wait(timeout=300, progress=False)
    assert job.model.signature["task"] == "regression"
    assert "mae" in job.metrics


def test_a_script_gets_every_platforms_contract_and_streams_logs(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    script = _script(
        tmp_path,
        "import os, json\n"
        "from unifiedml import runtime\n"
        "print('hello from the job', flush=True)\n"
        "keys = ['SM_MODEL_DIR', 'AIP_MODEL_DIR', 'AZURE_ML_OUTPUT_model_dir', 'UML_MODEL_DIR']\n"
        "assert len({os.environ[k] for k in keys}) == 1\n"
        "assert os.listdir(runtime.data_dir('train')) == ['d.csv']\n"
        "assert os.environ['SM_CHANNEL_TRAIN'] == os.environ['AIP_TRAINING_DATA_URI']\n"
        "print('hp', json.dumps(runtime.hyperparameters(), sort_keys=True))\n",
    )
    client = Client("local")
    job = client.train(TrainingSpec(entry_point=str(script), inputs={"train": str(data)},
                                    hyperparameters={"epochs": 2, "name": "x"}))
    lines = list(client.logs(job.name, follow=True))
    job.wait(timeout=60, progress=False)
    assert "hello from the job" in lines
    assert 'hp {"epochs": 2, "name": "x"}' in lines
    assert job.model is None  # the script wrote no SavedModel
    assert job.status is Status.SUCCEEDED


def test_a_failing_script_raises_with_the_log_tail(tmp_path: Path) -> None:
    script = _script(tmp_path, "print('about to fail')\nraise ValueError('the data is wrong')\n")
    job = Client("local").train(TrainingSpec(entry_point=str(script)))
    with pytest.raises(OperationFailed) as info:
        job.wait(timeout=60, progress=False)
    assert "exited with code 1" in str(info.value)
    assert "ValueError: the data is wrong" in info.value.logs_tail


def test_max_runtime_is_enforced(tmp_path: Path) -> None:
    script = _script(tmp_path, "import time\ntime.sleep(60)\n")
    job = Client("local").train(TrainingSpec(entry_point=str(script), max_runtime="1s"))
    job.wait(timeout=60, progress=False, raise_on_failure=False)
    assert job.status is Status.FAILED
    assert "max_runtime" in job.failure_reason


def test_stop_ends_a_running_job(tmp_path: Path) -> None:
    script = _script(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    client = Client("local")
    job = client.train(TrainingSpec(entry_point=str(script)))
    deadline = time.monotonic() + 30
    while job.refresh().status is not Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    job.stop()
    job.wait(timeout=30, progress=False, raise_on_failure=False)
    assert job.status is Status.STOPPED


def test_a_dead_supervisor_is_reported_as_failed(tmp_path: Path) -> None:
    import os
    import signal

    script = _script(tmp_path, "import time\ntime.sleep(60)\n")
    job = Client("local").train(TrainingSpec(entry_point=str(script)))
    pid = json.loads((Path(job.extra["job_dir"]) / "job.json").read_text())["runner_pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert job.refresh().status is Status.FAILED
    assert "supervisor" in job.failure_reason


def test_bad_inputs_are_config_errors_before_anything_starts(tmp_path: Path) -> None:
    client = Client("local")
    with pytest.raises(ConfigError) as info:
        client.train(TrainingSpec(entry_point=str(tmp_path / "missing.py")))
    assert info.value.field == "entry_point"
    script = _script(tmp_path, "pass\n")
    with pytest.raises(ConfigError) as info:
        client.train(TrainingSpec(entry_point=str(script), inputs={"train": "s3://bucket/key.csv"}))
    assert info.value.field == "inputs.train"
    with pytest.raises(ConfigError) as info:
        client.train(TrainingSpec(entry_point=str(script), inputs={"train": str(tmp_path / "nope.csv")}))
    assert info.value.field == "inputs.train"
    assert client.jobs() == []


def test_jobs_are_listed_and_missing_ones_are_not_found(tmp_path: Path) -> None:
    client = Client("local")
    job = client.train(TrainingSpec(entry_point=str(_script(tmp_path, "pass\n")), name="listed-job"))
    job.wait(timeout=60, progress=False)
    assert [j.name for j in client.jobs()] == ["listed-job"]
    with pytest.raises(NotFound):
        client.get_job("nope")
    job.delete()
    job.delete()  # idempotent
    assert client.jobs() == []


def test_size_pins_the_job_to_cores(tmp_path: Path) -> None:
    import os

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("CPU affinity is Linux-only")
    body = "import os\nprint('cpus', len(os.sched_getaffinity(0)), os.environ['CUDA_VISIBLE_DEVICES']=='')\n"
    script = _script(tmp_path, body)
    client = Client("local")
    job = client.train(TrainingSpec(entry_point=str(script), resources={"size": "cpu-small"}))
    job.wait(timeout=60, progress=False)
    assert "cpus 1 True" in list(client.logs(job.name))
    assert job.resources_used["cores"] == 1


def test_cli_stops_and_deletes_jobs_and_a_model_keeps_its_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from unifiedml.cli.main import app
    from unifiedml.errors import AlreadyExists

    runner = CliRunner()
    # a "model": any folder with saved_model.pb is registered (nothing loads it here)
    script = _script(tmp_path, "import os, pathlib\nd = pathlib.Path(os.environ['UML_MODEL_DIR'])\n"
                               "d.mkdir(parents=True, exist_ok=True)\n(d / 'saved_model.pb').write_bytes(b'x')\n")
    client = Client("local")
    job = client.train(TrainingSpec(entry_point=str(script), name="maker")).wait(timeout=60, progress=False)
    assert job.model is not None and job.model.name == "maker"
    result = runner.invoke(app, ["jobs", "delete", "maker", "--output", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"deleted": "maker"}
    # a new job of that name would replace the folder the registered model lives in: refused, nothing lost
    with pytest.raises(AlreadyExists, match="registered from the earlier job"):
        client.train(TrainingSpec(entry_point=str(script), name="maker"))
    assert (Path(client.get_model("maker").id) / "saved_model.pb").exists()
    assert runner.invoke(app, ["models", "delete", "maker"]).exit_code == 0
    again = client.train(TrainingSpec(entry_point=str(script), name="maker")).wait(timeout=60, progress=False)
    assert again.status is Status.SUCCEEDED

    sleeper = _script(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(60)\n", "sleep.py")
    long_job = client.train(TrainingSpec(entry_point=str(sleeper), name="sleeper"))
    deadline = time.monotonic() + 30
    while long_job.refresh().status is not Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runner.invoke(app, ["jobs", "stop", "sleeper"]).exit_code == 0
    assert long_job.wait(timeout=30, progress=False, raise_on_failure=False).status is Status.STOPPED


def test_two_jobs_with_the_same_requirements_install_them_once(tmp_path: Path) -> None:
    # a local wheel, so pip needs neither the network nor a build
    import zipfile

    wheel = tmp_path / "umlprobe-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("umlprobe/__init__.py", "VALUE = 42\n")
        zf.writestr("umlprobe-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: umlprobe\nVersion: 0.1\n")
        zf.writestr("umlprobe-0.1.dist-info/WHEEL",
                    "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("umlprobe-0.1.dist-info/RECORD", "umlprobe/__init__.py,,\numlprobe-0.1.dist-info/METADATA,,\n"
                    "umlprobe-0.1.dist-info/WHEEL,,\numlprobe-0.1.dist-info/RECORD,,\n")
    pkg = wheel
    script = _script(tmp_path, "import umlprobe\nprint('probe', umlprobe.VALUE)\n")
    client = Client("local")
    jobs = [client.train(TrainingSpec(entry_point=str(script), name=f"twin-{i}", requirements=[str(pkg)]))
            for i in range(2)]
    for job in jobs:
        assert job.wait(timeout=180, progress=False, raise_on_failure=False).status is Status.SUCCEEDED, \
            "\n".join(client.logs(job.name))
    logs = ["\n".join(client.logs(job.name)) for job in jobs]
    assert all("probe 42" in text for text in logs)
    assert sum("installing requirements into" in text for text in logs) == 1


def test_a_job_name_of_another_project_in_the_same_home_is_refused(tmp_path: Path) -> None:
    from unifiedml.errors import AlreadyExists

    script = _script(tmp_path, "print('hi')\n")
    Client("local", project="alpha").train(TrainingSpec(entry_point=str(script), name="shared")).wait(
        timeout=60, progress=False)
    with pytest.raises(AlreadyExists, match="belongs to project 'alpha'"):
        Client("local", project="beta").train(TrainingSpec(entry_point=str(script), name="shared"))


def test_a_gpu_size_without_a_visible_gpu_says_so_in_the_log(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU visible, whatever this machine has
    script = _script(tmp_path, "import os\nprint('gpus', os.environ['UML_NUM_GPUS'])\n")
    client = Client("local")
    job = client.train(TrainingSpec(entry_point=str(script), resources={"size": "gpu-small"}))
    job.wait(timeout=60, progress=False)
    log = "\n".join(client.logs(job.name))
    assert "size gpu-small needs a GPU, but none is visible here" in log and "gpus 0" in log


def test_two_small_jobs_at_once_get_different_cores(tmp_path: Path) -> None:
    import os

    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to pin to")
    script = _script(tmp_path, "import os, time\nprint('cores', sorted(os.sched_getaffinity(0)), flush=True)\n"
                               "time.sleep(3)\n")
    client = Client("local")
    jobs = [client.train(TrainingSpec(entry_point=str(script), name=f"small-{i}", resources={"size": "cpu-small"}))
            for i in range(2)]
    for job in jobs:
        job.wait(timeout=60, progress=False)
    cores = [next(line for line in client.logs(job.name) if line.startswith("cores")) for job in jobs]
    assert cores[0] != cores[1], cores
