"""``CostRecord``: one amount of money, for one resource, over one period, billed or estimated.

Every reader (Cost Explorer, the BigQuery billing export, Azure Cost
Management, Hugging Face hardware x time, local rates x time) returns these,
so reports and budgets never care where a figure came from. ``kind`` says
whether it is the provider's bill (``billed``) or our arithmetic
(``estimate``); ``currency`` is always stated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["RECORD_COLUMNS", "CostKind", "CostRecord"]

CostKind = Literal["billed", "estimate"]
#: Column order of the Arrow/Parquet form (see :func:`unifiedml.cost.aggregate.records_to_table`).
RECORD_COLUMNS = (
    "provider",
    "project",
    "resource",
    "service",
    "kind",
    "start",
    "end",
    "amount",
    "currency",
    "source",
    "tags",
)


class CostRecord(BaseModel):
    """An amount spent (or estimated) on one resource between ``start`` and ``end`` (UTC)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    project: str | None = None
    resource: str | None = Field(None, description="`kind/name` (the unifiedml-resource tag) or a native id")
    service: str | None = None
    kind: CostKind
    start: datetime
    end: datetime
    amount: float
    currency: str = Field(min_length=3, max_length=3)
    source: str = Field(description="where the figure comes from, e.g. 'aws-cost-explorer'")
    tags: dict[str, str] = Field(default_factory=dict)
    usage_quantity: float | None = None
    usage_unit: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
