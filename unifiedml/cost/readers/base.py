"""The reader interface (and the query-runner interface the BigQuery reader sits on)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from unifiedml.cost.records import CostRecord

__all__ = ["BillingReader", "QueryRunner"]


@runtime_checkable
class BillingReader(Protocol):
    """Reads what a provider billed (or, where it has no bill, what we estimate) as CostRecords.

    ``read`` is blocking and read-only; it returns records whose period lies
    in ``[since, until)``, for ``project`` when given (the
    ``unifiedml-project`` tag/label), each with its currency.
    """

    name: str

    def read(
        self, *, since: datetime, until: datetime, project: str | None = None
    ) -> Iterator[CostRecord]: ...


@runtime_checkable
class QueryRunner(Protocol):
    """Runs one SQL query with named parameters and yields rows as mappings (BigQuery's client, a fake...)."""

    def run(self, sql: str, params: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]: ...
