"""Every statistic against SciPy on the raw data, and small cases computed by hand."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats as ss
from scipy.spatial.distance import jensenshannon
from scipy.special import smirnov

from unifiedml.monitoring import check, kolmogorov
from unifiedml.monitoring import stats as st

CASES = {
    "tiny": (np.array([1.0]), np.array([2.0])),
    "tiny_overlap": (np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0])),
    "ties": (np.round(np.random.default_rng(1).normal(size=3000), 1),
             np.round(np.random.default_rng(2).normal(0.1, 1, 2500), 1)),
    "heavy_tails": (np.random.default_rng(3).standard_cauchy(20_000),
                    np.random.default_rng(4).standard_cauchy(15_000) * 1.3),
    "large_asymptotic": (np.random.default_rng(5).normal(size=60_000),
                         np.random.default_rng(6).normal(0.02, 1.0, 40_000)),
    "unequal_sizes": (np.random.default_rng(7).exponential(size=500),
                      np.random.default_rng(8).exponential(size=30_000)),
    "discrete": (np.random.default_rng(9).integers(0, 5, 8000).astype(float),
                 np.random.default_rng(10).integers(0, 6, 7000).astype(float)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_ks_statistic_and_pvalue_equal_scipy(case: str) -> None:
    ref, cur = CASES[case]
    f = check({"x": ref}, {"x": cur}, numeric_method="ks").feature("x")
    want = ss.ks_2samp(ref, cur)
    assert f.statistics["ks_statistic"] == pytest.approx(want.statistic, rel=1e-12, abs=1e-15)
    assert f.scores["ks"] == pytest.approx(want.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("case", list(CASES))
def test_wasserstein_equals_scipy_normalized_by_reference_std(case: str) -> None:
    ref, cur = CASES[case]
    f = check({"x": ref}, {"x": cur}).feature("x")
    raw = ss.wasserstein_distance(ref, cur)
    assert f.statistics["wasserstein"] == pytest.approx(raw, rel=1e-9, abs=1e-12)
    scale = np.std(ref) if np.std(ref) > 0 else 1.0
    assert f.scores["wasserstein"] == pytest.approx(raw / scale, rel=1e-9, abs=1e-12)
    assert f.exact


def test_wasserstein_exact_from_a_second_read_when_the_window_exceeds_the_buffer(tmp_path) -> None:
    ref, cur = CASES["ties"]
    pq.write_table(pa.table({"x": cur}), tmp_path / "cur.parquet")
    f = check({"x": ref}, tmp_path / "cur.parquet", buffer_bytes=0).feature("x")
    assert f.exact
    assert f.statistics["wasserstein"] == pytest.approx(ss.wasserstein_distance(ref, cur), rel=1e-9)


def test_single_pass_source_past_the_buffer_is_flagged_not_exact() -> None:
    ref = np.random.default_rng(0).normal(size=300)
    cur = np.random.default_rng(1).normal(size=200_000)
    batches = iter(pa.table({"x": cur}).to_batches(max_chunksize=50_000))
    f = check({"x": ref}, batches, buffer_bytes=0).feature("x")
    raw = ss.wasserstein_distance(ref, cur)
    # 300 reference rows give a coarse grid (64 bins): the interpolated Wasserstein is within a few percent
    assert f.statistics["wasserstein"] == pytest.approx(raw, rel=5e-2)
    d = ss.ks_2samp(ref, cur).statistic
    assert f.statistics["ks_statistic"] <= d <= f.statistics["ks_statistic_upper"]
    assert not f.exact
    assert any("approximated" in n for n in f.notes)


def test_js_distance_equals_scipy_base_2() -> None:
    p = np.array([10, 0, 5, 7])
    q = np.array([3, 4, 0, 9])
    assert st.js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), rel=1e-12)
    assert st.js_distance(p, p) == 0.0


def test_chi_square_equals_chi2_contingency_including_an_unseen_category() -> None:
    ref = np.array([50, 30, 20, 0])
    cur = np.array([40, 35, 20, 5])  # the last category never appears in the reference
    stat, p = st.chi_square(ref, cur)
    want = ss.chi2_contingency(np.vstack([ref, cur]))
    assert stat == pytest.approx(want.statistic, rel=1e-12)
    assert p == pytest.approx(want.pvalue, rel=1e-12)
    assert 0.0 < p < 1.0


def test_chi_square_two_categories_uses_yates_like_scipy() -> None:
    stat, p = st.chi_square(np.array([30, 10]), np.array([20, 20]))
    want = ss.chi2_contingency(np.array([[30, 10], [20, 20]]))
    assert (stat, p) == pytest.approx((want.statistic, want.pvalue))


def test_chi_square_equals_chi2_contingency_on_random_tables() -> None:
    rng = np.random.default_rng(11)
    for k in (2, 2, 3, 4, 7, 40):
        ref, cur = rng.integers(0, 5_000, k), rng.integers(0, 5_000, k)
        want = ss.chi2_contingency(np.vstack([ref, cur]))
        assert st.chi_square(ref, cur) == pytest.approx((want.statistic, want.pvalue), rel=1e-13, abs=1e-300)


def test_chi2_sf_equals_scipy_chdtrc() -> None:
    from scipy.special import chdtrc

    for dof in range(1, st.CHI2_CLOSED_FORM_MAX_DOF + 3):
        for stat in [0.0, 1e-9, *np.geomspace(1e-4, 2500.0, 60).tolist(), float(dof), 1.5 * dof]:
            want = float(chdtrc(dof, stat))
            assert st.chi2_sf(dof, stat) == pytest.approx(want, rel=2e-13, abs=1e-300), (dof, stat)


def test_chi_square_unchanged_small_column_does_not_drift() -> None:
    # A goodness-of-fit test treating the reference as exact would flag this; homogeneity does not.
    f = check({"c": ["a"] * 6 + ["b"] * 4}, {"c": ["a"] * 3 + ["b"] * 2},
              categorical_method="chi_square").feature("c")
    assert not f.drifted and f.score == pytest.approx(1.0)


def test_chi_square_degenerate_tables_are_defined() -> None:
    assert st.chi_square(np.array([5]), np.array([3])) == (0.0, 1.0)
    assert st.chi_square(np.array([5, 3]), np.array([0, 0])) == (0.0, 1.0)


def test_psi_by_hand() -> None:
    r = np.array([50, 50])
    c = np.array([25, 75])
    want = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert st.psi(r, c) == pytest.approx(want)
    # an empty reference bin is floored, not infinite
    assert math.isfinite(st.psi(np.array([10, 0]), np.array([5, 5])))
    assert st.psi(np.array([10, 0, 0]), np.array([10, 0, 0])) == 0.0


def test_linf_by_hand() -> None:
    assert st.linf(np.array([6, 4]), np.array([3, 7])) == pytest.approx(0.3)


def _kstwo_tolerance(d: float, n: int, want: float, got: float) -> float:
    """How far an evaluation of kstwo.sf(d, n) may be from SciPy's: 1e-13 relative, or the change 8 ulps of d make.

    Near n d^2 = 370 the Smirnov sum moves by ~1e-13 relative per ulp of d, so
    no evaluation in double precision can promise more than that.
    """
    if abs(got - want) <= max(1e-13 * want, 1e-300):
        return max(1e-13 * want, 1e-300)
    step = 8 * np.spacing(d)
    moved = max(abs(float(ss.kstwo.sf(d + step, n)) - want), abs(float(ss.kstwo.sf(d - step, n)) - want))
    return max(1e-13 * want, moved, 1e-300)


@pytest.mark.parametrize("n", [150, 5_000, 100_000, 123_457, 500_000, 1_000_000])
def test_ks_pvalue_equals_kstwo_in_every_regime(n: int) -> None:
    # n d^2 below 2.2 (1 - Pelz-Good CDF, or SciPy's Durbin matrix for tiny d), the Smirnov sum, >= 370 (0),
    # d >= 1/2 (the Smirnov sum again), n d >= n - 1, and n d <= 1 (SciPy's Ruben-Gambino)
    points = [math.sqrt(nd2 / n) for nd2 in (1e-4, 0.01, 0.3, 1.0, 2.19, 2.2, 2.21, 2.88, 12.5, 200.0, 369.0,
                                             371.0, 5000.0)]
    points += [0.5, 0.7, 1.0 - 1.0 / n, 0.75 / n, 1.0 / n, 1.0]
    for d in points:
        if d > 1:
            continue
        want = float(np.clip(ss.kstwo.sf(d, n), 0, 1))
        got = st.ks_pvalue(d, 2 * n, 2 * n)
        assert abs(got - want) <= _kstwo_tolerance(d, n, want, got), (n, d, n * d * d, got, want)


def test_smirnov_sum_in_numpy_is_fast_and_equal_to_scipy_at_half_a_million() -> None:
    # the 1M-row benchmark's regime: SciPy's smirnov(500000, 0.0024) is a 0.6 s scalar loop
    n, d = 500_000, 0.0024
    assert kolmogorov.smirnov_sf(n, d) == pytest.approx(float(smirnov(n, d)), rel=1e-13)


def _smirnov_in_long_double(n: int, d: float) -> float:
    """The Birnbaum-Tingey sum term by term in log space with 64-bit-mantissa floats (an independent check)."""
    ld = np.longdouble
    j = np.arange(1, math.floor(n * (1 - d)) + 1).astype(ld)
    nd = ld(n) * ld(d)
    j = j[ld(n) - j - nd > 0]

    def log_factorial(k: np.ndarray) -> np.ndarray:  # Stirling's series, exact to long double for k >= 30
        k = np.maximum(k, ld(30))
        return (k * np.log(k) - k + np.log(2 * ld(math.pi) * k) / 2 + 1 / (12 * k) - 1 / (360 * k**3)
                + 1 / (1260 * k**5))

    lf = log_factorial(j)
    small = j < 30
    lf[small] = [ld(math.lgamma(float(k) + 1)) for k in j[small]]
    log_terms = (log_factorial(np.array([ld(n)]))[0] - lf - log_factorial(ld(n) - j)
                 + (j - 1) * np.log((nd + j) / n) + (ld(n) - j) * np.log((ld(n) - j - nd) / n))
    return float((1 - ld(d)) ** n + ld(d) * np.sum(np.exp(log_terms)))


@pytest.mark.slow
def test_smirnov_sum_stays_exact_past_a_million() -> None:
    # Above n = 1,000,000 SciPy's smirnov switches to an approximation (0.44 % off at n d^2 = 100); the sum
    # here is checked against an independent extended-precision evaluation instead.
    n = 1_200_000
    for nd2 in (3.0, 100.0):
        d = math.sqrt(nd2 / n)
        assert kolmogorov.smirnov_sf(n, d) == pytest.approx(_smirnov_in_long_double(n, d), rel=1e-9)


def test_large_sample_checks_do_not_import_scipy() -> None:
    # importing scipy.stats costs 0.5-0.65 s and scipy.special 0.1-0.15 s: large samples' p-values need neither
    code = (
        "import sys, numpy as np\n"
        "from unifiedml.monitoring import check\n"
        "rng = np.random.default_rng(0)\n"
        "ref = {'x': rng.normal(size=30_000), 'y': rng.normal(size=30_000), 'c': rng.choice(list('abc'), 30_000)}\n"
        "cur = {'x': rng.normal(size=20_000), 'y': rng.normal(0.05, 1, 20_000),\n"
        "       'c': rng.choice(list('abcd'), 20_000)}\n"
        "r = check(ref, cur, numeric_method='ks', categorical_method='chi_square')\n"
        "assert all(f.status == 'checked' for f in r.features), r\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_ks_pvalue_matches_scipy_asymptotic_formula() -> None:
    want = ss.ks_2samp(CASES["large_asymptotic"][0], CASES["large_asymptotic"][1])
    assert st.ks_pvalue(want.statistic, 60_000, 40_000) == pytest.approx(want.pvalue, rel=1e-12)


def test_numeric_bins_put_out_of_range_values_in_their_own_bin() -> None:
    ref = np.arange(100.0)
    f = check({"x": ref}, {"x": np.full(50, 1000.0)}, numeric_method="psi").feature("x")
    assert f.histogram is not None
    assert f.histogram.current[-1] == 50 and f.histogram.reference[-1] == 0
    assert f.drifted
