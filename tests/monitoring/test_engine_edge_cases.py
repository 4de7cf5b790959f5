"""Bad and awkward input gives defined per-feature results, never a crash or a NaN."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from unifiedml.errors import ConfigError, DriftDetected
from unifiedml.monitoring import DriftReport, build_sketch, check
from unifiedml.monitoring.sketch import ReferenceSketch


def _frames(n: int = 2000, shift: float = 0.0, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(shift, 1, n),
        "b": rng.exponential(1, n),
        "c": rng.choice(["x", "y", "z"], n).tolist(),
    }


def _no_nan(report: DriftReport) -> None:
    for f in report.features:
        for v in [f.score, *f.scores.values(), *f.statistics.values()]:
            assert v is None or not math.isnan(v), (f.name, f.scores)


def test_identical_data_does_not_drift() -> None:
    ref = _frames()
    report = check(ref, ref)
    assert report.status == "no_drift" and not report.drifted
    assert report.default_methods == {"numeric": "wasserstein", "categorical": "jensen_shannon"}
    assert {f.method for f in report.features} == {"wasserstein", "jensen_shannon"}


def test_shifted_feature_drifts_and_share_is_reported() -> None:
    report = check(_frames(), _frames(shift=1.0, seed=1))
    assert report.drifted_features == ["a"]
    assert report.drift_share == pytest.approx(1 / 3)
    with pytest.raises(DriftDetected):
        report.raise_for_drift()
    assert not check(_frames(), _frames(shift=1.0, seed=1), min_drift_share=0.5).drifted


def test_missing_column_and_type_change_are_reported_per_column() -> None:
    cur = _frames(seed=1)
    del cur["b"]
    cur["a"] = [str(v) for v in cur["a"]]  # type: ignore[union-attr]
    cur["extra"] = list(range(2000))
    report = check(_frames(), cur)
    assert report.feature("b").status == "missing_in_current"
    assert report.feature("a").status == "type_mismatch"
    assert report.feature("extra").status == "not_in_reference"
    assert report.feature("c").status == "checked"
    assert report.n_checked == 1


def test_all_missing_current_column_is_no_data() -> None:
    cur = _frames(seed=1)
    cur["a"] = pa.array([None] * 2000, type=pa.float64())
    cur["c"] = pa.nulls(2000)
    report = check(_frames(), cur)
    for name in ("a", "c"):
        f = report.feature(name)
        assert f.status == "no_data" and not f.drifted and f.missing_current == 2000


def test_nan_and_null_count_as_missing() -> None:
    ref = {"a": [1.0, 2.0, 3.0, None, float("nan")]}
    f = check(ref, ref).feature("a")
    assert f.missing_reference == 2 and f.n_reference == 3 and f.missing_current == 2


def test_constant_columns_are_defined() -> None:
    report = check({"k": np.zeros(100), "s": ["a"] * 100}, {"k": np.zeros(50), "s": ["a"] * 50})
    _no_nan(report)
    assert not report.drifted
    moved = check({"k": np.zeros(100)}, {"k": np.ones(50)}).feature("k")
    assert moved.drifted and moved.scores["wasserstein"] == pytest.approx(1.0)
    assert any("constant reference" in n for n in moved.notes)


def test_unseen_category_is_named_and_scored() -> None:
    f = check({"c": ["a", "b"] * 50}, {"c": ["a", "b", "new"] * 30}).feature("c")
    assert f.drifted
    assert any("new" in n for n in f.notes)
    assert 0 < f.scores["chi_square"] < 1


def test_empty_current_window_is_no_data() -> None:
    empty = pa.table({"a": pa.array([], pa.float64()), "b": pa.array([], pa.float64()),
                      "c": pa.array([], pa.string())})
    report = check(_frames(), empty)
    assert report.status == "no_data" and not report.drifted
    assert "no data" in report.summary()


def test_per_feature_methods_and_thresholds() -> None:
    report = check(_frames(), _frames(seed=1), methods={"a": "ks", "c": "linf"},
                   thresholds={"b": 0.0})
    assert report.feature("a").method == "ks"
    assert report.feature("c").method == "linf"
    assert report.feature("b").threshold == 0.0 and report.feature("b").drifted


def test_bad_arguments_raise_config_error_naming_them() -> None:
    with pytest.raises(ConfigError, match="nope"):
        check(_frames(), _frames(), methods={"nope": "ks"})
    with pytest.raises(ConfigError, match="ks does not apply"):
        check(_frames(), _frames(), methods={"c": "ks"})
    with pytest.raises(ConfigError, match="unknown method"):
        check(_frames(), _frames(), methods={"a": "magic"})
    with pytest.raises(ConfigError):
        check(_frames(), _frames(), columns=["zzz"])


def test_parquet_csv_and_saved_sketch_give_the_same_scores(tmp_path) -> None:
    ref, cur = pa.table(_frames()), pa.table(_frames(shift=0.3, seed=2))
    pq.write_table(ref, tmp_path / "ref.parquet")
    pacsv.write_csv(cur, tmp_path / "cur.csv")
    direct = check(ref, cur)
    from_files = check(tmp_path / "ref.parquet", tmp_path / "cur.csv")
    build_sketch(tmp_path / "ref.parquet").save(tmp_path / "sketch")
    from_sketch = check(ReferenceSketch.load(tmp_path / "sketch"), cur)
    via_dir = check(str(tmp_path / "sketch"), cur)
    for r in (from_files, from_sketch, via_dir):
        for name in ("a", "b", "c"):
            assert r.feature(name).scores == pytest.approx(direct.feature(name).scores, rel=1e-9)


def test_a_loaded_sketch_saved_over_its_own_directory_stays_readable(tmp_path) -> None:
    # its arrays are memory-mapped from the files being replaced: they must not be truncated under it
    ref, cur = pa.table(_frames()), pa.table(_frames(shift=0.3, seed=2))
    build_sketch(ref).save(tmp_path / "sketch")
    loaded = ReferenceSketch.load(tmp_path / "sketch")
    want = check(loaded, cur)
    loaded.save(tmp_path / "sketch")
    again = check(ReferenceSketch.load(tmp_path / "sketch"), cur)
    assert check(loaded, cur).feature("a").scores == want.feature("a").scores
    for name in ("a", "b", "c"):
        assert again.feature(name).scores == want.feature(name).scores
    assert not list((tmp_path / "sketch").glob("*.tmp"))


def test_sketch_without_values_is_close_bounded_and_flagged() -> None:
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=50_000), rng.normal(0.05, 1, 20_000)
    exact = check({"x": ref}, {"x": cur}).feature("x")
    binned = check(build_sketch({"x": ref}, exact=False), {"x": cur}).feature("x")
    assert exact.exact and not binned.exact
    assert any("approximated" in n and "does not keep its values" in n for n in binned.notes)
    # the reported KS is the lower bound the counts prove; the note states the upper bound
    d = exact.statistics["ks_statistic"]
    assert binned.statistics["ks_statistic"] <= d
    assert binned.statistics["ks_statistic"] == pytest.approx(d, abs=2e-3)
    assert binned.scores["wasserstein"] == pytest.approx(exact.scores["wasserstein"], abs=5e-3)
    assert binned.scores["psi"] == pytest.approx(exact.scores["psi"], abs=5e-3)


def test_report_json_round_trip() -> None:
    report = check(_frames(), _frames(seed=3))
    data = report.to_dict()
    assert DriftReport.model_validate(data).features[0].name == "a"
    assert "histogram" not in report.to_dict(histograms=False)["features"][0]


def test_pandas_dataframe_input() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": np.arange(100.0), "c": ["x", "y"] * 50})
    assert check(df, df).status == "no_drift"
