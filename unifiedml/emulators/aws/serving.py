"""``sagemaker-runtime invoke_endpoint`` for the emulator, with DataCapture to S3.

An invocation is answered, in order, by: a result scripted for that endpoint
(:meth:`AwsEmulator.script_invoke`); moto's own static result queue
(``/moto-api/static/sagemaker/endpoint-results``); the endpoint's real model
when ``serve_models`` is on and its ``model.tar.gz`` holds a SavedModel
(served by unifiedml's local TF Serving-compatible server, reached on its
SageMaker ``/invocations`` route); else a stub that returns one prediction per
instance. A non-2xx model answer becomes ``ModelError`` (HTTP 424, with
``OriginalStatusCode``), as SageMaker reports container errors. Capture files
follow SageMaker's layout: ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<id>.jsonl``.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import tarfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.sagemaker.models import sagemaker_backends
from moto.sagemakerruntime.models import sagemakerruntime_backends

from unifiedml.emulators.aws.state import EmulatorState, InvokeResult
from unifiedml.emulators.aws.storage import get_bytes, put_bytes
from unifiedml.emulators.model_servers import ModelServers

logger = logging.getLogger(__name__)

__all__ = ["invoke"]

Response = tuple[int, dict[str, str], bytes]


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    body = json.dumps({"message": message, **extra}).encode()
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, body


def invoke(
    state: EmulatorState,
    servers: ModelServers,
    account: str,
    region: str,
    endpoint_name: str,
    body: bytes,
    content_type: str,
) -> Response:
    backend = sagemaker_backends[account][region]
    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        return _error(400, "ValidationError", f"Endpoint {endpoint_name} of account {account} not found.")
    if endpoint.endpoint_status not in ("InService", "Updating"):
        return _error(
            400,
            "ValidationError",
            f"Endpoint {endpoint_name} of account {account} is not in service "
            f"(status {endpoint.endpoint_status}).",
        )
    config = backend.endpoint_configs[endpoint.endpoint_config_name]
    variant = config.production_variants[0]
    model = backend._models.get(variant["ModelName"])
    artifact = ((model.primary_container or {}).get("ModelDataUrl") if model else None) or ""

    answer = _answer(state, servers, account, region, endpoint_name, artifact, body, content_type)
    status, headers, out = answer
    if status == 200:
        headers = {**headers, "x-Amzn-Invoked-Production-Variant": variant["VariantName"]}
        _capture(
            account,
            endpoint_name,
            variant["VariantName"],
            config.data_capture_config,
            body,
            content_type,
            out,
            headers.get("Content-Type", "application/json"),
        )
    return status, headers, out


def _answer(
    state: EmulatorState,
    servers: ModelServers,
    account: str,
    region: str,
    endpoint_name: str,
    artifact: str,
    body: bytes,
    content_type: str,
) -> Response:
    with state.lock:
        queue = state.scripted.get(endpoint_name)
        scripted: InvokeResult | None = queue.pop(0) if queue else None
    if scripted is not None:
        data = scripted.body if isinstance(scripted.body, bytes) else json.dumps(scripted.body).encode()
        if scripted.status != 200:
            return _model_error(
                endpoint_name, region, account, scripted.status, data.decode(errors="replace")
            )
        return 200, {"Content-Type": scripted.content_type}, data
    runtime = sagemakerruntime_backends[account][region]
    if runtime.results_queue:
        result_body, result_type, _variant, _attrs = runtime.results_queue.pop(0)
        return 200, {"Content-Type": result_type}, str(result_body).encode()
    if state.config.serve_models and artifact.startswith("s3://"):
        def fetch(folder: Path) -> None:
            with tarfile.open(fileobj=io.BytesIO(get_bytes(account, artifact)), mode="r:gz") as tar:
                tar.extractall(folder, filter="data")

        try:
            port = servers.port_for(artifact, fetch, state.config.python)
        except (FileNotFoundError, tarfile.TarError, RuntimeError) as exc:
            return _model_error(endpoint_name, region, account, 500, str(exc))
        if port is not None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("POST", "/invocations", body=body, headers={"Content-Type": content_type})
                resp = conn.getresponse()
                out = resp.read()
            finally:
                conn.close()
            if resp.status != 200:
                return _model_error(endpoint_name, region, account, resp.status, out.decode(errors="replace"))
            return 200, {"Content-Type": resp.getheader("Content-Type", "application/json")}, out
    return _stub(endpoint_name, region, account, body)


def _stub(endpoint_name: str, region: str, account: str, body: bytes) -> Response:
    """One placeholder prediction per instance; what no model could parse is a 400 ModelError."""
    try:
        payload = json.loads(body)
    except ValueError:
        return _model_error(endpoint_name, region, account, 400, '{"error": "the body is not JSON"}')
    rows = payload.get("instances") if isinstance(payload, dict) else payload
    if isinstance(payload, dict) and "inputs" in payload and isinstance(payload["inputs"], dict):
        rows = list(zip(*payload["inputs"].values(), strict=False))
    if not isinstance(rows, list) or not rows:
        return _model_error(
            endpoint_name, region, account, 400, '{"error": "expected a non-empty instances list"}'
        )
    return (
        200,
        {"Content-Type": "application/json"},
        json.dumps({"predictions": [[0.5] for _ in rows]}).encode(),
    )


def _model_error(endpoint_name: str, region: str, account: str, status: int, message: str) -> Response:
    stream = f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint_name}"
    return _error(
        424,
        "ModelError",
        f'Received client error ({status}) from primary with message "{message}". See {stream} for more '
        "information."
        if status < 500
        else f'Received server error ({status}) from primary with message "{message}".',
        OriginalStatusCode=status,
        OriginalMessage=message,
        LogStreamArn=stream,
    )


def _capture(
    account: str,
    endpoint_name: str,
    variant: str,
    capture: dict[str, Any] | None,
    body: bytes,
    content_type: str,
    out: bytes,
    out_type: str,
) -> None:
    if not capture or not capture.get("EnableCapture"):
        return
    options = {o.get("CaptureMode") for o in capture.get("CaptureOptions", [])} or {"Input", "Output"}
    now = datetime.now(UTC)

    def part(mode: str, data: bytes, ctype: str) -> dict[str, Any]:
        json_types = set((capture.get("CaptureContentTypeHeader") or {}).get("JsonContentTypes", [])) | {
            "application/json"
        }
        if ctype in json_types:
            return {
                "observedContentType": ctype,
                "mode": mode,
                "data": data.decode(errors="replace"),
                "encoding": "JSON",
            }
        return {
            "observedContentType": ctype,
            "mode": mode,
            "data": base64.b64encode(data).decode(),
            "encoding": "BASE64",
        }

    record: dict[str, Any] = {
        "captureData": {},
        "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "eventVersion": "0",
    }
    if "Input" in options:
        record["captureData"]["endpointInput"] = part("INPUT", body, content_type)
    if "Output" in options:
        record["captureData"]["endpointOutput"] = part("OUTPUT", out, out_type)
    dest = capture["DestinationS3Uri"].rstrip("/")
    key = f"{dest}/{endpoint_name}/{variant}/{now:%Y/%m/%d/%H}/{now:%M-%S-%f}-{uuid.uuid4().hex[:8]}.jsonl"
    put_bytes(account, key, (json.dumps(record) + "\n").encode())
