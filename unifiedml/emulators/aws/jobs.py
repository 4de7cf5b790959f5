"""Training and AutoML jobs that pass through InProgress to a terminal status, in worker threads.

A training job either **really runs** the uploaded entry point (``run_training``):
the source archive named by the ``sagemaker_submit_directory`` hyperparameter is
unpacked, each channel's S3 objects are copied to ``input/data/<channel>``, and
the ``sagemaker_program`` script runs with SageMaker's script-mode variables
(``SM_MODEL_DIR``, ``SM_CHANNEL_<NAME>``, ``SM_HPS`` ...) and its hyperparameters
as ``--key value`` arguments; its output streams to CloudWatch Logs and the model
directory becomes ``<S3OutputPath>/<job>/output/model.tar.gz``. Or it writes a
**placeholder** artifact after ``training_delay`` seconds. No container runs: the
script runs with this process's Python.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unifiedml.emulators.aws.state import EmulatorState
from unifiedml.emulators.aws.storage import LogWriter, get_bytes, list_keys, put_bytes, split_s3

logger = logging.getLogger(__name__)

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def _now() -> datetime:
    return datetime.now(UTC)


def tar_directory(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buf.getvalue()


def placeholder_tar(text: str) -> bytes:
    buf = io.BytesIO()
    data = text.encode()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("PLACEHOLDER.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Worker(threading.Thread):
    def __init__(self, state: EmulatorState) -> None:
        super().__init__(daemon=True)
        self.state = state
        self.stop_requested = threading.Event()
        self.proc: subprocess.Popen[str] | None = None

    def stop(self) -> None:
        self.stop_requested.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def _sleep_until(self, deadline: float) -> None:
        while not self.stop_requested.is_set() and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


class TrainingWorker(_Worker):
    """Moves one moto training job through InProgress to Completed / Failed / Stopped."""

    def __init__(self, state: EmulatorState, job: Any, account: str, region: str) -> None:
        super().__init__(state)
        self.job, self.account, self.region = job, account, region
        self.name = f"training-{job.training_job_name}"
        stream = f"{job.training_job_name}/algo-1-{int(time.time())}"
        self.log = LogWriter(account, region, TRAINING_LOG_GROUP, stream)

    def run(self) -> None:
        job, cfg = self.job, self.state.config
        start = time.monotonic()
        job.training_start_time = _now()
        job.secondary_status = "Training"
        self.log.write(f"emulator: starting training job {job.training_job_name}")
        status, reason = "Completed", None
        try:
            hps = job.hyper_parameters or {}
            if cfg.run_training and "sagemaker_program" in hps:
                status, reason = self._run_script()
            else:
                self.log.write("emulator: run_training is off; writing a placeholder model artifact")
                put_bytes(
                    self.account,
                    job.model_artifacts["S3ModelArtifacts"],
                    placeholder_tar(f"placeholder model of emulated training job {job.training_job_name}\n"),
                )
        except Exception as exc:  # an emulator bug or bad input: the job fails like a container would
            logger.exception("training job %s failed in the emulator", job.training_job_name)
            status, reason = "Failed", f"AlgorithmError: {exc}"
        self._sleep_until(start + cfg.training_delay)
        if self.stop_requested.is_set() and status != "Failed":
            status, reason = "Stopped", None
        self._finish(status, reason, start)

    def _finish(self, status: str, reason: str | None, start: float) -> None:
        job = self.job
        job.training_end_time = _now()
        job.last_modified_time = job.training_end_time
        job.training_time_in_seconds = job.billable_time_in_seconds = max(1, int(time.monotonic() - start))
        if reason:
            job.failure_reason = reason
        if status != "Completed":
            job.model_artifacts = None
        job.secondary_status = {"Completed": "Completed", "Failed": "Failed", "Stopped": "Stopped"}[status]
        job.training_job_status = status
        self.log.write(f"emulator: training job ended {status}" + (f": {reason}" if reason else ""))

    def _run_script(self) -> tuple[str, str | None]:
        job, cfg = self.job, self.state.config
        hps = {k: _decode(v) for k, v in (job.hyper_parameters or {}).items()}
        program = str(hps["sagemaker_program"])
        root = Path(tempfile.mkdtemp(prefix=f"uml-sm-{job.training_job_name}-"))
        try:
            code = root / "code"
            code.mkdir()
            submit = str(hps.get("sagemaker_submit_directory", ""))
            if submit.startswith("s3://"):
                with tarfile.open(fileobj=io.BytesIO(get_bytes(self.account, submit)), mode="r:gz") as tar:
                    tar.extractall(code, filter="data")
            channels: dict[str, str] = {}
            for channel in job.input_data_config or []:
                cname = channel["ChannelName"]
                uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
                cdir = root / "input" / "data" / cname
                cdir.mkdir(parents=True)
                bucket, prefix = split_s3(uri)
                for key in list_keys(self.account, uri):
                    rel = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
                    target = cdir / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(get_bytes(self.account, f"s3://{bucket}/{key}"))
                channels[cname] = str(cdir)
            model_dir, output_dir = root / "model", root / "output" / "data"
            model_dir.mkdir()
            output_dir.mkdir(parents=True)
            user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("SM_", "UML_", "AIP_", "AZURE_ML_"))
            }
            env.update(
                {
                    "PYTHONUNBUFFERED": "1",
                    # The container has no unifiedml installed: only the shipped archive is importable.
                    "PYTHONPATH": str(code),
                    "SM_MODEL_DIR": str(model_dir),
                    "SM_OUTPUT_DATA_DIR": str(output_dir),
                    "SM_HPS": json.dumps(user_hps),
                    "SM_CHANNELS": json.dumps(sorted(channels)),
                    "SM_CURRENT_HOST": "algo-1",
                    "SM_HOSTS": json.dumps(["algo-1"]),
                    "SM_NUM_CPUS": str(os.cpu_count() or 1),
                    "SM_NUM_GPUS": "0",
                    "SM_TRAINING_ENV": json.dumps(
                        {"job_name": job.training_job_name, "hyperparameters": user_hps}
                    ),
                    "TRAINING_JOB_NAME": job.training_job_name,
                }
            )
            for cname, path in channels.items():
                env[f"SM_CHANNEL_{cname.upper().replace('-', '_')}"] = path
            args: list[str] = []
            for key, value in user_hps.items():
                args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
            python = cfg.python or sys.executable
            self.proc = subprocess.Popen(
                [python, "-u", program, *args],
                cwd=code,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            max_runtime = float((job.stopping_condition or {}).get("MaxRuntimeInSeconds", 86400))
            timer = threading.Timer(max_runtime, self.stop)
            timer.daemon = True
            timer.start()
            tail: list[str] = []
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.write(line)
                tail = [*tail[-19:], line.rstrip()]
            code_rc = self.proc.wait()
            timer.cancel()
            if self.stop_requested.is_set():
                return "Stopped", None
            if code_rc != 0:
                return "Failed", f"AlgorithmError: the script exited with code {code_rc}: " + " | ".join(
                    tail[-3:]
                )
            put_bytes(self.account, job.model_artifacts["S3ModelArtifacts"], tar_directory(model_dir))
            out_uri = job.model_artifacts["S3ModelArtifacts"].rsplit("/", 1)[0] + "/output.tar.gz"
            put_bytes(self.account, out_uri, tar_directory(output_dir))
            metrics_file = output_dir / "metrics.json"
            if metrics_file.exists():
                metrics = json.loads(metrics_file.read_text())
                job.final_metric_data_list = [
                    {"MetricName": k, "Value": float(v), "Timestamp": _now()}
                    for k, v in metrics.items()
                    if isinstance(v, int | float)
                ]
            return "Completed", None
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _decode(value: str) -> Any:
    """Hyperparameters arrive JSON-encoded (as the SageMaker SDK sends them); plain strings pass through."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


class AutoMLWorker(_Worker):
    """Completes one moto AutoML V2 job after ``automl_delay`` with a deterministic leaderboard."""

    def __init__(self, state: EmulatorState, job: Any, account: str) -> None:
        super().__init__(state)
        self.job, self.account = job, account
        self.name = f"automl-{job.auto_ml_job_name}"
        self.candidates: list[dict[str, Any]] = []

    def run(self) -> None:
        job, cfg = self.job, self.state.config
        job.auto_ml_job_status = "InProgress"
        job.auto_ml_job_secondary_status = "Starting"
        self._sleep_until(time.monotonic() + cfg.automl_delay)
        if self.stop_requested.is_set():
            job.auto_ml_job_status, job.auto_ml_job_secondary_status = "Stopped", "Stopped"
            return
        self.candidates = self._leaderboard()
        job.best_candidate = self.candidates[0]
        job.end_time = job.last_modified_time = _now()
        job.auto_ml_job_secondary_status = "Completed"
        job.auto_ml_job_status = "Completed"

    def _leaderboard(self) -> list[dict[str, Any]]:
        job = self.job
        config = job.auto_ml_problem_type_config.get("TabularJobConfig", {})
        criteria = config.get("CompletionCriteria") or {}
        count = int(criteria.get("MaxCandidates") or 3)
        objective = (job.auto_ml_job_objective or {}).get("MetricName", "Accuracy")
        minimize = objective in ("MSE", "RMSE", "MAE", "MAPE", "MASE", "WAPE", "AverageWeightedQuantileLoss")
        output = job.output_data_config["S3OutputPath"].rstrip("/")
        now = _now()
        out = []
        for i in range(count):
            name = f"{job.auto_ml_job_name[:20]}-c{i + 1:03d}"
            seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            value = round((0.2 + seed) if minimize else (0.6 + 0.39 * seed), 4)
            model_uri = f"{output}/{job.auto_ml_job_name}/candidates/{name}/model.tar.gz"
            put_bytes(self.account, model_uri, placeholder_tar(f"placeholder AutoML candidate {name}\n"))
            out.append(
                {
                    "CandidateName": name,
                    "FinalAutoMLJobObjectiveMetric": {
                        "MetricName": objective,
                        "Value": value,
                        "Type": "Minimize" if minimize else "Maximize",
                    },
                    "ObjectiveStatus": "Succeeded",
                    "CandidateStatus": "Completed",
                    "CandidateSteps": [],
                    "InferenceContainers": [
                        {
                            # The emulator's stand-in for Autopilot's inference image: it runs nothing.
                            "Image": "emulator.local/autopilot-candidate:latest",
                            "ModelDataUrl": model_uri,
                            "Environment": {},
                        }
                    ],
                    "CreationTime": now,
                    "EndTime": now,
                    "LastModifiedTime": now,
                    "CandidateProperties": {
                        "CandidateMetrics": [
                            {
                                "MetricName": objective,
                                "Value": value,
                                "Set": "Validation",
                                "StandardMetricName": objective,
                            }
                        ]
                    },
                }
            )
        out.sort(key=lambda c: c["FinalAutoMLJobObjectiveMetric"]["Value"], reverse=not minimize)
        return out
