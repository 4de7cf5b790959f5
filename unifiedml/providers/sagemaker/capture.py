"""Reading SageMaker DataCapture files (JSON Lines on S3) into rows the drift engine reads.

SageMaker writes one JSON object per request to
``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``::

    {"captureData": {"endpointInput":  {"observedContentType": "application/json", "mode": "INPUT",
                                        "data": "...", "encoding": "JSON" | "BASE64" | "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2024-05-01T12:00:00Z"},
     "eventVersion": "0"}

:func:`rows_from_event` turns one such object into one row per instance:
``{"ts": datetime, "event_id": str, <feature>: value ..., "prediction": value}``.
Instances sent as objects keep their keys as feature names; instances sent as
lists become ``f0, f1, ...``. A TF Serving body (``{"instances": [...]}`` or
columnar ``{"inputs": {...}}``) and a bare list are both understood.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from unifiedml.providers.sagemaker.errors import call

logger = logging.getLogger(__name__)

__all__ = ["decode_part", "read_capture", "rows_from_event"]


def decode_part(part: dict[str, Any] | None) -> Any:
    """The payload of ``endpointInput`` / ``endpointOutput`` as Python data (None if absent or unreadable)."""
    if not part:
        return None
    data = part.get("data", "")
    if part.get("encoding") == "BASE64":
        data = base64.b64decode(data).decode(errors="replace")
    if part.get("encoding") == "CSV" or "csv" in str(part.get("observedContentType", "")):
        return [[_number(v) for v in line.split(",")] for line in str(data).splitlines() if line.strip()]
    try:
        return json.loads(data)
    except ValueError:
        return None


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _instances(payload: Any) -> list[Any]:
    if isinstance(payload, dict):
        if isinstance(payload.get("instances"), list):
            return payload["instances"]
        inputs = payload.get("inputs")
        if isinstance(inputs, dict):
            keys = list(inputs)
            return [dict(zip(keys, values, strict=False)) for values in zip(*inputs.values(), strict=False)]
        if isinstance(inputs, list):
            return inputs
        return [payload]
    return payload if isinstance(payload, list) else []


def _predictions(payload: Any) -> list[Any]:
    if isinstance(payload, dict):
        found = payload.get("predictions", payload.get("outputs"))
        return found if isinstance(found, list) else []
    return payload if isinstance(payload, list) else []


def rows_from_event(event: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per captured instance (see the module docstring)."""
    meta = event.get("eventMetadata", {})
    when = meta.get("inferenceTime")
    ts = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None
    capture = event.get("captureData", {})
    instances = _instances(decode_part(capture.get("endpointInput")))
    predictions = _predictions(decode_part(capture.get("endpointOutput")))
    rows = []
    for i, instance in enumerate(instances):
        row: dict[str, Any] = {"ts": ts, "event_id": meta.get("eventId")}
        if isinstance(instance, dict):
            row.update({k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in instance.items()})
        elif isinstance(instance, list):
            row.update({f"f{j}": v for j, v in enumerate(instance)})
        else:
            row["f0"] = instance
        prediction = predictions[i] if i < len(predictions) else None
        row["prediction"] = prediction
        rows.append(row)
    return rows


def read_capture(
    s3: Any, destination: str, *, endpoint: str, since: datetime | None = None, variant: str | None = None
) -> Iterator[dict[str, Any]]:
    """Rows of every capture file of ``endpoint`` under ``destination``, oldest file first.

    Blocking; streams file by file, so memory holds one file at a time.
    ``since`` skips events captured earlier (by ``inferenceTime``).
    """
    bucket, _, key = destination.removeprefix("s3://").partition("/")
    prefix = "/".join(p for p in (key.strip("/"), endpoint, variant or "") if p) + "/"
    paginator = s3.get_paginator("list_objects_v2")
    keys: list[str] = []
    for page in call(
        lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix)), what="list capture files"
    ):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".jsonl")]
    cutoff = (
        since.astimezone(UTC) if since and since.tzinfo else (since.replace(tzinfo=UTC) if since else None)
    )
    for k in sorted(keys):  # the yyyy/mm/dd/hh layout sorts by time
        body = call(lambda k=k: s3.get_object(Bucket=bucket, Key=k)["Body"].read(), what=f"read {k}")
        for line in body.decode(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                logger.warning("skipping a malformed capture line in s3://%s/%s", bucket, k)
                continue
            for row in rows_from_event(event):
                if cutoff is not None and row["ts"] is not None and row["ts"] < cutoff:
                    continue
                yield row
