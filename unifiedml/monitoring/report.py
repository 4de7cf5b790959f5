"""The typed result of a drift check: one :class:`FeatureDrift` per column and a :class:`DriftReport`."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from unifiedml.errors import DriftDetected

__all__ = ["DriftReport", "FeatureDrift", "FeatureStatus", "Histogram"]

FeatureStatus = Literal["checked", "no_data", "missing_in_current", "type_mismatch", "not_in_reference",
                        "unsupported"]


class Histogram(BaseModel):
    """Reference and current counts over the same bins (numeric) or categories, for plots."""

    labels: list[str]
    reference: list[int]
    current: list[int]


class FeatureDrift(BaseModel):
    """Drift of one column.

    ``status`` is ``checked`` when scores were computed; otherwise it says why
    not (``no_data``: no non-missing current values; ``missing_in_current``;
    ``type_mismatch``: numeric in one sample, categorical in the other;
    ``not_in_reference``; ``unsupported`` type). ``scores`` holds every method
    valid for the column (p-values for ``ks`` and ``chi_square``); ``method``
    and ``threshold`` are what decided ``drifted``.
    """

    name: str
    kind: Literal["numeric", "categorical", "unknown"]
    status: FeatureStatus
    method: str | None = None
    threshold: float | None = None
    score: float | None = None
    drifted: bool = False
    scores: dict[str, float] = Field(default_factory=dict)
    statistics: dict[str, float] = Field(default_factory=dict)
    n_reference: int = 0
    n_current: int = 0
    missing_reference: int = 0
    missing_current: int = 0
    exact: bool = True
    notes: list[str] = Field(default_factory=list)
    histogram: Histogram | None = None


class DriftReport(BaseModel):
    """A whole check. ``drifted`` is the dataset-level verdict used for exit codes and alerts.

    ``status``: ``drift``, ``no_drift``, or ``no_data`` (the current window had
    no rows: nothing was compared, which is never reported as "no drift").
    ``drift_share`` = drifted / checked features; the dataset drifts when at
    least one feature drifted and ``drift_share >= min_drift_share``.
    """

    status: Literal["drift", "no_drift", "no_data"]
    drifted: bool
    drift_share: float
    min_drift_share: float
    n_checked: int
    n_drifted: int
    features: list[FeatureDrift]
    reference: dict[str, Any]
    current: dict[str, Any]
    default_methods: dict[str, str]
    threshold_sources: dict[str, str]
    created_at: str
    duration_s: float

    def feature(self, name: str) -> FeatureDrift:
        """The result for column ``name`` (KeyError when absent)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def to_dict(self, *, histograms: bool = True) -> dict[str, Any]:
        """A JSON-ready dict (the ``--output json`` shape)."""
        data = self.model_dump(mode="json")
        if not histograms:
            for f in data["features"]:
                f.pop("histogram", None)
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """One line for people and alert messages."""
        if self.status == "no_data":
            return f"no data in the current window ({self.current.get('source', '')})"
        if not self.drifted:
            return f"no drift: 0 of {self.n_checked} features drifted" if not self.n_drifted else (
                f"no dataset drift: {self.n_drifted} of {self.n_checked} features drifted "
                f"(share {self.drift_share:.0%} < {self.min_drift_share:.0%})")
        return (f"drift: {self.n_drifted} of {self.n_checked} features drifted "
                f"({self.drift_share:.0%}): {', '.join(self.drifted_features)}")

    def raise_for_drift(self) -> DriftReport:
        """Raise :class:`DriftDetected` when the dataset drifted; return self otherwise."""
        if self.drifted:
            raise DriftDetected(self.summary(), hint="see the per-feature report (--html for plots)")
        return self
