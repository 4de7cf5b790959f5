"""Drift check between two synthetic Parquet files, with a JSON summary and an HTML report.

Run: python examples/drift/check_files.py  (writes ref.parquet, cur.parquet, drift.html here)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unifiedml.monitoring import check
from unifiedml.monitoring.html import render_html


def frame(n: int, seed: int, shifted: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + (5 if shifted else 0), 10, n)
    income = rng.lognormal(10, 0.5, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.3, 0.3, 0.4] if shifted else [0.6, 0.3, 0.1])
    return pa.table({"age": age, "income": income, "plan": plan})


def main() -> None:
    here = Path(__file__).parent
    pq.write_table(frame(50_000, 1, False), here / "ref.parquet")
    pq.write_table(frame(20_000, 2, True), here / "cur.parquet")
    report = check(here / "ref.parquet", here / "cur.parquet")
    for f in report.features:
        print(f"{f.name:8} {f.method:15} {f.score:8.4f} {'DRIFT' if f.drifted else 'ok'}")
    print(report.summary())
    (here / "drift.html").write_text(render_html(report))


if __name__ == "__main__":
    main()
