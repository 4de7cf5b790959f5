"""``VertexEmulator``: a local Vertex AI REST API (plus GCS and Cloud Logging's entries.list).

    with VertexEmulator() as emu:
        client = aiplatform_v1.JobServiceClient(
            transport="rest", credentials=AnonymousCredentials(),
            client_options={"api_endpoint": emu.url})

One stdlib ``ThreadingHTTPServer`` on 127.0.0.1 answers the ``/v1/`` paths
(and ``/ui/`` operation polls) the provider uses, see :mod:`.handlers`;
``gcp-storage-emulator`` runs in the same process for artifacts (point
google-cloud-storage at :attr:`gcs_url`). Every request is counted; latency,
throttling (429) and 503s before or *after* executing a call are injected at
the configured rates, deterministically from ``fault_seed``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from unifiedml.emulators.faults import Fault, choose_fault
from unifiedml.emulators.vertex.handlers import ApiError, Request, Router
from unifiedml.emulators.vertex.jobs import JobRunner
from unifiedml.emulators.vertex.state import EmulatorConfig, EmulatorState, PredictResult

logger = logging.getLogger(__name__)

__all__ = ["VertexEmulator"]


class _Handler(BaseHTTPRequestHandler):
    emulator: VertexEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the emulator logs at debug level
        logger.debug("vertex emulator: " + format, *args)

    def _serve(self) -> None:
        emu = self.emulator
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, parts.path, parts.query, body)
        state = emu.state
        kind = f"{self.command} {_shape(parts.path)}"
        with state.lock:
            state.calls[kind] += 1
            cfg = state.config
            roll = state.rng.random()
        if cfg.latency:
            time.sleep(cfg.latency)
        status: int
        payload: Any
        fault = choose_fault(roll, throttle=cfg.throttle_rate, error=cfg.error_rate, error_after=cfg.error_after_rate)
        if fault is Fault.throttle:
            with state.lock:
                state.faults["throttle"] += 1
            status, payload = 429, ApiError(429, "Quota exceeded (emulated throttling)").body()
            self._reply(status, payload, {"Retry-After": "0"})
            return
        if fault is Fault.error:
            with state.lock:
                state.faults["error_before"] += 1
            self._reply(503, ApiError(503, "The service is currently unavailable (emulated)").body())
            return
        try:
            status, payload = emu.router.dispatch(request)
        except ApiError as exc:
            status, payload = exc.code, exc.body()
        except Exception as exc:  # a bug in the emulator: answer 500, keep serving
            logger.exception("vertex emulator failed on %s %s", self.command, self.path)
            status, payload = 500, ApiError(500, f"emulator error: {exc}").body()
        if fault is Fault.error_after:
            with state.lock:
                state.faults["error_after"] += 1
            self._reply(503, ApiError(503, "The service is currently unavailable (emulated, after)").body())
            return
        self._reply(status, payload)

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve


def _shape(path: str) -> str:
    """``/v1/projects/p/locations/l/customJobs/123`` -> ``customJobs/*`` (for call counts)."""
    segments = path.strip("/").split("/")
    if len(segments) > 5 and segments[1] == "projects":
        rest = segments[5:]
        return "/".join(s if i % 2 == 0 else "*" for i, s in enumerate(rest))
    return path


class VertexEmulator:
    """The emulator: ``start()``/``stop()`` (or a ``with`` block), knobs, scripts and counters."""

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1", gcs_port: int = 0, **config: Any) -> None:
        self.host, self._port, self._gcs_port = host, port, gcs_port
        self.state = EmulatorState()
        self.state.config.update(config)
        self._httpd: ThreadingHTTPServer | None = None
        self._gcs: Any = None
        self._thread: threading.Thread | None = None
        self.storage: Any = None
        self.router: Router
        from unifiedml.emulators.model_servers import ModelServers

        self.servers = ModelServers()

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> VertexEmulator:
        from gcp_storage_emulator.server import Server
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)  # one line per request otherwise
        self._gcs = Server(self.host, self._gcs_port, in_memory=True)
        self._gcs._api.daemon = True  # never keep the interpreter alive
        self._gcs.start()
        self._gcs_port = self._gcs._api._httpd.server_address[1]
        self.storage = storage.Client(project="emulator", credentials=AnonymousCredentials(),
                                      client_options={"api_endpoint": self.gcs_url})
        self.router = Router(self.state, storage=self.storage, runner=JobRunner(self.state, self.storage),
                             servers=self.servers)
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._httpd = ThreadingHTTPServer((self.host, self._port), handler)
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True, name="vertex-emulator")
        self._thread.start()
        logger.info("Vertex AI emulator on %s (GCS on %s)", self.url, self.gcs_url)
        return self

    def stop(self) -> None:
        self.servers.stop_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._gcs is not None:
            self._gcs.stop()
            self._gcs = None

    def __enter__(self) -> VertexEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------
    @property
    def url(self) -> str:
        """The API endpoint to give the clients (``http://`` keeps the REST transport on plain HTTP)."""
        return f"http://{self.host}:{self._port}"

    @property
    def gcs_url(self) -> str:
        return f"http://{self.host}:{self._gcs_port}"

    # -- knobs and scripts -----------------------------------------------------
    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def configure(self, **values: Any) -> None:
        """Change knobs (see :class:`EmulatorConfig`); unknown names raise KeyError."""
        with self.state.lock:
            self.state.config.update(values)
            if "fault_seed" in values:
                import random

                self.state.rng = random.Random(values["fault_seed"])

    def reset(self) -> None:
        """Forget resources, operations, counters and scripts; stop model servers; empty every bucket (keep them)."""
        self.state.reset()
        self.servers.stop_all()
        if self._gcs is not None:
            self._gcs.wipe(keep_buckets=True)

    def stats(self) -> dict[str, Any]:
        """``{"calls", "total_calls", "faults", "creates"}``: what reached the emulator."""
        return self.state.stats()

    def script_predict(self, endpoint_id: str, results: list[PredictResult]) -> None:
        """Answer the next ``:predict`` calls on ``endpoint_id`` with ``results``, in order."""
        with self.state.lock:
            self.state.scripted.setdefault(endpoint_id, []).extend(results)

    def create_bucket(self, name: str) -> None:
        """Create a bucket in the emulated GCS (idempotent)."""
        bucket = self.storage.bucket(name)
        if not bucket.exists():
            self.storage.create_bucket(name)

    def logged_rows(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """Rows request-response logging wrote (the BigQuery table's columns), oldest first."""
        with self.state.lock:
            rows = list(self.state.predictions_log)
        if endpoint:
            rows = [r for r in rows if r["endpoint"].endswith(f"/endpoints/{endpoint}")]
        return rows

    def resources(self, collection: str) -> list[dict[str, Any]]:
        """Every stored resource of ``collection`` (``customJobs``, ``endpoints``...), as JSON."""
        with self.state.lock:
            return [dict(r) for n, r in self.state.resources.items() if n.rsplit("/", 2)[-2] == collection]
