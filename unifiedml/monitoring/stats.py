"""The drift statistics, as pure functions of counts and summaries.

Everything here works on what the streaming accumulators and reference
sketches keep (counts on a grid of reference values, per-interval sums), never
on raw rows, so a check's memory does not grow with the current window.

What is exact (equal to SciPy on the raw data, up to float rounding):

* KS statistic: evaluated at every distinct reference value and just below it,
  which is where the two empirical CDFs can differ most (both are step
  functions); the p-value follows ``scipy.stats.ks_2samp(method="auto")``:
  the exact distribution when both samples have at most 10,000 values, else
  ``kstwo.sf(D, round(n1*n2/(n1+n2)))``.
* Wasserstein-1: integrated interval by interval between consecutive
  reference values from the current values' count, sum, min and max in each
  interval. Where both CDFs cross inside an interval holding two or more
  current values the values themselves are needed: the engine supplies them
  from its buffer or a second read of the source; only a single-pass source
  past the buffer gets the approximation (flagged ``exact=False``).
* chi-square (``scipy.stats.chi2_contingency`` on the 2 x K table of counts),
  PSI, Jensen-Shannon and L-infinity on the stated bins or categories.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "PSI_EPSILON",
    "chi_square",
    "js_distance",
    "ks_pvalue",
    "ks_statistic",
    "linf",
    "psi",
    "wasserstein_crossings",
    "wasserstein_intervals",
    "wasserstein_weighted",
]

#: Proportions below this are floored before PSI's logarithm (an empty bin would make PSI infinite).
PSI_EPSILON = 1e-4
#: scipy's ks_2samp 'auto' uses the exact distribution up to this many values in each sample.
KS_EXACT_MAX_N = 10_000


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    if total <= 0:
        return np.zeros(len(counts), dtype=np.float64)
    return counts.astype(np.float64) / float(total)


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index over matching bins: sum((c - r) * ln(c / r)).

    Proportions are floored at ``epsilon`` so a bin empty on one side gives a
    large finite contribution, not infinity. Bins empty on both sides add 0.
    """
    r = np.maximum(_proportions(np.asarray(ref_counts)), epsilon)
    c = np.maximum(_proportions(np.asarray(cur_counts)), epsilon)
    both_empty = (np.asarray(ref_counts) == 0) & (np.asarray(cur_counts) == 0)
    terms = (c - r) * np.log(c / r)
    return float(np.sum(terms[~both_empty]))


def js_distance(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, so in [0, 1]) between the two count vectors' proportions.

    Equals ``scipy.spatial.distance.jensenshannon(ref, cur, base=2)``; 0 when either side is empty.
    """
    p = _proportions(np.asarray(ref_counts))
    q = _proportions(np.asarray(cur_counts))
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    m = (p + q) / 2.0

    def _kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / m[mask])))

    js = (_kl(p) + _kl(q)) / 2.0 / math.log(2.0)
    return math.sqrt(max(js, 0.0))


def linf(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """L-infinity distance: the largest absolute difference between matching proportions."""
    p = _proportions(np.asarray(ref_counts))
    q = _proportions(np.asarray(cur_counts))
    return float(np.max(np.abs(p - q))) if len(p) else 0.0


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x K contingency table; returns (statistic, p-value).

    Both samples are treated as samples (not the reference as the truth), so an
    unchanged column does not drift just because it is small. Categories absent
    from both are dropped; a category seen only in the current window has a
    positive expected count (its column total), so no division by zero. With
    fewer than two categories left, or an empty side, the result is (0.0, 1.0).
    Matches ``scipy.stats.chi2_contingency`` (Yates' correction when K == 2).
    """
    from scipy.stats import chi2_contingency

    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    if len(r) < 2 or r.sum() == 0 or c.sum() == 0:
        return 0.0, 1.0
    res = chi2_contingency(np.vstack([r, c]))
    return float(res.statistic), float(res.pvalue)


def ks_statistic(cum_ref: np.ndarray, n_ref: int, le_cur: np.ndarray, lt_cur: np.ndarray,
                 n_cur: int) -> float:
    """The two-sample KS statistic from counts at the distinct reference values ``g``.

    ``cum_ref[i]`` = reference values <= g[i]; ``le_cur[i]`` / ``lt_cur[i]`` =
    current values <= g[i] / < g[i]. Both empirical CDFs are step functions, so
    the supremum of their difference is reached at some g[i] or just below it.
    """
    if n_ref == 0 or n_cur == 0 or len(cum_ref) == 0:
        return 0.0
    f_ref = cum_ref / n_ref
    f_ref_before = np.concatenate(([0.0], f_ref[:-1]))
    d_at = np.abs(f_ref - le_cur / n_cur)
    d_before = np.abs(f_ref_before - lt_cur / n_cur)
    return float(max(d_at.max(), d_before.max()))


def ks_pvalue(statistic: float, n_ref: int, n_cur: int) -> float:
    """Asymptotic two-sided p-value exactly as ``scipy.stats.ks_2samp`` computes it for large samples."""
    from scipy.stats import kstwo

    if n_ref == 0 or n_cur == 0:
        return 1.0
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(kstwo.sf(statistic, np.round(en)), 0.0, 1.0))


def ks_exact_small(ref_values: np.ndarray, cur_values: np.ndarray) -> tuple[float, float]:
    """KS statistic and p-value by ``scipy.stats.ks_2samp`` itself (used when both samples are small)."""
    from scipy.stats import ks_2samp

    res = ks_2samp(ref_values, cur_values)
    return float(res.statistic), float(res.pvalue)


def _segment_integral(level: float, start: float, end: float, f0: float, step: float,
                      points: np.ndarray) -> float:
    """integral over [start, end) of |level - F(x)| where F starts at f0 and rises by step at each point."""
    edges = np.concatenate(([start], points, [end]))
    levels = f0 + step * np.arange(len(points) + 1)
    return float(np.sum(np.abs(level - levels) * np.diff(edges)))


def _crossing_setup(grid: np.ndarray, cum_ref: np.ndarray, n_ref: int, counts: np.ndarray, le: np.ndarray,
                    n_cur: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    a = cum_ref[:-1] / n_ref  # F_ref on [grid[i-1], grid[i])
    f0 = le[:-1] / n_cur
    k = counts[1 : len(grid)]
    f1 = f0 + k / n_cur
    cross = (a - f0) * (a - f1) < 0
    return a, f0, k, cross


def wasserstein_crossings(grid: np.ndarray, cum_ref: np.ndarray, n_ref: int, counts: np.ndarray,
                          le: np.ndarray, n_cur: int) -> np.ndarray:
    """Interval ids (indices into ``counts``) where the CDFs cross and 2+ current values lie inside.

    ``le[i]`` is the number of current values <= grid[i].

    Only there does :func:`wasserstein_intervals` need the current values themselves.
    """
    if len(grid) < 2 or n_ref == 0 or n_cur == 0:
        return np.empty(0, dtype=np.int64)
    _, _, k, cross = _crossing_setup(grid, cum_ref, n_ref, counts, le, n_cur)
    return np.flatnonzero(cross & (k >= 2)) + 1


def wasserstein_intervals(
    grid: np.ndarray,
    cum_ref: np.ndarray,
    n_ref: int,
    counts: np.ndarray,
    sums: np.ndarray,
    le: np.ndarray,
    n_cur: int,
    points: dict[int, np.ndarray] | None = None,
) -> tuple[float, bool]:
    """Wasserstein-1 between a reference held as distinct values and a current window held per interval.

    ``grid`` (m distinct reference values) with ``cum_ref`` (cumulative counts);
    for the current window: ``le[i]`` values <= grid[i] and, for each of the
    m + 1 open intervals (below grid[0], between neighbours, above grid[-1]),
    the ``counts`` and ``sums`` of the values in it. ``points`` maps the ids
    from :func:`wasserstein_crossings` to the current values in those
    intervals. Returns ``(distance, exact)``: exact unless a crossing
    interval's values were not given (then F_cur is taken as linear across
    that interval, an error bounded by its width x count / n).
    """
    m = len(grid)
    if m == 0 or n_ref == 0 or n_cur == 0:
        return 0.0, True
    inv = 1.0 / n_cur
    total = 0.0
    # Below the smallest reference value F_ref = 0; above the largest F_ref = 1.
    total += (counts[0] * grid[0] - sums[0]) * inv
    total += (sums[m] - counts[m] * grid[m - 1]) * inv
    if m == 1:
        return float(total), True
    a, f0, k, cross = _crossing_setup(grid, cum_ref, n_ref, counts, le, n_cur)
    width = np.diff(grid)
    signed = (a - f0) * width - (k * grid[1:] - sums[1:m]) * inv
    total += float(np.sum(np.abs(signed[~cross])))
    exact = True
    points = points or {}
    for i in np.flatnonzero(cross):
        cnt = int(k[i])
        if cnt == 1:
            pts = np.array([sums[i + 1]])
        elif (i + 1) in points and len(points[i + 1]) == cnt:
            pts = np.sort(points[i + 1])
        else:
            # Values unknown: take F as rising linearly across the interval (error <= width x count / n).
            exact = False
            lo_f, hi_f, level = float(f0[i]), float(f0[i] + cnt * inv), float(a[i])
            total += float(width[i]) * ((level - lo_f) ** 2 + (hi_f - level) ** 2) / (2 * (hi_f - lo_f))
            continue
        total += _segment_integral(float(a[i]), float(grid[i]), float(grid[i + 1]), float(f0[i]), inv, pts)
    return float(total), exact


def wasserstein_weighted(
    ref_points: np.ndarray, ref_weights: np.ndarray, cur_points: np.ndarray, cur_weights: np.ndarray
) -> float:
    """Wasserstein-1 between two weighted point sets (binned sketches: cell means weighted by counts)."""
    from scipy.stats import wasserstein_distance

    rk = ref_weights > 0
    ck = cur_weights > 0
    if not rk.any() or not ck.any():
        return 0.0
    return float(wasserstein_distance(ref_points[rk], cur_points[ck], ref_weights[rk], cur_weights[ck]))
