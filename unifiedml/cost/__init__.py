"""Cost: a price catalog (versioned data files), estimates, billed-cost readers, reports and budgets.

Layout (each module holds one thing)::

    catalog.py      price files -> lookups (unknown is None, never 0), portable sizes
    data/           <provider>.csv price files (source + read-on date per row), shapes.json
    refresh.py      rebuild the price files from the providers' public price APIs
    estimates.py    training / deployment / running-resource estimates
    settings.py     local rates (core-hour, GPU-hour) and regions
    records.py      CostRecord: one amount, billed or estimated, with its currency
    readers/        one billed-cost reader per provider + the lifecycle estimate readers
    aggregate.py    records -> Arrow -> grouped sums (estimate beside bill)
    report.py       table / CSV / JSON / self-contained HTML with a chart
    budgets.py      budgets: model, checks, forecast, webhook alerts, plan guard
    snapshots.py    billed records kept in the state store (component "cost")
    summary.py      what a local run cost, and what it would cost on each cloud

Names are imported lazily so ``import unifiedml.cost`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Budget",
    "Catalog",
    "CostRecord",
    "CostSettings",
    "PriceQuote",
    "billing_reader",
    "default_catalog",
    "estimate_deployment",
    "estimate_plan_item",
    "estimate_running",
    "estimate_training",
    "load_cost_settings",
    "register_billing_reader",
    "register_price_lookup",
    "summarize_local_runs",
]

_WHERE = {
    "Budget": "unifiedml.cost.budgets",
    "Catalog": "unifiedml.cost.catalog",
    "PriceQuote": "unifiedml.cost.catalog",
    "default_catalog": "unifiedml.cost.catalog",
    "register_price_lookup": "unifiedml.cost.catalog",
    "CostRecord": "unifiedml.cost.records",
    "CostSettings": "unifiedml.cost.settings",
    "load_cost_settings": "unifiedml.cost.settings",
    "estimate_deployment": "unifiedml.cost.estimates",
    "estimate_running": "unifiedml.cost.estimates",
    "estimate_training": "unifiedml.cost.estimates",
    "billing_reader": "unifiedml.cost.readers",
    "register_billing_reader": "unifiedml.cost.readers",
    "summarize_local_runs": "unifiedml.cost.summary",
    "estimate_plan_item": "unifiedml.cost.plan_prices",
}

if TYPE_CHECKING:
    from unifiedml.cost.budgets import Budget
    from unifiedml.cost.catalog import Catalog, PriceQuote, default_catalog, register_price_lookup
    from unifiedml.cost.estimates import estimate_deployment, estimate_running, estimate_training
    from unifiedml.cost.plan_prices import estimate_plan_item
    from unifiedml.cost.readers import billing_reader, register_billing_reader
    from unifiedml.cost.records import CostRecord
    from unifiedml.cost.settings import CostSettings, load_cost_settings
    from unifiedml.cost.summary import summarize_local_runs


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'unifiedml.cost' has no attribute {name!r}")
