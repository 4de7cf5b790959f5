"""The local server's parts without TensorFlow: payloads, micro-batching, capture log, auth, HTTP layer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from unifiedml.providers.local.batching import MicroBatcher
from unifiedml.providers.local.capture import CaptureWriter
from unifiedml.providers.local.savedmodel import InputSpec, OutputSpec, PayloadError, Signature
from unifiedml.providers.local.server import BackgroundServer, ServerConfig, StartupError

TABULAR = Signature(
    inputs=[
        InputSpec("age", "float32", (None, 1)),
        InputSpec("city", "string", (None, 1)),
        InputSpec("n", "int64", (None, 1)),
    ],
    outputs=[OutputSpec("output_0", "float32", (None, 2))],
    name="serving_default",
)
VECTOR = Signature(inputs=[InputSpec("x", "float32", (None, 2, 2))], outputs=[], name="serving_default")


# -- payloads ----------------------------------------------------------------
def test_rows_and_columns_parse_to_the_same_columns() -> None:
    rows = TABULAR.parse(
        {"instances": [{"age": 3, "city": "Oslo", "n": 2}, {"age": [1.5], "city": None, "n": 4.0}]}
    )
    cols = TABULAR.parse({"inputs": {"age": [3, 1.5], "city": ["Oslo", None], "n": [2, 4]}})
    assert rows.columns == cols.columns == {"age": [3.0, 1.5], "city": ["Oslo", None], "n": [2, 4]}
    assert (rows.rows, rows.columnar, cols.columnar) == (2, False, True)
    assert TABULAR.capture_rows(cols) == [
        {"age": 3.0, "city": "Oslo", "n": 2},
        {"age": 1.5, "city": None, "n": 4},
    ]


def test_nan_and_null_are_missing_values_in_the_capture_rows() -> None:
    payload = TABULAR.parse(
        {"instances": [{"age": float("nan"), "city": "x", "n": 1}, {"age": None, "city": "y", "n": 1}]}
    )
    assert [r["age"] for r in TABULAR.capture_rows(payload)] == [None, None]


def test_multi_dimensional_single_input_accepts_nested_rows_and_rejects_wrong_shapes() -> None:
    payload = VECTOR.parse({"instances": [[[1, 2], [3, 4]]]})
    assert payload.columns == {"x": [1.0, 2.0, 3.0, 4.0]}
    assert VECTOR.capture_rows(payload) == [{"x": [[1.0, 2.0], [3.0, 4.0]]}]
    with pytest.raises(PayloadError, match=r"feature 'x'.*shape \(2, 2\)"):
        VECTOR.parse({"instances": [[[1, 2], [3]]]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [{"age": 1, "city": "a"}]}, "missing feature 'n'"),
        ({"instances": [{"age": True, "city": "a", "n": 1}]}, "feature 'age': expected a number"),
        ({"instances": [{"age": 1, "city": "a", "n": 1.5}]}, "feature 'n': expected an integer"),
        (
            {"instances": [{"age": 1, "city": ["a", "b"], "n": 1}]},
            "feature 'city': instance 0 must hold 1 value",
        ),
        ({"instances": [{"age": 1, "city": "a", "n": 1, "zip": 1}]}, "unknown feature 'zip'"),
        ({"instances": [1.0]}, "expected an object"),
        ({"inputs": [1.0]}, "'inputs' must be an object"),
        ({"instances": [], "inputs": {}}, "not both"),
        ({"instances": [{}], "signature_name": "other"}, "signature_name"),
    ],
)
def test_bad_payloads_raise_a_message_naming_the_problem(body: Any, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        TABULAR.parse(body)


def test_metadata_uses_tf_serving_dtype_names() -> None:
    sig = TABULAR.metadata("m")["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert {k: v["dtype"] for k, v in sig["inputs"].items()} == {
        "age": "DT_FLOAT",
        "city": "DT_STRING",
        "n": "DT_INT64",
    }


# -- micro-batching ------------------------------------------------------------
def _run_batcher(
    items: list[tuple[int, bool]], *, max_batch: int, timeout_s: float, fail_on: int | None = None
) -> tuple[list[Any], list[list[int]]]:
    """Submit ``(rows, mergeable)`` items together; return their results and the batches the model saw."""
    calls: list[list[int]] = []

    def run(batch: Sequence[tuple[int, int, bool]]) -> list[Any]:
        calls.append([b[0] for b in batch])
        if fail_on is not None and any(b[0] == fail_on for b in batch):
            raise ValueError(f"bad item {fail_on}")
        return [f"result-{b[0]}" for b in batch]

    async def main() -> list[Any]:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(
                run,
                executor=pool,
                max_batch_size=max_batch,
                timeout_s=timeout_s,
                rows_of=lambda it: it[1],
                mergeable=lambda it: it[2],
            )
            futs = [batcher.submit((i, rows, merge)) for i, (rows, merge) in enumerate(items)]
            return await asyncio.gather(*futs, return_exceptions=True)

    return asyncio.run(main()), calls


def test_queued_requests_merge_up_to_max_batch_size() -> None:
    results, calls = _run_batcher([(1, True)] * 10, max_batch=4, timeout_s=0.01)
    assert results == [f"result-{i}" for i in range(10)]
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_a_request_bigger_than_the_batch_or_unmergeable_runs_alone() -> None:
    _, calls = _run_batcher(
        [(1, True), (10, True), (1, True), (1, False), (1, True)], max_batch=4, timeout_s=0.01
    )
    assert sorted(calls) == sorted([[0], [1], [2], [3], [4]]) or ([1] in calls and [3] in calls)
    assert [1] in calls and [3] in calls


def test_batching_off_runs_one_request_per_call() -> None:
    _, calls = _run_batcher([(1, True)] * 5, max_batch=1, timeout_s=0.01)
    assert calls == [[0], [1], [2], [3], [4]]


def test_a_failing_merged_batch_fails_only_the_bad_request() -> None:
    results, _ = _run_batcher([(1, True)] * 4, max_batch=8, timeout_s=0.01, fail_on=2)
    assert results[:2] == ["result-0", "result-1"] and results[3] == "result-3"
    assert isinstance(results[2], ValueError)


def test_a_lone_request_waits_at_most_the_timeout() -> None:
    start = time.monotonic()
    results, _ = _run_batcher([(1, True)], max_batch=64, timeout_s=0.05)
    assert results == ["result-0"]
    assert 0.04 <= time.monotonic() - start < 2


# -- capture writer ------------------------------------------------------------
def test_capture_writer_appends_hourly_files_and_flushes_on_close(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    payload = TABULAR.parse({"instances": [{"age": 1, "city": "a", "n": 1}]})
    writer = CaptureWriter(
        tmp_path, endpoint="ep", model="m", rows_of=TABULAR.capture_rows, flush_interval_s=60
    )
    writer.record(
        request_id="a" * 32,
        payload=payload,
        predictions=b"[[0.25,0.75]]",
        ts=datetime(2026, 11, 24, 11, 30, 0, 123456, tzinfo=UTC),
    )
    writer.record(
        request_id="b" * 32,
        payload=payload,
        predictions=[[float("nan"), 1.0]],
        ts=datetime(2026, 11, 24, 12, 0, 0, 0, tzinfo=UTC),
    )
    writer.close()
    first = (tmp_path / "capture-20261124-11.jsonl").read_text()
    assert first == (
        '{"ts":"2026-11-24T11:30:00.123456+00:00","request_id":"' + "a" * 32 + '","endpoint":"ep",'
        '"model":"m","instances":[{"age":1.0,"city":"a","n":1}],"predictions":[[0.25,0.75]]}\n'
    )
    second = json.loads((tmp_path / "capture-20261124-12.jsonl").read_text())
    assert second["ts"] == "2026-11-24T12:00:00.000000+00:00" and second["predictions"] == [[None, 1.0]]
    assert writer.lines_written == 2


def test_capture_sampling_zero_records_nothing(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, endpoint="e", model="m", rows_of=lambda p: [], sample_percent=0)
    assert not any(writer.sampled() for _ in range(1000))
    writer.close()


# -- config --------------------------------------------------------------------
def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(StartupError, match="unknown server config key"):
        ServerConfig.from_dict({"name": "e", "model_name": "m", "model_dir": "/x", "prot": 1})
    with pytest.raises(StartupError, match="'port'"):
        ServerConfig.from_dict({"name": "e", "model_name": "m", "model_dir": "/x", "port": 70000})
    with pytest.raises(StartupError, match="token_sha256"):
        ServerConfig.from_dict({"name": "e", "model_name": "m", "model_dir": "/x", "token_sha256": "abc"})


# -- HTTP layer on the no-op server (no model, no TensorFlow) ---------------------
def _raw(port: int, data: bytes, *, read_until_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if not read_until_close and b"\r\n\r\n" in b"".join(chunks):
                head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
        return b"".join(chunks)


@pytest.fixture(scope="module")
def noop() -> Any:
    token = "t0ken-for-noop-tests"
    config = ServerConfig(
        name="ep",
        model_name="m",
        noop=True,
        max_body_bytes=1000,
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        switch_interval_s=0,
    )
    with BackgroundServer(config) as srv:
        srv.token = token  # type: ignore[attr-defined]
        yield srv


def test_bearer_token_is_required_except_for_ping(noop: Any) -> None:
    body = b'{"instances":[1,2]}'

    def req(auth: str | None, path: str = "/v1/models/m:predict") -> bytes:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        if auth:
            head += f"Authorization: {auth}\r\n"
        return _raw(noop.port, (head + "\r\n").encode() + body)

    assert req(None).startswith(b"HTTP/1.1 401 ")
    assert req("Bearer nope").startswith(b"HTTP/1.1 401 ")
    assert req(f"Bearer {noop.token}").startswith(b"HTTP/1.1 200 ")
    assert req(f"bearer {noop.token}").endswith(b'{"predictions":[[0.0,0.0,1.0],[0.0,0.0,1.0]]}')
    assert _raw(noop.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_keep_alive_pipelining_answers_in_order(noop: Any) -> None:
    auth = f"Authorization: Bearer {noop.token}\r\n"
    one = f"GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models/m HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
    last = f"GET /v1/models/zzz HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    out = _raw(noop.port, (one + last).encode(), read_until_close=True)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
    assert statuses == [b"200", b"200", b"404"]


def test_oversized_body_is_413_before_it_is_read(noop: Any) -> None:
    head = (
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
        f"Authorization: Bearer {noop.token}\r\n\r\n"
    )
    out = _raw(noop.port, head.encode(), read_until_close=True)
    assert out.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in out


def test_garbage_request_line_is_400_and_chunked_is_411(noop: Any) -> None:
    assert _raw(noop.port, b"HELLO\r\n\r\n", read_until_close=True).startswith(b"HTTP/1.1 400 ")
    chunked = b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert _raw(noop.port, chunked, read_until_close=True).startswith(b"HTTP/1.1 411 ")


def test_a_head_over_64_kib_is_431_whether_it_arrives_whole_or_in_pieces(noop: Any) -> None:
    big = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 70_000 + b"\r\n\r\n"
    assert _raw(noop.port, big, read_until_close=True).startswith(b"HTTP/1.1 431 ")
    assert _raw(noop.port, big[:-4], read_until_close=True).startswith(b"HTTP/1.1 431 ")  # never completed
    assert _raw(noop.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_stop_finishes_and_closes_idle_connections(tmp_path: Path) -> None:
    srv = BackgroundServer(ServerConfig(name="e", model_name="m", noop=True, switch_interval_s=0)).start()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    deadline = time.monotonic() + 5
    while srv.stats()["open_connections"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive()
    assert sock.recv(10) == b""  # the idle keep-alive connection was closed
    sock.close()


def test_a_stopped_endpoint_process_gets_its_whole_drain_before_sigkill() -> None:
    from unifiedml.providers.local.provider import STOP_GRACE_S
    from unifiedml.providers.local.server import ServerConfig

    assert STOP_GRACE_S > ServerConfig.drain_timeout_s


def test_a_mistyped_local_deployment_option_is_an_error_naming_it() -> None:
    import pytest

    from unifiedml.errors import ConfigError
    from unifiedml.providers.local.provider import _check_server_options
    from unifiedml.specs import DeploymentSpec

    _check_server_options(DeploymentSpec(name="ep", provider_options={"local": {"tf_threads": 2}}))
    with pytest.raises(ConfigError, match="max_body_byte") as err:
        _check_server_options(DeploymentSpec(name="ep", provider_options={"local": {"max_body_byte": 5}}))
    assert err.value.field == "provider_options.local.max_body_byte"
    assert "did you mean 'max_body_bytes'" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="non-negative integer"):
        _check_server_options(DeploymentSpec(name="ep", provider_options={"local": {"tf_threads": "4"}}))


def test_an_update_keeps_the_settings_it_does_not_set() -> None:
    from pydantic import SecretStr

    from unifiedml.providers.local.provider import _keep_current_settings
    from unifiedml.specs import DeploymentSpec

    deployed = DeploymentSpec(name="ep", min_replicas=2, max_batch_size=8, capture={"enabled": False},
                              provider_options={"local": {"tf_threads": 2}})
    data = {"spec": deployed.model_dump(mode="json", exclude={"auth_token"})}
    kept = _keep_current_settings(DeploymentSpec(name="ep"), data)
    assert (kept.min_replicas, kept.max_batch_size, kept.capture.enabled) == (2, 8, False)
    assert kept.options_for("local") == {"tf_threads": 2}
    changed = _keep_current_settings(DeploymentSpec(name="ep", min_replicas=3, auth_token="s3cret"), data)
    assert (changed.min_replicas, changed.max_batch_size) == (3, 8)
    assert isinstance(changed.auth_token, SecretStr) and changed.auth_token.get_secret_value() == "s3cret"
    # an endpoint deployed before settings were stored: the spec is used as given
    assert _keep_current_settings(DeploymentSpec(name="ep"), {}).min_replicas == DeploymentSpec(name="ep").min_replicas


def test_cuda_visible_devices_limits_the_gpu_count() -> None:
    from unifiedml.providers.local.provider import _visible_device_count

    assert _visible_device_count("0") == 1
    assert _visible_device_count("0,1, 3") == 3
    assert _visible_device_count("GPU-8f6c1a2e,GPU-1b2c") == 2
    assert _visible_device_count("0,-1,2") == 1
    assert _visible_device_count("-1") == 0


def test_requirements_cache_key_covers_included_files(tmp_path) -> None:
    from unifiedml.providers.local.runner import _requirements_text

    (tmp_path / "base.txt").write_text("numpy==2.0\n")
    (tmp_path / "constraints.txt").write_text("pyarrow<20\n")
    top = tmp_path / "requirements.txt"
    top.write_text("-r base.txt  # shared\n--constraint=constraints.txt\nrequests\n")
    before = _requirements_text(top)
    assert "numpy==2.0" in before and "pyarrow<20" in before
    (tmp_path / "base.txt").write_text("numpy==2.1\n")
    assert _requirements_text(top) != before
    (tmp_path / "base.txt").write_text("-r requirements.txt\n")  # a cycle ends, it does not recurse forever
    assert "requests" in _requirements_text(top)
