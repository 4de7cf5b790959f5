"""unifiedml: one interface over managed ML services and a local TensorFlow backend.

Public names are imported lazily (PEP 562), so ``import unifiedml`` stays
fast and never imports a vendor SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Client": "unifiedml.client",
    "TrainingSpec": "unifiedml.specs",
    "AutoMLSpec": "unifiedml.specs",
    "DeploymentSpec": "unifiedml.specs",
    "CaptureSpec": "unifiedml.specs",
    "Resources": "unifiedml.specs",
    "MonitorSpec": "unifiedml.monitoring.spec",
    "DataRef": "unifiedml.specs",
    "TrainingJob": "unifiedml.resources",
    "AutoMLJob": "unifiedml.resources",
    "Model": "unifiedml.resources",
    "Endpoint": "unifiedml.resources",
    "Prediction": "unifiedml.resources",
    "Status": "unifiedml.resources",
    "Capability": "unifiedml.providers.base",
    "Provider": "unifiedml.providers.base",
    "StateStore": "unifiedml.state",
    "UnifiedMLError": "unifiedml.errors",
    "ConfigError": "unifiedml.errors",
    "CapabilityNotSupported": "unifiedml.errors",
    "OperationFailed": "unifiedml.errors",
    "OperationTimeout": "unifiedml.errors",
    "NotFound": "unifiedml.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover
    from unifiedml.client import Client
    from unifiedml.errors import (
        CapabilityNotSupported,
        ConfigError,
        NotFound,
        OperationFailed,
        OperationTimeout,
        UnifiedMLError,
    )
    from unifiedml.monitoring.spec import MonitorSpec
    from unifiedml.providers.base import Capability, Provider
    from unifiedml.resources import AutoMLJob, Endpoint, Model, Prediction, Status, TrainingJob
    from unifiedml.specs import AutoMLSpec, CaptureSpec, DataRef, DeploymentSpec, Resources, TrainingSpec
    from unifiedml.state import StateStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unifiedml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
