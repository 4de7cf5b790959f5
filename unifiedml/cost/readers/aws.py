"""SageMaker billed cost: AWS Cost Explorer ``GetCostAndUsage`` grouped by the ``unifiedml-resource`` tag.

The provider passes its boto3 ``ce`` client (Cost Explorer lives in
us-east-1). Daily granularity, ``UnblendedCost``, filtered to the SageMaker
service and, when given, the ``unifiedml-project`` tag. The tag must be
activated as a cost allocation tag in the account's billing console, or AWS
reports the costs untagged (those come back with ``resource=None``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from unifiedml.cost.records import CostRecord

logger = logging.getLogger(__name__)

__all__ = ["CostExplorerReader", "cost_explorer_request", "map_cost_explorer_response"]

SERVICE = "Amazon SageMaker"
RESOURCE_TAG = "unifiedml-resource"
PROJECT_TAG = "unifiedml-project"


def cost_explorer_request(*, since: datetime, until: datetime, project: str | None) -> dict[str, Any]:
    """The ``GetCostAndUsage`` arguments (start inclusive, end exclusive, as Cost Explorer wants)."""
    service = {"Dimensions": {"Key": "SERVICE", "Values": [SERVICE]}}
    filt: dict[str, Any] = service
    if project:
        filt = {"And": [service, {"Tags": {"Key": PROJECT_TAG, "Values": [project]}}]}
    end = until.date() if until.time() == datetime.min.time() else until.date() + timedelta(days=1)
    return {
        "TimePeriod": {"Start": since.date().isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "TAG", "Key": RESOURCE_TAG}],
        "Filter": filt,
    }


def map_cost_explorer_response(response: dict[str, Any], *, project: str | None) -> Iterator[CostRecord]:
    """ResultsByTime -> one record per (day, resource tag value); zero-cost groups are kept out."""
    for period in response.get("ResultsByTime", []):
        start = datetime.fromisoformat(period["TimePeriod"]["Start"]).replace(tzinfo=UTC)
        end = datetime.fromisoformat(period["TimePeriod"]["End"]).replace(tzinfo=UTC)
        groups = period.get("Groups") or []
        if not groups and period.get("Total"):
            groups = [{"Keys": [f"{RESOURCE_TAG}$"], "Metrics": period["Total"]}]
        for group in groups:
            metric = group["Metrics"]["UnblendedCost"]
            amount = float(metric["Amount"])
            if amount == 0:
                continue
            key = group["Keys"][0]
            value = key.split("$", 1)[1] if "$" in key else key
            yield CostRecord(
                provider="sagemaker",
                project=project,
                resource=value or None,
                service=SERVICE,
                kind="billed",
                start=start,
                end=end,
                amount=amount,
                currency=metric["Unit"],
                source="aws-cost-explorer" + (" (estimated by AWS)" if period.get("Estimated") else ""),
                tags={RESOURCE_TAG: value} if value else {},
            )


class CostExplorerReader:
    """Billed SageMaker cost per resource per day. ``client`` is a boto3 ``ce`` client."""

    name = "aws-cost-explorer"

    def __init__(self, *, client: Any) -> None:
        self.client = client

    def read(self, *, since: datetime, until: datetime, project: str | None = None) -> Iterator[CostRecord]:
        """Blocking; pages through ``NextPageToken``."""
        request = cost_explorer_request(since=since, until=until, project=project)
        token = None
        while True:
            response = self.client.get_cost_and_usage(
                **request, **({"NextPageToken": token} if token else {})
            )
            yield from map_cost_explorer_response(response, project=project)
            token = response.get("NextPageToken")
            if not token:
                return
