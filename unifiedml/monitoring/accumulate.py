"""Streaming accumulators for the current window: fixed-size state per column, updated batch by batch.

A numeric accumulator counts the current values on the reference sketch's
grid (per-bin counts and right-edge distance sums, see
:mod:`unifiedml.monitoring.grid`); a categorical accumulator keeps category
counts. Memory is O(grid + categories) plus a bounded buffer of current values
(kept so the few grid bins a check must resolve can be, without a second read),
independent of how many rows stream through.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from unifiedml.monitoring.columns import add_category_counts, as_float_values, sum_squares
from unifiedml.monitoring.grid import BinCounts
from unifiedml.monitoring.sketch import CategoricalSketch, NumericSketch
from unifiedml.monitoring.stats import KS_EXACT_MAX_N

__all__ = ["CategoricalAccumulator", "NumericAccumulator"]


class NumericAccumulator:
    """Current-window state for one numeric column against its reference sketch."""

    def __init__(self, sketch: NumericSketch, *, buffer_values: int = 0) -> None:
        self.sketch = sketch
        self.grid = sketch.grid
        self.counts = np.zeros(self.grid.size, dtype=np.int64)
        self.rest = np.zeros(self.grid.size, dtype=np.float64)
        self.n = 0
        self.n_missing = 0
        self.total = 0.0
        self.total_sq = 0.0
        # Batches are kept (as read-only views where Arrow allows) while the window is small enough:
        # resolving grid bins exactly and scipy's exact small-sample KS need the values themselves.
        self.buffer_values = max(buffer_values, KS_EXACT_MAX_N)
        self.buffer: list[np.ndarray] | None = []

    def update(self, arr: pa.Array | pa.ChunkedArray) -> None:
        """Add one batch of the column (nulls, NaN and infinities count as missing)."""
        x, n_missing = as_float_values(arr)
        self.n_missing += n_missing
        if not len(x):
            return
        self.n += len(x)
        self.total += float(x.sum())
        self.total_sq += sum_squares(x)
        if self.buffer is not None:
            if self.n <= self.buffer_values:
                self.buffer.append(x)  # never written to
            else:
                self.buffer = None
        counts, rest = self.grid.count(x)
        self.counts += counts
        self.rest += rest

    def bin_counts_on_grid(self) -> BinCounts:
        return BinCounts(self.counts, self.rest)

    def current_values(self) -> np.ndarray | None:
        """All current values when the whole window was buffered, else None."""
        if self.buffer is None:
            return None
        return np.concatenate(self.buffer) if self.buffer else np.empty(0)

    def values_in(self, marked: np.ndarray) -> np.ndarray | None:
        """The buffered current values whose grid bin is marked, not sorted (None when not buffered)."""
        if self.buffer is None:
            return None
        return self.grid.select([chunk for chunk in self.buffer if len(chunk)], marked)

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def std(self) -> float | None:
        if not self.n:
            return None
        mean = self.total / self.n
        return float(np.sqrt(max(self.total_sq / self.n - mean * mean, 0.0)))


class CategoricalAccumulator:
    """Current-window category counts for one categorical column."""

    def __init__(self, sketch: CategoricalSketch) -> None:
        self.sketch = sketch
        self.counts: dict[str, int] = {}
        self.n = 0
        self.n_missing = 0

    def update(self, arr: pa.Array | pa.ChunkedArray) -> None:
        """Add one batch of the column (nulls count as missing)."""
        counted, missing = add_category_counts(arr, self.counts)
        self.n += counted
        self.n_missing += missing

    def aligned(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Categories (reference order, then unseen ones sorted) with reference and current counts."""
        ref_cats = list(self.sketch.categories)
        known = set(ref_cats)
        unseen = sorted(c for c in self.counts if c not in known)
        cats = ref_cats + unseen
        ref_counts = np.asarray(self.sketch.counts, dtype=np.int64)
        ref = np.concatenate((ref_counts, np.zeros(len(unseen), np.int64)))
        cur = np.asarray([self.counts.get(c, 0) for c in cats], dtype=np.int64)
        return cats, ref, cur
