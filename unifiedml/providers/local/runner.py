"""The local job supervisor: runs one training job to the end, detached from the caller.

``LocalProvider.train`` writes ``job.json`` and a private ``launch.json`` (the
full environment, which may hold user secrets; it is deleted as soon as it is
read) and starts ``python -m unifiedml.providers.local.runner JOB_DIR`` in its
own session, so the job outlives the CLI that started it. The supervisor:

1. marks the job running and records a ``job_start`` event;
2. installs the job's requirements into a cached ``pip --target`` directory;
3. runs the entry point with every platform's contract variables, its output
   going to ``logs.txt`` line by line;
4. enforces ``max_runtime`` and stops the job on SIGTERM (``stop()``);
5. measures CPU seconds and peak memory of the job (``getrusage``);
6. registers the SavedModel the script wrote as a deployable model, marks the
   job ended and records ``job_end`` with the resources used.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unifiedml.providers.local.layout import Layout, find_savedmodel, read_json, write_json_atomic
from unifiedml.state import ResourceRecord, StateStore

_stop_requested = False


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _on_term(signum: int, frame: Any) -> None:
    global _stop_requested
    _stop_requested = True


def _update(job_file: Path, **fields: Any) -> dict[str, Any]:
    job = read_json(job_file) or {}
    job.update(fields)
    write_json_atomic(job_file, job)
    return job


def _log(log_path: Path, line: str) -> None:
    with log_path.open("a") as fh:
        fh.write(f"[unifiedml] {line}\n")


def _requirements_text(path: Path, seen: frozenset[Path] = frozenset()) -> str:
    """A requirements file's text with every file it includes (``-r``/``-c``) appended: the cache key.

    A change in an included file must give a new environment, not the cached one.
    """
    path = path.resolve()
    if path in seen or not path.is_file():
        return ""
    text = path.read_text()
    parts = [text]
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        for flag, value in itertools.pairwise(words):
            if flag in ("-r", "--requirement", "-c", "--constraint"):
                parts.append(_requirements_text(path.parent / value, seen | {path}))
        for word in words:
            for flag in ("--requirement=", "--constraint="):
                if word.startswith(flag):
                    parts.append(_requirements_text(path.parent / word[len(flag):], seen | {path}))
    return "\n".join(parts)


def _install_requirements(requirements: list[str] | str, layout: Layout, log_path: Path) -> str:
    """pip-install into a directory keyed by the requirements' hash; reused by later jobs. Returns the dir."""
    if isinstance(requirements, str):
        text = _requirements_text(Path(requirements))
        args = ["-r", requirements]
    else:
        text = "\n".join(requirements)
        args = list(requirements)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    target = layout.env_dir(digest)
    if (target / ".complete").exists():
        _log(log_path, f"requirements already installed in {target}")
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two jobs with the same requirements may start together: one installs, the other waits and reuses it
    # (two pip processes writing one --target folder would leave it half from each).
    with open(target.parent / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            _log(log_path, f"requirements installed by a concurrent job in {target}")
            return str(target)
        _log(log_path, f"installing requirements into {target}")
        if target.exists():  # left by an install that failed or was killed
            shutil.rmtree(target)
        target.mkdir(parents=True)
        with log_path.open("a") as log:
            rc = subprocess.call(
                [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--target", str(target),
                 *args],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if rc != 0:
            raise RuntimeError(f"installing requirements failed (pip exit code {rc})")
        (target / ".complete").touch()
    return str(target)


def run(job_dir: Path) -> int:
    """Run the job in ``job_dir`` to completion. Returns the supervisor's exit code (0 unless it crashed)."""
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    job_file = job_dir / "job.json"
    launch_file = job_dir / "launch.json"
    log_path = job_dir / "logs.txt"
    launch = json.loads(launch_file.read_text())
    launch_file.unlink()
    job = read_json(job_file) or {}
    home = Path(launch["home"])
    layout = Layout(home)
    state = StateStore(home / "state.db")
    name = job["name"]

    started = time.monotonic()
    job = _update(job_file, status="running", started_at=_now(), runner_pid=os.getpid())
    state.add_event(
        provider="local",
        kind="training_job",
        name=name,
        event="job_start",
        attrs={"cores": len(launch.get("cpus") or []) or os.cpu_count(), "gpus": launch.get("gpus", 0)},
    )

    for notice in launch.get("notices", []):
        _log(log_path, notice)
    status, reason, exit_code = "failed", None, None
    env = dict(launch["env"])
    before_script = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        if launch.get("requirements"):
            target = _install_requirements(launch["requirements"], layout, log_path)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (target, env.get("PYTHONPATH", "")) if p)
            before_script = resource.getrusage(resource.RUSAGE_CHILDREN)  # pip's time is not the job's
        with log_path.open("a") as log:
            child = subprocess.Popen(
                launch["command"],
                cwd=launch["cwd"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if launch.get("cpus") and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(child.pid, launch["cpus"])
            except OSError as exc:
                _log(log_path, f"could not pin the job to cores {launch['cpus']}: {exc}")
        deadline = started + float(launch["max_runtime_s"])
        while True:
            try:
                exit_code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            if _stop_requested or time.monotonic() > deadline:
                timed_out = not _stop_requested
                child.terminate()
                try:
                    exit_code = child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    exit_code = child.wait()
                if timed_out:
                    status, reason = "failed", f"exceeded max_runtime of {launch['max_runtime_s']:.0f}s"
                else:
                    status, reason = "stopped", "stopped on request"
                break
        if exit_code == 0 and reason is None:
            status = "succeeded"
        elif reason is None:
            reason = f"the training script exited with code {exit_code}"
    except Exception as exc:  # the supervisor must always record an end state
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        _log(log_path, reason)

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime + usage.ru_stime) - (before_script.ru_utime + before_script.ru_stime)
    used = {
        "wall_seconds": round(time.monotonic() - started, 3),
        "cpu_seconds": round(cpu, 3),  # the script's, not pip's
        # the peak of the job's processes; when pip ran and peaked higher, this is pip's (an upper bound)
        "max_rss_bytes": int(usage.ru_maxrss) * 1024,  # Linux reports KiB
        "cores": len(launch.get("cpus") or []) or os.cpu_count(),
        "gpus": launch.get("gpus", 0),
    }
    model_info = None
    if status == "succeeded":
        model_path = find_savedmodel(Path(launch["model_dir"]))
        if model_path is not None:
            model_info = _register_model(layout, state, job, model_path)
        else:
            _log(log_path, "the job wrote no SavedModel to model_dir(); no deployable model was registered")
    metrics = read_json(job_dir / "output" / "metrics.json") or {}
    _update(
        job_file,
        status=status,
        ended_at=_now(),
        exit_code=exit_code,
        failure_reason=reason,
        resources_used=used,
        model=model_info,
        metrics={k: v for k, v in metrics.items() if isinstance(v, int | float)},
    )
    state.add_event(
        provider="local",
        kind="training_job",
        name=name,
        event="job_end",
        attrs={"status": status, **used},
    )
    return 0


def _register_model(layout: Layout, state: StateStore, job: dict[str, Any], model_path: Path) -> dict[str, Any]:
    name = job["name"]
    meta = read_json(model_path / "unifiedml.json") or {}
    info = {
        "name": name,
        "artifact_uri": model_path.resolve().as_uri(),
        "path": str(model_path.resolve()),
        "framework": "tensorflow",
        "source_job": name,
        "created_at": _now(),
        "tags": job.get("tags", {}),
        "schema": meta.get("schema"),
    }
    write_json_atomic(layout.model_file(name), info)
    state.record_resource(
        ResourceRecord(
            provider="local",
            kind="model",
            name=name,
            native_id=str(model_path.resolve()),
            project=job.get("project", "default"),
            tags=job.get("tags", {}),
            extra={"source_job": name},
        )
    )
    return info


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
