"""The drift methods, what their scores mean, and the default threshold of each (with its source).

Every method produces one score per feature. For distance-like methods a
feature drifts when ``score > threshold``; for tests (``ks``, ``chi_square``)
the score is a p-value and a feature drifts when ``p_value < threshold``.

Defaults and where they come from (no vendor default is claimed unless its
public documentation says so):

* ``wasserstein`` 0.1 and ``jensen_shannon`` 0.1: Evidently's documented
  default threshold for its distance methods on data with more than 1,000
  reference rows (https://docs.evidentlyai.com/reference/data-drift-algorithm).
* ``ks`` and ``chi_square`` p < 0.05: the conventional 95 % confidence level,
  also Evidently's documented default for its tests (same page).
* ``psi`` 0.25: the conventional PSI rule of thumb (< 0.1 stable, 0.1-0.25
  moderate, > 0.25 significant shift); a convention, not a vendor default.
* ``linf`` 0.1: unifiedml's own choice (Vertex AI uses L-infinity for
  categorical features, but its threshold is per monitor and we found no
  documented default value).

The default method per column type is unifiedml's choice: normalized
Wasserstein for numeric columns and Jensen-Shannon distance for categorical
columns, as Evidently does for large data; every report states which method
decided each feature.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DEFAULT_CATEGORICAL_METHOD",
    "DEFAULT_NUMERIC_METHOD",
    "DEFAULT_THRESHOLDS",
    "THRESHOLD_SOURCES",
    "Method",
    "is_drift",
    "methods_for",
]


class Method(StrEnum):
    """Numeric columns: all but ``linf``; categorical: all but ``ks``, ``wasserstein``."""

    psi = "psi"
    ks = "ks"
    wasserstein = "wasserstein"
    jensen_shannon = "jensen_shannon"
    chi_square = "chi_square"
    linf = "linf"


P_VALUE_METHODS = frozenset({Method.ks, Method.chi_square})

NUMERIC_METHODS = (Method.psi, Method.ks, Method.wasserstein, Method.jensen_shannon)
CATEGORICAL_METHODS = (Method.psi, Method.jensen_shannon, Method.chi_square, Method.linf)

DEFAULT_NUMERIC_METHOD = Method.wasserstein
DEFAULT_CATEGORICAL_METHOD = Method.jensen_shannon

DEFAULT_THRESHOLDS: dict[Method, float] = {
    Method.psi: 0.25,
    Method.ks: 0.05,
    Method.wasserstein: 0.1,
    Method.jensen_shannon: 0.1,
    Method.chi_square: 0.05,
    Method.linf: 0.1,
}

THRESHOLD_SOURCES: dict[Method, str] = {
    Method.psi: "convention: PSI > 0.25 is a significant shift (0.1-0.25 moderate)",
    Method.ks: "convention: 95% confidence (Evidently's documented default for its tests)",
    Method.wasserstein: "Evidently's documented default threshold (0.1) for > 1000 reference rows",
    Method.jensen_shannon: "Evidently's documented default threshold (0.1) for > 1000 reference rows",
    Method.chi_square: "convention: 95% confidence (Evidently's documented default for its tests)",
    Method.linf: "unifiedml's own choice",
}


def methods_for(kind: str) -> tuple[Method, ...]:
    """The methods valid for a column kind (``numeric`` or ``categorical``)."""
    return NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS


def is_drift(method: Method, score: float, threshold: float) -> bool:
    """Whether ``score`` crosses ``threshold`` for ``method`` (p-values drift when small)."""
    if method in P_VALUE_METHODS:
        return score < threshold
    return score > threshold
