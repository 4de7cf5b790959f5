"""Billed cost from Cost Explorer and list prices from the Price List API.

* :func:`billed_costs` calls ``ce.get_cost_and_usage`` filtered to SageMaker and
  to this project's ``unifiedml-project`` tag, grouped by the
  ``unifiedml-resource`` tag, and returns typed :class:`BilledCost` records.
  Cost allocation tags must be activated in the Billing console before Cost
  Explorer can filter or group by them (AWS's rule, not ours).
* :func:`list_price` reads the on-demand USD/hour of an instance type from the
  ``pricing`` API (``AmazonSageMaker``, filtered by ``regionCode`` and
  ``instanceName``). Offline, the shipped price catalog answers instead.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from unifiedml.providers.base import TAG_PROJECT, TAG_RESOURCE
from unifiedml.providers.sagemaker.errors import call

logger = logging.getLogger(__name__)

__all__ = ["SAGEMAKER_SERVICE", "BilledCost", "billed_costs", "list_price"]

#: Cost Explorer's SERVICE dimension value for SageMaker.
SAGEMAKER_SERVICE = "Amazon SageMaker"


@dataclass(frozen=True)
class BilledCost:
    """One billed amount: a resource (tag value) in one period. ``estimated`` is Cost Explorer's flag."""

    provider: str
    start: date
    end: date
    amount: Decimal
    currency: str
    project: str | None
    resource: str | None
    estimated: bool
    metric: str = "UnblendedCost"
    extra: dict[str, Any] = field(default_factory=dict)


def billed_costs(
    ce: Any,
    *,
    start: date,
    end: date,
    project: str | None,
    granularity: str = "DAILY",
    metric: str = "UnblendedCost",
) -> list[BilledCost]:
    """Billed SageMaker cost per ``unifiedml-resource`` tag value and period. Blocking; pages through results.

    ``end`` is exclusive (Cost Explorer's convention). Untagged spend comes back with ``resource=None``.
    """
    filters: list[dict[str, Any]] = [{"Dimensions": {"Key": "SERVICE", "Values": [SAGEMAKER_SERVICE]}}]
    if project:
        filters.append({"Tags": {"Key": TAG_PROJECT, "Values": [project], "MatchOptions": ["EQUALS"]}})
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": granularity,
        "Metrics": [metric],
        "Filter": filters[0] if len(filters) == 1 else {"And": filters},
        "GroupBy": [{"Type": "TAG", "Key": TAG_RESOURCE}],
    }
    out: list[BilledCost] = []
    token = None
    while True:
        kwargs = dict(request, NextPageToken=token) if token else request
        page = call(lambda kw=kwargs: ce.get_cost_and_usage(**kw), what="read Cost Explorer")
        for period in page.get("ResultsByTime", []):
            p_start = date.fromisoformat(period["TimePeriod"]["Start"])
            p_end = date.fromisoformat(period["TimePeriod"]["End"])
            groups = period.get("Groups") or []
            if not groups and period.get("Total", {}).get(metric):
                groups = [{"Keys": [], "Metrics": period["Total"]}]
            for group in groups:
                value = group["Metrics"][metric]
                key = group["Keys"][0] if group.get("Keys") else ""
                # Tag group keys come back as "<tag key>$<value>"; an empty value means untagged.
                resource = key.split("$", 1)[1] if "$" in key else None
                out.append(
                    BilledCost(
                        provider="sagemaker",
                        start=p_start,
                        end=p_end,
                        amount=Decimal(value["Amount"]),
                        currency=value.get("Unit", "USD"),
                        project=project,
                        resource=resource or None,
                        estimated=bool(period.get("Estimated", False)),
                        metric=metric,
                    )
                )
        token = page.get("NextPageToken")
        if not token:
            return out


def list_price(
    pricing: Any, *, instance_type: str, region: str, component: str | None = None
) -> Decimal | None:
    """On-demand USD per hour for ``instance_type`` in ``region`` (None when the API lists none).

    ``component`` (e.g. ``Training`` / ``Hosting``) picks among products when the API returns several.
    """
    filters = [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type},
    ]
    products = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"ServiceCode": "AmazonSageMaker", "Filters": filters, "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        page = call(lambda kw=kwargs: pricing.get_products(**kw), what="read the Price List API")
        products += [json.loads(p) if isinstance(p, str) else p for p in page.get("PriceList", [])]
        token = page.get("NextToken")
        if not token:
            break
    if component:
        chosen = [
            p
            for p in products
            if str(p["product"]["attributes"].get("component", "")).lower() == component.lower()
        ]
        products = chosen or products
    for product in products:
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dim in term.get("priceDimensions", {}).values():
                usd = dim.get("pricePerUnit", {}).get("USD")
                if usd is not None and dim.get("unit", "").lower().startswith("hr"):
                    return Decimal(usd)
    return None
