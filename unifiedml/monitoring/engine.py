"""The drift engine: one declared method per feature, any source, streamed in batches.

:func:`check` reduces the reference to a sketch (or takes a saved one), reads
the current data batch by batch, counts each column on its grid (columns in
parallel on a thread pool: NumPy and Arrow release the GIL), resolves the few
grid bins that decide KS and Wasserstein from their values, and turns the
result into a :class:`DriftReport`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from unifiedml.errors import ConfigError
from unifiedml.monitoring import stats
from unifiedml.monitoring.accumulate import CategoricalAccumulator, NumericAccumulator
from unifiedml.monitoring.columns import column_kind
from unifiedml.monitoring.grid import BinCounts, Summary, counts_le, narrow, refine, summarize
from unifiedml.monitoring.methods import (
    DEFAULT_CATEGORICAL_METHOD,
    DEFAULT_NUMERIC_METHOD,
    DEFAULT_THRESHOLDS,
    THRESHOLD_SOURCES,
    Method,
    is_drift,
    methods_for,
)
from unifiedml.monitoring.report import DriftReport, FeatureDrift, Histogram
from unifiedml.monitoring.sketch import DEFAULT_BINS, NumericSketch, ReferenceSketch
from unifiedml.monitoring.sketching import build_sketch
from unifiedml.monitoring.sources import gather_marked, open_source, prefetch

logger = logging.getLogger(__name__)

__all__ = ["check", "resolve_reference"]

MAX_PLOT_CATEGORIES = 30


def resolve_reference(reference: Any, *, columns: Sequence[str] | None = None,
                      categorical: Sequence[str] = (), bins: int = DEFAULT_BINS) -> ReferenceSketch:
    """A sketch from a :class:`ReferenceSketch`, a saved sketch directory, or reference data."""
    if isinstance(reference, ReferenceSketch):
        return reference
    if isinstance(reference, str | os.PathLike) and (Path(reference) / "sketch.json").exists():
        return ReferenceSketch.load(reference)
    return build_sketch(reference, columns=columns, categorical=categorical, bins=bins)


def _validate_methods(sketch: ReferenceSketch, methods: Mapping[str, Method | str],
                      thresholds: Mapping[str, float]) -> dict[str, Method]:
    out: dict[str, Method] = {}
    for name, value in methods.items():
        if name not in sketch.columns:
            raise ConfigError(f"no reference column named {name!r}", field=f"methods.{name}")
        try:
            method = Method(value)
        except ValueError as exc:
            raise ConfigError(f"unknown method {value!r}", field=f"methods.{name}",
                              hint=f"one of {', '.join(m.value for m in Method)}") from exc
        kind = sketch.columns[name].kind
        if method not in methods_for(kind):
            raise ConfigError(f"{method.value} does not apply to the {kind} column {name!r}",
                              field=f"methods.{name}",
                              hint=f"use one of {', '.join(m.value for m in methods_for(kind))}")
        out[name] = method
    for name in thresholds:
        if name not in sketch.columns:
            raise ConfigError(f"no reference column named {name!r}", field=f"thresholds.{name}")
    return out


_Result = tuple[dict[str, float], dict[str, float], bool, list[str], Histogram]


@dataclass
class _Resolved:
    """What a numeric column needs beyond the counts: the bins to resolve, both samples' values in them (unsorted)."""

    summary: Summary
    marked: np.ndarray
    psi: np.ndarray  # the reference's PSI rank bins (part of ``marked``)
    current: np.ndarray | None = None
    reference: np.ndarray | None = None


def _current_psi_counts(acc: NumericAccumulator, res: _Resolved) -> np.ndarray:
    """Current counts in the reference's PSI/JS bins (exact from the resolved values, else interpolated)."""
    sk, grid = acc.sketch, acc.grid
    sk.ensure_psi()
    points = np.concatenate(([sk.minimum], np.asarray(sk.psi_edges)))
    before = res.summary.cur_before
    if res.current is not None:
        # the minimum and the edges are reference order statistics, so they lie in the PSI rank bins
        current = np.sort(grid.select(res.current, res.psi))
        below = counts_le(grid, before, current, points[:1], strict=True)[0]
        le = counts_le(grid, before, current, points[1:])
    else:
        pos = grid.position(points)
        ids = grid.ids(points)
        frac = np.where((ids == 0) | (ids == grid.nbins + 1), 0.5, np.clip(pos - ids, 0.0, 1.0))
        est = np.rint(before[ids] + acc.counts[ids] * frac).astype(np.int64)
        below, le = int(est[0]), np.maximum.accumulate(np.maximum(est[1:], est[0]))
    return np.concatenate(([below], np.diff(np.concatenate(([below], le))), [acc.n - le[-1]])).astype(np.int64)


def _numeric_result(acc: NumericAccumulator, res: _Resolved) -> _Result:
    sk = acc.sketch
    n1, n2 = sk.n, acc.n
    summary = res.summary
    notes: list[str] = []
    exact = True
    if res.reference is not None and res.current is not None:
        # split the marked bins and bound again first: only the values still undecided are sorted
        sub_grid, sub_summary, ref_values, cur_values = narrow(sk.grid, summary, n1, n2, res.reference, res.current)
        ref_values.sort()
        cur_values.sort()
        refined = refine(sub_grid, sub_summary, n1, n2, ref_values, cur_values)
        d, w = refined.ks, refined.wasserstein
    else:
        exact = False
        d = summary.ks_lower
        w = summary.w_settled + summary.w_mixed_estimate
        why = ("the reference sketch does not keep its values (built with exact=False or past the size budget)"
               if not sk.keeps_values else "the single-pass current source was larger than the buffer")
        notes.append(f"approximated: KS statistic is between {summary.ks_lower:.6g} and {summary.ks_upper:.6g} "
                     f"(reported: the lower bound) and Wasserstein is interpolated in "
                     f"{int(summary.mixed.sum())} grid bins where the CDFs may cross, because {why}")
    # SciPy's exact distribution for small samples (only then are the current values gathered into one array)
    small = acc.current_values() if sk.keeps_values and max(n1, n2) <= stats.KS_EXACT_MAX_N else None
    if small is not None:
        d, p = stats.ks_exact_small(sk.values(), small)
    else:
        p = stats.ks_pvalue(d, n1, n2)
    scale = sk.std if sk.std > 0 else 1.0
    if sk.std == 0:
        notes.append("constant reference: Wasserstein not normalized (reference std is 0)")
    ref_bins, cur_bins = sk.bin_counts(), _current_psi_counts(acc, res)
    scores = {
        Method.psi.value: stats.psi(ref_bins, cur_bins),
        Method.ks.value: p,
        Method.wasserstein.value: w / scale,
        Method.jensen_shannon.value: stats.js_distance(ref_bins, cur_bins),
    }
    statistics = {"ks_statistic": d, "wasserstein": w, "reference_mean": sk.mean, "reference_std": sk.std,
                  "current_mean": acc.mean or 0.0, "current_std": acc.std or 0.0}
    if not exact:
        statistics["ks_statistic_upper"] = summary.ks_upper
    hist = Histogram(labels=sk.bin_labels(), reference=ref_bins.tolist(), current=cur_bins.tolist())
    return scores, statistics, exact, notes, hist


def _categorical_result(acc: CategoricalAccumulator) -> _Result:
    cats, ref, cur = acc.aligned()
    chi2, p = stats.chi_square(ref, cur)
    scores = {
        Method.psi.value: stats.psi(ref, cur),
        Method.jensen_shannon.value: stats.js_distance(ref, cur),
        Method.chi_square.value: p,
        Method.linf.value: stats.linf(ref, cur),
    }
    notes: list[str] = []
    unseen = [c for c, r, k in zip(cats, ref, cur, strict=True) if r == 0 and k > 0]
    if unseen:
        shown = ", ".join(unseen[:10]) + (" ..." if len(unseen) > 10 else "")
        noun = "category" if len(unseen) == 1 else "categories"
        notes.append(f"{len(unseen)} {noun} not in the reference: {shown}")
    order = np.argsort(-(ref + cur), kind="stable")[:MAX_PLOT_CATEGORIES]
    hist = Histogram(labels=[cats[i] for i in order], reference=ref[order].tolist(),
                     current=cur[order].tolist())
    return scores, {"chi_square_statistic": chi2, "categories": float(len(cats))}, True, notes, hist


def _resolve(sketch: ReferenceSketch, src: Any, numeric: list[NumericAccumulator], workers: int
             ) -> dict[str, _Resolved]:
    """Per numeric column: the grid bins to resolve and both samples' values in them.

    Current values come from the buffer when the window was kept, else from a
    second read of the source (all columns together) when it can be re-read;
    reference values from the sketch (memory, memory-mapped file, or one read
    of the reference files).
    """

    def _one(acc: NumericAccumulator) -> _Resolved:
        sk = acc.sketch
        summary = summarize(sk.grid, BinCounts(np.asarray(sk.counts), np.asarray(sk.rest)),
                            acc.bin_counts_on_grid())
        psi = sk.psi_marked()
        marked = summary.ks_bins | summary.mixed | psi
        return _Resolved(summary, marked, psi, acc.values_in(marked))

    todo = [a for a in numeric if a.n and a.sketch.n]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        out = {a.sketch.name: r for a, r in zip(todo, pool.map(_one, todo), strict=True)}
    # Without reference values nothing can be resolved, so neither sample's values are worth a read.
    resolvable = [a for a in todo if a.sketch.keeps_values]
    reread = {a.sketch.name: (a.grid, out[a.sketch.name].marked) for a in resolvable
              if out[a.sketch.name].current is None and src.reiterable}
    if reread:
        logger.debug("second read of %s for %d columns' resolved bins", src.description, len(reread))
        for name, values in gather_marked(src, reread, workers=workers).items():
            out[name].current = values
    wanted = {a.sketch.name: out[a.sketch.name].marked for a in resolvable if out[a.sketch.name].current is not None}
    for name, values in sketch.reference_values_in(wanted, workers=workers).items():
        out[name].reference = values
        column = sketch.columns[name]
        if isinstance(column, NumericSketch) and column.psi_edges is None:
            # the marked bins include the PSI rank bins: no read of its own
            column.settle_psi(np.sort(column.grid.select(values, out[name].psi)))
    return out


def check(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    numeric_method: Method | str = DEFAULT_NUMERIC_METHOD,
    categorical_method: Method | str = DEFAULT_CATEGORICAL_METHOD,
    methods: Mapping[str, Method | str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    method_thresholds: Mapping[Method | str, float] | None = None,
    min_drift_share: float = 0.0,
    bins: int = DEFAULT_BINS,
    max_workers: int | None = None,
    buffer_bytes: int = 256 << 20,
) -> DriftReport:
    """Compare ``current`` data with ``reference`` data, feature by feature; return a :class:`DriftReport`.

    ``reference``: a :class:`ReferenceSketch`, a saved sketch directory, or
    data (path/glob/directory of Parquet or CSV, pyarrow Table, pandas DataFrame,
    dict of columns). ``current``: data in any of those forms, or an iterable of
    record batches (read once, in order). ``columns`` limits the check.
    The few grid bins that decide KS and Wasserstein need their values: files
    are read a second time for them; tables in memory are used as they are;
    a single-pass iterable is buffered up to ``buffer_bytes`` (past it those
    statistics are bounded approximations, flagged ``exact=False``).
    ``categorical`` forces columns to categories. Each feature is decided by
    ``methods[name]`` or the default for its kind, against ``thresholds[name]``,
    else ``method_thresholds[method]``, else the method's documented default.

    Never raises for data problems in a column (missing column, type change, all
    missing, unseen categories): they are reported per feature. Raises
    :class:`ConfigError` for bad arguments (unknown method or column name).
    Blocking; memory is bounded by the sketch and one batch, not by the rows.
    """
    started = time.perf_counter()
    if not 0.0 <= min_drift_share <= 1.0:
        raise ConfigError("min_drift_share must be between 0 and 1", field="min_drift_share")
    default_for = {"numeric": Method(numeric_method), "categorical": Method(categorical_method)}
    for kind, method in default_for.items():
        if method not in methods_for(kind):
            raise ConfigError(f"{method.value} does not apply to {kind} columns", field=f"{kind}_method")
    sketch = resolve_reference(reference, columns=columns, categorical=categorical, bins=bins)
    per_threshold = dict(thresholds or {})
    per_method = _validate_methods(sketch, methods or {}, per_threshold)
    by_method = {Method(k): float(v) for k, v in (method_thresholds or {}).items()}
    src = open_source(current)
    names = [c for c in (columns if columns is not None else list(sketch.columns)) if c in sketch.columns]
    if columns is not None:
        unknown = [c for c in columns if c not in sketch.columns]
        if unknown:
            raise ConfigError(f"no reference column(s) named {', '.join(unknown)}", field="columns")
    forced = set(categorical)

    features: dict[str, FeatureDrift] = {}
    accumulators: dict[str, NumericAccumulator | CategoricalAccumulator] = {}
    current_names = set(src.schema.names)
    for name in names:
        col = sketch.columns[name]
        kind = col.kind
        if name not in current_names:
            features[name] = FeatureDrift(name=name, kind=kind, status="missing_in_current",
                                          n_reference=col.n, missing_reference=col.n_missing,
                                          notes=["column missing from the current data"])
            continue
        cur_type = src.schema.field(name).type
        cur_kind = "categorical" if name in forced else column_kind(cur_type)
        if cur_kind not in (kind, "empty") and not (kind == "numeric" and col.n == 0):
            features[name] = FeatureDrift(
                name=name, kind=kind, status="type_mismatch", n_reference=col.n,
                missing_reference=col.n_missing,
                notes=[f"reference is {kind} ({col.arrow_type}), current is {cur_kind} ({cur_type})"])
            continue
        if isinstance(col, NumericSketch):
            accumulators[name] = NumericAccumulator(col, buffer_values=0)
        else:
            accumulators[name] = CategoricalAccumulator(col)
    if columns is None:
        for name in src.schema.names:
            if name not in sketch.columns:
                reason = sketch.skipped.get(name, "column not in the reference")
                features[name] = FeatureDrift(name=name, kind="unknown",
                                              status="unsupported" if name in sketch.skipped else
                                              "not_in_reference", notes=[reason])

    setup_done = time.perf_counter()
    n_rows = 0
    active = list(accumulators)
    numeric = [a for a in accumulators.values() if isinstance(a, NumericAccumulator)]
    for acc in numeric:
        acc.buffer_values = buffer_bytes // (8 * len(numeric))
        if not acc.sketch.keeps_values:
            acc.buffer = None  # nothing to resolve against: the values would never be used
        elif src.reiterable and not src.in_memory:
            # A file: reading the few values the resolved bins need a second time is cheaper than holding
            # the window (fresh memory is slow to fault in). Small windows are still kept, for the exact KS.
            acc.buffer_values = stats.KS_EXACT_MAX_N
    workers = max_workers or os.cpu_count() or 1
    if active:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, group in enumerate(src.column_groups(active)):
                for batch in prefetch(src.batches(group)):
                    if i == 0:
                        n_rows += batch.num_rows
                    have = set(batch.schema.names)  # .names is rebuilt on each access
                    present = [c for c in group if c in have]
                    list(pool.map(lambda c, b=batch: accumulators[c].update(b.column(c)), present))
    else:
        for batch in src.batches([]):
            n_rows += batch.num_rows

    read_done = time.perf_counter()
    resolved = _resolve(sketch, src, numeric, workers) if n_rows else {}
    resolve_done = time.perf_counter()

    def _finish(name: str) -> FeatureDrift:
        acc = accumulators[name]
        col = acc.sketch
        kind = col.kind
        base = {"name": name, "kind": kind, "n_reference": col.n, "n_current": acc.n,
                "missing_reference": col.n_missing, "missing_current": acc.n_missing}
        if acc.n == 0 or col.n == 0:
            side = "current window" if acc.n == 0 else "reference"
            return FeatureDrift(status="no_data", notes=[f"no non-missing values in the {side}"], **base)
        if isinstance(acc, NumericAccumulator):
            scores, statistics, exact, notes, hist = _numeric_result(acc, resolved[name])
        else:
            scores, statistics, exact, notes, hist = _categorical_result(acc)
        method = per_method.get(name, default_for[kind])
        threshold = per_threshold.get(name, by_method.get(method, DEFAULT_THRESHOLDS[method]))
        score = scores[method.value]
        return FeatureDrift(status="checked", method=method.value, threshold=threshold, score=score,
                            drifted=is_drift(method, score, threshold), scores=scores, statistics=statistics,
                            exact=exact, notes=notes, histogram=hist, **base)

    def _expected_cost(name: str) -> float:
        # Slowest first, so the pool is not left waiting on one long column at the end: a KS p-value in the
        # Smirnov regime is an O(n) sum (30-70 ms at n = 0.5-1M, more beyond); the bound tells which.
        res = resolved.get(name)
        acc = accumulators[name]
        if res is None or not isinstance(acc, NumericAccumulator):
            return 0.0
        n1, n2 = acc.sketch.n, acc.n
        slow = stats.ks_pvalue_may_be_slow(res.summary.ks_lower, res.summary.ks_upper, n1, n2)
        return n1 * n2 / (n1 + n2) if slow else 0.0

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for feature in pool.map(_finish, sorted(accumulators, key=_expected_cost, reverse=True)):
            features[feature.name] = feature

    ordered = [features[n] for n in names if n in features]
    ordered += [f for n, f in features.items() if n not in names]
    checked = [f for f in ordered if f.status == "checked"]
    n_drifted = sum(f.drifted for f in checked)
    share = n_drifted / len(checked) if checked else 0.0
    if n_rows == 0:
        status = "no_data"
        drifted = False
    else:
        drifted = n_drifted > 0 and share >= min_drift_share
        status = "drift" if drifted else "no_drift"
    report = DriftReport(
        status=status, drifted=drifted, drift_share=share, min_drift_share=min_drift_share,
        n_checked=len(checked), n_drifted=n_drifted, features=ordered,
        reference={"source": sketch.source, "rows": sketch.n_rows, "created_at": sketch.created_at},
        current={"source": src.description, "rows": n_rows},
        default_methods={k: v.value for k, v in default_for.items()},
        threshold_sources={m.value: THRESHOLD_SOURCES[m] for m in Method},
        created_at=datetime.now(UTC).isoformat(), duration_s=time.perf_counter() - started,
    )
    logger.info("drift check: %s", report.summary())
    logger.debug("drift check phases: sketch+setup %.3f s, read+count %.3f s, resolve %.3f s, finish %.3f s",
                 setup_done - started, read_done - setup_done, resolve_done - read_done,
                 time.perf_counter() - resolve_done)
    return report


