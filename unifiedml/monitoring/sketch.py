"""Reference sketches: the reference data reduced once to what every later check needs.

A numeric column keeps its distinct sorted values with cumulative counts
(``exact``) or, when the reference is too large for that, a grid of 4,096
reference quantiles with cumulative counts and per-cell sums (``binned``);
plus mean, standard deviation and the PSI/JS bin edges. A categorical column
keeps its category counts. Missing values are counted, never dropped silently.

Saved as a directory: ``sketch.json`` (metadata, categorical counts) and one
``.npy`` file per numeric array, memory-mapped on load, so a scheduled check
never re-reads the reference data and loads only the columns it checks.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unifiedml.errors import ConfigError
from unifiedml.monitoring.columns import as_float_values, as_strings, column_kind
from unifiedml.monitoring.sources import open_source

logger = logging.getLogger(__name__)

__all__ = ["CategoricalSketch", "NumericSketch", "ReferenceSketch", "build_sketch"]

SKETCH_FORMAT = 1
#: Exact sketches are kept while rows x numeric columns x 16 bytes stays within this budget.
EXACT_BUDGET_BYTES = 2 << 30
GRID_SIZE = 4096
DEFAULT_BINS = 10


@dataclass
class NumericSketch:
    """A numeric reference column. ``grid``/``cum``: distinct values (or quantiles) and counts <= each."""

    name: str
    arrow_type: str
    n: int
    n_missing: int
    exact: bool
    grid: np.ndarray
    cum: np.ndarray
    mean: float
    std: float
    bin_index: np.ndarray
    cell_sums: np.ndarray | None = None
    kind: str = "numeric"

    @property
    def min(self) -> float | None:
        return float(self.grid[0]) if len(self.grid) else None

    @property
    def max(self) -> float | None:
        return float(self.grid[-1]) if len(self.grid) else None

    def values(self) -> np.ndarray:
        """The reference values themselves (only for exact sketches; used for small-sample tests)."""
        if not self.exact:
            raise ValueError("a binned sketch does not keep the reference values")
        return np.repeat(np.asarray(self.grid), np.diff(np.concatenate(([0], np.asarray(self.cum)))))

    def bin_counts(self) -> np.ndarray:
        """Reference counts in the PSI/JS bins: below min, the quantile bins, above max."""
        if not len(self.grid):
            return np.zeros(0, dtype=np.int64)
        at = np.asarray(self.cum)[self.bin_index]
        return np.concatenate(([0], np.diff(np.concatenate(([0], at))), [0])).astype(np.int64)

    def bin_labels(self) -> list[str]:
        """Human-readable bin ranges matching :meth:`bin_counts`."""
        if not len(self.grid):
            return []
        edges = [float(self.grid[i]) for i in self.bin_index]
        labels = [f"< {self.grid[0]:.4g}", f"[{self.grid[0]:.4g}, {edges[0]:.4g}]"]
        labels += [f"({lo:.4g}, {hi:.4g}]" for lo, hi in itertools.pairwise(edges)]
        labels.append(f"> {edges[-1]:.4g}")
        return labels


@dataclass
class CategoricalSketch:
    """A categorical reference column: category -> count (missing counted apart)."""

    name: str
    arrow_type: str
    n: int
    n_missing: int
    categories: list[str]
    counts: np.ndarray
    kind: str = "categorical"


ColumnSketch = NumericSketch | CategoricalSketch


@dataclass
class ReferenceSketch:
    """Everything a drift check needs from the reference data, per column."""

    columns: dict[str, ColumnSketch]
    n_rows: int
    source: str
    bins: int = DEFAULT_BINS
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    skipped: dict[str, str] = field(default_factory=dict)

    # -- persistence ----------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the sketch to ``directory`` (created; files replaced). Returns the directory."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {
            "format": SKETCH_FORMAT,
            "n_rows": self.n_rows,
            "source": self.source,
            "bins": self.bins,
            "created_at": self.created_at,
            "skipped": self.skipped,
            "columns": [],
        }
        for i, (name, col) in enumerate(self.columns.items()):
            entry: dict[str, Any] = {"name": name, "kind": col.kind, "arrow_type": col.arrow_type,
                                     "n": col.n, "n_missing": col.n_missing}
            if isinstance(col, NumericSketch):
                stem = f"num-{i:05d}"
                np.save(out / f"{stem}-grid.npy", np.asarray(col.grid))
                np.save(out / f"{stem}-cum.npy", np.asarray(col.cum))
                if col.cell_sums is not None:
                    np.save(out / f"{stem}-cells.npy", np.asarray(col.cell_sums))
                entry.update(file=stem, exact=col.exact, mean=col.mean, std=col.std,
                             bin_index=np.asarray(col.bin_index).tolist())
            else:
                entry.update(categories=col.categories, counts=np.asarray(col.counts).tolist())
            meta["columns"].append(entry)
        tmp = out / "sketch.json.tmp"
        tmp.write_text(json.dumps(meta))
        tmp.replace(out / "sketch.json")
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ReferenceSketch:
        """Load a saved sketch; numeric arrays are memory-mapped (read on first use)."""
        path = Path(directory)
        meta_file = path / "sketch.json"
        if not meta_file.exists():
            raise ConfigError(f"{path} is not a reference sketch (no sketch.json)", field="reference")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != SKETCH_FORMAT:
            raise ConfigError(f"unsupported sketch format {meta.get('format')} in {path}", field="reference",
                              hint="rebuild it with `unifiedml drift sketch`")
        columns: dict[str, ColumnSketch] = {}
        for entry in meta["columns"]:
            if entry["kind"] == "numeric":
                stem = entry["file"]
                cells = path / f"{stem}-cells.npy"
                columns[entry["name"]] = NumericSketch(
                    name=entry["name"], arrow_type=entry["arrow_type"], n=entry["n"],
                    n_missing=entry["n_missing"], exact=entry["exact"],
                    grid=np.load(path / f"{stem}-grid.npy", mmap_mode="r"),
                    cum=np.load(path / f"{stem}-cum.npy", mmap_mode="r"),
                    cell_sums=np.load(cells, mmap_mode="r") if cells.exists() else None,
                    mean=entry["mean"], std=entry["std"],
                    bin_index=np.asarray(entry["bin_index"], dtype=np.int64),
                )
            else:
                columns[entry["name"]] = CategoricalSketch(
                    name=entry["name"], arrow_type=entry["arrow_type"], n=entry["n"],
                    n_missing=entry["n_missing"], categories=list(entry["categories"]),
                    counts=np.asarray(entry["counts"], dtype=np.int64),
                )
        return cls(columns=columns, n_rows=meta["n_rows"], source=meta["source"], bins=meta["bins"],
                   created_at=meta["created_at"], skipped=meta.get("skipped", {}))


def _bin_index(cum: np.ndarray, n: int, bins: int) -> np.ndarray:
    """Indices into the grid of the right-closed PSI/JS bin edges: reference quantiles j/bins."""
    m = len(cum)
    if m <= bins:
        return np.arange(m, dtype=np.int64)
    targets = np.ceil(np.arange(1, bins + 1) * (n / bins))
    idx = np.unique(np.minimum(np.searchsorted(cum, targets, side="left"), m - 1))
    if idx[-1] != m - 1:
        idx = np.append(idx, m - 1)
    return idx.astype(np.int64)


def numeric_sketch(name: str, arrow_type: str, values: np.ndarray, n_missing: int, *, exact: bool,
                   bins: int = DEFAULT_BINS, grid_size: int = GRID_SIZE) -> NumericSketch:
    """Sketch one numeric column from its non-missing values (sorted in place)."""
    values.sort()
    n = len(values)
    if n == 0:
        empty = np.empty(0)
        return NumericSketch(name, arrow_type, 0, n_missing, True, empty, np.empty(0, dtype=np.int64),
                             0.0, 0.0, np.empty(0, dtype=np.int64))
    last = np.empty(n, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=last[:-1])
    last[-1] = True
    ends = np.flatnonzero(last)
    grid = values[ends]
    cum = (ends + 1).astype(np.int64)
    cell_sums = None
    if not exact and len(grid) > grid_size:
        pick = np.unique(np.searchsorted(cum, np.linspace(1, n, grid_size), side="left"))
        if pick[0] != 0:
            pick = np.concatenate(([0], pick))
        grid, cum = grid[pick], cum[pick]
        prefix = np.concatenate(([0.0], np.cumsum(values)))
        cell_sums = np.diff(np.concatenate(([0.0], prefix[cum])))
    else:
        exact = True
    mean = float(np.mean(values))
    std = float(np.std(values))
    return NumericSketch(name, arrow_type, n, n_missing, exact, grid, cum, mean, std,
                         _bin_index(cum, n, bins), cell_sums)


def categorical_sketch(name: str, arrow_type: str, chunks: Sequence[pa.Array]) -> CategoricalSketch:
    """Sketch one categorical column from its arrow chunks."""
    counts: dict[str, int] = {}
    n_missing = 0
    for chunk in chunks:
        strings = as_strings(chunk)
        n_missing += strings.null_count
        vc = pc.value_counts(pc.drop_null(strings))
        for value, count in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
            counts[value] = counts.get(value, 0) + count
    cats = sorted(counts)
    arr = np.asarray([counts[c] for c in cats], dtype=np.int64)
    return CategoricalSketch(name, arrow_type, int(arr.sum()), n_missing, cats, arr)


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
    keeps exact numeric sketches while rows x numeric columns x 16 bytes fits in
    2 GiB and binned (4,096 quantiles) ones beyond; True/False force it.
    Columns of unsupported types (timestamps, nested) are listed in ``skipped``.
    Blocking; uses up to ``max_workers`` threads (default: CPU count).
    """
    if bins < 2:
        raise ConfigError("bins must be at least 2", field="bins")
    src = open_source(reference)
    names = list(columns) if columns is not None else list(src.schema.names)
    missing = [c for c in names if c not in src.schema.names]
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
    chunks: dict[str, list[pa.Array]] = {c: [] for c in wanted}
    n_rows = 0
    for batch in src.batches(wanted):
        n_rows += batch.num_rows
        for c in wanted:
            chunks[c].append(batch.column(c))
    n_numeric = sum(1 for k in kinds.values() if k in ("numeric", "empty"))
    use_exact = exact if isinstance(exact, bool) else n_rows * max(1, n_numeric) * 16 <= EXACT_BUDGET_BYTES

    def _one(name: str) -> ColumnSketch:
        dtype = src.schema.field(name).type
        parts = chunks.pop(name)
        if kinds[name] == "categorical":
            return categorical_sketch(name, str(dtype), parts)
        arr = pa.chunked_array(parts, type=dtype) if parts else pa.chunked_array([], type=pa.float64())
        values, n_missing = as_float_values(arr)
        del arr, parts
        return numeric_sketch(name, str(dtype), values, n_missing, exact=use_exact, bins=bins)

    workers = max_workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_one, wanted))
    logger.debug("sketched %d columns of %d rows from %s", len(results), n_rows, src.description)
    return ReferenceSketch(columns={r.name: r for r in results}, n_rows=n_rows, source=src.description,
                           bins=bins, skipped=skipped)
