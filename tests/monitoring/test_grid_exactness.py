"""The grid-counted KS, Wasserstein and PSI bins against SciPy and plain sorting, on many random samples.

Each case is checked in memory (values buffered) and from Parquet files with
no buffer (the resolved bins' values come from a second read), so both paths
that supply values to the exact resolution are covered.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats as ss

from unifiedml.monitoring import check
from unifiedml.monitoring.grid import BinCounts, Grid, choose_grid, narrow, refine, summarize


def _sample(rng: np.random.Generator, n: int, family: str, shift: float) -> np.ndarray:
    if family == "normal":
        return rng.normal(shift, 1.0 + shift / 3, n)
    if family == "lognormal":
        return rng.lognormal(shift, 1.5, n)
    if family == "cauchy":
        return rng.standard_cauchy(n) * (1 + shift)
    if family == "integers":
        return rng.integers(0, 7 + int(3 * shift), n).astype(float)
    if family == "rounded":
        return np.round(rng.normal(shift, 1, n), 2)
    if family == "point_mass":
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.4] = 0.0
        return x
    if family == "far":  # the current window lies entirely beyond the reference's range
        return rng.normal(50 * shift, 1, n)
    raise AssertionError(family)


FAMILIES = ["normal", "lognormal", "cauchy", "integers", "rounded", "point_mass", "far"]


def _cases() -> list[tuple[int, str, int, int, float]]:
    rng = np.random.default_rng(2026)
    out = []
    for seed in range(28):
        family = FAMILIES[seed % len(FAMILIES)]
        n_ref = int(rng.choice([1, 2, 7, 300, 4_000, 25_000, 120_000]))
        n_cur = int(rng.choice([1, 3, 50, 2_000, 15_000, 90_000]))
        shift = float(rng.choice([0.0, 0.0, 0.05, 0.5]))
        out.append((seed, family, n_ref, n_cur, shift))
    return out


def _psi_bins_by_sorting(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> tuple[list[int], list[int]]:
    r, c = np.sort(ref), np.sort(cur)
    ranks = np.ceil(np.arange(1, bins + 1) * (len(r) / bins)).astype(int)
    edges = np.unique(r[ranks - 1])

    def hist(s: np.ndarray, below: int) -> list[int]:
        le = np.searchsorted(s, edges, side="right")
        return [below, *np.diff(np.concatenate(([below], le))).tolist(), len(s) - int(le[-1])]

    return hist(r, 0), hist(c, int(np.searchsorted(c, r[0], side="left")))


@pytest.mark.parametrize(("seed", "family", "n_ref", "n_cur", "shift"), _cases())
def test_grid_results_equal_scipy_and_sorting(tmp_path, seed: int, family: str, n_ref: int, n_cur: int,
                                              shift: float) -> None:
    rng = np.random.default_rng(seed)
    ref = _sample(rng, n_ref, family if family != "far" else "normal", 0.0)
    cur = _sample(rng, n_cur, family, shift)
    pq.write_table(pa.table({"x": ref}), tmp_path / "ref.parquet")
    pq.write_table(pa.table({"x": cur}), tmp_path / "cur.parquet")
    want_ks = ss.ks_2samp(ref, cur)
    want_w = ss.wasserstein_distance(ref, cur)
    want_ref_bins, want_cur_bins = _psi_bins_by_sorting(ref, cur)
    in_memory = check({"x": ref}, {"x": cur}).feature("x")
    from_files = check(tmp_path / "ref.parquet", tmp_path / "cur.parquet", buffer_bytes=0).feature("x")
    for f in (in_memory, from_files):
        assert f.exact
        assert f.statistics["ks_statistic"] == pytest.approx(want_ks.statistic, rel=1e-12, abs=1e-15)
        assert f.scores["ks"] == pytest.approx(want_ks.pvalue, rel=1e-9, abs=1e-300)
        assert f.statistics["wasserstein"] == pytest.approx(want_w, rel=1e-9, abs=1e-12)
        assert f.histogram is not None
        assert f.histogram.reference == want_ref_bins
        assert f.histogram.current == want_cur_bins


def test_values_on_bin_edges_and_ties_across_edges() -> None:
    # integers on a grid whose edges fall exactly on many of them
    ref = np.repeat(np.arange(0.0, 64.0), 50)
    cur = np.repeat(np.arange(0.0, 64.0, 2.0), 80)
    f = check({"x": ref}, {"x": cur}).feature("x")
    assert f.statistics["ks_statistic"] == pytest.approx(ss.ks_2samp(ref, cur).statistic, rel=1e-12)
    assert f.statistics["wasserstein"] == pytest.approx(ss.wasserstein_distance(ref, cur), rel=1e-9)


def test_binning_is_monotone_and_keeps_equal_values_together() -> None:
    rng = np.random.default_rng(5)
    x = np.sort(np.concatenate((rng.normal(size=50_000), rng.normal(size=100) * 1e6, [-np.inf, np.inf])))
    grid = choose_grid(x[np.isfinite(x)])
    ids = grid.ids(x)
    assert np.all(np.diff(ids) >= 0)
    assert ids[0] == 0 and ids[-1] == grid.nbins + 1
    dup = np.repeat(x[1:-1:997], 3)
    assert np.all(np.ptp(grid.ids(dup).reshape(-1, 3), axis=1) == 0)


def test_degenerate_grids_are_usable() -> None:
    for values in (np.array([3.0]), np.full(100, -2.5), np.array([1e300, 1e300]), np.empty(0)):
        grid = choose_grid(values)
        assert grid.hi > grid.lo and math.isfinite(grid.width) and grid.width > 0
        counts, _ = grid.count(values)
        assert counts.sum() == len(values)
    assert isinstance(choose_grid(np.array([1.0, 2.0])), Grid)


def test_file_sketch_leaves_values_in_the_files_and_saving_writes_them(tmp_path) -> None:
    rng = np.random.default_rng(11)
    ref, cur = rng.normal(size=40_000), rng.normal(0.03, 1, 30_000)
    pq.write_table(pa.table({"x": ref}), tmp_path / "ref.parquet", row_group_size=7_000)
    from unifiedml.monitoring import ReferenceSketch, build_sketch

    sketch = build_sketch(tmp_path / "ref.parquet")
    col = sketch.columns["x"]
    assert col.raw is None and col.values_at is not None and col.exact
    assert col.psi_edges is None  # settled by the check's own read of the resolved bins
    reads: list[list[str]] = []
    original = col.values_at.source.batches

    def counting(columns=None, **kw):  # type: ignore[no-untyped-def]
        reads.append(list(columns or []))
        return original(columns, **kw)

    object.__setattr__(col.values_at.source, "batches", counting)
    lazy = check(sketch, {"x": cur}).feature("x")
    assert len(reads) == 1  # one read of the reference resolves the bins and settles the PSI edges
    in_memory = build_sketch({"x": ref}).columns["x"]
    np.testing.assert_array_equal(col.psi_edges, in_memory.psi_edges)
    np.testing.assert_array_equal(col.psi_counts, in_memory.psi_counts)
    sketch.save(tmp_path / "sk")
    loaded = ReferenceSketch.load(tmp_path / "sk")
    assert loaded.columns["x"].raw is not None and loaded.columns["x"].values_at is None
    np.testing.assert_array_equal(np.sort(loaded.columns["x"].values()), np.sort(ref))
    saved = check(loaded, {"x": cur}).feature("x")
    want = ss.ks_2samp(ref, cur)
    for f in (lazy, saved):
        assert f.exact
        assert f.statistics["ks_statistic"] == pytest.approx(want.statistic, rel=1e-12)
        assert f.statistics["wasserstein"] == pytest.approx(ss.wasserstein_distance(ref, cur), rel=1e-9)


def test_a_reference_file_changed_after_sketching_is_an_error_not_a_different_answer(tmp_path) -> None:
    from unifiedml.errors import ConfigError
    from unifiedml.monitoring import build_sketch

    path = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"x": np.arange(20_000.0)}), path)
    sketch = build_sketch(path)
    pq.write_table(pa.table({"x": np.arange(20_001.0)}), path)
    with pytest.raises(ConfigError, match="changed after it was sketched"):
        check(sketch, {"x": np.arange(100.0, 15_000.0)})


def test_wide_parquet_read_in_column_groups_gives_the_same_result(tmp_path) -> None:
    from unifiedml.monitoring.sources import open_source

    rng = np.random.default_rng(3)
    ref = {f"c{i}": rng.normal(size=12_000) for i in range(12)}
    cur = {f"c{i}": rng.normal(0.1 * (i % 3), 1, 11_000) for i in range(12)}
    pq.write_table(pa.table(ref), tmp_path / "ref.parquet", row_group_size=4_000)
    pq.write_table(pa.table(cur), tmp_path / "cur.parquet", row_group_size=4_000)
    src = open_source(tmp_path / "cur.parquet")
    assert len(src.column_groups(list(cur), budget_bytes=4_000 * 8 * 5)) == 3
    import unifiedml.monitoring.sources as sources

    read: list[list[str]] = []
    original_batches = sources.TabularSource.batches

    def recording(self, columns=None, **kw):  # type: ignore[no-untyped-def]
        read.append(list(columns or []))
        return original_batches(self, columns, **kw)

    original = sources.COLUMN_GROUP_BYTES
    try:
        sources.COLUMN_GROUP_BYTES = 4_000 * 8 * 5  # read five columns at a time
        sources.TabularSource.batches = recording  # type: ignore[method-assign]
        grouped = check(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    finally:
        sources.COLUMN_GROUP_BYTES = original
        sources.TabularSource.batches = original_batches  # type: ignore[method-assign]
    assert read and max(len(cols) for cols in read) == 5
    whole = check(pa.table(ref), pa.table(cur))
    for name in ref:
        assert grouped.feature(name).scores == pytest.approx(whole.feature(name).scores, rel=1e-9)
        assert grouped.feature(name).n_current == 11_000


@pytest.mark.parametrize("family", ["normal", "lognormal", "rounded", "integers", "point_mass", "cauchy"])
def test_narrowed_bins_give_the_full_refinement_and_scipy(family: str) -> None:
    # Two unshifted samples: F_ref - F_cur hovers around 0, so many grid bins may change sign and must be resolved;
    # splitting them into sub-bins first must not change the exact result, only how many values are sorted.
    rng = np.random.default_rng(7)
    ref, cur = _sample(rng, 200_000, family, 0.0), _sample(rng, 150_000, family, 0.0)
    grid = choose_grid(ref)
    summary = summarize(grid, BinCounts(*grid.count(ref)), BinCounts(*grid.count(cur)))
    marked = summary.ks_bins | summary.mixed
    r, c = np.sort(grid.select(ref, marked)), np.sort(grid.select(cur, marked))
    full = refine(grid, summary, len(ref), len(cur), r, c)
    sub_grid, sub_summary, r_kept, c_kept = narrow(grid, summary, len(ref), len(cur), r, c)
    narrowed = refine(sub_grid, sub_summary, len(ref), len(cur), r_kept, c_kept)
    want_d = ss.ks_2samp(ref, cur).statistic
    assert narrowed.ks == full.ks == pytest.approx(want_d, rel=1e-12)
    assert narrowed.wasserstein == pytest.approx(full.wasserstein, rel=1e-12)
    assert narrowed.wasserstein == pytest.approx(ss.wasserstein_distance(ref, cur), rel=1e-12)
    if family == "normal":
        assert summary.mixed.sum() > 100  # the case this is for
        assert len(r_kept) + len(c_kept) < 0.5 * (len(r) + len(c))


def test_narrow_refuses_a_sample_missing_values_of_a_split_bin() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=20_000), rng.normal(size=20_000)
    grid = choose_grid(ref)
    summary = summarize(grid, BinCounts(*grid.count(ref)), BinCounts(*grid.count(cur)))
    marked = summary.ks_bins | summary.mixed
    r, c = np.sort(grid.select(ref, marked)), np.sort(grid.select(cur, marked))
    with pytest.raises(ValueError, match="every value"):
        narrow(grid, summary, len(ref), len(cur), np.delete(r, len(r) // 2), c)
