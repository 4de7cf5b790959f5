"""Billed-cost readers: one interface, one reader per provider, all returning CostRecords.

How a provider wires its reader in (from its own module, at import or on first
use)::

    from unifiedml.cost.readers import register_billing_reader
    register_billing_reader("sagemaker", "unifiedml.cost.readers.aws:CostExplorerReader")

and builds it with its own clients/credentials through
:func:`billing_reader` (``billing_reader("sagemaker", client=ce_client)``).
A reader registered by dotted path is imported only when asked for, so no
vendor SDK is imported before it is needed. An unknown name lists the valid
ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from unifiedml.cost.readers.base import BillingReader, QueryRunner
from unifiedml.errors import NotFound

__all__ = ["BillingReader", "QueryRunner", "billing_reader", "register_billing_reader", "registered_readers"]

_READERS: dict[str, str | Callable[..., BillingReader]] = {
    "sagemaker": "unifiedml.cost.readers.aws:CostExplorerReader",
    "vertex": "unifiedml.cost.readers.gcp:BigQueryBillingReader",
    "azureml": "unifiedml.cost.readers.azure:CostManagementReader",
    "huggingface": "unifiedml.cost.readers.estimated:HuggingFaceEstimateReader",
    "local": "unifiedml.cost.readers.estimated:LocalEstimateReader",
}


def register_billing_reader(provider: str, factory: str | Callable[..., BillingReader]) -> None:
    """Register (or replace) the reader for ``provider``: a ``module:Class`` path or a callable."""
    _READERS[provider] = factory


def registered_readers() -> dict[str, str]:
    return {k: v if isinstance(v, str) else f"{v.__module__}:{v.__qualname__}" for k, v in _READERS.items()}


def billing_reader(provider: str, /, **kwargs: Any) -> BillingReader:
    """Build the reader registered for ``provider`` with ``kwargs`` (clients, runners, settings)."""
    factory = _READERS.get(provider)
    if factory is None:
        raise NotFound(
            f"no billed-cost reader is registered for {provider!r}",
            hint="registered: " + ", ".join(sorted(_READERS)),
        )
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**kwargs)  # type: ignore[no-any-return, operator]
