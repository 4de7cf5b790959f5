"""Streaming accumulators for the current window: fixed-size state per column, updated batch by batch.

A numeric accumulator keeps, on the reference sketch's grid of m values, the
number of current values equal to each grid value and, for each of the m + 1
open intervals between them, the count and sum of the current values inside;
a categorical accumulator keeps category counts. Memory is O(grid +
categories) plus a bounded buffer of current values, independent of how many
rows stream through.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unifiedml.monitoring.columns import as_float_values, as_strings
from unifiedml.monitoring.sketch import CategoricalSketch, NumericSketch
from unifiedml.monitoring.stats import KS_EXACT_MAX_N

__all__ = ["CategoricalAccumulator", "IntervalCollector", "NumericAccumulator"]


class NumericAccumulator:
    """Current-window state for one numeric column against its reference sketch."""

    def __init__(self, sketch: NumericSketch, *, buffer_values: int = 0) -> None:
        self.sketch = sketch
        self.grid = np.asarray(sketch.grid)
        m = len(self.grid)
        self.counts = np.zeros(m + 1, dtype=np.int64)
        self.sums = np.zeros(m + 1, dtype=np.float64)
        self.hits = np.zeros(m, dtype=np.int64)
        self.n = 0
        self.n_missing = 0
        self._le: np.ndarray | None = None
        self.total = 0.0
        self.total_sq = 0.0
        # Sorted batches are kept while the window is small: scipy's exact KS distribution (both samples
        # <= 10,000) and the exact Wasserstein integral where the CDFs cross need the values themselves.
        self.buffer_values = max(buffer_values, KS_EXACT_MAX_N)
        self.buffer: list[np.ndarray] | None = []

    def update(self, arr: pa.Array | pa.ChunkedArray) -> None:
        """Add one batch of the column (nulls and NaN count as missing)."""
        x, n_missing = as_float_values(arr)
        self.n_missing += n_missing
        if not len(x):
            return
        x.sort()
        self.n += len(x)
        self.total += float(x.sum())
        self.total_sq += float(np.dot(x, x))
        if self.buffer is not None:
            if self.n <= self.buffer_values:
                self.buffer.append(x)  # x is ours (a fresh array) and never written to again
            else:
                self.buffer = None
        m = len(self.grid)
        if m == 0:
            self.counts[0] += len(x)
            self.sums[0] += float(x.sum())
            return
        k = np.searchsorted(self.grid, x, side="left")
        hit = self.grid[np.minimum(k, m - 1)] == x
        if hit.any():
            self.hits += np.bincount(k[hit], minlength=m)
            self._le = None
            keep = ~hit
            k = k[keep]
            x = x[keep]
        if not len(x):
            return
        self.counts += np.bincount(k, minlength=m + 1)
        self.sums += np.bincount(k, weights=x, minlength=m + 1)
        self._le = None

    def current_values(self) -> np.ndarray | None:
        """The current values when the whole window was buffered, else None."""
        if self.buffer is None:
            return None
        return np.concatenate(self.buffer) if self.buffer else np.empty(0)

    def points_from_buffer(self, ids: np.ndarray) -> dict[int, np.ndarray] | None:
        """The buffered current values inside each open interval ``ids`` (None when not buffered)."""
        if self.buffer is None:
            return None
        ids = np.asarray(ids, dtype=np.int64)
        lo, hi = self.grid[ids - 1], self.grid[ids]
        parts: dict[int, list[np.ndarray]] = {}
        for chunk in self.buffer:  # sorted: each interval is one slice
            starts = np.searchsorted(chunk, lo, side="right")
            stops = np.searchsorted(chunk, hi, side="left")
            for i, a, b in zip(ids.tolist(), starts.tolist(), stops.tolist(), strict=True):
                if b > a:
                    parts.setdefault(i, []).append(chunk[a:b])
        return {i: np.concatenate(v) for i, v in parts.items()}

    def le_counts(self) -> np.ndarray:
        """Current values <= each grid value (cached until the next update)."""
        if self._le is None:
            self._le = np.cumsum(self.counts[: len(self.grid)] + self.hits)
        return self._le

    def bin_counts(self) -> np.ndarray:
        """Current counts in the sketch's PSI/JS bins (below min, quantile bins, above max)."""
        if not len(self.grid):
            return np.zeros(0, dtype=np.int64)
        le = self.le_counts()
        at = le[self.sketch.bin_index]
        inside = np.diff(np.concatenate(([self.counts[0]], at)))
        return np.concatenate(([self.counts[0]], inside, [self.n - le[-1]])).astype(np.int64)

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
        strings = as_strings(arr)
        self.n_missing += strings.null_count
        if strings.null_count == len(strings):
            return
        vc = pc.value_counts(pc.drop_null(strings))
        for value, count in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
            self.counts[value] = self.counts.get(value, 0) + count
            self.n += count

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


class IntervalCollector:
    """Gathers the current values that fall strictly inside chosen open intervals of the grid.

    Interval id ``i`` is ``(grid[i-1], grid[i])``; used for the few intervals
    where the exact Wasserstein integral needs the values themselves.
    """

    def __init__(self, grid: np.ndarray, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.lo = np.asarray(grid)[self.ids - 1]
        self.hi = np.asarray(grid)[self.ids]
        self.bounds = np.column_stack((self.lo, self.hi)).ravel()
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, x: np.ndarray) -> None:
        """Add values (any order, no missing)."""
        if not len(self.ids) or not len(x):
            return
        pos = np.searchsorted(self.bounds, x, side="right")
        j = pos // 2
        cand = (pos % 2 == 1)
        jc = np.minimum(j, len(self.ids) - 1)
        inside = cand & (x > self.lo[jc]) & (x < self.hi[jc])
        if inside.any():
            self._parts.append((j[inside], x[inside]))

    def points(self) -> dict[int, np.ndarray]:
        """Interval id -> the values inside it."""
        if not self._parts:
            return {}
        j = np.concatenate([p[0] for p in self._parts])
        x = np.concatenate([p[1] for p in self._parts])
        order = np.argsort(j, kind="stable")
        j, x = j[order], x[order]
        splits = np.flatnonzero(np.diff(j)) + 1
        return {int(self.ids[g[0]]): v for g, v in zip(np.split(j, splits), np.split(x, splits), strict=True)}
