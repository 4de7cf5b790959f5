"""Cost settings: local/on-prem rates and the default region per provider.

Local cost is configured rates x measured core-hours and GPU-hours. When no
rate is configured, local cost is *unknown* (``None``), never zero.

Sources, later wins: a YAML file (``cost:`` section, or the whole file) named
by ``path`` or ``$UNIFIEDML_COST_CONFIG``, then the variables
``UNIFIEDML_COST_CPU_CORE_HOUR``, ``UNIFIEDML_COST_GPU_HOUR`` and
``UNIFIEDML_COST_CURRENCY``::

    cost:
      cpu_core_hour: 0.02     # per core-hour
      gpu_hour: 0.60          # per GPU-hour
      currency: EUR
      regions: {sagemaker: eu-west-1}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from unifiedml.errors import ConfigError

__all__ = ["CostSettings", "load_cost_settings"]


class CostSettings(BaseModel):
    """Rates for local/on-prem compute and the region estimates use per provider."""

    model_config = ConfigDict(extra="forbid")

    cpu_core_hour: float | None = Field(None, ge=0, description="price of one core for one hour")
    gpu_hour: float | None = Field(None, ge=0, description="price of one GPU for one hour")
    currency: str = Field("USD", min_length=3, max_length=3)
    regions: dict[str, str] = Field(default_factory=dict, description="provider -> region for estimates")

    def local_hourly(self, *, cores: float, gpus: float) -> float | None:
        """Hourly local price for ``cores`` and ``gpus``; None when a needed rate is not configured."""
        if cores and self.cpu_core_hour is None:
            return None
        if gpus and self.gpu_hour is None:
            return None
        return cores * (self.cpu_core_hour or 0.0) + gpus * (self.gpu_hour or 0.0)

    @property
    def configured(self) -> bool:
        return self.cpu_core_hour is not None


def load_cost_settings(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> CostSettings:
    """Read settings from the YAML file (if any) and the environment; raises ConfigError naming the field."""
    from unifiedml.specs import validate_spec

    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = path or env.get("UNIFIEDML_COST_CONFIG")
    where = "cost"
    if path:
        import yaml

        p = Path(path).expanduser()
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read {p}: {exc.strerror}", field="cost") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p} must hold a mapping", field="cost")
        section = loaded.get("cost", loaded if "cost" not in loaded else {})
        data = dict(section or {})
        where = f"{p}:cost"
    for var, key in (
        ("UNIFIEDML_COST_CPU_CORE_HOUR", "cpu_core_hour"),
        ("UNIFIEDML_COST_GPU_HOUR", "gpu_hour"),
        ("UNIFIEDML_COST_CURRENCY", "currency"),
    ):
        if env.get(var):
            data[key] = env[var]
    return validate_spec(CostSettings, data, where=where)
