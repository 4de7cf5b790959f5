"""Reading Vertex AI request-response logging (a BigQuery table) into rows the drift engine reads.

With ``predictRequestResponseLoggingConfig`` on, Vertex AI writes one row per
logged request to ``<project>.logging_<endpoint display name>_<endpoint id>
.request_response_logging`` (the aiplatform SDK's documented default table)
with the columns ``endpoint``, ``deployed_model_id``, ``logging_time``,
``request_id``, ``request_payload`` and ``response_payload`` (both repeated
STRING holding the JSON bodies). The query runs through a
:class:`~unifiedml.cost.readers.base.QueryRunner` (BigQuery's client in
production, anything that answers rows in tests).

:func:`rows_from_logged` turns one table row into one row per instance, the
shape every capture reader yields: ``{"ts", "event_id", <feature>..., "prediction"}``.
Instances sent as objects keep their keys; lists become ``f0, f1, ...``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from unifiedml.errors import ConfigError

__all__ = ["COLUMNS", "logging_query", "logging_table", "read_logged_requests", "rows_from_logged"]

COLUMNS = ("endpoint", "deployed_model_id", "logging_time", "request_id", "request_payload", "response_payload")
_TABLE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def logging_table(destination: str, *, endpoint_display_name: str, endpoint_id: str) -> str:
    """The table a ``bq://`` logging destination means: given in full, or the default under its project."""
    path = destination.removeprefix("bq://")
    parts = path.split(".")
    if len(parts) == 3:
        return path
    dataset = re.sub(r"[^A-Za-z0-9_]", "_", f"logging_{endpoint_display_name}_{endpoint_id}")
    if len(parts) == 2:
        return f"{path}.request_response_logging"
    return f"{parts[0]}.{dataset}.request_response_logging"


def logging_query(table: str) -> str:
    """SQL for one endpoint's logged requests, oldest first. Parameters ``@endpoint`` and ``@since``."""
    if not _TABLE.match(table):
        raise ConfigError(f"{table!r} is not a BigQuery table name", field="capture.destination")
    return (
        "SELECT endpoint, deployed_model_id, logging_time, request_id, request_payload, response_payload\n"
        f"FROM `{table}`\n"
        "WHERE endpoint = @endpoint AND (@since IS NULL OR logging_time >= @since)\n"
        "ORDER BY logging_time, request_id"
    )


def _decode(payload: Any) -> Any:
    if isinstance(payload, list | tuple):
        payload = payload[0] if payload else None
    if payload is None:
        return None
    if isinstance(payload, dict):
        return payload
    try:
        return json.loads(payload)
    except (TypeError, ValueError):
        return None


def _instances(body: Any) -> list[Any]:
    if isinstance(body, dict):
        if "instances" in body:
            return list(body["instances"])
        if "inputs" in body and isinstance(body["inputs"], dict):
            cols = body["inputs"]
            return [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]
    return body if isinstance(body, list) else []


def _features(instance: Any) -> dict[str, Any]:
    if isinstance(instance, dict):
        return dict(instance)
    if isinstance(instance, list):
        return {f"f{i}": v for i, v in enumerate(instance)}
    return {"f0": instance}


def _prediction(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def rows_from_logged(row: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One logged request -> one row per instance (``prediction`` is None when the response is absent)."""
    ts = row.get("logging_time")
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if isinstance(ts, datetime) and ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    request = _instances(_decode(row.get("request_payload")))
    response = _decode(row.get("response_payload"))
    predictions = response.get("predictions", []) if isinstance(response, dict) else []
    for i, instance in enumerate(request):
        out = {"ts": ts, "event_id": f"{row.get('request_id')}-{i}", **_features(instance)}
        out["prediction"] = _prediction(predictions[i]) if i < len(predictions) else None
        out["deployed_model_id"] = row.get("deployed_model_id")
        yield out


def read_logged_requests(runner: Any, table: str, *, endpoint: str,
                         since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Rows of ``endpoint`` (its full resource name) from ``table``, oldest first. Blocking, read-only."""
    sql = logging_query(table)
    result: Iterable[Mapping[str, Any]] = runner.run(sql, {"endpoint": endpoint, "since": since})
    for row in result:
        yield from rows_from_logged(row)
