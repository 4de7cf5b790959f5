"""Alerts: a webhook POST per drifted check, and Prometheus metrics for scraping.

Webhook body (JSON; ``text`` makes it a valid Slack incoming-webhook message)::

    {"text": "...one line...", "status": "drift", "drifted": true, "drift_share": 0.28,
     "endpoint": "...", "schedule": "...", "features": [{"name", "method", "score", "threshold", "drifted"}]}

Metrics (Prometheus text format 0.0.4, served at ``/metrics``)::

    unifiedml_drift_score{schedule,endpoint,feature,method}    latest score (p-value for ks, chi_square)
    unifiedml_drift_detected{schedule,endpoint,feature}        1 when the feature drifted
    unifiedml_drift_share{schedule,endpoint}                   drifted / checked features
    unifiedml_drift_dataset_detected{schedule,endpoint}        1 when the dataset drifted
    unifiedml_drift_last_run_timestamp_seconds{schedule,endpoint}
    unifiedml_drift_check_errors_total{schedule}
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from unifiedml.errors import ProviderError

if TYPE_CHECKING:
    from unifiedml.monitoring.report import DriftReport

logger = logging.getLogger(__name__)

__all__ = ["DriftMetrics", "MetricsServer", "send_webhook", "webhook_payload"]


def webhook_payload(report: DriftReport, *, endpoint: str | None = None, schedule: str | None = None
                    ) -> dict[str, Any]:
    """The JSON body POSTed for ``report``."""
    where = " / ".join(x for x in (schedule, endpoint) if x)
    return {
        "text": f"unifiedml drift{f' [{where}]' if where else ''}: {report.summary()}",
        "status": report.status,
        "drifted": report.drifted,
        "drift_share": report.drift_share,
        "endpoint": endpoint,
        "schedule": schedule,
        "features": [
            {"name": f.name, "method": f.method, "score": f.score, "threshold": f.threshold, "drifted": f.drifted}
            for f in report.features if f.status == "checked"
        ],
    }


def send_webhook(url: str, report: DriftReport, *, endpoint: str | None = None, schedule: str | None = None,
                 timeout: float = 10.0, attempts: int = 3) -> None:
    """POST the report's payload to ``url``. Retries connection errors and 5xx; raises ProviderError at the end."""
    body = json.dumps(webhook_payload(report, endpoint=endpoint, schedule=schedule)).encode()
    last: Exception | None = None
    for attempt in range(attempts):
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "unifiedml"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                resp.read()
            return
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code < 500:
                break
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(min(0.2 * 2**attempt, 2.0))
    raise ProviderError(f"drift webhook failed: {last}", hint="check the webhook URL") from last


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


class DriftMetrics:
    """The latest drift result per schedule, rendered as Prometheus text. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[str, dict[str, Any], float]] = {}
        self._errors: dict[str, int] = {}

    def update(self, schedule: str, endpoint: str, report: dict[str, Any], *, ts: float | None = None) -> None:
        """Record a report (``DriftReport.to_dict()`` shape) as the schedule's latest."""
        with self._lock:
            self._latest[schedule] = (endpoint, report, ts if ts is not None else time.time())

    def error(self, schedule: str) -> None:
        with self._lock:
            self._errors[schedule] = self._errors.get(schedule, 0) + 1

    def render(self) -> str:
        out = [
            "# HELP unifiedml_drift_score Latest drift score per feature (a p-value for ks and chi_square).",
            "# TYPE unifiedml_drift_score gauge",
        ]
        detected = ["# HELP unifiedml_drift_detected 1 when the feature drifted in the latest check.",
                    "# TYPE unifiedml_drift_detected gauge"]
        share = ["# HELP unifiedml_drift_share Share of checked features that drifted in the latest check.",
                 "# TYPE unifiedml_drift_share gauge"]
        dataset = ["# HELP unifiedml_drift_dataset_detected 1 when the latest check found dataset drift.",
                   "# TYPE unifiedml_drift_dataset_detected gauge"]
        last = ["# HELP unifiedml_drift_last_run_timestamp_seconds When the latest check finished.",
                "# TYPE unifiedml_drift_last_run_timestamp_seconds gauge"]
        errors = ["# HELP unifiedml_drift_check_errors_total Checks that failed with an error.",
                  "# TYPE unifiedml_drift_check_errors_total counter"]
        with self._lock:
            for schedule, (endpoint, report, ts) in sorted(self._latest.items()):
                for f in report.get("features", []):
                    if f.get("status") != "checked":
                        continue
                    out.append(f"unifiedml_drift_score{_labels(schedule=schedule, endpoint=endpoint, feature=f['name'], method=f['method'])} {f['score']!r}")  # noqa: E501
                    detected.append(f"unifiedml_drift_detected{_labels(schedule=schedule, endpoint=endpoint, feature=f['name'])} {int(f['drifted'])}")  # noqa: E501
                lab = _labels(schedule=schedule, endpoint=endpoint)
                share.append(f"unifiedml_drift_share{lab} {float(report.get('drift_share', 0.0))!r}")
                dataset.append(f"unifiedml_drift_dataset_detected{lab} {int(bool(report.get('drifted')))}")
                last.append(f"unifiedml_drift_last_run_timestamp_seconds{lab} {ts:.3f}")
            for schedule, count in sorted(self._errors.items()):
                errors.append(f"unifiedml_drift_check_errors_total{_labels(schedule=schedule)} {count}")
        return "\n".join(out + detected + share + dataset + last + errors) + "\n"


class MetricsServer:
    """Serves ``DriftMetrics`` at ``http://host:port/metrics`` from a daemon thread (127.0.0.1 by default)."""

    def __init__(self, metrics: DriftMetrics, *, host: str = "127.0.0.1", port: int = 9108) -> None:
        registry = metrics

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = registry.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("metrics: " + format, *args)

        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="uml-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
