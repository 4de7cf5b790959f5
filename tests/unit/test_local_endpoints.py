"""Local endpoints: replicas sharing a port, and blue/green updates that never drop a request."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import PENGUINS
from unifiedml import Client, TrainingSpec
from unifiedml.errors import ConfigError, OperationFailed
from unifiedml.resources import Status

pytestmark = pytest.mark.slow

ROW = {"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181.0, "body_mass_g": 3750.0,
       "year": 2007.0, "island": "Torgersen", "sex": "male"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two real SavedModels (tabular trainer, different seeds)."""
    home = tmp_path_factory.mktemp("models")
    client = Client("local", home=home)
    paths = []
    for seed in (1, 2):
        spec = TrainingSpec.tabular(data=str(PENGUINS), target="species", epochs=1)
        spec.hyperparameters = {**spec.hyperparameters, "seed": seed}
        job = client.train(spec)
        job.wait(timeout=300, progress=False)
        paths.append(job.model.extra["path"])
    return paths


def _post(url: str, model: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", f"/v1/models/{model}:predict", body=json.dumps({"instances": [ROW]}),
                     headers={"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


def _get(url: str, path: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_replicas_share_one_port_and_keep_separate_capture_files(models: list[str]) -> None:
    client = Client("local")
    model = client.provider.import_model(models[0], name="m-one")
    ep = client.deploy(model, {"name": "two-replicas", "min_replicas": 2}).wait(timeout=120, progress=False)
    try:
        assert len(set(ep.extra["pids"])) == 2
        assert ep.resources["replicas"] == 2
        for _ in range(60):  # a new connection each time: the kernel spreads them over both processes
            assert _post(ep.url, "m-one") == 200
        capture = Path(ep.extra["capture_dir"])
        ep.delete()  # flushes capture on graceful stop
        names = sorted(p.name for p in capture.glob("capture-*.jsonl"))
        assert any(n.endswith("-w1.jsonl") for n in names) and any(not n.endswith("-w1.jsonl") for n in names)
        lines = sum(len(p.read_text().splitlines()) for p in capture.glob("capture-*.jsonl"))
        assert lines == 60
    finally:
        client.delete_endpoint("two-replicas")


def test_blue_green_update_drops_no_request(models: list[str]) -> None:
    client = Client("local")
    old = client.provider.import_model(models[0], name="m-old")
    new = client.provider.import_model(models[1], name="m-new")
    ep = client.deploy(old, {"name": "bluegreen", "capture": {"enabled": False}}).wait(timeout=120, progress=False)
    url, old_pid = ep.url, ep.extra["pid"]
    statuses: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    resets: list[BaseException] = []

    def once_retried(model: str) -> int:
        # A connection queued on the old process at the instant it closes its listener is reset
        # by the kernel (SO_REUSEPORT keeps one accept queue per process); the SDK retries such a
        # connection error (up to 4 attempts within 15 s); this client retries it once. Anything else
        # is a dropped request.
        try:
            return _post(url, model)
        except ConnectionResetError as exc:
            resets.append(exc)
            return _post(url, model)

    def traffic() -> None:
        while not stop.is_set():
            try:
                # Clients addressing the old model, the endpoint, or the new model: none may fail mid-switch.
                statuses.extend([once_retried("m-old"), once_retried("bluegreen")])
            except BaseException as exc:  # refused, or reset twice: a dropped request
                errors.append(exc)

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        updated = client.update_endpoint("bluegreen", new, {"name": "bluegreen", "capture": {"enabled": False}})
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    try:
        assert errors == []
        assert statuses and set(statuses) == {200}
        assert len(resets) <= 4  # at most the connections queued on the old process at the switch
        assert updated.status is Status.IN_SERVICE
        assert updated.model == "m-new" and updated.url == url
        assert updated.extra["pid"] != old_pid and updated.extra["generation"] == 2
        assert _get(url, "/v1/models/m-new") == 200
        assert _get(url, "/v1/models/bluegreen") == 200
        assert _get(url, "/v1/models/m-old") == 200  # the replaced name keeps answering for its clients
        assert _get(url, "/v1/models/m-other") == 404
        assert client.predict("bluegreen", [ROW]).model == "m-new"
    finally:
        client.delete_endpoint("bluegreen")


def test_a_failed_update_keeps_the_old_model_serving(models: list[str], tmp_path: Path) -> None:
    client = Client("local")
    good = client.provider.import_model(models[0], name="m-good")
    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()
    (broken_dir / "saved_model.pb").write_bytes(b"not a savedmodel")
    broken = client.provider.import_model(str(broken_dir), name="m-broken")
    ep = client.deploy(good, {"name": "keeps-serving", "capture": {"enabled": False}}).wait(timeout=120,
                                                                                          progress=False)
    try:
        with pytest.raises(OperationFailed) as info:
            client.update_endpoint("keeps-serving", broken, {"name": "keeps-serving"})
        assert "keeps serving 'm-good'" in str(info.value)
        after = client.get_endpoint("keeps-serving")
        assert after.status is Status.IN_SERVICE and after.model == "m-good"
        assert _post(ep.url, "m-good") == 200
    finally:
        client.delete_endpoint("keeps-serving")


def test_two_endpoints_cannot_share_an_explicit_port(models: list[str]) -> None:
    client = Client("local")
    model = client.provider.import_model(models[0], name="m-port")
    first = client.deploy(model, {"name": "port-a", "capture": {"enabled": False}}).wait(timeout=120, progress=False)
    try:
        with pytest.raises(ConfigError) as info:
            client.deploy(model, {"name": "port-b", "port": first.extra["port"]})
        assert info.value.field == "port"
    finally:
        client.delete_endpoint("port-a")
        client.delete_endpoint("port-b")


def test_a_sized_endpoint_is_pinned_to_its_cores_and_costed_for_them(models: list[str]) -> None:
    import os

    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to tell a pinned server from an unpinned one")
    client = Client("local")
    model = client.provider.import_model(models[0], name="m-sized")
    ep = client.deploy(model, {"name": "sized", "resources": {"size": "cpu-small"}}).wait(timeout=120,
                                                                                        progress=False)
    try:
        assert ep.resources["cores"] == 1
        (pid,) = ep.extra["pids"]
        cores = os.sched_getaffinity(pid)
        assert len(cores) == 1
        assert _post(ep.url, "m-sized") == 200
        up = [e for e in client.state.events(kind="endpoint", name="sized") if e.event == "endpoint_up"]
        assert up[-1].attrs["cores"] == 1
        # an update that keeps the size keeps the cores
        other = client.provider.import_model(models[1], name="m-sized-2")
        updated = client.update_endpoint("sized", other)
        (new_pid,) = updated.extra["pids"]
        assert os.sched_getaffinity(new_pid) == cores
        assert updated.resources["cores"] == 1
        # a new size moves it, and cost sees the change as one interval ending and another starting
        bigger = client.update_endpoint("sized", model, {"name": "sized", "resources": {"size": "cpu-medium"}})
        assert bigger.resources["cores"] == 2
        events = [(e.event, e.attrs.get("cores")) for e in client.state.events(kind="endpoint", name="sized")]
        assert events[-2:] == [("endpoint_down", 1), ("endpoint_up", 2)]
    finally:
        client.delete_endpoint("sized")
    unsized = client.deploy(model, {"name": "unsized"}).wait(timeout=120, progress=False)
    try:
        assert unsized.resources["cores"] == len(os.sched_getaffinity(0))
    finally:
        client.delete_endpoint("unsized")

