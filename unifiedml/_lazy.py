"""Lazy imports of vendor SDKs and heavy libraries, with install hints.

``import unifiedml`` and ``unifiedml --help`` must never import TensorFlow,
boto3, google-cloud-aiplatform, azure-ai-ml or huggingface_hub: providers call
:func:`require` at the point of use instead of importing at module top.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from unifiedml.errors import MissingDependency

__all__ = ["EXTRA_FOR", "require"]

#: Which extra installs which top-level module.
EXTRA_FOR: dict[str, str] = {
    "tensorflow": "local",
    "keras": "local",
    "boto3": "aws",
    "botocore": "aws",
    "moto": "dev",
    "google.cloud.aiplatform": "gcp",
    "google.cloud.aiplatform_v1": "gcp",
    "google.cloud.storage": "gcp",
    "azure.ai.ml": "azure",
    "azure.identity": "azure",
    "huggingface_hub": "hf",
}


def require(module: str, *, extra: str | None = None, provider: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        root = module.split(".")[0]
        hint_extra = extra or EXTRA_FOR.get(module) or EXTRA_FOR.get(root, "all")
        raise MissingDependency(module, extra=hint_extra, provider=provider) from exc
