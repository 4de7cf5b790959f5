"""Billed Vertex AI cost (the Cloud Billing BigQuery export) and the BigQuery query runner.

The SQL and the row mapping live with the other billing readers in
:mod:`unifiedml.cost.readers.gcp` (``BigQueryBillingReader``: Vertex AI rows,
by the ``unifiedml-project`` / ``unifiedml-resource`` labels, per day); this
module supplies what the provider owns: :class:`BigQueryRunner`, a
:class:`~unifiedml.cost.readers.base.QueryRunner` on ``google-cloud-bigquery``
(named ``@parameters``, typed from their Python values), and
:func:`billed_costs`, which runs the reader for one unifiedml project.

Label values in the export are what Vertex AI stored: the resource label reads
``kind--name`` (see :mod:`.naming`); records come back with ``kind/name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from unifiedml._lazy import require
from unifiedml.cost.records import CostRecord
from unifiedml.providers.vertex.errors import PROVIDER, call
from unifiedml.providers.vertex.naming import from_labels

__all__ = ["BigQueryRunner", "billed_costs"]


class BigQueryRunner:
    """Runs SQL on BigQuery with named parameters; rows come back as dicts. Blocking."""

    def __init__(self, *, project: str, credentials: Any = None, location: str | None = None) -> None:
        self.project, self.credentials, self.location = project, credentials, location
        self._client: Any = None

    def _bq(self) -> Any:
        if self._client is None:
            bigquery = require("google.cloud.bigquery", extra="gcp", provider=PROVIDER)
            self._client = bigquery.Client(project=self.project, credentials=self.credentials,
                                           location=self.location)
        return self._client

    @staticmethod
    def parameters(params: Mapping[str, Any]) -> list[Any]:
        """BigQuery query parameters for ``params`` (None is a NULL STRING)."""
        bigquery = require("google.cloud.bigquery", extra="gcp", provider=PROVIDER)
        out = []
        for key, value in params.items():
            if isinstance(value, datetime):
                kind = "TIMESTAMP"
            elif isinstance(value, date):
                kind = "DATE"
            elif isinstance(value, bool):
                kind = "BOOL"
            elif isinstance(value, int):
                kind = "INT64"
            elif isinstance(value, float):
                kind = "FLOAT64"
            else:
                kind = "STRING"
            out.append(bigquery.ScalarQueryParameter(key, kind, value))
        return out

    def run(self, sql: str, params: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        bigquery = require("google.cloud.bigquery", extra="gcp", provider=PROVIDER)
        config = bigquery.QueryJobConfig(query_parameters=self.parameters(params))
        rows = call(lambda: list(self._bq().query(sql, job_config=config).result()), what="query BigQuery")
        return [dict(row.items()) for row in rows]


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


def _decoded(records: Iterator[CostRecord]) -> Iterator[CostRecord]:
    for record in records:
        tags = from_labels(record.tags)
        resource = record.resource.replace("--", "/", 1) if record.resource and "--" in record.resource else None
        yield record.model_copy(update={"tags": tags, "resource": resource or record.resource})


def billed_costs(runner: Any, *, table: str, since: date | datetime, until: date | datetime,
                 project: str | None) -> list[CostRecord]:
    """Billed Vertex AI records in ``[since, until)`` for ``project`` (all projects when None). Blocking."""
    from unifiedml.cost.readers import billing_reader

    reader = billing_reader("vertex", runner=runner, table=table)
    return list(_decoded(reader.read(since=_as_datetime(since), until=_as_datetime(until), project=project)))
