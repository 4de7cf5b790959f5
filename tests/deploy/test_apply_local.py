"""plan / apply / destroy / gc against the local backend, for real: TensorFlow endpoints, real processes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import PENGUINS
from unifiedml import Client, TrainingSpec
from unifiedml.cli.main import app
from unifiedml.deploy import DeploySession
from unifiedml.resources import Status

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def savedmodel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real SavedModel (the built-in tabular trainer on penguins), made once for the module."""
    home = tmp_path_factory.mktemp("model-home")
    job = Client("local", home=home).train(TrainingSpec.tabular(data=str(PENGUINS), target="species", epochs=2))
    job.wait(timeout=300, progress=False)
    return job.model.extra["path"]


def _write(tmp_path: Path, savedmodel: str, endpoints: dict[str, dict], project: str = "deploytest",
           monitors: dict[str, dict] | None = None) -> Path:
    lines = [f"project: {project}", "models:", "  clf:", f"    artifact: {savedmodel}", "endpoints:"]
    for name, extra in endpoints.items():
        lines.append(f"  {name}:")
        lines.append("    model: clf")
        for key, value in extra.items():
            lines.append(f"    {key}: {json.dumps(value)}")
    if not endpoints:
        lines[-1] = "endpoints: {}"
    if monitors:
        lines.append("monitors:")
        for name, extra in monitors.items():
            lines.append(f"  {name}:")
            for key, value in extra.items():
                lines.append(f"    {key}: {json.dumps(value)}")
    path = tmp_path / "unifiedml.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _server_processes(home: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = entry.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"unifiedml.providers.local.server" in argv and any(str(home).encode() in a for a in argv):
            pids.append(int(entry.parent.name))
    return pids


def test_plan_apply_reapply_drift_destroy(tmp_path: Path, savedmodel: str, home: Path) -> None:
    from unifiedml.monitoring import db

    watch = {"watch-a": {"endpoint": "web-a", "reference": str(PENGUINS), "schedule": "*/5 * * * *"}}
    cfg = _write(tmp_path, savedmodel, {"web-a": {}, "web-b": {"capture": False}}, monitors=watch)

    result = runner.invoke(app, ["plan", "-f", str(cfg), "-o", "json"])
    assert result.exit_code == 2, result.output  # changes pending
    plan = json.loads(result.stdout)
    assert [(i["kind"], i["name"], i["action"]) for i in plan["items"]] == [
        ("model", "clf", "create"), ("endpoint", "web-a", "create"), ("endpoint", "web-b", "create"),
        ("monitor", "watch-a", "create")]

    result = runner.invoke(app, ["apply", "-f", str(cfg), "--auto-approve", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["applied"]) == [
        "endpoint/web-a", "endpoint/web-b", "model/clf", "monitor/watch-a"]
    store = db.open_store(Client("local").state)
    schedule = db.get_schedule(store, "watch-a")
    assert schedule.cron == "*/5 * * * *"
    client = Client("local", project="deploytest")
    assert sorted(e.name for e in client.endpoints()) == ["web-a", "web-b"]
    assert all(e.status is Status.IN_SERVICE for e in client.endpoints())

    # applying the same file twice changes nothing the second time
    journal_before = len(client.state.journal(limit=1000))
    result = runner.invoke(app, ["plan", "-f", str(cfg), "-o", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["counts"]["noop"] == 4
    result = runner.invoke(app, ["apply", "-f", str(cfg), "--auto-approve"])
    assert result.exit_code == 0 and "nothing to do" in result.stdout
    assert len(client.state.journal(limit=1000)) == journal_before
    pids = {e.name: e.extra["pid"] for e in client.endpoints()}

    # drift: an endpoint deleted behind unifiedml's back is planned for creation
    client.delete_endpoint("web-b")
    session = DeploySession.from_file(cfg)
    items = {i.name: i for i in session.plan().items}
    assert items["web-b"].action == "create"
    assert "recorded, but not found live" in items["web-b"].reasons
    assert items["web-a"].action == "noop"

    # a changed definition updates in place (blue/green); the monitor removed from the file is deleted
    cfg = _write(tmp_path, savedmodel, {"web-a": {"capture": False}, "web-b": {"capture": False}})
    items = {i.name: i for i in DeploySession.from_file(cfg).plan().items}
    assert items["web-a"].action == "update"
    assert "capture.enabled" in items["web-a"].changes
    assert items["watch-a"].action == "delete"
    result = runner.invoke(app, ["apply", "-f", str(cfg), "-y"])
    assert result.exit_code == 0, result.output
    now = {e.name: e.extra["pid"] for e in client.endpoints()}
    assert now["web-a"] != pids["web-a"]
    assert [s.name for s in db.list_schedules(store)] == []

    # removing an endpoint from the file deletes it
    cfg = _write(tmp_path, savedmodel, {"web-a": {"capture": False}})
    plan = DeploySession.from_file(cfg).plan()
    assert [(i.name, i.action) for i in plan.items if i.action != "noop"] == [("web-b", "delete")]
    assert runner.invoke(app, ["apply", "-f", str(cfg), "-y"]).exit_code == 0
    assert [e.name for e in client.endpoints()] == ["web-a"]

    result = runner.invoke(app, ["destroy", "-f", str(cfg), "-y"])
    assert result.exit_code == 0, result.output
    assert client.endpoints() == []
    assert _server_processes(home) == []
    assert runner.invoke(app, ["destroy", "-f", str(cfg), "-y"]).exit_code == 0  # idempotent


def test_gc_finds_tagged_endpoints_the_state_does_not_know(tmp_path: Path, savedmodel: str, home: Path) -> None:
    cfg = _write(tmp_path, savedmodel, {}, project="gcproject")
    client = Client("local", project="gcproject")
    model = client.provider.import_model(savedmodel, name="stray-model")
    client.deploy(model, {"name": "stray", "capture": {"enabled": False}}).wait(timeout=120, progress=False)
    client.state.mark_deleted("local", "endpoint", "stray")  # as if its state were lost
    result = runner.invoke(app, ["gc", "-f", str(cfg), "-o", "json"])
    assert json.loads(result.stdout)["orphans"] == [
        {"provider": "local", "kind": "endpoint", "name": "stray", "status": "in_service"}]
    result = runner.invoke(app, ["gc", "-f", str(cfg), "--delete", "-o", "json"])
    assert result.exit_code == 0
    assert client.endpoints() == []


def test_apply_killed_at_random_points_converges(tmp_path: Path, savedmodel: str, home: Path) -> None:
    """20 applies killed at random moments; each time the next apply converges, with nothing doubled or orphaned."""
    cfg = _write(tmp_path, savedmodel, {"kill-a": {"capture": False}, "kill-b": {"capture": False}})
    rng = random.Random(20261124)
    env = {**os.environ, "UNIFIEDML_HOME": str(home)}
    client = Client("local", project="deploytest")
    trials = 20
    for trial in range(trials):
        proc = subprocess.Popen([sys.executable, "-m", "unifiedml.cli.main", "apply", "-f", str(cfg), "-y"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.05, 4.0))
        os.killpg(proc.pid, signal.SIGKILL)  # the whole CLI process group, like a lost terminal
        proc.wait()
        if trial % 2 == 1:
            # every other trial also tears one endpoint down so there is work to interrupt again
            done = subprocess.run([sys.executable, "-m", "unifiedml.cli.main", "apply", "-f", str(cfg), "-y"],
                                  env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            names = sorted(e.name for e in client.endpoints())
            assert names == ["kill-a", "kill-b"], f"trial {trial}: {names}"
            states = {e.name: (e.status.value, e.extra.get("failure_reason")) for e in client.endpoints()}
            assert all(s == "in_service" for s, _ in states.values()), f"trial {trial}: {states}"
            assert len(_server_processes(home)) == 2, f"trial {trial}: orphaned or missing server processes"
            client.delete_endpoint(rng.choice(["kill-a", "kill-b"]))
    done = subprocess.run([sys.executable, "-m", "unifiedml.cli.main", "apply", "-f", str(cfg), "-y"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(e.name for e in client.endpoints()) == ["kill-a", "kill-b"]
    assert len(_server_processes(home)) == 2
    plan = DeploySession.from_file(cfg).plan()
    assert not plan.has_changes
    assert client.state.pending_intents() == []
    destroyed = subprocess.run([sys.executable, "-m", "unifiedml.cli.main", "destroy", "-f", str(cfg), "-y"],
                               env=env, capture_output=True, text=True, timeout=300)
    assert destroyed.returncode == 0, destroyed.stderr
    assert _server_processes(home) == []
