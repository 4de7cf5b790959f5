from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated UNIFIEDML_HOME."""
    h = tmp_path / "home"
    monkeypatch.setenv("UNIFIEDML_HOME", str(h))
    return h


def write_capture(home: Path, endpoint: str, requests: list[tuple[datetime, list[dict]]]) -> Path:
    """Write capture lines in the local server's format (one hourly file per UTC hour)."""
    d = home / "local" / "endpoints" / endpoint / "capture"
    d.mkdir(parents=True, exist_ok=True)
    for i, (ts, rows) in enumerate(requests):
        path = d / f"capture-{ts.strftime('%Y%m%d-%H')}.jsonl"
        record = {"ts": ts.isoformat(), "request_id": f"{i:032x}", "endpoint": endpoint, "model": "m",
                  "instances": rows, "predictions": [0.5] * len(rows)}
        with path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
    return d
