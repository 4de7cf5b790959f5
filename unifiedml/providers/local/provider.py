"""The local backend: trains and serves TensorFlow models on this machine, no cloud account.

* ``train`` starts a detached supervisor (:mod:`.runner`) that runs the user's
  script with every platform's contract variables set, so a script written for
  SageMaker script mode, Vertex AI or Azure ML runs here unchanged.
* ``automl`` is a training job of :mod:`unifiedml.trainers.search` (a stated
  grid over the built-in tabular trainer), its leaderboard read from the job's
  output folder.
* ``deploy`` starts a detached endpoint process (:mod:`.server`) serving the
  SavedModel with the TensorFlow Serving REST API and the SageMaker container
  routes, micro-batching requests and capturing traffic for drift checks.

Both outlive the process that started them; their state lives in files under
``<home>/local`` (see :mod:`.layout`) and in the state store. Importing this
module does not import TensorFlow: only the job and the server do.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import http.client
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from unifiedml._ops import Backoff, retrying
from unifiedml.errors import (
    AlreadyExists,
    AuthenticationError,
    ConfigError,
    NotFound,
    OperationFailed,
    ProviderError,
)
from unifiedml.providers.base import Capability, Provider, ProviderSettings
from unifiedml.providers.local.layout import Layout, find_savedmodel, read_json, write_json_atomic
from unifiedml.resources import AutoMLJob, Candidate, Endpoint, Model, Prediction, Status, TrainingJob
from unifiedml.specs import AutoMLSpec, DeploymentSpec, Resources, TrainingSpec, validate_spec
from unifiedml.state import config_hash

logger = logging.getLogger(__name__)
#: ``provider_options["local"]`` keys a deployment accepts (anything else is a typo, reported as one).
SERVER_OPTIONS = ("max_body_bytes", "tf_threads")


def _check_server_options(spec: DeploymentSpec) -> None:
    for key, value in spec.options_for("local").items():
        if key not in SERVER_OPTIONS:
            close = difflib.get_close_matches(key, SERVER_OPTIONS, n=1)
            raise ConfigError(f"unknown local deployment option {key!r}", field=f"provider_options.local.{key}",
                              hint=(f"did you mean {close[0]!r}? " if close else "")
                              + f"local options: {', '.join(SERVER_OPTIONS)}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{key} must be a non-negative integer, not {value!r}",
                              field=f"provider_options.local.{key}")


def _refuse_other_project(data: dict[str, Any], kind: str, name: str, project: str) -> None:
    """Folders are named after the job or endpoint alone: one of another project in this home is not ours."""
    owner = data.get("project", project)
    if owner != project and not data.get("deleted"):
        raise AlreadyExists(f"a {kind} named {name!r} belongs to project {owner!r} in this home",
                            provider="local",
                            hint=f"use another name, or another home (--home) for project {project!r}")


def _keep_current_settings(spec: DeploymentSpec, data: dict[str, Any]) -> DeploymentSpec:
    """``spec`` with every field the caller left unset taken from the endpoint's current settings.

    An update switches the model; replicas, batching, capture and options stay
    as they are unless the new spec sets them (``traffic`` is per update, and
    the token is never stored: it comes from the spec or this process).
    """
    current = dict(data.get("spec") or {})
    for key in ("name", "traffic", "auth_token"):
        current.pop(key, None)
    given = spec.model_dump(exclude_unset=True)
    if not current or set(current) <= set(given):
        return spec
    merged = validate_spec(DeploymentSpec, {**current, **given})
    return merged.model_copy(update={"auth_token": spec.auth_token})


#: How long a stopped endpoint process may drain before SIGKILL: the server's default drain timeout
#: (``ServerConfig.drain_timeout_s``, 30 s) plus a margin, so in-flight requests and capture lines survive.
STOP_GRACE_S = 35.0

__all__ = ["LocalProvider", "LocalSettings"]

#: Cores each portable size gets locally (capped at what the machine has).
_SIZE_CORES = {"cpu-small": 1, "cpu-medium": 2, "cpu-large": 4}

_JOB_STATUS = {
    "pending": Status.PENDING,
    "running": Status.RUNNING,
    "succeeded": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "stopped": Status.STOPPED,
}


class LocalSettings(ProviderSettings):
    """Settings of the local backend.

    ``auth_token`` is the bearer token to send to endpoints that require one
    (default: ``$UNIFIEDML_LOCAL_TOKEN``); it is never written anywhere.
    """

    python: str = Field(default_factory=lambda: sys.executable)
    max_cores: int | None = Field(None, ge=1)
    ready_timeout: float = Field(120.0, gt=0)
    auth_token: SecretStr | None = Field(
        default_factory=lambda: SecretStr(os.environ["UNIFIEDML_LOCAL_TOKEN"])
        if os.environ.get("UNIFIEDML_LOCAL_TOKEN")
        else None
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _gpu_count() -> int:
    """GPUs this process may use: those nvidia-smi lists, limited by ``CUDA_VISIBLE_DEVICES``; 0 without a driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and not visible.strip():
        return 0
    exe = shutil.which("nvidia-smi")
    if not exe:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    listed = sum(1 for line in out.splitlines() if line.startswith("GPU "))
    return min(listed, _visible_device_count(visible)) if visible is not None else listed


def _visible_device_count(visible: str) -> int:
    """Devices a ``CUDA_VISIBLE_DEVICES`` value names (CUDA stops at the first invalid entry, e.g. -1)."""
    count = 0
    for entry in visible.split(","):
        entry = entry.strip()
        if not entry or entry.startswith("-"):
            break
        count += 1
    return count


def _all_cores() -> int:
    """The cores this process may run on (what an unpinned server may use)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


#: The training module an AutoML job runs (a job of this module is an AutoML job).
SEARCH_MODULE = "unifiedml.trainers.search"


class LocalProvider(Provider):
    """Trains and serves on this machine with TensorFlow. See the module docstring."""

    name = "local"
    Settings = LocalSettings
    capabilities = frozenset(
        {
            Capability.TRAIN,
            Capability.AUTOML,
            Capability.DEPLOY,
            Capability.PREDICT,
            Capability.TRAINING_LOGS,
            Capability.STOP_TRAINING,
            Capability.GPU,
            Capability.CAPTURE,
            Capability.UPDATE_ENDPOINT,
        }
    )
    UNSUPPORTED: ClassVar[dict[Capability, str]] = {
        Capability.SPOT: "spot capacity is a cloud pricing option; local jobs run on this machine",
        Capability.NATIVE_MONITOR: "there is no platform monitor on-prem; `unifiedml drift check` reads the "
        "local endpoint's capture log instead",
        Capability.BILLED_COST: "on-prem has no bill; cost is estimated from configured core-hour and "
        "GPU-hour rates",
        Capability.AUTOSCALING: "a local endpoint runs a fixed number of server processes (min_replicas); nothing "
        "adds or removes them under load: set max_replicas equal to min_replicas (or leave it out) for local",
        Capability.TRAFFIC_SPLIT: "a local endpoint serves one model; update_endpoint switches it blue/green "
        "(for a canary, run the new model on a second local endpoint, or use Vertex AI)",
    }
    poll_backoff = Backoff(initial=0.2, factor=1.5, cap=2.0)

    settings: LocalSettings

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layout = Layout(self.state.home)
        # Tokens of endpoints deployed by this process, so predict() can call them.
        self._tokens: dict[str, str] = {}

    # -- training ----------------------------------------------------------
    def _train(self, spec: TrainingSpec, *, name: str, tags: dict[str, str]) -> TrainingJob:
        job_dir = self.layout.job_dir(name)
        previous = read_json(job_dir / "job.json")
        if previous is not None:
            _refuse_other_project(previous, "job", name, self.project)
            existing = self._job_from_file(previous)
            if not previous.get("deleted") and existing.status not in (Status.FAILED, Status.STOPPED):
                # A retried create with the same name: the job exists (running or done), return it.
                return existing
            # A failed, stopped or deleted job of that name: start over in a clean folder, unless a model
            # registered from it still points inside (deleting a job keeps its model; this must too).
            self._refuse_if_models_use(job_dir, name)
            shutil.rmtree(job_dir)
        elif job_dir.exists():
            # Left by a create interrupted before job.json was written.
            shutil.rmtree(job_dir)
        source_dir = Path(spec.source_dir).expanduser().resolve() if spec.source_dir else None
        if spec.entry_point:
            script = Path(spec.entry_point).expanduser()
            if not script.is_absolute():
                script = (source_dir or Path.cwd()) / script
            if not script.is_file():
                raise ConfigError(
                    f"the entry point {str(script)!r} does not exist",
                    field="entry_point",
                    hint="give a path to a Python script (relative to source_dir when set)",
                )
            script = script.resolve()
            cwd = source_dir or script.parent
            command = [self.settings.python, "-u", str(script)]
        else:
            cwd = source_dir or Path.cwd()
            command = [self.settings.python, "-u", "-m", str(spec.module)]
        if source_dir is not None and not source_dir.is_dir():
            raise ConfigError(f"{str(source_dir)!r} is not a directory", field="source_dir")
        requirements: list[str] | str | None = spec.requirements
        if isinstance(requirements, str):
            req_path = Path(requirements).expanduser()
            if not req_path.is_absolute():
                req_path = cwd / req_path
            if not req_path.is_file():
                raise ConfigError(f"the requirements file {str(req_path)!r} does not exist", field="requirements")
            requirements = str(req_path.resolve())

        model_dir, output_dir = job_dir / "model", job_dir / "output"
        channels: dict[str, Path] = {}
        for channel, ref in spec.inputs.items():
            if not ref.is_local:
                raise ConfigError(
                    f"the local backend reads local files only, not {ref.uri!r}",
                    field=f"inputs.{channel}",
                    hint="download the data first, or train on the cloud provider that holds it",
                )
            path = ref.local_path().resolve()
            if not path.exists():
                raise ConfigError(f"{str(path)!r} does not exist", field=f"inputs.{channel}")
            channels[channel] = path
        for d in (model_dir, output_dir):
            d.mkdir(parents=True, exist_ok=True)
        channel_dirs: dict[str, str] = {}
        for channel, path in channels.items():
            # Channels are directories on every platform; a single file gets one of its own.
            if path.is_dir():
                channel_dirs[channel] = str(path)
            else:
                cdir = job_dir / "input" / "data" / channel
                cdir.mkdir(parents=True, exist_ok=True)
                (cdir / path.name).symlink_to(path)
                channel_dirs[channel] = str(cdir)

        cpus = self._cpus_for(spec.resources)
        gpus = _gpu_count() if (spec.resources.wants_gpu or spec.resources.size is None) else 0
        notices = []
        if spec.resources.wants_gpu and gpus == 0:
            # Not an error (a laptop run of a GPU job is common), but never silent.
            wanted = f"size {spec.resources.size}" if spec.resources.size else "the requested accelerator"
            notices.append(f"{wanted} needs a GPU, but none is visible here (nvidia-smi, CUDA_VISIBLE_DEVICES): "
                           "the job runs on the CPU")
            logger.warning("job %s: %s", name, notices[-1])
        env = self._contract_env(name, spec, model_dir, output_dir, channel_dirs, cpus, gpus)
        args = [*spec.args]
        for key, value in spec.hyperparameters.items():
            args += [f"--{key}", json.dumps(value) if not isinstance(value, str) else value]
        command += args

        write_json_atomic(
            job_dir / "job.json",
            {
                "name": name,
                "project": self.project,
                "status": "pending",
                "created_at": _now().isoformat(),
                "tags": tags,
                "entry_point": spec.entry_point,
                "module": spec.module,
                "hyperparameters": spec.hyperparameters,
                "inputs": {k: str(v) for k, v in channels.items()},
                "env_keys": sorted(env),
                "model_dir": str(model_dir),
                "output_dir": str(output_dir),
                "cpus": cpus,
            },
        )
        launch = job_dir / "launch.json"
        fd = os.open(launch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(
                {
                    "home": str(self.state.home),
                    "command": command,
                    "cwd": str(cwd),
                    "env": env,
                    "requirements": requirements,
                    "cpus": cpus,
                    "gpus": gpus,
                    "notices": notices,
                    "max_runtime_s": spec.max_runtime.total_seconds(),
                    "model_dir": str(model_dir),
                },
                fh,
            )
        with open(job_dir / "supervisor.log", "a") as sup_log:
            proc = subprocess.Popen(
                [self.settings.python, "-m", "unifiedml.providers.local.runner", str(job_dir)],
                stdin=subprocess.DEVNULL,
                stdout=sup_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(job_dir),
            )
        data = read_json(job_dir / "job.json") or {}
        data["runner_pid"] = proc.pid
        if data.get("status") == "pending":
            write_json_atomic(job_dir / "job.json", data)
        logger.info("started local training job %s (supervisor pid %d)", name, proc.pid)
        return self._get_training_job(name)

    def _cpus_for(self, resources: Resources) -> list[int] | None:
        """The cores a job or endpoint of this size is pinned to (None: unpinned, every core)."""
        available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        if available is None:
            return None
        if self.settings.max_cores:
            available = available[: self.settings.max_cores]
        want = _SIZE_CORES.get(resources.size or "")
        if want is None:
            return available
        # The least-used cores first (ties: lowest number), so two small jobs do not share core 0.
        used = self._cores_in_use()
        ranked = sorted(available, key=lambda core: (used.get(core, 0), core))
        return sorted(ranked[: min(want, len(ranked))])

    def _endpoint_cpus(self, resources: Resources) -> list[int] | None:
        """The cores a sized endpoint's servers are pinned to, like a job of that size; None without a size
        (the servers may use every core, as before sizes applied to endpoints)."""
        return self._cpus_for(resources) if resources.size in _SIZE_CORES else None

    def _cores_in_use(self) -> dict[int, int]:
        """How many pending or running jobs and live sized endpoints (any project in this home) use each core."""
        counts: dict[int, int] = {}
        root = self.layout.jobs_root()
        for path in root.glob("*/job.json") if root.exists() else []:
            data = read_json(path) or {}
            if data.get("status") in ("pending", "running") and not data.get("deleted"):
                for core in data.get("cpus") or []:
                    counts[core] = counts.get(core, 0) + 1
        for path in self.layout.endpoints_root().glob("*/endpoint.json"):
            data = read_json(path) or {}
            if any(_pid_alive(w.get("pid")) for w in data.get("workers") or []):
                for core in data.get("cpus") or []:
                    counts[core] = counts.get(core, 0) + 1
        return counts

    def _contract_env(
        self,
        name: str,
        spec: TrainingSpec,
        model_dir: Path,
        output_dir: Path,
        channels: dict[str, str],
        cpus: list[int] | None,
        gpus: int,
    ) -> dict[str, str]:
        """The environment of the script: every platform's contract variables, so any of them holds."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UML_", "SM_", "AIP_", "AZURE_ML_"))}
        hps = json.dumps(spec.hyperparameters)
        ncpu = str(len(cpus) if cpus else os.cpu_count() or 1)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                # unifiedml's own
                "UML_JOB_NAME": name,
                "UML_MODEL_DIR": str(model_dir),
                "UML_OUTPUT_DIR": str(output_dir),
                "UML_HYPERPARAMETERS": hps,
                "UML_NUM_CPUS": ncpu,
                "UML_NUM_GPUS": str(gpus),
                # SageMaker script mode
                "SM_MODEL_DIR": str(model_dir),
                "SM_OUTPUT_DATA_DIR": str(output_dir),
                "SM_HPS": hps,
                "SM_CHANNELS": json.dumps(sorted(channels)),
                "SM_NUM_CPUS": ncpu,
                "SM_NUM_GPUS": str(gpus),
                "SM_CURRENT_HOST": "algo-1",
                "SM_HOSTS": json.dumps(["algo-1"]),
                "SM_TRAINING_ENV": json.dumps({"job_name": name, "hyperparameters": spec.hyperparameters}),
                # Vertex AI custom training
                "AIP_MODEL_DIR": str(model_dir),
                "AIP_CHECKPOINT_DIR": str(output_dir / "checkpoints"),
                "AIP_TENSORBOARD_LOG_DIR": str(output_dir / "tensorboard"),
                "CLOUD_ML_JOB_ID": name,
                # Azure ML command job bindings
                "AZURE_ML_OUTPUT_model_dir": str(model_dir),
                "AZURE_ML_OUTPUT_output_dir": str(output_dir),
            }
        )
        for channel, path in channels.items():
            upper = channel.upper().replace("-", "_")
            env[f"UML_CHANNEL_{upper}"] = path
            env[f"SM_CHANNEL_{upper}"] = path
            env[f"AZURE_ML_INPUT_{channel}"] = path
        vertex = {
            "train": "AIP_TRAINING_DATA_URI",
            "validation": "AIP_VALIDATION_DATA_URI",
            "test": "AIP_TEST_DATA_URI",
        }
        for channel, var in vertex.items():
            if channel in channels:
                env[var] = channels[channel]
        if (spec.resources.size or "").startswith("cpu-"):
            env["CUDA_VISIBLE_DEVICES"] = ""
        if cpus:
            for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
                env.setdefault(var, ncpu)
        env.update(spec.environment)
        return env

    def _job_from_file(self, data: dict[str, Any]) -> TrainingJob:
        status = _JOB_STATUS.get(data.get("status", ""), Status.UNKNOWN)
        reason = data.get("failure_reason")
        if status in (Status.PENDING, Status.RUNNING) and not _pid_alive(data.get("runner_pid")):
            # The supervisor died without recording an end (killed, machine rebooted).
            status, reason = Status.FAILED, "the job's supervisor process exited without recording a result"
        model = None
        if data.get("model"):
            model = self._model_from_info(data["model"])
        return TrainingJob(
            provider=self.name,
            name=data["name"],
            id=data["name"],
            status=status,
            created_at=_ts(data.get("created_at")),
            started_at=_ts(data.get("started_at")),
            ended_at=_ts(data.get("ended_at")),
            model=model,
            metrics=data.get("metrics") or {},
            failure_reason=reason,
            resources_used=data.get("resources_used") or {},
            tags=data.get("tags") or {},
            extra={
                "job_dir": str(self.layout.job_dir(data["name"])),
                "exit_code": data.get("exit_code"),
                "hyperparameters": data.get("hyperparameters"),
                "entry_point": data.get("entry_point") or data.get("module"),
            },
            _client=self,
        )

    # -- automl ------------------------------------------------------------
    def _automl(self, spec: AutoMLSpec, *, name: str, tags: dict[str, str]) -> AutoMLJob:
        """A search over the tabular trainer (:mod:`unifiedml.trainers.search`) as a detached local job.

        The budget bounds when candidates start (the first always runs); the
        job's hard limit is the budget plus the larger of the budget and 15
        minutes, as the last candidate may run past it. Returns at once.
        """
        from unifiedml.trainers.search import OBJECTIVES

        objective = None
        if spec.objective:
            objective = spec.objective.lower().replace("-", "_")
            if objective not in OBJECTIVES[spec.task]:
                raise ConfigError(f"{spec.objective!r} is not a local {spec.task} objective", field="objective",
                                  hint="one of " + ", ".join(sorted(OBJECTIVES[spec.task])))
        if not spec.data.is_local:
            raise ConfigError(f"the local backend reads local files only, not {spec.data.uri!r}", field="data")
        budget = spec.time_budget.total_seconds()
        hps: dict[str, Any] = {"target": spec.target, "task": spec.task, "time_budget_s": budget}
        if objective:
            hps["objective"] = objective
        if spec.max_candidates:
            hps["max_candidates"] = spec.max_candidates
        hps.update(spec.options_for(self.name))  # epochs, batch_size, validation_split, seed
        training = TrainingSpec(name=name, module=SEARCH_MODULE, inputs={"train": spec.data}, hyperparameters=hps,
                                resources=spec.resources, max_runtime=timedelta(seconds=budget + max(budget, 900.0)))
        self._train(training, name=name, tags=tags)
        return self._get_automl_job(name)

    def _get_automl_job(self, name: str) -> AutoMLJob:
        data = read_json(self.layout.job_dir(name) / "job.json")
        if data is None or data.get("module") != SEARCH_MODULE:
            raise NotFound(f"no local AutoML job named {name!r}", provider=self.name,
                           hint="list jobs with `unifiedml jobs list`")
        job = self._job_from_file(data)
        output_dir = data.get("output_dir")
        board = (read_json(Path(output_dir) / "leaderboard.json") if output_dir else None) or {}
        objective = str(board.get("objective") or "")
        leaderboard = [
            Candidate(name=c["name"], objective_metric=objective, objective_value=c.get("objective_value"),
                      metrics=dict(c.get("metrics") or {}), extra={"hyperparameters": c.get("hyperparameters"),
                                                                    "seconds": c.get("seconds")})
            for c in board.get("candidates") or []
        ]
        fields = {f.name: getattr(job, f.name) for f in dataclasses.fields(job)
                  if f.init and f.name not in ("kind",)}
        return AutoMLJob(**fields, leaderboard=leaderboard)

    def _get_training_job(self, name: str) -> TrainingJob:
        data = read_json(self.layout.job_dir(name) / "job.json")
        if data is None:
            raise NotFound(f"no local training job named {name!r}", provider=self.name,
                           hint="list jobs with `unifiedml jobs list`")
        return self._job_from_file(data)

    def _list_training_jobs(self) -> list[TrainingJob]:
        root = self.layout.jobs_root()
        jobs = []
        for path in root.glob("*/job.json") if root.exists() else []:
            data = read_json(path)
            if data and data.get("project", self.project) == self.project and not data.get("deleted"):
                jobs.append(self._job_from_file(data))
        return sorted(jobs, key=lambda j: j.created_at or _now(), reverse=True)

    def _training_logs(self, name: str, *, follow: bool) -> Iterator[str]:
        job_dir = self.layout.job_dir(name)
        if not (job_dir / "job.json").exists():
            raise NotFound(f"no local training job named {name!r}", provider=self.name)
        return self._tail(job_dir / "logs.txt", follow=follow, name=name)

    def _tail(self, path: Path, *, follow: bool, name: str) -> Iterator[str]:
        position = 0
        buffer = ""
        while True:
            if path.exists():
                with path.open("r", errors="replace") as fh:
                    fh.seek(position)
                    chunk = fh.read()
                    position = fh.tell()
                buffer += chunk
                *lines, buffer = buffer.split("\n")
                yield from lines
            if not follow:
                if buffer:
                    yield buffer
                return
            if self._get_training_job(name).done:
                follow = False  # one more read to drain what was written last
                continue
            time.sleep(0.2)

    def _stop_training_job(self, name: str) -> None:
        data = read_json(self.layout.job_dir(name) / "job.json")
        if data is None:
            raise NotFound(f"no local training job named {name!r}", provider=self.name)
        pid = data.get("runner_pid")
        if data.get("status") in ("pending", "running") and _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)

    def _delete_training_job(self, name: str) -> None:
        job_file = self.layout.job_dir(name) / "job.json"
        data = read_json(job_file)
        if data is None:
            return
        self._stop_training_job(name)
        data["deleted"] = True
        write_json_atomic(job_file, data)

    # -- models ------------------------------------------------------------
    def _model_from_info(self, info: dict[str, Any]) -> Model:
        return Model(
            provider=self.name,
            name=info["name"],
            id=info.get("path", info["name"]),
            artifact_uri=info["artifact_uri"],
            framework=info.get("framework", "tensorflow"),
            source_job=info.get("source_job"),
            signature=info.get("schema"),
            created_at=_ts(info.get("created_at")),
            tags=info.get("tags") or {},
            extra={"path": info.get("path")},
            _client=self,
        )

    def _get_model(self, name: str) -> Model:
        info = read_json(self.layout.model_file(name))
        if info is None:
            raise NotFound(
                f"no local model named {name!r}",
                provider=self.name,
                hint="models come from successful training jobs, or `unifiedml models import PATH`",
            )
        return self._model_from_info(info)

    def list_models(self) -> list[Model]:
        """Deployable models known to the local backend, newest first."""
        root = self.layout.models_root()
        models = [self._model_from_info(info) for p in sorted(root.glob("*.json")) if (info := read_json(p))]
        return sorted(models, key=lambda m: m.created_at or _now(), reverse=True)

    def _import_model(self, artifact: str, *, name: str, tags: dict[str, str]) -> Model:
        path = Path(urlsplit(artifact).path if artifact.startswith("file://") else artifact).expanduser()
        found = find_savedmodel(path)
        if found is None:
            raise ConfigError(
                f"no SavedModel (saved_model.pb) in {str(path)!r} or its numbered subdirectories",
                field="artifact",
            )
        existing = read_json(self.layout.model_file(name))
        if existing:
            if existing.get("path") != str(found.resolve()):
                raise AlreadyExists(f"a model named {name!r} already points to {existing.get('path')}",
                                    provider=self.name)
            return self._model_from_info(existing)
        meta = read_json(found / "unifiedml.json") or {}
        info = {
            "name": name,
            "artifact_uri": found.resolve().as_uri(),
            "path": str(found.resolve()),
            "framework": "tensorflow",
            "source_job": None,
            "created_at": _now().isoformat(),
            "tags": tags,
            "schema": meta.get("schema"),
        }
        write_json_atomic(self.layout.model_file(name), info)
        return self._model_from_info(info)

    def _refuse_if_models_use(self, job_dir: Path, job: str) -> None:
        root = self.layout.models_root()
        inside = str(job_dir.resolve()) + os.sep
        for path in sorted(root.glob("*.json")) if root.exists() else []:
            info = read_json(path) or {}
            if str(info.get("path", "")).startswith(inside):
                raise AlreadyExists(
                    f"model {path.stem!r} was registered from the earlier job {job!r} and its files live in "
                    "that job's folder, which a new job of this name would replace",
                    provider=self.name,
                    hint=f"delete the model first (`unifiedml models delete {path.stem}`), or use another job name",
                )

    def _delete_model(self, name: str) -> None:
        self.layout.model_file(name).unlink(missing_ok=True)

    # -- endpoints ---------------------------------------------------------
    def _deploy(self, model: Model, spec: DeploymentSpec, *, name: str, tags: dict[str, str]) -> Endpoint:
        _check_server_options(spec)
        ep_dir = self.layout.endpoint_dir(name)
        ep_file = ep_dir / "endpoint.json"
        spec_hash = config_hash(spec.model_dump(mode="json", exclude={"auth_token", "name"}))
        existing = read_json(ep_file)
        if existing is not None and not existing.get("deleted"):
            _refuse_other_project(existing, "endpoint", name, self.project)
            current = self._endpoint_from_file(existing)
            if current.status not in (Status.FAILED, Status.DELETED):
                if existing.get("model") == model.name and existing.get("spec_hash") == spec_hash:
                    return current
                raise AlreadyExists(
                    f"endpoint {name!r} already serves model {existing.get('model')!r}",
                    provider=self.name,
                    hint="update it with `update_endpoint`, or delete it first",
                )
        # Stop whatever an earlier (failed or interrupted) create of this name left running.
        self._stop_process({"name": name, **(existing or {})})
        model_path = self._model_path(model)
        for stale in ep_dir.glob("*.json") if ep_dir.exists() else []:
            stale.unlink(missing_ok=True)
        ep_dir.mkdir(parents=True, exist_ok=True)
        token = spec.auth_token.get_secret_value() if spec.auth_token else None
        replicas = max(1, spec.min_replicas)
        port = spec.port or _free_port(spec.host)
        if spec.port:
            self._check_port_free_of_endpoints(spec.port, name)
        cpus = self._endpoint_cpus(spec.resources)
        cores = len(cpus) if cpus else _all_cores()
        gpus = _gpu_count()
        base = {
            "name": name,
            "project": self.project,
            "model": model.name,
            "model_dir": model_path,
            "host": spec.host,
            "port": port,
            "replicas": replicas,
            "generation": 1,
            "created_at": _now().isoformat(),
            "tags": tags,
            "spec_hash": spec_hash,
            # the effective settings, so an update that leaves a field unset keeps it (never the token)
            "spec": spec.model_dump(mode="json", exclude={"auth_token"}),
            "auth": bool(token),
            "capture": spec.capture.enabled,
            "cores": cores,
            "cpus": cpus or [],
            "gpus": gpus,
            "workers": [],
        }
        # Record the endpoint before starting processes, so a crash in between leaves a file
        # that names them (and _server_pids finds any started before their pid was written).
        write_json_atomic(ep_file, base)
        workers = self._start_workers(name, model.name, model_path, spec, port=port, generation=1,
                                      replicas=replicas, token=token, cpus=cpus)
        base["workers"] = workers
        write_json_atomic(ep_file, base)
        if token:
            self._tokens[name] = token
        self.state.add_event(
            provider=self.name,
            kind="endpoint",
            name=name,
            event="endpoint_up",
            attrs={"cores": cores, "gpus": gpus, "instance_type": None, "replicas": replicas, "model": model.name},
        )
        return self._endpoint_from_file(base)

    def _model_path(self, model: Model) -> str:
        model_path = model.extra.get("path") or urlsplit(model.artifact_uri).path
        found = find_savedmodel(Path(model_path))
        if found is None:
            raise ConfigError(f"model {model.name!r} has no SavedModel at {model_path}", field="model")
        return str(found)

    def _check_port_free_of_endpoints(self, port: int, name: str) -> None:
        # SO_REUSEPORT would let two of our endpoints share a port silently: refuse that here.
        for other in self._list_endpoints():
            if other.name != name and other.extra.get("port") == port:
                raise ConfigError(f"port {port} is already used by endpoint {other.name!r}", field="port")

    def _start_workers(
        self,
        name: str,
        model_name: str,
        model_path: str,
        spec: DeploymentSpec,
        *,
        port: int,
        generation: int,
        replicas: int,
        token: str | None,
        aliases: tuple[str, ...] = (),
        cpus: list[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Start ``replicas`` server processes sharing ``port`` (pinned to ``cpus`` when given); returns their
        records. Does not wait."""
        ep_dir = self.layout.endpoint_dir(name)
        options = spec.options_for("local")
        workers = []
        for index in range(replicas):
            tag = f"g{generation}-w{index}"
            server_cfg = {
                "name": name,
                "model_name": model_name,
                "model_dir": model_path,
                "host": spec.host,
                "port": port,
                "token_sha256": hashlib.sha256(token.encode()).hexdigest() if token else None,
                "capture_dir": str(self.layout.capture_dir(name)) if spec.capture.enabled else None,
                "capture_sample_percent": spec.capture.sample_percent,
                "capture_suffix": "" if index == 0 else f"-w{index}",
                "max_batch_size": spec.max_batch_size,
                "batch_timeout_ms": spec.batch_timeout_ms,
                "max_body_bytes": int(options.get("max_body_bytes", 10 * 1024 * 1024)),
                "tf_threads": int(options.get("tf_threads", 1)),
                "reuse_port": True,
                "owner": str(ep_dir.resolve()),  # only this endpoint's processes may share the port
                # The endpoint's name is a stable address across model updates.
                "aliases": sorted({name, *aliases} - {model_name}),
                "ready_file": str(ep_dir / f"ready-{tag}.json"),
                "cpus": cpus or [],
            }
            config_path = ep_dir / f"server-{tag}.json"
            write_json_atomic(config_path, server_cfg)
            with open(ep_dir / "server.log", "a") as log:
                proc = subprocess.Popen(
                    [self.settings.python, "-m", "unifiedml.providers.local.server", "--config", str(config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=str(ep_dir),
                )
            workers.append({"pid": proc.pid, "ready_file": server_cfg["ready_file"], "config": str(config_path)})
        return workers

    def _workers_status(self, workers: list[dict[str, Any]]) -> tuple[Status, str | None, str | None]:
        """(status, url, failure reason) of a set of server processes."""
        if not workers:
            return Status.CREATING, None, None
        url = None
        starting = False
        for worker in workers:
            ready = read_json(Path(worker["ready_file"]))
            if ready and ready.get("error"):
                return Status.FAILED, None, ready["error"]
            if not _pid_alive(worker.get("pid")):
                return Status.FAILED, None, "an endpoint process is not running"
            if ready:
                url = ready.get("url")
            else:
                starting = True
        return (Status.CREATING, None, None) if starting else (Status.IN_SERVICE, url, None)

    def _endpoint_from_file(self, data: dict[str, Any]) -> Endpoint:
        name = data["name"]
        ep_dir = self.layout.endpoint_dir(name)
        if data.get("deleted"):
            status, url, reason = Status.DELETED, None, None
        elif data.get("updating_to"):
            status, url, reason = Status.UPDATING, None, None
            old_status, url, _ = self._workers_status(data.get("workers", []))
            if old_status is not Status.IN_SERVICE:
                status = old_status
        else:
            status, url, reason = self._workers_status(data.get("workers", []))
            if not data.get("workers"):
                created = _ts(data.get("created_at"))
                # A create interrupted before its processes were recorded.
                if created and (_now() - created).total_seconds() > 30:
                    status, reason = Status.FAILED, "the endpoint's processes were never recorded"
        logs_tail = None
        if status is Status.FAILED:
            self._record_down(data)
            logs_tail = _file_tail(ep_dir / "server.log")
        workers = data.get("workers", [])
        return Endpoint(
            provider=self.name,
            name=name,
            id=name,
            status=status,
            url=url,
            model=data.get("model"),
            created_at=_ts(data.get("created_at")),
            tags=data.get("tags") or {},
            resources={"cores": data.get("cores"), "gpus": data.get("gpus"), "replicas": data.get("replicas", 1)},
            extra={
                "pid": workers[0]["pid"] if workers else None,
                "pids": [w["pid"] for w in workers],
                "port": data.get("port"),
                "generation": data.get("generation", 1),
                "capture_dir": str(self.layout.capture_dir(name)) if data.get("capture") else None,
                "auth": data.get("auth", False),
                "failure_reason": reason,
                "logs_tail": logs_tail,
                "log_file": str(ep_dir / "server.log"),
            },
            _client=self,
        )

    def _update_endpoint(self, name: str, model: Model, spec: DeploymentSpec) -> Endpoint:
        """Blue/green: start the new model's processes on the same port, wait until they serve,
        then drain and stop the old ones; if the new model fails to start, the old one keeps
        serving and OperationFailed is raised. Requests keep being answered throughout, except
        that a connection the kernel had queued on an old process when it closes its listener is
        reset (SO_REUSEPORT keeps one accept queue per process); ``predict`` retries that.
        Settings the spec leaves unset keep their current values (see ``_keep_current_settings``).
        """
        _check_server_options(spec)
        ep_file = self.layout.endpoint_dir(name) / "endpoint.json"
        data = read_json(ep_file)
        if data is None or data.get("deleted"):
            raise NotFound(f"no local endpoint named {name!r}", provider=self.name)
        current = self._endpoint_from_file(data)
        if current.status is not Status.IN_SERVICE:
            raise OperationFailed(
                f"endpoint {name!r} is {current.status.value}; only an endpoint in service can be updated",
                provider=self.name,
                hint="delete and deploy it again",
            )
        spec = _keep_current_settings(spec, data)
        model_path = self._model_path(model)
        generation = int(data.get("generation", 1)) + 1
        replicas = max(1, spec.min_replicas)
        token = spec.auth_token.get_secret_value() if spec.auth_token else self._tokens.get(name)
        if data.get("auth") and not token:
            raise ConfigError("this endpoint requires a token: pass the same auth_token to keep it",
                              field="auth_token")
        spec = spec.model_copy(update={"host": data.get("host", spec.host)})
        same_size = spec.resources.size == ((data.get("spec") or {}).get("resources") or {}).get("size")
        cpus = list(data.get("cpus") or []) if same_size else self._endpoint_cpus(spec.resources)
        data["updating_to"] = model.name
        write_json_atomic(ep_file, data)
        new_workers = self._start_workers(name, model.name, model_path, spec, port=int(data["port"]),
                                          generation=generation, replicas=replicas, token=token,
                                          aliases=(str(data.get("model")),), cpus=cpus)
        deadline = time.monotonic() + self.settings.ready_timeout
        status, _, reason = self._workers_status(new_workers)
        while status is Status.CREATING and time.monotonic() < deadline:
            time.sleep(0.1)
            status, _, reason = self._workers_status(new_workers)
        if status is not Status.IN_SERVICE:
            self._stop_pids({w["pid"] for w in new_workers})
            data.pop("updating_to", None)
            write_json_atomic(ep_file, data)
            raise OperationFailed(
                f"the new model {model.name!r} did not start ({reason or 'timed out'}); "
                f"endpoint {name!r} keeps serving {data.get('model')!r}",
                provider=self.name,
                logs_tail=_file_tail(self.layout.endpoint_dir(name) / "server.log"),
            )
        old_pids = {w["pid"] for w in data.get("workers", [])}
        before = {"cores": data.get("cores"), "gpus": data.get("gpus"), "replicas": data.get("replicas", 1)}
        data.update(
            model=model.name,
            model_dir=model_path,
            workers=new_workers,
            generation=generation,
            replicas=replicas,
            cpus=cpus or [],
            cores=len(cpus) if cpus else _all_cores(),
            spec_hash=config_hash(spec.model_dump(mode="json", exclude={"auth_token", "name"})),
            spec=spec.model_dump(mode="json", exclude={"auth_token"}),
        )
        data.pop("updating_to", None)
        write_json_atomic(ep_file, data)
        after = {"cores": data.get("cores"), "gpus": data.get("gpus"), "replicas": data.get("replicas", 1)}
        if after != before:  # cost counts resources over time: close the old interval, open the new one
            self.state.add_event(provider=self.name, kind="endpoint", name=name, event="endpoint_down",
                                 attrs={**before, "reason": "update"})
            self.state.add_event(provider=self.name, kind="endpoint", name=name, event="endpoint_up",
                                 attrs={**after, "instance_type": None, "model": model.name})
        self._stop_pids(old_pids)  # graceful: they finish in-flight requests first
        if token:
            self._tokens[name] = token
        return self._endpoint_from_file(data)

    def _record_down(self, data: dict[str, Any]) -> None:
        """Record ``endpoint_down`` once per start (cost needs the uptime interval)."""
        ep_file = self.layout.endpoint_dir(data["name"]) / "endpoint.json"
        current = read_json(ep_file)
        if current is None or current.get("down_recorded"):
            return
        current["down_recorded"] = True
        write_json_atomic(ep_file, current)
        self.state.add_event(provider=self.name, kind="endpoint", name=data["name"], event="endpoint_down",
                             attrs={"cores": data.get("cores"), "gpus": data.get("gpus"),
                                    "replicas": data.get("replicas", 1)})

    def _get_endpoint(self, name: str) -> Endpoint:
        data = read_json(self.layout.endpoint_dir(name) / "endpoint.json")
        if data is None or data.get("deleted"):
            raise NotFound(f"no local endpoint named {name!r}", provider=self.name,
                           hint="list endpoints with `unifiedml endpoints list`")
        return self._endpoint_from_file(data)

    def _list_endpoints(self) -> list[Endpoint]:
        root = self.layout.endpoints_root()
        out = []
        for path in sorted(root.glob("*/endpoint.json")) if root.exists() else []:
            data = read_json(path)
            if data and not data.get("deleted") and data.get("project", self.project) == self.project:
                out.append(self._endpoint_from_file(data))
        return out

    def _server_pids(self, name: str) -> set[int]:
        """Server processes started for endpoint ``name``, found by their command line.

        A create interrupted between starting a server and recording its pid
        leaves a process nothing points to; scanning finds it so it is stopped,
        not orphaned.
        """
        prefix = str(self.layout.endpoint_dir(name)) + os.sep
        pids: set[int] = set()
        for entry in Path("/proc").glob("[0-9]*/cmdline") if Path("/proc").is_dir() else []:
            try:
                argv = entry.read_bytes().split(b"\0")
            except OSError:
                continue
            if b"unifiedml.providers.local.server" in argv and any(
                a.startswith(prefix.encode()) and a.endswith(b".json") for a in argv
            ):
                pids.add(int(entry.parent.name))
        return {p for p in pids if _pid_alive(p)}

    def _stop_pids(self, pids: set[int], timeout: float = STOP_GRACE_S) -> None:
        pids = {p for p in pids if _pid_alive(p)}
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
            time.sleep(0.05)
        for pid in pids:
            if _pid_alive(pid):
                logger.warning("endpoint process %d did not stop in %.0fs; killing it", pid, timeout)
                os.kill(pid, signal.SIGKILL)

    def _stop_process(self, data: dict[str, Any], timeout: float = STOP_GRACE_S) -> None:
        pids = self._server_pids(data["name"]) | {w["pid"] for w in data.get("workers", [])}
        self._stop_pids(pids, timeout)

    def _delete_endpoint(self, name: str) -> None:
        ep_dir = self.layout.endpoint_dir(name)
        data = read_json(ep_dir / "endpoint.json")
        if data is None or data.get("deleted"):
            self._stop_process({"name": name})  # a create interrupted before endpoint.json was written
            return
        self._stop_process(data)
        self._record_down(data)
        # Keep the capture log: drift checks read it after the endpoint is gone.
        for entry in ep_dir.iterdir():
            if entry.name == "capture":
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        self._tokens.pop(name, None)

    def wait_ready(self, name: str, timeout: float | None = None) -> Endpoint:
        """Block until the endpoint answers (or failed); see :meth:`Endpoint.wait`."""
        return self._get_endpoint(name).wait(timeout=timeout or self.settings.ready_timeout, progress=False)

    # -- prediction --------------------------------------------------------
    def _predict(self, name: str, instances: list[Any] | dict[str, list[Any]]) -> Prediction:
        endpoint = self._get_endpoint(name)
        if endpoint.status is not Status.IN_SERVICE or not endpoint.url:
            raise ProviderError(
                f"endpoint {name!r} is {endpoint.status.value}, not in service",
                provider=self.name,
                retryable=endpoint.status is Status.CREATING,
                hint="wait for it with `endpoint.wait()`",
            )
        body_key = "inputs" if isinstance(instances, dict) else "instances"
        body = json.dumps({body_key: instances}).encode()
        token = self._tokens.get(name) or (
            self.settings.auth_token.get_secret_value() if self.settings.auth_token else None
        )
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        parts = urlsplit(endpoint.url)
        path = f"/v1/models/{name}:predict"  # the endpoint's name: stable across blue/green updates

        def call() -> tuple[int, bytes, float]:
            start = time.perf_counter()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
            except (ConnectionError, OSError) as exc:
                raise ProviderError(f"endpoint {name!r} is not reachable: {exc}", provider=self.name,
                                    retryable=True) from exc
            finally:
                conn.close()
            if resp.status in (502, 503, 504):
                raise ProviderError(f"endpoint {name!r} answered HTTP {resp.status}", provider=self.name,
                                    status_code=resp.status, retryable=True)
            return resp.status, payload, (time.perf_counter() - start) * 1000

        status, payload, latency = retrying(call, attempts=4, max_delay=15, what=f"predict on {name}")
        try:
            answer = json.loads(payload)
        except ValueError as exc:
            raise ProviderError(f"endpoint {name!r} answered non-JSON (HTTP {status})", provider=self.name,
                                status_code=status) from exc
        if status == 200:
            preds = answer.get("predictions", answer.get("outputs"))
            return Prediction(predictions=preds, model=endpoint.model, latency_ms=round(latency, 3),
                              extra={"endpoint": name})
        message = answer.get("error", f"HTTP {status}") if isinstance(answer, dict) else f"HTTP {status}"
        if status == 400:
            raise ConfigError(message, field="instances", provider=self.name)
        if status == 401:
            raise AuthenticationError(message, provider=self.name,
                                      hint="pass the endpoint's token: set UNIFIEDML_LOCAL_TOKEN")
        if status == 404:
            raise NotFound(message, provider=self.name)
        if status == 413:
            raise ConfigError(message, field="instances", provider=self.name,
                              hint="send fewer rows per request")
        raise ProviderError(message, provider=self.name, status_code=status)


def _free_port(host: str) -> int:
    """A port free right now on ``host`` (the server binds it moments later; a race loses with a clear error)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _file_tail(path: Path, lines: int = 20) -> str | None:
    try:
        with path.open("r", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:]).rstrip() or None
    except FileNotFoundError:
        return None
