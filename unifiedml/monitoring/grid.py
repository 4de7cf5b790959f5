"""The bin grid every numeric column is counted on, and the exact KS and Wasserstein from it.

Why a grid: the exact two-sample KS statistic and Wasserstein-1 distance are
usually computed by sorting both samples (what ``scipy.stats.ks_2samp`` and
``wasserstein_distance`` do), which costs O(n log n) per column and dominated
drift checks. Here each sample is first *counted* on a fine grid of
equal-width bins, which is a few vectorised passes with no sort; the counts
bound both statistics bin by bin, and only the few bins where the bound is not
decisive are resolved exactly from the values inside them. The results are
the same numbers SciPy computes from the full sort.

Grid: ``nbins`` equal bins over ``[lo, hi)`` taken from the reference, plus an
underflow bin (``< lo``, id 0) and an overflow bin (``>= hi``, id nbins+1).
The bin of ``x`` is ``trunc(clip((x - lo) * inv + 1, 0, nbins + 1))``: one
monotone expression evaluated identically for every sample, so ``x <= y``
implies ``bin(x) <= bin(y)`` and equal values always share a bin (ties stay
together). The same pass yields each value's distance to its bin's right edge,
whose per-bin sums give the integral of a sample's CDF over every bin.

Where a bin is resolved exactly (:func:`refine`):

* KS: at each bin's end the CDF difference is known exactly (it is the
  difference at the last data point before the next bin), giving a lower
  bound; inside a bin it can exceed that only by the bin's mass, so just the
  bins whose upper bound beats the lower bound need their values.
* Wasserstein: where ``F_ref - F_cur`` keeps one sign over a bin, the
  integral of its absolute value is the absolute value of its integral, known
  from the sums; only bins where the sign can change need their values.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BinCounts", "Grid", "Refined", "SubGrid", "Summary", "Values", "as_chunks", "choose_grid", "counts_le",
           "narrow", "refine", "summarize"]

#: Interior bins for exact sketches: about 16 reference values per bin, at most 65,534 (ids fit in uint16).
MAX_BINS = 65_534
MIN_BINS = 64
VALUES_PER_BIN = 16
#: Interior bins when the reference values are not kept (large references): memory per column stays small.
APPROX_BINS = 4_094
#: The grid spans these reference quantiles; the tails beyond go to the under/overflow bins (exact too).
TAIL_QUANTILE = 0.001
_SAMPLE = 65_536
#: Values per block in :meth:`Grid.count` / :meth:`Grid.select` (three float64/intp scratch arrays of 1 MiB).
BLOCK = 1 << 17


#: One column's values: a single array, or the chunks it arrived in (kept as views instead of concatenated:
#: a fresh copy of a 1M-row column is 8 MB of memory to fault in, which costs more than counting it).
Values = np.ndarray | Sequence[np.ndarray]


def as_chunks(values: Values) -> list[np.ndarray]:
    """``values`` as a list of arrays (a single array becomes a list of one)."""
    return [values] if isinstance(values, np.ndarray) else list(values)


def _blocks(values: Values) -> Iterator[np.ndarray]:
    """Consecutive pieces of at most :data:`BLOCK` values, chunk by chunk."""
    for chunk in as_chunks(values):
        for start in range(0, len(chunk), BLOCK):
            yield chunk[start : start + BLOCK]


@dataclass(frozen=True)
class Grid:
    """``nbins`` equal-width bins over ``[lo, hi)`` plus an underflow and an overflow bin."""

    lo: float
    hi: float
    nbins: int

    @property
    def size(self) -> int:
        """Number of bins including the under- and overflow bins."""
        return self.nbins + 2

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.nbins

    @property
    def inv(self) -> float:
        return self.nbins / (self.hi - self.lo)

    def position(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``(x - lo) * inv + 1``: bin id plus the offset inside the bin, in bin widths (into ``out`` if given).

        The one place the binning arithmetic lives: every sample, every block,
        goes through it, so equal values always get equal positions.
        """
        t = np.subtract(x, self.lo, out=out)
        t *= self.inv
        t += 1.0
        return t

    def ids_from(self, t: np.ndarray, *, work: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Bin ids (into ``out``, intp) from positions ``t``; ``work`` receives the clipped positions."""
        np.clip(t, 0.0, float(self.nbins + 1), out=work)
        np.copyto(out, work, casting="unsafe")  # truncation = floor here (work >= 0)
        return out

    def ids(self, x: np.ndarray) -> np.ndarray:
        """Bin id of each value (intp)."""
        t = self.position(x)
        return self.ids_from(t, work=t, out=np.empty(len(t), dtype=np.intp))

    # Large arrays are processed in blocks with reused scratch buffers: the temporaries stay in cache and no
    # freshly mapped memory is touched per column (page faults cost as much as the arithmetic here).

    def count(self, x: Values) -> tuple[np.ndarray, np.ndarray]:
        """Per-bin count and per-bin sum of the distance (in widths) from each value to its bin's right edge.

        ``x``: one array or a sequence of chunks. For the underflow bin the
        distance is to ``lo``; for the overflow bin it is taken to
        ``hi + width`` (see :meth:`BinCounts.overflow_excess`).
        """
        counts = np.zeros(self.size, dtype=np.int64)
        rest = np.zeros(self.size, dtype=np.float64)
        scratch = _scratch()
        for block in _blocks(x):
            t, ids, work = scratch.position_and_ids(self, block)
            np.subtract(ids, t, out=work)
            work += 1.0
            counts += np.bincount(ids, minlength=self.size)
            rest += np.bincount(ids, weights=work, minlength=self.size)
        return counts, rest

    def select(self, x: Values, marked: np.ndarray) -> np.ndarray:
        """The values whose bin is marked (``marked``: bool per bin), in their original order."""
        if isinstance(x, np.ndarray) and len(x) <= BLOCK:
            return x[marked[self.ids(x)]]
        scratch = _scratch()
        parts = []
        for block in _blocks(x):
            _, ids, _ = scratch.position_and_ids(self, block)
            parts.append(block[marked[ids]])
        return np.concatenate(parts) if parts else np.empty(0)

    def left_edge(self, ids: np.ndarray) -> np.ndarray:
        """Left edge of bins 1..nbins+1 (bin 0 has none: -inf)."""
        return self.lo + (np.asarray(ids, dtype=np.float64) - 1.0) * self.width

    def right_edge(self, ids: np.ndarray) -> np.ndarray:
        """Right edge of bins 0..nbins (the overflow bin has none: +inf)."""
        return self.lo + np.asarray(ids, dtype=np.float64) * self.width

    def to_json(self) -> dict[str, float | int]:
        return {"lo": self.lo, "hi": self.hi, "nbins": self.nbins}


def choose_grid(values: Values, *, nbins: int | None = None, keep_values: bool = True) -> Grid:
    """A grid for a reference column (one array or chunks): bins between its 0.1 % and 99.9 % quantiles.

    The quantiles come from a sample. The choice only affects speed, never
    results: values outside the range go to the under/overflow bins, which are
    resolved exactly like any other.
    """
    chunks = as_chunks(values)
    n = sum(len(c) for c in chunks)
    if nbins is None:
        nbins = int(np.clip(n // VALUES_PER_BIN, MIN_BINS, MAX_BINS)) if keep_values else APPROX_BINS
    lo = hi = math.nan
    if n:
        step = max(1, n // _SAMPLE)
        sample = np.concatenate([c[::step] for c in chunks]).astype(np.float64, copy=False)
        k_lo = int(TAIL_QUANTILE * (len(sample) - 1))
        k_hi = math.ceil((1.0 - TAIL_QUANTILE) * (len(sample) - 1))
        part = np.partition(sample, [k_lo, k_hi])
        lo, hi = float(part[k_lo]), float(part[k_hi])
        if not hi > lo:
            lo = min(float(np.min(c)) for c in chunks if len(c))
            hi = max(float(np.max(c)) for c in chunks if len(c))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if not hi > lo:
        hi = lo + max(1.0, abs(lo))
    inv = nbins / (hi - lo)
    if not (math.isfinite(inv) and inv > 0 and math.isfinite(hi - lo)):
        lo, hi = -1.0, 1.0
    return Grid(lo=lo, hi=hi, nbins=nbins)


_local = threading.local()


def _scratch() -> _Scratch:
    """This thread's block buffers, allocated once per thread and reused by every pass.

    Fresh buffers per call were page-faulted in again and again (the allocator
    hands large blocks back to the kernel when they are freed), which cost more
    than the arithmetic on them.
    """
    scratch = getattr(_local, "scratch", None)
    if scratch is None:
        scratch = _local.scratch = _Scratch(BLOCK)
    return scratch


class _Scratch:
    """Buffers for blocked passes over a column (one set per thread, see :func:`_scratch`)."""

    def __init__(self, size: int) -> None:
        self.t = np.empty(size, dtype=np.float64)
        self.work = np.empty(size, dtype=np.float64)
        self.ids = np.empty(size, dtype=np.intp)

    def position_and_ids(self, grid: Grid, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = len(x)
        t = grid.position(x, out=self.t[:m])
        return t, grid.ids_from(t, work=self.work[:m], out=self.ids[:m]), self.work[:m]


@dataclass
class BinCounts:
    """One sample counted on a grid: per-bin counts and right-edge distance sums (see :meth:`Grid.count`)."""

    counts: np.ndarray
    rest: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def overflow_excess(self) -> float:
        """Sum over the overflow bin's values of ``(x - hi) / width``."""
        return float(self.counts[-1] - self.rest[-1])


@dataclass
class Summary:
    """What the counts alone say about KS and Wasserstein, and which bins need their values."""

    ks_lower: float
    ks_upper: float
    ks_bins: np.ndarray  # bool per bin: may hold the KS supremum
    mixed: np.ndarray  # bool per bin: F_ref - F_cur may change sign inside
    w_settled: float  # the Wasserstein integral over all bins that are not mixed
    w_mixed_estimate: float  # an estimate over the mixed bins, used only when their values are unavailable
    ref_before: np.ndarray  # reference values in earlier bins, per bin
    cur_before: np.ndarray


def summarize(grid: Grid, ref: BinCounts, cur: BinCounts) -> Summary:
    """Bound KS and integrate Wasserstein from the counts; mark the bins to resolve with values."""
    nr, nc = ref.n, cur.n
    r_end = np.cumsum(ref.counts)
    c_end = np.cumsum(cur.counts)
    r_before = r_end - ref.counts
    c_before = c_end - cur.counts
    fr_b, fr_e = r_before / nr, r_end / nr
    fc_b, fc_e = c_before / nc, c_end / nc
    # KS: the difference at each bin's end is the difference at a data point (or 0).
    d_end = fr_e - fc_e
    ks_lower = float(np.max(np.abs(d_end))) if len(d_end) else 0.0
    upper = np.maximum(fr_e - fc_b, fc_e - fr_b)
    ks_bins = upper > ks_lower
    ks_upper = float(max(ks_lower, upper.max())) if len(upper) else 0.0
    # Wasserstein: signed integral of F_ref - F_cur over each bin, in bin widths.
    signed = (fr_b - fc_b) + ref.rest / nr - cur.rest / nc
    # above hi: integral of (1 - F_cur) - (1 - F_ref), from the values' excess over hi
    signed[-1] = cur.overflow_excess() / nc - ref.overflow_excess() / nr
    mixed = ~((fr_b - fc_e >= 0) | (fr_e - fc_b <= 0))
    w_settled = float(np.sum(np.abs(signed[~mixed]))) * grid.width
    # Estimate for mixed bins without values: the difference taken as linear across the bin, never below
    # the absolute signed integral (which is exact when the sign does not change).
    d0, d1 = (fr_b - fc_b)[mixed], d_end[mixed]
    span = np.abs(d1 - d0)
    crossing = (d0 * d1 < 0) & (span > 0)
    lin = np.where(crossing, (d0 * d0 + d1 * d1) / (2 * np.where(span > 0, span, 1.0)), np.abs(d0 + d1) / 2)
    w_est = float(np.sum(np.maximum(lin, np.abs(signed[mixed])))) * grid.width
    return Summary(ks_lower, ks_upper, ks_bins, mixed, w_settled, w_est, r_before, c_before)


#: Each bin that must be resolved is first split into this many sub-bins (a power of two, so the split is
#: exact in the position arithmetic) and bounded again; only the sub-bins still undecided need sorted values.
SUB_BINS = 16


@dataclass(frozen=True)
class SubGrid:
    """Some interior bins of a grid, each split into ``sub`` equal sub-bins, between the grid's end bins.

    Ids: 0 is the grid's underflow bin, ``1 .. len(bins) * sub`` the sub-bins
    of ``bins`` (ascending) in order, ``nbins + 1`` the grid's overflow bin:
    the layout :func:`refine` and :func:`counts_le` expect of a :class:`Grid`,
    for values in those bins only. A value's sub-bin comes from the same
    position arithmetic as its bin: ``t - bin`` is exact (``t >= bin >= 1``)
    and so is scaling it by a power of two, so sub-bins nest exactly in their
    bins and stay monotone in the value.
    """

    grid: Grid
    bins: np.ndarray
    sub: int = SUB_BINS

    @property
    def nbins(self) -> int:
        return len(self.bins) * self.sub

    @property
    def size(self) -> int:
        return self.nbins + 2

    def locate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per value: its sub-bin id (-1 when its grid bin is not split) and its offset in the sub-bin.

        The offset is the position within the sub-bin in sub-bin widths, in [0, 1).
        """
        t = self.grid.position(x)
        cid = self.grid.ids_from(t, work=np.empty_like(t), out=np.empty(len(t), dtype=np.intp))
        scaled = (t - cid) * self.sub
        part = np.clip(np.floor(scaled), 0, self.sub - 1)
        start = self._first[cid]
        ids = np.where(start > 0, start + part.astype(np.intp), start)
        ids[cid == self.grid.nbins + 1] = self.nbins + 1
        return ids, scaled - part

    def ids(self, x: np.ndarray) -> np.ndarray:
        return self.locate(x)[0]

    @functools.cached_property
    def _first(self) -> np.ndarray:
        """Per grid bin: its first sub-bin id (-1: not split; the end bins map to themselves). Built once:
        every :meth:`locate` looks ids up here instead of searching ``bins``."""
        first = np.full(self.grid.size, -1, dtype=np.intp)
        first[self.bins] = 1 + np.arange(len(self.bins)) * self.sub
        first[0], first[-1] = 0, self.nbins + 1
        return first

    def _split(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid bin and sub-bin index of sub-bin ids (end-bin ids map to anything: callers replace them)."""
        j = np.clip(np.asarray(ids, dtype=np.intp) - 1, 0, max(self.nbins - 1, 0))
        if not len(self.bins):
            return np.ones(j.shape), np.zeros(j.shape)
        return self.bins[j // self.sub].astype(np.float64), (j % self.sub).astype(np.float64)

    def left_edge(self, ids: np.ndarray) -> np.ndarray:
        """Left edge of sub-bins 1..nbins (and of the overflow bin, as the grid has it)."""
        cid, part = self._split(ids)
        edge = self.grid.lo + ((cid - 1.0) + part / self.sub) * self.grid.width
        return np.where(np.asarray(ids) == self.nbins + 1, self.grid.left_edge(self.grid.nbins + 1), edge)

    def right_edge(self, ids: np.ndarray) -> np.ndarray:
        """Right edge of sub-bins 1..nbins (and of the underflow bin: the grid's ``lo``)."""
        cid, part = self._split(ids)
        edge = self.grid.lo + ((cid - 1.0) + (part + 1.0) / self.sub) * self.grid.width
        return np.where(np.asarray(ids) == 0, self.grid.lo, edge)


def narrow(grid: Grid, summary: Summary, n_ref: int, n_cur: int, ref_values: np.ndarray, cur_values: np.ndarray,
           *, sub: int = SUB_BINS) -> tuple[SubGrid, Summary, np.ndarray, np.ndarray]:
    """Split the bins ``summary`` marks into sub-bins, bound KS and Wasserstein again, keep the undecided ones.

    ``ref_values`` / ``cur_values``: every value of each sample in the bins
    ``summary`` marks (``ks_bins | mixed``; more bins are fine), in any order.
    Returns the sub-grid, its summary and the values of both samples in the
    sub-bins that still need them (in the order given; :func:`refine` wants
    them sorted): what :func:`refine` takes to give the same
    exact result with far fewer values (the bins where ``F_ref - F_cur`` may
    change sign are where two unchanged samples spend most of them). The end
    bins are not split; they stay whole, as in :func:`refine`.
    """
    split = np.flatnonzero((summary.ks_bins | summary.mixed)[1:-1]) + 1
    sg = SubGrid(grid, split, sub)
    size = sg.size
    kept_end = np.zeros(size, dtype=bool)
    kept_end[[0, -1]] = (summary.ks_bins | summary.mixed)[[0, -1]]

    def _count(values: np.ndarray, before_bins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ids, offset = sg.locate(values)
        inside = ids >= 0
        counts = np.bincount(ids[inside], minlength=size)
        interior = inside & (ids > 0) & (ids <= sg.nbins)
        rest = np.bincount(ids[interior], weights=1.0 - offset[interior], minlength=size)
        grid_counts = counts[1:-1].reshape(len(split), sub)
        if not np.array_equal(grid_counts.sum(axis=1), before_bins[split + 1] - before_bins[split]):
            raise ValueError("narrow() needs every value of the bins it splits (a sample's values are missing)")
        before = np.empty(size, dtype=np.int64)
        before[0] = 0
        before[1:-1] = (before_bins[split][:, None] + (np.cumsum(grid_counts, axis=1) - grid_counts)).ravel()
        before[-1] = before_bins[-1]
        return ids, counts, rest, before

    r_ids, r_counts, r_rest, r_before = _count(ref_values, summary.ref_before)
    c_ids, c_counts, c_rest, c_before = _count(cur_values, summary.cur_before)
    fr_b, fr_e = r_before / n_ref, (r_before + r_counts) / n_ref
    fc_b, fc_e = c_before / n_cur, (c_before + c_counts) / n_cur
    d_end = np.abs(fr_e - fc_e)
    ks_lower = max(summary.ks_lower, float(d_end[1:-1].max())) if sg.nbins else summary.ks_lower
    ks_bins = np.maximum(fr_e - fc_b, fc_e - fr_b) > ks_lower
    # Wasserstein: only bins mixed on the grid are still open; their sub-bins where the sign is fixed settle now
    coarse_mixed = np.zeros(size, dtype=bool)
    coarse_mixed[1:-1] = np.repeat(summary.mixed[split], sub)
    coarse_mixed[[0, -1]] = summary.mixed[[0, -1]]
    mixed = coarse_mixed & ~((fr_b - fc_e >= 0) | (fr_e - fc_b <= 0))
    signed = (fr_b - fc_b) + r_rest / n_ref - c_rest / n_cur
    settle = coarse_mixed & ~mixed
    settle[[0, -1]] = False  # the end bins are never split: resolved whole when mixed
    w_settled = summary.w_settled + float(np.sum(np.abs(signed[settle]))) * (grid.width / sub)
    keep = ks_bins | mixed
    keep[[0, -1]] = kept_end[[0, -1]]
    sub_summary = Summary(ks_lower, summary.ks_upper, ks_bins, mixed, w_settled, 0.0, r_before, c_before)

    def _kept(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return values[(ids >= 0) & keep[np.maximum(ids, 0)]]

    return sg, sub_summary, _kept(ref_values, r_ids), _kept(cur_values, c_ids)


@dataclass
class Refined:
    """Exact KS statistic and Wasserstein-1 distance (raw, not normalised)."""

    ks: float
    wasserstein: float


def counts_le(grid: Grid | SubGrid, before: np.ndarray, resolved: np.ndarray, points: np.ndarray, *,
              strict: bool = False, point_ids: np.ndarray | None = None,
              resolved_ids: np.ndarray | None = None) -> np.ndarray:
    """How many values of a sample are <= (``strict``: <) each point.

    ``before``: the sample's values in earlier bins, per bin; ``resolved``: the
    sample's sorted values in (at least) the points' bins. The ids, when the
    caller has them, save recomputing them.
    """
    pid = grid.ids(points) if point_ids is None else point_ids
    rid = grid.ids(resolved) if resolved_ids is None else resolved_ids
    side = "left" if strict else "right"
    return (before[pid] - np.searchsorted(rid, pid, side="left")
            + np.searchsorted(resolved, points, side=side)).astype(np.int64)


def refine(grid: Grid | SubGrid, summary: Summary, n_ref: int, n_cur: int, ref_values: np.ndarray,
           cur_values: np.ndarray) -> Refined:
    """Exact KS and Wasserstein given every value of both samples in the bins ``summary`` marked.

    ``ref_values`` / ``cur_values``: sorted, all values of each sample whose bin
    is marked (``ks_bins | mixed``, more bins are fine). KS is evaluated at
    each data point as ``count_ref / n_ref - count_cur / n_cur``, the same
    floating-point expression as ``scipy.stats.ks_2samp``.
    """
    rid = grid.ids(ref_values)
    cid = grid.ids(cur_values)
    points = np.concatenate((ref_values, cur_values))
    points.sort(kind="stable")
    pid = grid.ids(points)
    cr = counts_le(grid, summary.ref_before, ref_values, points, point_ids=pid, resolved_ids=rid)
    cc = counts_le(grid, summary.cur_before, cur_values, points, point_ids=pid, resolved_ids=cid)
    diff = cr / n_ref - cc / n_cur
    ks = max(summary.ks_lower, float(np.max(np.abs(diff)))) if len(diff) else summary.ks_lower
    # Wasserstein over the mixed bins: between consecutive points both CDFs are constant.
    keep = summary.mixed[pid]
    p, b, d = points[keep], pid[keep], np.abs(diff[keep])
    if not len(p):
        return Refined(ks, summary.w_settled)
    change = b[1:] != b[:-1]
    last = np.concatenate((change, [True]))
    first = np.concatenate(([True], change))
    nxt = np.empty_like(p)
    nxt[:-1] = p[1:]
    overflow = b == grid.nbins + 1
    nxt[last] = np.where(overflow[last], p[last], grid.right_edge(b[last]))  # beyond the last value F = 1 - 1
    inside = float(np.sum(d * np.maximum(nxt - p, 0.0)))
    fb = b[first]
    before = np.abs(summary.ref_before[fb] / n_ref - summary.cur_before[fb] / n_cur)
    lead = np.where(fb == 0, 0.0, np.maximum(p[first] - grid.left_edge(np.maximum(fb, 1)), 0.0))
    return Refined(ks, summary.w_settled + inside + float(np.sum(before * lead)))
