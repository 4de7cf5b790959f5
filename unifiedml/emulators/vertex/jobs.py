"""Running a CustomJob in the emulator: the job's Python package, really, with Vertex AI's variables.

With ``run_training`` on, the worker downloads the first worker pool's package
(``pythonPackageSpec.packageUris``) from the emulated GCS, unpacks it and runs
``python -m <pythonModule> <args>`` with the pool's ``env`` plus the variables
the Vertex AI training service sets (``AIP_MODEL_DIR``,
``AIP_CHECKPOINT_DIR``, ``AIP_TENSORBOARD_LOG_DIR``, ``CLOUD_ML_JOB_ID``).
The one difference from the cloud: ``AIP_MODEL_DIR`` is a local folder (the
local TensorFlow cannot write to the emulated bucket), whose files are then
uploaded to ``<baseOutputDirectory>/model/``, where Vertex AI would have them.
Values starting ``/gcs/<bucket>/`` (the Cloud Storage FUSE mount of the
training containers) are downloaded and replaced by local paths.

With ``run_training`` off, a placeholder ``saved_model.pb`` is written instead.
Stdout and stderr lines become the job's log entries (served by ``entries:list``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from unifiedml.emulators.vertex.handlers import FAILED, RUNNING, SUCCEEDED, _now, _ts
from unifiedml.emulators.vertex.state import EmulatorState

logger = logging.getLogger(__name__)

__all__ = ["JobRunner"]


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("gs://").partition("/")
    return bucket, key


class JobRunner:
    """Starts one worker thread per CustomJob (idempotent per job name)."""

    def __init__(self, state: EmulatorState, storage: Any) -> None:
        self.state = state
        self.storage = storage

    def __call__(self, name: str) -> None:
        with self.state.lock:
            if name in self.state.workers:
                return
            worker = threading.Thread(target=self._run, args=(name,), daemon=True, name=f"vertex-job-{name}")
            self.state.workers[name] = worker
        worker.start()

    # -- the job -------------------------------------------------------------
    def _run(self, name: str) -> None:
        with self.state.lock:
            job = dict(self.state.resources.get(name) or {})
        if not job:
            return
        spec = job.get("jobSpec") or {}
        base = ((spec.get("baseOutputDirectory") or {}).get("outputUriPrefix") or "").rstrip("/")
        pool = (spec.get("workerPoolSpecs") or [{}])[0]
        package = pool.get("pythonPackageSpec") or {}
        error: str | None = None
        try:
            if not base:
                raise RuntimeError("jobSpec.baseOutputDirectory is required to write a model")
            if self.state.config.run_training and package:
                code = self._run_package(name, package, base)
                if code != 0:
                    error = f"The replica workerpool0-0 exited with a non-zero status of {code}."
            else:
                self._write_placeholder(f"{base}/model")
                self.state.log(name, "placeholder model written (run_training is off)")
        except Exception as exc:  # the job fails; the emulator keeps serving
            logger.exception("emulated job %s failed", name)
            error = f"{type(exc).__name__}: {exc}"
        ready_at = _ts(job["createTime"]) + self.state.config.job_delay
        while time.time() < ready_at:
            time.sleep(0.02)
        with self.state.lock:
            current = self.state.resources.get(name)
            if current is None or current.get("state") not in (RUNNING,):
                return  # cancelled or deleted meanwhile
            if error:
                current.update(state=FAILED, endTime=_now(), updateTime=_now(),
                               error={"code": 13, "message": error})
                self.state.log(name, error)
            else:
                current.update(state=SUCCEEDED, endTime=_now(), updateTime=_now())
                self.state.log(name, f"Job {name} completed successfully.")

    def _run_package(self, name: str, package: dict[str, Any], base: str) -> int:
        with tempfile.TemporaryDirectory(prefix="vertex-job-") as tmp:
            root = Path(tmp)
            src = root / "src"
            src.mkdir()
            for uri in package.get("packageUris") or []:
                archive = root / Path(uri).name
                bucket, key = _split(uri)
                self.storage.bucket(bucket).blob(key).download_to_filename(str(archive))
                with tarfile.open(archive) as tar:
                    tar.extractall(src, filter="data")
            tops = [p for p in src.iterdir() if p.is_dir()]
            workdir = tops[0] if len(tops) == 1 else src
            model_dir, checkpoints, tensorboard = root / "model", root / "checkpoints", root / "logs"
            for d in (model_dir, checkpoints, tensorboard):
                d.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "UML_", "SM_", "AZURE_ML_"))}
            for item in package.get("env") or []:
                env[item["name"]] = self._localize(item.get("value", ""), root)
            env.update(
                {
                    "AIP_MODEL_DIR": str(model_dir),
                    "AIP_CHECKPOINT_DIR": str(checkpoints),
                    "AIP_TENSORBOARD_LOG_DIR": str(tensorboard),
                    "CLOUD_ML_JOB_ID": name.rsplit("/", 1)[-1],
                    "PYTHONPATH": os.pathsep.join([str(workdir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                    "PYTHONUNBUFFERED": "1",
                }
            )
            args = [self._localize(a, root) for a in package.get("args") or []]
            python = self.state.config.python or sys.executable
            command = [python, "-m", package["pythonModule"], *args]
            self.state.log(name, "running " + " ".join(command[2:]))
            proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                self.state.log(name, line.rstrip("\n"))
            code = proc.wait()
            if code == 0:
                self._upload_tree(model_dir, f"{base}/model")
            return code

    def _localize(self, value: str, root: Path) -> str:
        """``/gcs/<bucket>/<path>`` (the FUSE mount) -> a local copy of those objects."""
        if not value.startswith("/gcs/"):
            return value
        bucket, _, key = value.removeprefix("/gcs/").partition("/")
        local = root / "gcs" / bucket / key
        blobs = list(self.storage.list_blobs(bucket, prefix=key))
        for blob in blobs:
            if blob.name.endswith("/"):
                continue
            target = root / "gcs" / bucket / blob.name
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target))
        if not blobs:
            local.mkdir(parents=True, exist_ok=True)
        return str(local)

    def _upload_tree(self, folder: Path, uri: str) -> None:
        bucket_name, prefix = _split(uri)
        bucket = self.storage.bucket(bucket_name)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            bucket.blob(f"{prefix.rstrip('/')}/{path.relative_to(folder)}").upload_from_filename(str(path))

    def _write_placeholder(self, uri: str) -> None:
        bucket_name, prefix = _split(uri)
        bucket = self.storage.bucket(bucket_name)
        bucket.blob(f"{prefix.rstrip('/')}/saved_model.pb").upload_from_string(b"placeholder")
