"""Reducing reference data to a :class:`~unifiedml.monitoring.sketch.ReferenceSketch` (one pass, bounded memory).

Three ways, chosen by :func:`build_sketch`: data already in memory is counted
column by column and its values kept as views; Parquet files are streamed,
counted, and their values left in the files (:class:`ValuesOnDisk`); past the
size budget, or with ``exact=False``, the values are not kept at all and the
statistics that need them become bounded approximations.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from unifiedml.errors import ConfigError
from unifiedml.monitoring.columns import add_category_counts, as_float_values, column_kind, sum_squares
from unifiedml.monitoring.grid import MAX_BINS, MIN_BINS, VALUES_PER_BIN, Grid, Values, as_chunks, choose_grid
from unifiedml.monitoring.sketch import (
    DEFAULT_BINS,
    CategoricalSketch,
    ColumnSketch,
    NumericSketch,
    ReferenceSketch,
    ValuesOnDisk,
    psi_from_picked,
    psi_rank_bins,
    sorted_values_in,
)
from unifiedml.monitoring.sources import TabularSource, open_source

logger = logging.getLogger(__name__)

__all__ = ["EXACT_BUDGET_BYTES", "build_sketch", "categorical_sketch", "numeric_sketch"]

#: Reference values are kept (exact sketches) while rows x numeric columns x 8 bytes stays within this budget.
EXACT_BUDGET_BYTES = 2 << 30


def _psi_edges(grid: Grid, counts: np.ndarray, values: Values, bins: int
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """:func:`_psi_from_picked` from the values in memory (only the rank-holding bins are sorted)."""
    return psi_from_picked(grid, counts, sorted_values_in(grid, values, psi_rank_bins(grid, counts, bins)),
                            bins)


def numeric_sketch(name: str, arrow_type: str, values: Values, n_missing: int, *, exact: bool,
                   bins: int = DEFAULT_BINS, nbins: int | None = None) -> NumericSketch:
    """Sketch one numeric column from its non-missing, finite values (one array or chunks; not modified).

    ``exact``: the values are kept (as given: chunks stay views, nothing is copied).
    """
    chunks = [c for c in as_chunks(values) if len(c)]
    n = sum(len(c) for c in chunks)
    grid = choose_grid(chunks, nbins=nbins, keep_values=exact)
    if n == 0:
        z = np.zeros(grid.size)
        return NumericSketch(name, arrow_type, 0, n_missing, exact, grid, z.astype(np.int64), z, 0.0, 0.0,
                             None, None, np.empty(0), np.zeros(0, dtype=np.int64),
                             [] if exact else None)
    counts, rest = grid.count(chunks)
    minimum, edges, psi_counts = _psi_edges(grid, counts, chunks, bins)
    mean = sum(float(c.sum()) for c in chunks) / n
    std = math.sqrt(max(sum(sum_squares(c, mean) for c in chunks) / n, 0.0))
    return NumericSketch(name, arrow_type, n, n_missing, exact, grid, counts, rest, mean, std,
                         minimum, float(edges[-1]), edges, psi_counts, chunks if exact else None, psi_bins=bins)


def categorical_sketch(name: str, arrow_type: str, chunks: Sequence[pa.Array]) -> CategoricalSketch:
    """Sketch one categorical column from its arrow chunks."""
    counts: dict[str, int] = {}
    n_missing = 0
    for chunk in chunks:
        n_missing += add_category_counts(chunk, counts)[1]
    return _categorical(name, arrow_type, counts, n_missing)


def _categorical(name: str, arrow_type: str, counts: dict[str, int], n_missing: int) -> CategoricalSketch:
    cats = sorted(counts)
    arr = np.asarray([counts[c] for c in cats], dtype=np.int64)
    return CategoricalSketch(name, arrow_type, int(arr.sum()), n_missing, cats, arr)


class _NumericStream:
    """A numeric column sketched batch by batch, its values left in the source.

    ``nbins``: grid size for an exact sketch (from the known row count); None
    for the coarser grid of a sketch that keeps no values.
    """

    def __init__(self, name: str, arrow_type: str, nbins: int | None = None) -> None:
        self.name, self.arrow_type, self.nbins = name, arrow_type, nbins
        self.grid: Grid | None = None
        self.counts: np.ndarray | None = None
        self.rest: np.ndarray | None = None
        self.n = self.n_missing = 0
        self.mean = self.m2 = 0.0
        self.minimum, self.maximum = math.inf, -math.inf

    def add(self, arr: pa.Array | pa.ChunkedArray) -> None:
        x, missing = as_float_values(arr)
        self.n_missing += missing
        if not len(x):
            return
        if self.grid is None:  # the first values set the grid's range; later outliers go to the end bins
            self.grid = choose_grid(x, nbins=self.nbins, keep_values=self.nbins is not None)
            self.counts = np.zeros(self.grid.size, dtype=np.int64)
            self.rest = np.zeros(self.grid.size)
        counts, rest = self.grid.count(x)
        self.counts += counts
        self.rest += rest
        # merge this batch's mean and sum of squared deviations (Chan et al.), stable for any batch count
        m = len(x)
        mean = float(x.mean())
        m2 = sum_squares(x, mean)
        delta = mean - self.mean
        total = self.n + m
        self.mean += delta * m / total
        self.m2 += m2 + delta * delta * self.n * m / total
        self.n = total
        self.minimum = min(self.minimum, float(x.min()))
        self.maximum = max(self.maximum, float(x.max()))

    def finish(self, bins: int, *, values_at: ValuesOnDisk | None = None) -> NumericSketch:
        """The sketch; with ``values_at`` an exact one whose PSI edges are settled later from the values."""
        if self.grid is None or self.counts is None or self.rest is None:
            return numeric_sketch(self.name, self.arrow_type, np.empty(0), self.n_missing, exact=False)
        grid, counts, n = self.grid, self.counts, self.n
        std = math.sqrt(max(self.m2 / n, 0.0))
        if values_at is not None:
            return NumericSketch(self.name, self.arrow_type, n, self.n_missing, True, grid, counts, self.rest,
                                 self.mean, std, self.minimum, self.maximum, None, None, None, values_at,
                                 psi_bins=bins)
        # PSI/JS edges interpolated inside the grid bins holding the ranks (the values are not kept)
        ranks = np.ceil(np.arange(1, bins + 1) * (n / bins))
        ends = np.cumsum(counts)
        holding = np.searchsorted(ends, ranks, side="left")
        frac = (ranks - (ends - counts)[holding]) / np.maximum(counts[holding], 1)
        left = np.where(holding == 0, self.minimum, grid.left_edge(np.maximum(holding, 1)))
        right = np.where(holding == grid.nbins + 1, self.maximum, grid.right_edge(np.minimum(holding, grid.nbins)))
        at = np.clip(left + frac * (right - left), self.minimum, self.maximum)
        at[-1] = self.maximum
        edges, first = np.unique(at, return_index=True)
        last = np.concatenate((first[1:] - 1, [len(at) - 1]))
        le = ranks[last].astype(np.int64)
        psi_counts = np.concatenate(([0], np.diff(np.concatenate(([0], le))), [0])).astype(np.int64)
        return NumericSketch(self.name, self.arrow_type, n, self.n_missing, False, grid, counts, self.rest,
                             self.mean, std, self.minimum, self.maximum, edges, psi_counts, None, psi_bins=bins)


def _streamed_sketch(src: TabularSource, kinds: dict[str, str], *, bins: int, workers: int,
                     skipped: dict[str, str], exact: bool) -> ReferenceSketch:
    """Sketch in one pass with memory bounded by one batch, the values left in the source.

    ``exact``: the source is files that can be read again (checked by size and
    modification time), so a second pass takes the exact PSI/JS edges and the
    sketch points at the files for the values a check resolves; otherwise
    KS/Wasserstein/PSI become bounded approximations.
    """
    nbins = int(np.clip((src.num_rows or 0) // VALUES_PER_BIN, MIN_BINS, MAX_BINS)) if exact else None
    numeric = {c: _NumericStream(c, str(src.schema.field(c).type), nbins)
               for c, k in kinds.items() if k != "categorical"}
    categorical: dict[str, dict[str, int]] = {c: {} for c, k in kinds.items() if k == "categorical"}
    cat_missing = dict.fromkeys(categorical, 0)
    n_rows = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, group in enumerate(src.column_groups(list(kinds))):
            nums = [c for c in group if c in numeric]
            cats = [c for c in group if c in categorical]
            for batch in src.batches(group):
                if i == 0:
                    n_rows += batch.num_rows
                list(pool.map(lambda c, b=batch: numeric[c].add(b.column(c)), nums))
                for c in cats:
                    cat_missing[c] += add_category_counts(batch.column(c), categorical[c])[1]
    fingerprint = src.fingerprint()
    columns: dict[str, ColumnSketch] = {}
    for name in kinds:
        if name in numeric:
            # Exact: the PSI/JS edges are order statistics, settled from the values when first needed (a
            # check settles them from the same read that resolves its bins; save() before writing).
            at = ValuesOnDisk(src, name, fingerprint) if exact else None
            columns[name] = numeric[name].finish(bins, values_at=at)
        else:
            columns[name] = _categorical(name, str(src.schema.field(name).type), categorical[name],
                                         cat_missing[name])
    return ReferenceSketch(columns=columns, n_rows=n_rows, source=src.description, bins=bins, skipped=skipped)


def build_sketch(
    reference: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    bins: int = DEFAULT_BINS,
    exact: bool | Literal["auto"] = "auto",
    max_workers: int | None = None,
) -> ReferenceSketch:
    """Reduce reference data to a :class:`ReferenceSketch` (one read of the data).

    ``reference`` is anything :func:`open_source` accepts. ``categorical`` forces
    columns to be treated as categories (e.g. integer codes). ``exact="auto"``
    keeps the reference values (exact results) while rows x numeric columns x 8
    bytes fits in 2 GiB and drops them beyond (bounded approximations, flagged);
    True/False force it.
    Columns of unsupported types (timestamps, nested) are listed in ``skipped``.
    Blocking; uses up to ``max_workers`` threads (default: CPU count).
    """
    if bins < 2:
        raise ConfigError("bins must be at least 2", field="bins")
    src = open_source(reference)
    names = list(columns) if columns is not None else list(src.schema.names)
    present = set(src.schema.names)
    missing = [c for c in names if c not in present]
    if missing:
        raise ConfigError(f"reference has no column(s) {', '.join(missing)}", field="columns")
    forced = set(categorical)
    kinds: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in names:
        dtype = src.schema.field(name).type
        kind = "categorical" if name in forced else column_kind(dtype)
        if kind == "unsupported":
            skipped[name] = f"unsupported type {dtype}"
            continue
        kinds[name] = kind
    wanted = list(kinds)
    n_numeric = sum(1 for k in kinds.values() if k in ("numeric", "empty"))
    workers = max_workers or os.cpu_count() or 1

    def _fits(rows: int) -> bool:
        return rows * max(1, n_numeric) * 8 <= EXACT_BUDGET_BYTES

    use_exact: bool | None = exact if isinstance(exact, bool) else (
        _fits(src.num_rows) if src.num_rows is not None else None)
    if use_exact is False:
        return _streamed_sketch(src, kinds, bins=bins, workers=workers, skipped=skipped, exact=False)
    if use_exact and src.paths and src.num_rows is not None and src.reiterable and not src.in_memory:
        # Files: stream them and leave the values where they are (see ValuesOnDisk).
        return _streamed_sketch(src, kinds, bins=bins, workers=workers, skipped=skipped, exact=True)
    # Kept whole: read each file as one batch when the size is known, so columns are zero-copy views.
    batch_rows = src.num_rows if src.num_rows else None
    chunks: dict[str, list[pa.Array]] = {c: [] for c in wanted}
    n_rows = 0
    for batch in src.batches(wanted, batch_rows=batch_rows):
        n_rows += batch.num_rows
        for c in wanted:
            chunks[c].append(batch.column(c))
    keep = use_exact if use_exact is not None else _fits(n_rows)

    def _one(name: str) -> ColumnSketch:
        dtype = src.schema.field(name).type
        parts = chunks.pop(name)
        if kinds[name] == "categorical":
            return categorical_sketch(name, str(dtype), parts)
        # chunk by chunk: float64 chunks without missing values stay zero-copy views of the table
        converted = [as_float_values(part) for part in parts]
        n_missing = sum(missing for _, missing in converted)
        return numeric_sketch(name, str(dtype), [values for values, _ in converted], n_missing, exact=keep,
                              bins=bins)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_one, wanted))
    logger.debug("sketched %d columns of %d rows from %s", len(results), n_rows, src.description)
    return ReferenceSketch(columns={r.name: r for r in results}, n_rows=n_rows, source=src.description,
                           bins=bins, skipped=skipped)
