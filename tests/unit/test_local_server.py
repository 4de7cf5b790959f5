"""The local endpoint server over real HTTP on 127.0.0.1, with real Keras 3 SavedModels.

One in-process server (capture on) answers most tests; the process contract
(ready file, SIGTERM, exit codes) is checked on ``python -m ... --config``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.models import (
    CATEGORICAL,
    FEATURES,
    SINGLE_INPUT,
    build_single_input_model,
    build_tabular_model,
    direct_predict,
    synthetic_rows,
)
from unifiedml.providers.local.server import BackgroundServer, ServerConfig

pytestmark = pytest.mark.slow

MODEL = "penguins"
PREDICT = f"/v1/models/{MODEL}:predict"
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")


def call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One HTTP request on a fresh connection; returns (status, decoded JSON body, headers)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        payload = resp.read()
        return (
            resp.status,
            json.loads(payload) if payload else None,
            {k.lower(): v for k, v in resp.getheaders()},
        )
    finally:
        conn.close()


@pytest.fixture(scope="session")
def tabular_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tabular_model(tmp_path_factory.mktemp("models") / "tabular")


@pytest.fixture(scope="session")
def single_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_single_input_model(tmp_path_factory.mktemp("models") / "single")


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capture")


@pytest.fixture(scope="module")
def server(tabular_model: Path, capture_dir: Path) -> Any:
    config = ServerConfig(
        name="ep",
        model_name=MODEL,
        model_dir=str(tabular_model),
        capture_dir=str(capture_dir),
        batch_timeout_ms=50.0,
        max_body_bytes=200_000,
    )
    with BackgroundServer(config) as srv:
        yield srv


def capture_line(capture_dir: Path, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The capture record of ``request_id`` (the writer flushes every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in capture_dir.glob("capture-*.jsonl"):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record["request_id"] == request_id:
                    record["_file"] = path.name
                    return record
        time.sleep(0.05)
    raise AssertionError(f"no capture line for request {request_id}")


# -- routes ------------------------------------------------------------------
def test_status_route_answers_like_tf_serving(server: BackgroundServer) -> None:
    status, body, _ = call(server.url, "GET", f"/v1/models/{MODEL}")
    assert status == 200
    assert body == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def test_metadata_route_describes_each_input_with_dtype_and_shape(server: BackgroundServer) -> None:
    status, body, _ = call(server.url, "GET", f"/v1/models/{MODEL}/metadata")
    assert status == 200
    assert body["model_spec"]["name"] == MODEL
    sig = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(sig["inputs"]) == set(FEATURES)
    assert sig["inputs"][CATEGORICAL]["dtype"] == "DT_STRING"
    assert sig["inputs"]["bill_length_mm"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in sig["inputs"]["bill_length_mm"]["tensor_shape"]["dim"]] == ["-1", "1"]
    (out,) = sig["outputs"].values()
    assert [d["size"] for d in out["tensor_shape"]["dim"]] == ["-1", "3"]


def test_predict_rows_equal_the_savedmodel_called_directly(
    server: BackgroundServer, tabular_model: Path
) -> None:
    rows = synthetic_rows(5, seed=11)
    status, body, headers = call(server.url, "POST", PREDICT, {"instances": rows})
    assert status == 200
    assert body["predictions"] == direct_predict(tabular_model, rows)
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])


def test_predict_columnar_inputs_answers_outputs(server: BackgroundServer, tabular_model: Path) -> None:
    rows = synthetic_rows(3, seed=12)
    columns = {f: [r[f] for r in rows] for f in FEATURES}
    status, body, _ = call(server.url, "POST", PREDICT, {"inputs": columns})
    assert status == 200
    assert body == {"outputs": direct_predict(tabular_model, rows)}


def test_sagemaker_ping_and_invocations_and_version_paths(
    server: BackgroundServer, tabular_model: Path
) -> None:
    rows = synthetic_rows(2, seed=13)
    expected = direct_predict(tabular_model, rows)
    assert call(server.url, "GET", "/ping")[0] == 200
    assert call(server.url, "POST", "/invocations", {"instances": rows})[1] == {"predictions": expected}
    status, body, _ = call(server.url, "POST", f"/v1/models/{MODEL}/versions/1:predict", {"instances": rows})
    assert (status, body) == (200, {"predictions": expected})


def test_single_input_model_takes_lists_and_columns(single_model: Path, tmp_path: Path) -> None:
    import numpy as np
    import tensorflow as tf

    config = ServerConfig(
        name="one", model_name="vec", model_dir=str(single_model), capture_dir=str(tmp_path)
    )
    x = [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    fn = tf.saved_model.load(str(single_model)).signatures["serving_default"]
    (ref,) = fn(**{SINGLE_INPUT: tf.constant(np.array(x, dtype="float32"))}).values()
    with BackgroundServer(config) as srv:
        status, body, headers = call(srv.url, "POST", "/v1/models/vec:predict", {"instances": x})
        assert status == 200
        assert body["predictions"] == ref.numpy().tolist()
        assert call(srv.url, "POST", "/v1/models/vec:predict", {"inputs": x})[1] == {
            "outputs": body["predictions"]
        }
        status, err, _ = call(srv.url, "POST", "/v1/models/vec:predict", {"instances": [[1.0, 2.0]]})
        assert status == 400 and SINGLE_INPUT in err["error"]
        record = capture_line(tmp_path, headers["x-request-id"])
        assert record["instances"] == [{SINGLE_INPUT: row} for row in x]


# -- batching ----------------------------------------------------------------
def test_concurrent_requests_are_merged_and_each_gets_its_own_rows(
    server: BackgroundServer, tabular_model: Path
) -> None:
    import numpy as np

    rows = synthetic_rows(32, seed=21)
    expected = direct_predict(tabular_model, rows)
    before = server.stats()
    results: dict[int, Any] = {}
    barrier = threading.Barrier(32)

    def client(i: int) -> None:
        barrier.wait()
        results[i] = call(server.url, "POST", PREDICT, {"instances": [rows[i]]})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    after = server.stats()
    for i in range(32):
        status, body, _ = results[i]
        assert status == 200
        # Merged batches may round differently in the last bits than a 32-row call.
        np.testing.assert_allclose(body["predictions"][0], expected[i], rtol=1e-5, atol=1e-7)
    requests = after["predict_requests"] - before["predict_requests"]
    calls = after["model_calls"] - before["model_calls"]
    assert requests == 32
    assert calls < 16, f"32 concurrent requests took {calls} model calls: not merged"
    assert after["max_batch_rows"] > 1


# -- capture -----------------------------------------------------------------
def test_capture_line_has_the_exact_format(server: BackgroundServer, capture_dir: Path) -> None:
    rows = synthetic_rows(2, seed=31)
    rows[1]["bill_length_mm"] = None
    rows[1][CATEGORICAL] = None
    status, body, headers = call(server.url, "POST", PREDICT, {"instances": rows})
    assert status == 200
    record = capture_line(capture_dir, headers["x-request-id"])
    name = record.pop("_file")
    assert list(record) == ["ts", "request_id", "endpoint", "model", "instances", "predictions"]
    assert TS_RE.match(record["ts"])
    ts = datetime.fromisoformat(record["ts"])
    assert name == ts.strftime("capture-%Y%m%d-%H.jsonl")
    assert record["endpoint"] == "ep" and record["model"] == MODEL
    assert record["instances"] == rows  # missing values as null
    assert record["predictions"] == body["predictions"]


def test_capture_logs_columnar_requests_as_rows(server: BackgroundServer, capture_dir: Path) -> None:
    rows = synthetic_rows(3, seed=32)
    columns = {f: [r[f] for r in rows] for f in FEATURES}
    status, body, headers = call(server.url, "POST", PREDICT, {"inputs": columns})
    assert status == 200
    record = capture_line(capture_dir, headers["x-request-id"])
    assert record["instances"] == rows
    assert record["predictions"] == body["outputs"]


# -- errors ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"instances": [{"bill_length_mm": 40.0, "bill_depth_mm": 18.0, "island": "Dream"}]},
            "flipper_length_mm",
        ),
        (
            {
                "instances": [
                    {
                        "bill_length_mm": "long",
                        "bill_depth_mm": 18.0,
                        "flipper_length_mm": 190.0,
                        "island": "Dream",
                    }
                ]
            },
            "bill_length_mm",
        ),
        (
            {
                "instances": [
                    {"bill_length_mm": 40.0, "bill_depth_mm": 18.0, "flipper_length_mm": 190.0, "island": 7}
                ]
            },
            "island",
        ),
        (
            {
                "instances": [
                    {
                        "bill_length_mm": [40.0, 41.0],
                        "bill_depth_mm": 18.0,
                        "flipper_length_mm": 190.0,
                        "island": "Dream",
                    }
                ]
            },
            "bill_length_mm",
        ),
        (
            {
                "instances": [
                    {
                        "bill_length_mm": 40.0,
                        "bill_depth_mm": 18.0,
                        "flipper_length_mm": 190.0,
                        "island": "Dream",
                        "species": "Adelie",
                    }
                ]
            },
            "species",
        ),
        (
            {
                "inputs": {
                    "bill_length_mm": [40.0],
                    "bill_depth_mm": [18.0, 19.0],
                    "flipper_length_mm": [190.0],
                    "island": ["Dream"],
                }
            },
            "bill_depth_mm",
        ),
        ({"instances": []}, "instances"),
        ({"rows": []}, "instances"),
        ([1, 2], "instances"),
    ],
    ids=[
        "missing",
        "string-for-float",
        "number-for-string",
        "wrong-shape",
        "unknown",
        "ragged-columns",
        "empty",
        "no-instances",
        "not-an-object",
    ],
)
def test_bad_payloads_get_400_naming_the_feature(server: BackgroundServer, body: Any, needle: str) -> None:
    status, answer, _ = call(server.url, "POST", PREDICT, body)
    assert status == 400, answer
    assert needle in answer["error"]


def test_malformed_json_is_400(server: BackgroundServer) -> None:
    status, answer, _ = call(server.url, "POST", PREDICT, raw=b'{"instances": [')
    assert status == 400 and "malformed JSON" in answer["error"]


def test_body_over_the_limit_is_413(server: BackgroundServer) -> None:
    big = json.dumps({"instances": synthetic_rows(1) * 3000}).encode()
    assert len(big) > 200_000
    status, answer, _ = call(server.url, "POST", PREDICT, raw=big)
    assert status == 413 and "limit" in answer["error"]


def test_unknown_model_route_and_wrong_method(server: BackgroundServer) -> None:
    assert call(server.url, "POST", "/v1/models/other:predict", {"instances": [1]})[0] == 404
    assert call(server.url, "GET", "/v1/models/other")[0] == 404
    assert call(server.url, "GET", "/nope")[0] == 404
    status, _, headers = call(server.url, "GET", PREDICT)
    assert status == 405 and headers["allow"] == "POST"
    assert call(server.url, "POST", f"/v1/models/{MODEL}", {})[0] == 405


# -- the process -------------------------------------------------------------
def _start(config: dict[str, Any], tmp_path: Path) -> subprocess.Popen[bytes]:
    path = tmp_path / "server.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "unifiedml.providers.local.server", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("w"),
        env=env,
        cwd=str(Path(__file__).resolve().parents[2]),
    )


def _wait_ready(ready: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text())
        if proc.poll() is not None and not ready.exists():
            raise AssertionError(f"server exited with {proc.returncode} and no ready file")
        time.sleep(0.05)
    raise AssertionError("server never became ready")


def test_subprocess_serves_with_token_and_flushes_capture_on_sigterm(
    tabular_model: Path, tmp_path: Path
) -> None:
    token = "s3cret-token-for-tests"
    ready = tmp_path / "ready.json"
    cap = tmp_path / "capture"
    proc = _start(
        {
            "name": "ep",
            "model_name": MODEL,
            "model_dir": str(tabular_model),
            "host": "127.0.0.1",
            "port": 0,
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "capture_dir": str(cap),
            "capture_sample_percent": 100,
            "max_batch_size": 64,
            "batch_timeout_ms": 2.0,
            "max_body_bytes": 10485760,
            "ready_file": str(ready),
        },
        tmp_path,
    )
    try:
        info = _wait_ready(ready, proc)
        assert info["pid"] == proc.pid and info["url"] == f"http://127.0.0.1:{info['port']}"
        assert datetime.fromisoformat(info["started_at"]).utcoffset().total_seconds() == 0
        url = info["url"]
        body = {"instances": synthetic_rows(2, seed=41)}
        assert call(url, "GET", "/ping")[0] == 200  # health checks need no token
        assert call(url, "POST", PREDICT, body)[0] == 401
        assert call(url, "POST", PREDICT, body, {"Authorization": "Bearer wrong"})[0] == 401
        assert call(url, "GET", f"/v1/models/{MODEL}", None, {"Authorization": "Basic abc"})[0] == 401
        status, answer, headers = call(url, "POST", PREDICT, body, {"Authorization": f"Bearer {token}"})
        assert status == 200 and len(answer["predictions"]) == 2
        proc.send_signal(signal.SIGTERM)  # before the writer's periodic flush
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(x) for p in cap.glob("capture-*.jsonl") for x in p.read_text().splitlines()]
    assert [r["request_id"] for r in lines] == [headers["x-request-id"]]
    assert token not in (tmp_path / "server.log").read_text()


def test_port_in_use_exits_3_with_a_clear_error(tmp_path: Path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    ready = tmp_path / "ready.json"
    start = time.monotonic()
    try:
        proc = _start(
            {
                "name": "ep",
                "model_name": MODEL,
                "model_dir": str(tmp_path),
                "port": port,
                "ready_file": str(ready),
            },
            tmp_path,
        )
        assert proc.wait(timeout=10) == 3
    finally:
        taken.close()
    assert time.monotonic() - start < 10
    error = json.loads(ready.read_text())["error"]
    assert f"127.0.0.1:{port}" in error and "in use" in error


def test_missing_model_exits_3_with_a_clear_error(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = _start(
        {"name": "ep", "model_name": MODEL, "model_dir": str(tmp_path / "nothing"), "ready_file": str(ready)},
        tmp_path,
    )
    assert proc.wait(timeout=10) == 3
    assert "no SavedModel" in json.loads(ready.read_text())["error"]


def test_only_one_endpoints_processes_can_share_a_port(tmp_path: Path, monkeypatch) -> None:
    # SO_REUSEPORT would let any process of this user join the port; the owner claim keeps it to one endpoint.
    import socket

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()

    def server(tag: str, owner: str) -> tuple[subprocess.Popen[bytes], Path]:
        work = tmp_path / tag
        work.mkdir()
        ready = work / "ready.json"
        proc = _start({"name": "ep", "model_name": MODEL, "noop": True, "port": port, "reuse_port": True,
                       "owner": owner, "ready_file": str(ready)}, work)
        return proc, ready

    first, first_ready = server("a1", "/homes/one/endpoints/web")
    procs = [first]
    try:
        _wait_ready(first_ready, first)
        intruder, intruder_ready = server("b", "/homes/two/endpoints/web")
        procs.append(intruder)
        assert intruder.wait(timeout=20) == 3
        error = json.loads(intruder_ready.read_text())["error"]
        assert f"127.0.0.1:{port}" in error and "/homes/one/endpoints/web" in error
        replica, replica_ready = server("a2", "/homes/one/endpoints/web")  # same endpoint: shares the port
        procs.append(replica)
        _wait_ready(replica_ready, replica)
        for proc in (first, replica):
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        later, later_ready = server("b2", "/homes/two/endpoints/web")  # the port is free again
        procs.append(later)
        _wait_ready(later_ready, later)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
