"""Webhook over real HTTP on 127.0.0.1, and the Prometheus metrics endpoint."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from unifiedml.errors import ProviderError
from unifiedml.monitoring import check
from unifiedml.monitoring.alerts import DriftMetrics, MetricsServer, send_webhook


class _Receiver:
    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _drift_report():
    rng = np.random.default_rng(0)
    return check({"x": rng.normal(size=500)}, {"x": rng.normal(2, 1, 300)})


def test_webhook_posts_slack_compatible_json() -> None:
    rx = _Receiver()
    try:
        send_webhook(rx.url, _drift_report(), endpoint="ep", schedule="hourly")
    finally:
        rx.close()
    (body,) = rx.bodies
    assert body["text"].startswith("unifiedml drift [hourly / ep]: drift")
    assert body["drifted"] is True and body["features"][0]["name"] == "x"


def test_webhook_client_error_is_not_retried_and_raises() -> None:
    rx = _Receiver(status=404)
    try:
        with pytest.raises(ProviderError, match="webhook"):
            send_webhook(rx.url, _drift_report())
    finally:
        rx.close()
    assert len(rx.bodies) == 1


def test_metrics_are_scrapeable() -> None:
    metrics = DriftMetrics()
    metrics.update("hourly", "ep", _drift_report().to_dict())
    metrics.error("nightly")
    server = MetricsServer(metrics, port=0).start()
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
    finally:
        server.stop()
    assert 'unifiedml_drift_detected{schedule="hourly",endpoint="ep",feature="x"} 1' in text
    assert 'unifiedml_drift_score{schedule="hourly",endpoint="ep",feature="x",method="wasserstein"}' in text
    assert 'unifiedml_drift_check_errors_total{schedule="nightly"} 1' in text
    assert "# TYPE unifiedml_drift_share gauge" in text
