"""Provider registry: built-ins by dotted path, third parties by entry point.

Nothing here imports a provider module until it is asked for by name, so
listing names is free. Third-party packages register a provider class under
the entry-point group ``unifiedml.providers``::

    [project.entry-points."unifiedml.providers"]
    mycloud = "mypackage.provider:MyCloudProvider"
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points

from unifiedml.errors import ConfigError, MissingDependency
from unifiedml.providers.base import Provider

logger = logging.getLogger(__name__)

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "ProviderInfo", "available", "load"]

ENTRY_POINT_GROUP = "unifiedml.providers"


@dataclass(frozen=True)
class ProviderInfo:
    """Where a provider lives and which extra installs its SDK."""

    name: str
    module: str
    cls: str
    extra: str


#: Built-in providers. A provider is listed here only once it is implemented.
BUILTIN: dict[str, ProviderInfo] = {
    "local": ProviderInfo("local", "unifiedml.providers.local.provider", "LocalProvider", "local"),
    "sagemaker": ProviderInfo("sagemaker", "unifiedml.providers.sagemaker.provider", "SageMakerProvider", "aws"),
    "vertex": ProviderInfo("vertex", "unifiedml.providers.vertex.provider", "VertexProvider", "gcp"),
}


def _plugins() -> dict[str, str]:
    found: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            logger.warning("ignoring plugin %s: it shadows the built-in provider of that name", ep.value)
            continue
        found[ep.name] = ep.value
    return found


def available() -> list[str]:
    """Names of every known provider (built-in and plugins), sorted. Imports nothing."""
    return sorted({*BUILTIN, *_plugins()})


def load(name: str) -> type[Provider]:
    """The provider class registered as ``name``.

    Raises ConfigError listing the valid names for an unknown one, and
    MissingDependency (naming the extra) when the provider's SDK is missing.
    """
    info = BUILTIN.get(name)
    if info is not None:
        try:
            module = importlib.import_module(info.module)
        except ImportError as exc:
            raise MissingDependency(exc.name or info.module, extra=info.extra, provider=name) from exc
        cls = getattr(module, info.cls)
    else:
        plugins = _plugins()
        if name not in plugins:
            raise ConfigError(
                f"unknown provider {name!r}",
                field="provider",
                hint="valid providers: " + ", ".join(available()),
            )
        target = plugins[name]
        module_name, _, attr = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"the provider plugin {name!r} ({target}) failed to load: {exc}", field="provider"
            ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigError(f"{name!r} does not name a unifiedml Provider subclass", field="provider")
    return cls
