"""Reference sketches: the reference data reduced once to what every later check needs.

A numeric column is counted on a fine grid of equal-width bins (see
:mod:`unifiedml.monitoring.grid`): per-bin counts and right-edge distance
sums, the PSI/JS bin edges (reference deciles) with their counts, mean and
standard deviation. An ``exact`` sketch also has the reference values (held,
memory-mapped from a saved sketch, or left in the reference's Parquet files:
:class:`ValuesOnDisk`), so the few grid bins a check must resolve are resolved
exactly; without them KS/Wasserstein are bounded approximations, flagged as
such. A categorical column keeps its category counts. Missing values are
counted, never dropped silently. :mod:`unifiedml.monitoring.sketching` builds
sketches.

Saved as a directory: ``sketch.json`` (metadata, categorical counts) and one
``.npy`` file per numeric array, memory-mapped on load, so a scheduled check
never re-reads the reference data and loads only the columns it checks.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from unifiedml.errors import ConfigError
from unifiedml.monitoring.columns import as_float_values
from unifiedml.monitoring.grid import Grid, Values, counts_le
from unifiedml.monitoring.sources import TabularSource, gather_marked

logger = logging.getLogger(__name__)

__all__ = ["CategoricalSketch", "NumericSketch", "ReferenceSketch", "ValuesOnDisk"]

SKETCH_FORMAT = 2
DEFAULT_BINS = 10


def sorted_values_in(grid: Grid, values: Values, marked: np.ndarray) -> np.ndarray:
    """The values whose grid bin is marked (``marked``: bool per bin), sorted."""
    out = grid.select(values, marked)
    out.sort()
    return out


def psi_ranks(n: int, bins: int) -> np.ndarray:
    """Ranks of the minimum and of the PSI/JS edges: 1 and ceil(j n / bins), j = 1..bins."""
    return np.concatenate(([1], np.ceil(np.arange(1, bins + 1) * (n / bins)))).astype(np.int64)


def psi_rank_bins(grid: Grid, counts: np.ndarray, bins: int) -> np.ndarray:
    """The grid bins holding the PSI ranks (their values give the exact edges)."""
    holding = np.searchsorted(np.cumsum(counts), psi_ranks(int(counts.sum()), bins), side="left")
    marked = np.zeros(grid.size, dtype=bool)
    marked[holding] = True
    return marked


def psi_from_picked(grid: Grid, counts: np.ndarray, picked: np.ndarray, bins: int
                     ) -> tuple[float, np.ndarray, np.ndarray]:
    """Minimum, PSI/JS edges (order statistics at ranks ceil(j n / bins)) and reference counts per PSI bin.

    ``picked``: the sorted values of the grid bins :func:`psi_rank_bins` marks.
    """
    ranks = psi_ranks(int(counts.sum()), bins)
    ends = np.cumsum(counts)
    holding = np.searchsorted(ends, ranks, side="left")
    before = ends - counts
    # rank r in bin b is picked[r - 1 - before[b] + (picked values in earlier bins)]
    offset = np.searchsorted(grid.ids(picked), holding, side="left")
    order_stats = picked[ranks - 1 - before[holding] + offset]
    minimum = float(order_stats[0])
    edges = np.unique(order_stats[1:])
    le = counts_le(grid, before, picked, edges)
    psi_counts = np.concatenate(([0], np.diff(np.concatenate(([0], le))), [0])).astype(np.int64)
    return minimum, edges, psi_counts


@dataclass(frozen=True)
class ValuesOnDisk:
    """Where an exact sketch's reference values are when they are not held: a column of its source files.

    Reading them again is cheaper than holding them (fresh memory is slow to
    fault in, and a check needs the values of a few grid bins only); the
    files' size and modification time are checked first, so a changed file is
    an error, never a silently different reference. :meth:`ReferenceSketch.save`
    writes the values into the sketch, so a saved sketch never needs the files.
    """

    source: TabularSource
    column: str
    fingerprint: tuple[tuple[str, int, int], ...]

    def verify(self) -> None:
        if self.source.fingerprint() != self.fingerprint:
            raise ConfigError(f"the reference {self.source.description} changed after it was sketched",
                              field="reference", hint="sketch it again (build_sketch) or save sketches you reuse")


@dataclass
class NumericSketch:
    """A numeric reference column counted on its grid (plus, when ``exact``, the values themselves)."""

    name: str
    arrow_type: str
    n: int
    n_missing: int
    exact: bool
    grid: Grid
    counts: np.ndarray
    rest: np.ndarray
    mean: float
    std: float
    minimum: float | None
    maximum: float | None
    #: Right-closed PSI/JS bin edges: the reference quantiles j/bins (deduplicated; the last is the maximum).
    #: None until settled from the values (sketches whose values stay in the reference files).
    psi_edges: np.ndarray | None
    #: Reference counts in the PSI/JS bins: below the minimum, [min, e1], (e1, e2], ..., above the maximum.
    psi_counts: np.ndarray | None
    #: The reference values when held: chunks (views of the data they were sketched from, or one
    #: memory-mapped array of a saved sketch), in storage order.
    raw: list[np.ndarray] | None = None
    values_at: ValuesOnDisk | None = None
    psi_bins: int = 10
    kind: str = "numeric"

    def psi_marked(self) -> np.ndarray:
        """Bool per grid bin: the bins holding the PSI ranks (and so the minimum and every PSI/JS edge)."""
        return psi_rank_bins(self.grid, np.asarray(self.counts), self.psi_bins)

    def settle_psi(self, picked: np.ndarray) -> None:
        """Compute the PSI/JS edges from ``picked``: the sorted values of (at least) :meth:`psi_marked`'s bins."""
        _, self.psi_edges, self.psi_counts = psi_from_picked(self.grid, np.asarray(self.counts), picked,
                                                             self.psi_bins)

    def ensure_psi(self) -> None:
        """Settle the PSI/JS edges if they are not yet (reads this column's rank bins from the source)."""
        if self.psi_edges is not None or self.n == 0:
            return
        mask = self.psi_marked()
        if self.raw is not None:
            self.settle_psi(sorted_values_in(self.grid, self.raw, mask))
        elif self.values_at is not None:
            self.values_at.verify()
            found = gather_marked(self.values_at.source, {self.name: (self.grid, mask)}, workers=1)
            self.settle_psi(np.sort(found[self.name]))
        else:
            raise ValueError(f"column {self.name!r} has neither PSI edges nor values to compute them from")

    @property
    def keeps_values(self) -> bool:
        """Whether the reference values are available (held, memory-mapped, or in the source files)."""
        return self.raw is not None or self.values_at is not None

    @property
    def min(self) -> float | None:
        return self.minimum

    @property
    def max(self) -> float | None:
        return self.maximum

    def values(self) -> np.ndarray:
        """The reference values (exact sketches only; in storage order, not sorted). May read the source."""
        if self.raw is not None:
            return np.concatenate(self.raw) if self.raw else np.empty(0)
        if self.values_at is not None:
            self.values_at.verify()
            parts = [as_float_values(b.column(self.name))[0] for b in self.values_at.source.batches([self.name])]
            return np.concatenate(parts) if parts else np.empty(0)
        raise ValueError("this sketch does not keep the reference values (built with exact=False)")

    def bins_before(self) -> np.ndarray:
        """Reference values in earlier grid bins, per bin."""
        return np.cumsum(self.counts) - self.counts

    def bin_counts(self) -> np.ndarray:
        """Reference counts in the PSI/JS bins: below min, the quantile bins, above max."""
        self.ensure_psi()
        return np.asarray(self.psi_counts, dtype=np.int64)

    def bin_labels(self) -> list[str]:
        """Human-readable bin ranges matching :meth:`bin_counts`."""
        if self.minimum is None:
            return []
        self.ensure_psi()
        edges = [float(e) for e in np.asarray(self.psi_edges)]
        labels = [f"< {self.minimum:.4g}", f"[{self.minimum:.4g}, {edges[0]:.4g}]"]
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
                col.ensure_psi()
                stem = f"num-{i:05d}"
                _save_array(out / f"{stem}-counts.npy", np.asarray(col.counts))
                _save_array(out / f"{stem}-rest.npy", np.asarray(col.rest))
                if col.raw is not None:
                    _write_values(col, col.raw, out / f"{stem}-values.npy")
                elif col.values_at is not None:
                    col.values_at.verify()
                    _write_values(col, (as_float_values(batch.column(col.name))[0]
                                        for batch in col.values_at.source.batches([col.name])),
                                  out / f"{stem}-values.npy")
                entry.update(file=stem, exact=col.exact, mean=col.mean, std=col.std, grid=col.grid.to_json(),
                             minimum=col.minimum, maximum=col.maximum,
                             psi_edges=np.asarray(col.psi_edges).tolist(),
                             psi_counts=np.asarray(col.psi_counts).tolist())
            else:
                entry.update(categories=col.categories, counts=np.asarray(col.counts).tolist())
            meta["columns"].append(entry)
        tmp = out / "sketch.json.tmp"
        tmp.write_text(json.dumps(meta))
        tmp.replace(out / "sketch.json")
        return out

    def reference_values_in(self, marked: dict[str, np.ndarray], *, workers: int) -> dict[str, np.ndarray]:
        """For each column in ``marked``: its reference values in the marked grid bins (not sorted).

        From memory (or the memory-mapped files of a saved sketch), else by one
        read of the reference source for all such columns together. Columns
        without values are left out.
        """
        out: dict[str, np.ndarray] = {}
        on_disk: dict[int, tuple[TabularSource, dict[str, tuple[Grid, np.ndarray]]]] = {}
        for name, mask in marked.items():
            col = self.columns[name]
            if not isinstance(col, NumericSketch):
                continue
            if col.raw is not None:
                out[name] = col.grid.select(col.raw, mask)
            elif col.values_at is not None:
                col.values_at.verify()
                src = col.values_at.source
                on_disk.setdefault(id(src), (src, {}))[1][name] = (col.grid, mask)
        for src, wanted in on_disk.values():
            out.update(gather_marked(src, wanted, workers=workers))
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
                values = path / f"{stem}-values.npy"
                columns[entry["name"]] = NumericSketch(
                    name=entry["name"], arrow_type=entry["arrow_type"], n=entry["n"],
                    n_missing=entry["n_missing"], exact=entry["exact"], grid=Grid(**entry["grid"]),
                    counts=np.load(path / f"{stem}-counts.npy", mmap_mode="r"),
                    rest=np.load(path / f"{stem}-rest.npy", mmap_mode="r"),
                    mean=entry["mean"], std=entry["std"], minimum=entry["minimum"], maximum=entry["maximum"],
                    psi_edges=np.asarray(entry["psi_edges"], dtype=np.float64),
                    psi_counts=np.asarray(entry["psi_counts"], dtype=np.int64),
                    psi_bins=meta["bins"],
                    raw=[np.load(values, mmap_mode="r")] if values.exists() else None,
                )
            else:
                columns[entry["name"]] = CategoricalSketch(
                    name=entry["name"], arrow_type=entry["arrow_type"], n=entry["n"],
                    n_missing=entry["n_missing"], categories=list(entry["categories"]),
                    counts=np.asarray(entry["counts"], dtype=np.int64),
                )
        return cls(columns=columns, n_rows=meta["n_rows"], source=meta["source"], bins=meta["bins"],
                   created_at=meta["created_at"], skipped=meta.get("skipped", {}))


def _save_array(path: Path, array: np.ndarray) -> None:
    """Write an .npy file through a temporary name, so a sketch loaded from ``path`` (memory-mapped) stays valid."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    tmp.replace(path)


def _write_values(col: NumericSketch, chunks: Iterable[np.ndarray], path: Path) -> None:
    """Write a column's values, chunk by chunk, into an .npy file (memory bounded by one chunk).

    Written under a temporary name and renamed: saving a loaded sketch over
    its own directory must not truncate the file its values are mapped from.
    """
    tmp = path.with_name(path.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float64, shape=(col.n,))
    at = 0
    for values in chunks:
        if at + len(values) > col.n:
            at += len(values)
            break
        out[at : at + len(values)] = values
        at += len(values)
    if at != col.n:
        del out
        tmp.unlink(missing_ok=True)
        source = col.values_at.source.description if col.values_at is not None else "data"
        raise ConfigError(f"the reference {source} changed while it was saved", field="reference")
    out.flush()
    del out
    tmp.replace(path)
