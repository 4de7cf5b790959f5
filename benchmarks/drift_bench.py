"""Drift benchmark: unifiedml vs Evidently's DataDriftPreset, NannyML's UnivariateDriftCalculator and plain SciPy.

Synthetic data, fixed seed: 20 numeric + 5 categorical columns; in the current
data 5 numeric columns are shifted by 0.2 sd and 2 categorical columns change
their frequencies. Every tool runs in its own process, so "whole process"
wall time and peak RSS (the worker's own ru_maxrss) include interpreter start, imports and
reading the Parquet files; "compute" is the tool's own call, timed inside.

Like for like: Evidently, NannyML and the NumPy baseline get both files read
into memory before their timer starts, and so does ``unifiedml`` (pyarrow
tables). ``unifiedml-files`` hands unifiedml the file paths instead, so its
compute includes reading both files (the streaming path scheduled checks use).
The ratios printed are computed within the run.

    python benchmarks/drift_bench.py --rows 100000 1000000
    python benchmarks/drift_bench.py --rows 10000000 --tools unifiedml --reference-rows 1000000

Evidently and NannyML run from benchmarks/.venv-baselines (benchmarks/setup_baselines.sh);
a tool that cannot be imported or run is reported with its error, never with numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "results" / "drift-data"
BASELINE_PY = HERE / ".venv-baselines" / "bin" / "python"
N_NUM, N_CAT, SHIFT_NUM, SHIFT_CAT = 20, 5, 5, 2
CATS = ["a", "b", "c", "d"]


def generate(rows: int, seed: int, shifted: bool, path: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    writer = None
    step = 1_000_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        cols = {}
        for i in range(N_NUM):
            x = rng.normal(0.0, 1.0, n)
            cols[f"num_{i:02d}"] = x + 0.2 if shifted and i < SHIFT_NUM else x
        for j in range(N_CAT):
            p = [0.25, 0.25, 0.25, 0.25] if shifted and j < SHIFT_CAT else [0.4, 0.3, 0.2, 0.1]
            cols[f"cat_{j}"] = pa.DictionaryArray.from_arrays(
                pa.array(rng.choice(4, n, p=p).astype("int8")), pa.array(CATS)).dictionary_decode()
        table = pa.table(cols)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer:
        writer.close()


# -- workers (each runs in its own process) ---------------------------------------------------

def work_unifiedml(ref: str, cur: str, *, tables: bool = True) -> dict:
    """``tables``: read both files first (as the baselines do with pandas) and time the check on the tables;
    otherwise hand unifiedml the file paths, so compute includes reading them (the streaming path)."""
    from unifiedml.monitoring import build_sketch, check

    if tables:
        import pyarrow.parquet as pq

        ref, cur = pq.read_table(ref), pq.read_table(cur)
    t0 = time.perf_counter()
    sketch = build_sketch(ref)
    t1 = time.perf_counter()
    report = check(sketch, cur)
    t2 = time.perf_counter()
    values = {f.name: {"ks_statistic": f.statistics.get("ks_statistic"), "ks_p": f.scores.get("ks"),
                       "wasserstein": f.statistics.get("wasserstein"), "chi2_p": f.scores.get("chi_square"),
                       "exact": f.exact} for f in report.features}
    return {"compute_s": t2 - t0, "sketch_s": t1 - t0, "check_s": t2 - t1, "drifted": report.drifted_features,
            "values": values}


def work_numpy(ref: str, cur: str) -> dict:
    """The plain single-threaded baseline: read columns, scipy per column."""
    import numpy as np
    import pyarrow.parquet as pq
    from scipy import stats

    r, c = pq.read_table(ref), pq.read_table(cur)
    t0 = time.perf_counter()
    values = {}
    for name in r.column_names:
        a, b = r.column(name), c.column(name)
        if name.startswith("num"):
            x, y = a.to_numpy(), b.to_numpy()
            ks = stats.ks_2samp(x, y)
            values[name] = {"ks_statistic": float(ks.statistic), "ks_p": float(ks.pvalue),
                            "wasserstein": float(stats.wasserstein_distance(x, y))}
        else:
            xa, ya = np.asarray(a.to_pylist()), np.asarray(b.to_pylist())
            cats = sorted(set(np.unique(xa)) | set(np.unique(ya)))
            table = np.array([[np.sum(xa == k) for k in cats], [np.sum(ya == k) for k in cats]])
            values[name] = {"chi2_p": float(stats.chi2_contingency(table).pvalue)}
    return {"compute_s": time.perf_counter() - t0, "values": values}


def work_evidently(ref: str, cur: str) -> dict:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    r, c = pd.read_parquet(ref), pd.read_parquet(cur)
    t0 = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=c, reference_data=r)
    dt = time.perf_counter() - t0
    drifted = None
    try:
        metrics = snapshot.dict().get("metrics", [])
        drifted = [m for m in metrics if "DriftedColumnsCount" in str(m.get("metric_id", m))]
    except Exception:  # the summary is informational only
        drifted = None
    return {"compute_s": dt, "summary": str(drifted)[:300] if drifted else None}


def work_nannyml(ref: str, cur: str) -> dict:
    os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
    import nannyml as nml
    import pandas as pd

    r, c = pd.read_parquet(ref), pd.read_parquet(cur)
    cats = [n for n in r.columns if n.startswith("cat")]
    t0 = time.perf_counter()
    calc = nml.UnivariateDriftCalculator(column_names=list(r.columns), treat_as_categorical=cats, chunk_number=1)
    calc.fit(r)
    res = calc.calculate(c)
    dt = time.perf_counter() - t0
    return {"compute_s": dt, "rows_out": len(res.to_df())}


def work_unifiedml_files(ref: str, cur: str) -> dict:
    return work_unifiedml(ref, cur, tables=False)


WORKERS = {"unifiedml": work_unifiedml, "unifiedml-files": work_unifiedml_files, "numpy": work_numpy,
           "evidently": work_evidently, "nannyml": work_nannyml}


def run_tool(tool: str, ref: Path, cur: Path, timeout: float) -> dict:
    python = str(BASELINE_PY) if tool in ("evidently", "nannyml") else sys.executable
    if tool in ("evidently", "nannyml") and not BASELINE_PY.exists():
        return {"tool": tool, "error": f"{BASELINE_PY} missing: run benchmarks/setup_baselines.sh"}
    out = DATA / f"{tool}.json"
    out.unlink(missing_ok=True)
    env = dict(os.environ, NML_DISABLE_USAGE_LOGGING="1", PYTHONPATH=str(HERE.parent))
    cmd = [python, str(Path(__file__)), "--worker", tool, "--ref", str(ref), "--cur", str(cur), "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"tool": tool, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    # Peak RSS is each worker's own getrusage(RUSAGE_SELF).ru_maxrss, reported in its JSON.
    if proc.returncode != 0 or not out.exists():
        return {"tool": tool, "error": (stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1][:400]}
    result = json.loads(out.read_text())
    result.update(tool=tool, wall_s=wall)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--reference-rows", type=int, default=None, help="fixed reference size (default: = rows)")
    ap.add_argument("--tools", nargs="+", default=["unifiedml", "unifiedml-files", "numpy", "evidently", "nannyml"])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--worker")
    ap.add_argument("--ref")
    ap.add_argument("--cur")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        import resource

        result = WORKERS[args.worker](args.ref, args.cur)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        Path(args.out).write_text(json.dumps(result))
        return
    report = []
    for rows in args.rows:
        ref_rows = args.reference_rows or rows
        ref = DATA / f"ref-{ref_rows}.parquet"
        cur = DATA / f"cur-{rows}.parquet"
        generate(ref_rows, 1, False, ref)
        generate(rows, 2, True, cur)
        results = {t: run_tool(t, ref, cur, args.timeout) for t in args.tools}
        base = results.get("numpy", {})
        for uml in (r for t, r in results.items() if t.startswith("unifiedml")):
            if "values" in uml and "values" in base:
                diffs = {}
                for key in ("ks_statistic", "ks_p", "wasserstein", "chi2_p"):
                    d = [abs(uml["values"][c][key] - v[key]) / max(abs(v[key]), 1e-300)
                         for c, v in base["values"].items() if key in v and uml["values"][c].get(key) is not None]
                    diffs[key] = max(d) if d else None
                uml["max_rel_diff_vs_scipy"] = diffs
        print(f"\n== {rows:,} rows (reference {ref_rows:,}) x {N_NUM + N_CAT} columns ==")
        print(f"{'tool':15} {'compute s':>10} {'process s':>10} {'peak RSS MB':>12}  notes")
        for tool, r in results.items():
            if "error" in r:
                print(f"{tool:15} {'-':>10} {'-':>10} {'-':>12}  ERROR: {r['error']}")
                continue
            note = ""
            if tool.startswith("unifiedml"):
                note = (f"sketch {r['sketch_s']:.2f} s + check {r['check_s']:.2f} s; "
                        f"max rel diff vs scipy {r.get('max_rel_diff_vs_scipy')}")
            print(f"{tool:15} {r['compute_s']:10.2f} {r['wall_s']:10.2f} {r['peak_rss_mb']:12.0f}  {note}")
        # ratios within this run: how many times faster unifiedml's compute is than each baseline's
        for tool, r in results.items():
            if not tool.startswith("unifiedml") or "compute_s" not in r:
                continue
            r["speedup"] = {b: results[b]["compute_s"] / r["compute_s"] for b in ("numpy", "evidently", "nannyml")
                            if "compute_s" in results.get(b, {})}
            if r["speedup"]:
                print(f"{tool}: compute " + ", ".join(f"{v:.1f}x faster than {b}" for b, v in r["speedup"].items()))
        for r in results.values():
            r.pop("values", None)
        report.append({"rows": rows, "reference_rows": ref_rows, "results": results})
    out = HERE / "results" / f"drift-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
