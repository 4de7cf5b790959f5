"""Where the local backend keeps things under the unifiedml home, and small file helpers.

    <home>/local/jobs/<job>/job.json       status, spec summary, pinned cores, resources used
    <home>/local/jobs/<job>/launch.json    private launch data (mode 0600), deleted once the supervisor read it
    <home>/local/jobs/<job>/logs.txt       the script's stdout and stderr, and [unifiedml] lines
    <home>/local/jobs/<job>/supervisor.log the supervisor's own output
    <home>/local/jobs/<job>/model/         what the script wrote to model_dir()
    <home>/local/jobs/<job>/output/        what it wrote to output_dir()
    <home>/local/jobs/<job>/input/data/<channel>/   links to the channel's files
    <home>/local/models/<model>.json       a deployable model: where its SavedModel is
    <home>/local/endpoints/<ep>/endpoint.json   model, host, port, replicas, generation, pids, settings
    <home>/local/endpoints/<ep>/server-g<G>-w<I>.json   one server process's config (token as SHA-256)
    <home>/local/endpoints/<ep>/ready-g<G>-w<I>.json    {pid, port, url, started_at} or {error}
    <home>/local/endpoints/<ep>/server.log every server process's log
    <home>/local/endpoints/<ep>/capture/   request/response capture log (kept after delete)
    <home>/local/envs/<hash>/              pip --target installs of job requirements, reused
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Layout", "find_savedmodel", "read_json", "write_json_atomic"]


class Layout:
    """Paths of the local backend under ``home``. Creates nothing until asked."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "local"

    def job_dir(self, name: str) -> Path:
        return self.root / "jobs" / name

    def jobs_root(self) -> Path:
        return self.root / "jobs"

    def model_file(self, name: str) -> Path:
        return self.root / "models" / f"{name}.json"

    def models_root(self) -> Path:
        return self.root / "models"

    def endpoint_dir(self, name: str) -> Path:
        return self.root / "endpoints" / name

    def endpoints_root(self) -> Path:
        return self.root / "endpoints"

    def capture_dir(self, endpoint: str) -> Path:
        return self.endpoint_dir(endpoint) / "capture"

    def env_dir(self, requirements_hash: str) -> Path:
        return self.root / "envs" / requirements_hash


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so readers never see a half-written file (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file does not exist."""
    try:
        with path.open() as fh:
            data: dict[str, Any] = json.load(fh)
            return data
    except FileNotFoundError:
        return None


def find_savedmodel(model_dir: Path) -> Path | None:
    """The SavedModel directory inside ``model_dir``: the dir itself, or its highest numbered version
    subdirectory (TF Serving's ``model/1/`` convention, which SageMaker's TF containers use). None if absent.
    """
    if (model_dir / "saved_model.pb").exists():
        return model_dir
    versions = sorted(
        (p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").exists()),
        key=lambda p: int(p.name),
    ) if model_dir.is_dir() else []
    return versions[-1] if versions else None
