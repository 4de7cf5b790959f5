"""The capture log of a local endpoint: one JSON line per sampled predict request.

The drift engine reads exactly this format, so keep it stable. Each line of
``<capture_dir>/capture-YYYYMMDD-HH[-wN].jsonl`` (the UTC hour of the request;
``-wN`` for the Nth extra server process of a multi-replica endpoint) is::

    {"ts": "2026-11-24T11:30:00.123456+00:00", "request_id": "<uuid hex>",
     "endpoint": "<name>", "model": "<model name>",
     "instances": [{"<feature>": value, ...}, ...], "predictions": [...]}

``instances`` are row dicts keyed by input name whether the client sent rows or
columns; missing values (JSON null, NaN) are ``null``. ``predictions`` are the
per-row predictions as returned to the client (the server passes the JSON text
it sent, which is spliced in as is, so the log holds exactly what the client got).

The request path only stamps the record and appends it to a list; a background
thread turns records into lines and writes each hour's file with one ``write``
per drain, so capture costs the hot path a few microseconds.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["CaptureWriter"]

logger = logging.getLogger(__name__)


class CaptureWriter:
    """Buffers capture records and appends them to hourly JSONL files from a background thread.

    :meth:`record` is cheap and thread-safe; :meth:`close` flushes everything
    recorded so far and stops the thread (idempotent). ``rows_of`` turns the
    opaque ``payload`` given to :meth:`record` into row dicts; it runs on the
    writer thread. At most ``max_pending`` records wait in memory: past that new
    records are dropped and counted in :attr:`dropped` rather than slowing requests.
    """

    def __init__(
        self,
        capture_dir: str | Path,
        *,
        endpoint: str,
        model: str,
        rows_of: Callable[[Any], list[dict[str, Any]]],
        sample_percent: float = 100.0,
        flush_interval_s: float = 0.2,
        max_pending: int = 100_000,
        file_suffix: str = "",
    ) -> None:
        self.dir = Path(capture_dir)
        # Each server process of one endpoint writes its own files (``-w1``, ``-w2`` ...),
        # so processes sharing a port never interleave partial lines.
        self._suffix = file_suffix
        self.dir.mkdir(parents=True, exist_ok=True)
        self.endpoint = endpoint
        self.model = model
        self.sample_percent = max(0.0, min(100.0, float(sample_percent)))
        self.lines_written = 0
        self.dropped = 0
        self._rows_of = rows_of
        self._flush_interval = flush_interval_s
        self._max_pending = max_pending
        self._pending: list[tuple[datetime, str, Any, list[Any] | bytes]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="uml-capture", daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        """Whether the next request should be captured (``capture_sample_percent``)."""
        return self.sample_percent >= 100.0 or random.random() * 100.0 < self.sample_percent

    def record(self, *, request_id: str, payload: Any, predictions: list[Any] | bytes,
               ts: datetime | None = None) -> None:
        """Queue one request for the log. Thread-safe, non-blocking; never raises for a full buffer.

        ``predictions`` is the per-row list, or its JSON text (bytes) as already sent to the client.
        """
        stamp = ts or datetime.now(UTC)
        with self._lock:
            if len(self._pending) >= self._max_pending:
                self.dropped += 1
                return
            self._pending.append((stamp, request_id, payload, predictions))

    def flush(self) -> None:
        """Write every queued record now, on the calling thread. Thread-safe."""
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._write(batch)

    def close(self) -> None:
        """Flush and stop the writer thread. Blocks until the lines are on disk; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()

    # -- writer thread -----------------------------------------------------
    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a full disk must not kill serving; the next drain retries new records
                logger.exception("writing the capture log failed")

    def _write(self, batch: list[tuple[datetime, str, Any, list[Any] | bytes]]) -> None:
        by_file: dict[str, list[str]] = {}
        for stamp, request_id, payload, predictions in batch:
            try:
                line = self._line(stamp, request_id, payload, predictions)
            except (TypeError, ValueError):
                logger.exception("dropping capture record %s: it cannot be written as JSON", request_id)
                self.dropped += 1
                continue
            by_file.setdefault(stamp.strftime("capture-%Y%m%d-%H") + f"{self._suffix}.jsonl", []).append(line)
        for name, lines in by_file.items():
            with open(self.dir / name, "a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
            self.lines_written += len(lines)

    def _line(self, stamp: datetime, request_id: str, payload: Any, predictions: list[Any] | bytes) -> str:
        head = _dumps(
            {
                "ts": stamp.isoformat(timespec="microseconds"),
                "request_id": request_id,
                "endpoint": self.endpoint,
                "model": self.model,
                "instances": self._rows_of(payload),
            }
        )
        preds = predictions if isinstance(predictions, bytes) else _dumps(_clean(predictions))
        return (head[:-1] + b',"predictions":' + preds + b"}").decode()

try:  # orjson (optional) is several times faster; both write NaN/inf in instances as null
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - exercised where orjson is not installed

    def _dumps(obj: Any) -> bytes:
        return json.dumps(_clean(obj), separators=(",", ":"), allow_nan=False).encode()


def _clean(v: Any) -> Any:
    """Predictions with NaN/inf as null, so every line is strict JSON."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, list):
        if v and all(type(x) is float and math.isfinite(x) for x in v):
            return v
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v
