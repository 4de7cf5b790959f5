"""Reading a local endpoint's capture log: Arrow's JSON reader vs the line-by-line path, same run.

Writes N capture lines (one penguin row each, the local server's format) into
one hourly file under a temporary home, then reads the window through
`LocalCaptureReader` both ways and prints the times and their ratio. This is
what every scheduled drift check of a local endpoint reads first.

    python benchmarks/capture_read.py --rows 200000
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def write(home: Path, rows: int, now: datetime) -> None:
    d = home / "local" / "endpoints" / "ep" / "capture"
    d.mkdir(parents=True)
    start = now - timedelta(minutes=30)
    rng = random.Random(0)
    with open(d / f"capture-{start.strftime('%Y%m%d-%H')}.jsonl", "w") as fh:
        for i in range(rows):
            instance = {"bill_length_mm": rng.gauss(44, 5), "bill_depth_mm": rng.gauss(17, 2),
                        "flipper_length_mm": rng.gauss(200, 14), "body_mass_g": rng.gauss(4200, 800),
                        "island": rng.choice(["Biscoe", "Dream", "Torgersen"]),
                        "sex": rng.choice(["male", "female", None])}
            record = {"ts": (start + timedelta(microseconds=i)).isoformat(), "request_id": f"{i:032x}",
                      "endpoint": "ep", "model": "m", "instances": [instance],
                      "predictions": [{"label": "Adelie", "probabilities": [0.9, 0.05, 0.05]}]}
            fh.write(json.dumps(record) + "\n")


def timed_read(home: Path, now: datetime, *, arrow: bool) -> tuple[float, int]:
    from unifiedml.monitoring import readers

    original = readers._fast_window_table
    if not arrow:
        readers._fast_window_table = lambda *a: None  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        src = readers.LocalCaptureReader(home).read("ep", since=now - timedelta(hours=1), until=now)
        n = sum(b.num_rows for b in src.batches())
        return time.perf_counter() - t0, n
    finally:
        readers._fast_window_table = original  # type: ignore[assignment]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        write(home, args.rows, now)
        timed_read(home, now, arrow=True)  # warm the page cache and imports
        line_s, n1 = timed_read(home, now, arrow=False)
        arrow_s, n2 = timed_read(home, now, arrow=True)
    assert n1 == n2 == args.rows
    print(f"{args.rows:,} captured rows: line by line {line_s:.2f} s, Arrow JSON reader {arrow_s:.2f} s "
          f"-> {line_s / arrow_s:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
