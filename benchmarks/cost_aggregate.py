"""Benchmark: aggregate 10M cost records (Parquet, a year of hourly rows) by day and resource.

Goal: within 3 s on 2 cores with the engine unifiedml uses (pyarrow compute,
:func:`unifiedml.cost.aggregate.aggregate`), measured in the same run against
a pandas groupby baseline and, when installed, DuckDB. Each timing includes
reading the Parquet file. pandas and duckdb are benchmark-only dependencies.

    python benchmarks/cost_aggregate.py [--rows 10000000] [--dir /tmp/uml-cost-bench]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def make_data(path: Path, rows: int) -> None:
    """A year of hourly rows over ``rows / 8760`` resources, estimates and bills, two currencies."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from unifiedml.cost.aggregate import arrow_schema

    hours = 8760
    n_res = max(1, rows // hours)
    rng = np.random.default_rng(7)
    start0 = np.datetime64("2025-01-01T00:00:00", "us")
    hour_idx = np.arange(rows, dtype=np.int64) % hours
    res_idx = np.arange(rows, dtype=np.int64) // hours % n_res
    starts = start0 + hour_idx.astype("timedelta64[h]").astype("timedelta64[us]")
    resources = pa.array([f"endpoint/ep-{i:05d}" for i in range(n_res)]).take(pa.array(res_idx))
    providers = pa.array(["sagemaker", "vertex", "azureml", "huggingface"]).take(pa.array(res_idx % 4))
    kinds = pa.array(["estimate", "billed"]).take(pa.array((hour_idx + res_idx) % 2))
    table = pa.table(
        {
            "provider": providers,
            "project": pa.array(["p1", "p2", "p3"]).take(pa.array(res_idx % 3)),
            "resource": resources,
            "service": pa.nulls(rows, pa.string()),
            "kind": kinds,
            "start": pa.array(starts, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "end": pa.array(starts + np.timedelta64(3600, "s"), pa.timestamp("us")).cast(pa.timestamp("us", "UTC")),
            "amount": rng.gamma(2.0, 0.5, rows),
            "currency": pa.array(["USD", "EUR"]).take(pa.array((res_idx % 10 == 0).astype(np.int64))),
            "source": pa.nulls(rows, pa.string()),
            "tags": pa.nulls(rows, pa.map_(pa.string(), pa.string())),
        },
        schema=arrow_schema(),
    )
    pq.write_table(table, path, row_group_size=1_000_000)


def bench_pyarrow(path: Path) -> tuple[float, int]:
    import pyarrow.parquet as pq

    from unifiedml.cost.aggregate import aggregate

    t = time.perf_counter()
    table = pq.read_table(path, columns=["resource", "kind", "start", "amount", "currency"])
    out = aggregate(table, ["day", "resource"])
    return time.perf_counter() - t, out.num_rows


def bench_duckdb(path: Path) -> tuple[float, int] | None:
    try:
        import duckdb
    except ImportError:
        return None
    t = time.perf_counter()
    con = duckdb.connect()
    cur = con.execute(
        f"""SELECT CAST(start AS DATE) AS day, resource, currency,
                   SUM(amount) FILTER (WHERE kind = 'estimate') AS estimate,
                   SUM(amount) FILTER (WHERE kind = 'billed') AS billed
            FROM read_parquet('{path}') GROUP BY ALL"""
    )
    fetch = getattr(cur, "to_arrow_table", None) or cur.fetch_arrow_table
    n = fetch().num_rows
    return time.perf_counter() - t, n


def bench_pandas(path: Path) -> tuple[float, int] | None:
    try:
        import pandas as pd
    except ImportError:
        return None
    t = time.perf_counter()
    df = pd.read_parquet(path, columns=["resource", "kind", "start", "amount", "currency"])
    df["day"] = df["start"].dt.floor("D")
    df["estimate"] = df["amount"].where(df["kind"] == "estimate")
    df["billed"] = df["amount"].where(df["kind"] == "billed")
    out = df.groupby(["day", "resource", "currency"], sort=True)[["estimate", "billed"]].sum(min_count=1)
    return time.perf_counter() - t, len(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/uml-cost-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"records-{args.rows}.parquet"
    if not path.exists():
        t = time.perf_counter()
        make_data(path, args.rows)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t:.1f}s -> {path}")
    print(f"cores: {os.cpu_count()}  rows: {args.rows:,}  file: {path.stat().st_size / 1e6:.0f} MB")
    results = {}
    for name, fn in (("pyarrow (unifiedml)", bench_pyarrow), ("duckdb", bench_duckdb), ("pandas", bench_pandas)):
        times = []
        groups = 0
        for _ in range(args.repeat):
            got = fn(path)
            if got is None:
                break
            times.append(got[0])
            groups = got[1]
        if times:
            results[name] = min(times)
            print(f"{name:22s} best {min(times):6.2f}s  of {len(times)}  groups {groups:,}")
        else:
            print(f"{name:22s} not installed")
    base = results.get("pandas")
    if base:
        for name, secs in results.items():
            print(f"{name:22s} {base / secs:5.1f}x pandas")
    print("goal: pyarrow <= 3.0 s:", "met" if results["pyarrow (unifiedml)"] <= 3.0 else "NOT met")


if __name__ == "__main__":
    main()
