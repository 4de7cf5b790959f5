"""Prices for ``unifiedml plan``: the hourly cost of an endpoint item at its planned size."""

from __future__ import annotations

import logging
from typing import Any

from unifiedml.cost.estimates import estimate_deployment
from unifiedml.errors import UnifiedMLError
from unifiedml.specs import DeploymentSpec

logger = logging.getLogger(__name__)

__all__ = ["estimate_plan_item"]


def estimate_plan_item(item: Any) -> tuple[float | None, str | None]:
    """(cost per hour at the minimum replicas, currency) for a plan item; (None, None) when not priced.

    ``item`` is a :class:`unifiedml.deploy.plan.PlanItem`; only endpoints
    that will exist are priced. Unknown prices and unknown types come back
    as ``None`` (the plan shows them as unknown); they never fail a plan.
    """
    if getattr(item, "kind", None) != "endpoint" or getattr(item, "action", None) == "delete":
        return None, None
    desired = dict(item.desired or {})
    fields = {k: desired[k] for k in ("resources", "min_replicas", "max_replicas") if k in desired}
    try:
        spec = DeploymentSpec.model_validate(fields)
        est = estimate_deployment(spec, provider=item.provider)
    except (UnifiedMLError, ValueError) as exc:
        logger.info("no price for %s %s: %s", item.provider, item.name, exc)
        return None, None
    return est.per_hour_min, est.currency
