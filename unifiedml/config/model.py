"""The ``unifiedml.yaml`` document as pydantic models.

Terraform-style: the file says what should exist. Unknown keys are errors
that suggest the right key; cross-references (an endpoint's model, a
monitor's endpoint) are checked before anything is created. Credentials are
given by reference only (profile names, ``${ENV}`` variables): the loader
rejects a literal value under a secret-looking key before interpolation.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from unifiedml.specs import AutoMLSpec, PortableSize, TrainingSpec

__all__ = [
    "AutoscalingConfig",
    "EndpointConfig",
    "ModelConfig",
    "MonitorConfig",
    "ProjectConfig",
]

_NAME = r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Config):
    """Where a model comes from: exactly one of a training run, an AutoML run or an existing artifact."""

    provider: str | None = None
    training: TrainingSpec | None = None
    automl: AutoMLSpec | None = None
    artifact: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        given = [k for k in ("training", "automl", "artifact") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of training, automl or artifact")
        return self

    @property
    def source(self) -> str:
        return "training" if self.training else "automl" if self.automl else "artifact"


class AutoscalingConfig(_Config):
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be >= min_replicas")
        return self


class EndpointConfig(_Config):
    """An endpoint serving one of the file's models."""

    model: str
    provider: str | None = None
    size: PortableSize | None = None
    instance_type: str | None = None
    replicas: int = Field(1, ge=1)
    autoscaling: AutoscalingConfig | None = None
    traffic: dict[str, int] | None = None
    capture: bool = True
    port: int | None = Field(None, ge=0, le=65535)
    host: str = "127.0.0.1"
    tags: dict[str, str] = Field(default_factory=dict)
    provider_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def deployment_spec(self, name: str) -> dict[str, Any]:
        """The neutral DeploymentSpec (as a dict) this endpoint asks for."""
        min_r = self.autoscaling.min_replicas if self.autoscaling else self.replicas
        max_r = self.autoscaling.max_replicas if self.autoscaling else None
        return {
            "name": name,
            "resources": {"size": self.size, "instance_type": self.instance_type},
            "min_replicas": min_r,
            "max_replicas": max_r,
            "traffic": self.traffic,
            "capture": {"enabled": self.capture},
            "host": self.host,
            "port": self.port,
            "tags": self.tags,
            "provider_options": self.provider_options,
        }


class AlertsConfig(_Config):
    webhook: str | None = None


class MonitorConfig(_Config):
    """A scheduled drift check of an endpoint's captured traffic against reference data.

    The fields mirror :class:`unifiedml.monitoring.MonitorSpec`; ``schedule``
    is a cron expression (default: hourly), ``alerts.webhook`` receives a JSON
    POST when drift is found.
    """

    endpoint: str
    reference: str
    columns: list[str] | None = None
    categorical: list[str] = Field(default_factory=list)
    numeric_method: str | None = None
    categorical_method: str | None = None
    methods: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    min_drift_share: float = Field(0.0, ge=0.0, le=1.0)
    window: str = "24h"
    schedule: str = "0 * * * *"
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    def monitor_spec(self, name: str, reference: str) -> dict[str, Any]:
        """The MonitorSpec (as a dict) this monitor asks for, with the reference path resolved."""
        spec: dict[str, Any] = {
            "name": name,
            "reference": reference,
            "columns": self.columns,
            "categorical": self.categorical,
            "methods": self.methods,
            "thresholds": self.thresholds,
            "min_drift_share": self.min_drift_share,
            "window": self.window,
            "schedule": self.schedule,
            "webhook": self.alerts.webhook,
        }
        if self.numeric_method:
            spec["numeric_method"] = self.numeric_method
        if self.categorical_method:
            spec["categorical_method"] = self.categorical_method
        return spec


class ProjectConfig(_Config):
    """The whole file."""

    version: Literal[1] = 1
    project: str = Field(pattern=_NAME)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    monitors: dict[str, MonitorConfig] = Field(default_factory=dict)
    budgets: list[dict[str, Any]] = Field(default_factory=list)
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("models", "endpoints", "monitors")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(_NAME, name):
                raise ValueError(
                    f"{name!r} is not a valid name: use lowercase letters, digits and hyphens, "
                    "starting with a letter"
                )
        return value

    def default_provider(self) -> str:
        """The provider used when a model names none: the only configured one, else ``local``."""
        return next(iter(self.providers)) if len(self.providers) == 1 else "local"

    def model_provider(self, name: str) -> str:
        return self.models[name].provider or self.default_provider()

    def endpoint_provider(self, name: str) -> str:
        ep = self.endpoints[name]
        return ep.provider or self.model_provider(ep.model)
