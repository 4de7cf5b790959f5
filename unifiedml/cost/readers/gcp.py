"""Vertex AI billed cost: the Cloud Billing BigQuery export, filtered by label, through a query runner.

GCP has no billing query API; costs land in the billing export table
(``gcp_billing_export_v1_<ACCOUNT>`` or the detailed
``gcp_billing_export_resource_v1_<ACCOUNT>``). The reader builds one
parameterised query and maps its rows; the provider supplies a
:class:`~unifiedml.cost.readers.base.QueryRunner` (for instance one around
``google.cloud.bigquery.Client.query``). ``cost`` is before credits; the
record amount is ``cost + credits`` (credits are negative), the net billed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from unifiedml.cost.readers.base import QueryRunner
from unifiedml.cost.records import CostRecord
from unifiedml.errors import ConfigError

__all__ = ["BigQueryBillingReader", "billing_query", "map_billing_row"]

SERVICE = "Vertex AI"
_TABLE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def billing_query(table: str) -> str:
    """SQL summing the export per day, Vertex AI only, by the unifiedml labels and currency.

    Parameters: ``@since``, ``@until`` (TIMESTAMP) and ``@project`` (STRING or NULL).
    """
    if not _TABLE.match(table):
        raise ConfigError(f"{table!r} is not a BigQuery table name", field="billing.table")
    return f"""
SELECT
  DATE(usage_start_time) AS usage_date,
  service.description AS service,
  project.id AS gcp_project,
  (SELECT value FROM UNNEST(labels) WHERE key = 'unifiedml-project') AS uml_project,
  (SELECT value FROM UNNEST(labels) WHERE key = 'unifiedml-resource') AS uml_resource,
  currency,
  SUM(cost) AS cost,
  SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS credits,
  SUM(usage.amount_in_pricing_units) AS usage_amount,
  ANY_VALUE(usage.pricing_unit) AS usage_unit
FROM `{table}`
WHERE usage_start_time >= @since AND usage_start_time < @until
  AND service.description = '{SERVICE}'
  AND (@project IS NULL OR EXISTS(
        SELECT 1 FROM UNNEST(labels) WHERE key = 'unifiedml-project' AND value = @project))
GROUP BY usage_date, service, gcp_project, uml_project, uml_resource, currency
ORDER BY usage_date
""".strip()


def _label(labels: Any, key: str) -> str | None:
    for item in labels or []:
        if item.get("key") == key:
            return str(item.get("value"))
    return None


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def map_billing_row(row: Mapping[str, Any]) -> CostRecord:
    """One row -> one record: a row of :func:`billing_query`, or a raw export row (nested fields)."""
    if "labels" in row:  # a raw export row
        service = (row.get("service") or {}).get("description")
        day = _as_date(row["usage_start_time"])
        project = _label(row["labels"], "unifiedml-project")
        resource = _label(row["labels"], "unifiedml-resource")
        gcp_project = (row.get("project") or {}).get("id")
        credits = sum(float(c.get("amount", 0)) for c in row.get("credits") or [])
        usage = row.get("usage") or {}
        quantity, unit = usage.get("amount_in_pricing_units"), usage.get("pricing_unit")
    else:
        service = row.get("service")
        day = _as_date(row["usage_date"])
        project, resource, gcp_project = (
            row.get("uml_project"),
            row.get("uml_resource"),
            row.get("gcp_project"),
        )
        credits = float(row.get("credits") or 0)
        quantity, unit = row.get("usage_amount"), row.get("usage_unit")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    tags = {
        k: v
        for k, v in (
            ("unifiedml-project", project),
            ("unifiedml-resource", resource),
            ("gcp-project", gcp_project),
        )
        if v
    }
    return CostRecord(
        provider="vertex",
        project=project,
        resource=resource,
        service=service,
        kind="billed",
        start=start,
        end=start + timedelta(days=1),
        amount=float(row["cost"]) + credits,
        currency=str(row["currency"]),
        source="gcp-bigquery-billing-export",
        tags=tags,
        usage_quantity=None if quantity is None else float(quantity),
        usage_unit=unit,
    )


class BigQueryBillingReader:
    """Billed Vertex AI cost per labelled resource per day, from the billing export ``table``."""

    name = "gcp-bigquery-billing-export"

    def __init__(self, *, runner: QueryRunner, table: str) -> None:
        self.runner = runner
        self.sql = billing_query(table)

    def read(self, *, since: datetime, until: datetime, project: str | None = None) -> Iterator[CostRecord]:
        """Blocking: one query."""
        for row in self.runner.run(self.sql, {"since": since, "until": until, "project": project}):
            yield map_billing_row(row)
