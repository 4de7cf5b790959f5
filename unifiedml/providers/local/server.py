"""The local endpoint server: a SavedModel behind the TensorFlow Serving REST API.

Started by the local provider as a detached process::

    python -m unifiedml.providers.local.server --config server.json

(see :class:`ServerConfig` for the keys) or in-process with :func:`run_server`
(blocking) or :class:`BackgroundServer` (a thread, for tests and benchmarks).

Routes (JSON in and out; errors are ``{"error": "..."}``):

* ``GET /v1/models/{name}`` - model status, ``GET /v1/models/{name}/metadata`` -
  the signature, ``POST /v1/models/{name}:predict`` - ``{"instances": [...]}`` ->
  ``{"predictions": [...]}`` or ``{"inputs": {...}}`` -> ``{"outputs": ...}``
  (``/versions/1`` may be inserted after the name, as TF Serving allows);
* ``GET /ping`` and ``POST /invocations`` - the SageMaker container contract
  (``/ping`` never needs the token, so health checks work);
* ``GET /stats`` - counters: requests, model calls, rows per call, capture lines.

Status codes: 400 bad JSON or payload (the message names the feature), 401 a
missing or wrong bearer token, 404 unknown model or route, 405 wrong method,
411 chunked body, 413 body over ``max_body_bytes``, 431 request head over
64 KiB, 500 a model failure.

The HTTP/1.1 layer is a small asyncio protocol (keep-alive, pipelining,
``Expect: 100-continue``; no chunked request bodies): it was measured faster
than the stdlib servers and needs no dependency. JSON goes through ``orjson``
when it is installed (the per-request JSON cost dominates 64-row requests),
else the stdlib ``json``. Concurrent predict requests
are merged by :mod:`.batching`; the model runs on one worker thread. Sampled
requests go to the capture log (:mod:`.capture`). SIGTERM/SIGINT stop accepting,
finish in-flight requests, flush the capture log and exit 0. A failure to
start (bad config, port in use, model not loadable) writes
``{"error": "..."}`` to the ready file and exits 3.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from unifiedml.providers.local.batching import MicroBatcher
from unifiedml.providers.local.capture import CaptureWriter
from unifiedml.providers.local.savedmodel import (
    LoadedModel,
    Payload,
    PayloadError,
    Signature,
    predictions_for,
)

__all__ = ["EXIT_START_FAILED", "BackgroundServer", "ServerConfig", "StartupError", "main", "run_server"]

logger = logging.getLogger("unifiedml.providers.local.server")  # the same name when run with -m

EXIT_START_FAILED = 3
_MAX_HEADER_BYTES = 64 * 1024
_JSON = b"application/json"


class StartupError(RuntimeError):
    """The server could not start (bad config, port in use, model not loadable); one-line message."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs; the JSON config file holds exactly these keys.

    Written by the local provider: ``name``, ``model_name``, ``model_dir``,
    ``host``, ``port`` (0 = any free port), ``token_sha256`` (hex SHA-256 of the
    bearer token, or null for no auth), ``capture_dir`` (null = no capture),
    ``capture_sample_percent``, ``max_batch_size`` (1 = batching off),
    ``batch_timeout_ms``, ``max_body_bytes``, ``ready_file``. Extra keys for
    tests and benchmarks: ``noop`` (answer predicts without the model: the HTTP
    ceiling), ``drain_timeout_s`` (how long a stop waits for in-flight
    requests), ``switch_interval_s`` (the GIL switch interval; 0 = leave it) and
    ``tf_threads`` (TensorFlow intra- and inter-op threads; 0 = TensorFlow's
    default of one per core). ``reuse_port`` binds with SO_REUSEPORT so several
    server processes share one port (replicas, and blue/green updates where the
    new model's process joins before the old one drains); ``owner`` (the
    endpoint's folder) makes that sharing exclusive to one endpoint, see
    :func:`_claim_port`; ``capture_suffix``
    keeps each process's capture files apart. ``aliases`` are other names the
    model answers to under ``/v1/models/{name}``: the endpoint's own name (a
    stable address across updates) and, during a blue/green switch, the model
    it replaces, so clients addressing either never see a 404 mid-switch.
    ``cpus`` pins the process to those cores (the endpoint's size; empty = all).
    One TensorFlow thread is the default because a small tabular model is
    dominated by per-op overhead, not arithmetic: measured +20% req/s with 32
    clients and +20% with 64-row requests on 2 cores. Raise it for big models.
    """

    name: str
    model_name: str
    model_dir: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    token_sha256: str | None = None
    capture_dir: str | None = None
    capture_sample_percent: float = 100.0
    max_batch_size: int = 64
    batch_timeout_ms: float = 2.0
    max_body_bytes: int = 10 * 1024 * 1024
    ready_file: str | None = None
    noop: bool = False
    drain_timeout_s: float = 30.0
    switch_interval_s: float = 0.0002
    tf_threads: int = 1
    reuse_port: bool = False
    capture_suffix: str = ""
    aliases: tuple[str, ...] = ()
    owner: str | None = None
    cpus: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerConfig:
        """Validate a config mapping; raises :class:`StartupError` naming the bad key."""
        if not isinstance(data, dict):
            raise StartupError("the server config must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise StartupError(f"unknown server config key(s): {', '.join(unknown)}")
        for key in ("name", "model_name"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise StartupError(f"server config: {key!r} must be a non-empty string")
        checks: dict[str, tuple[type | tuple[type, ...], Callable[[Any], bool]]] = {
            "port": (int, lambda v: 0 <= v <= 65535),
            "max_batch_size": (int, lambda v: v >= 1),
            "batch_timeout_ms": ((int, float), lambda v: v >= 0),
            "max_body_bytes": (int, lambda v: v >= 1),
            "capture_sample_percent": ((int, float), lambda v: 0 <= v <= 100),
            "drain_timeout_s": ((int, float), lambda v: v >= 0),
            "switch_interval_s": ((int, float), lambda v: 0 <= v <= 1),
            "tf_threads": (int, lambda v: v >= 0),
        }
        for key, (types, ok) in checks.items():
            if key in data and (isinstance(data[key], bool) or not isinstance(data[key], types)
                                or not ok(data[key])):
                raise StartupError(f"server config: {key!r} has an invalid value {data[key]!r}")
        for key in ("noop", "reuse_port"):
            if key in data and not isinstance(data[key], bool):
                raise StartupError(f"server config: {key!r} must be true or false")
        for key in ("model_dir", "token_sha256", "capture_dir", "ready_file", "capture_suffix", "owner"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise StartupError(f"server config: {key!r} must be a string or null")
        token = data.get("token_sha256")
        if token is not None and (len(token) != 64 or any(c not in "0123456789abcdefABCDEF" for c in token)):
            raise StartupError("server config: 'token_sha256' must be 64 hex digits")
        aliases = data.get("aliases", [])
        if not isinstance(aliases, list | tuple) or not all(isinstance(a, str) and a for a in aliases):
            raise StartupError("server config: 'aliases' must be a list of names")
        cpus = data.get("cpus", [])
        if not isinstance(cpus, list | tuple) or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                                                         for c in cpus):
            raise StartupError("server config: 'cpus' must be a list of core numbers")
        cfg = cls(**{**data, "aliases": tuple(aliases), "cpus": tuple(cpus)})
        if not cfg.noop and not cfg.model_dir:
            raise StartupError("server config: 'model_dir' is required")
        return cfg

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ServerConfig:
        """Read and validate a JSON config file; raises :class:`StartupError`."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise StartupError(f"cannot read the server config {path}: {exc}") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- responses ---------------------------------------------------------------
_REASONS = {s.value: s.phrase for s in HTTPStatus}


try:  # orjson (optional, in the `local` extra) parses 4x and writes floats 15x faster than json
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)  # NaN and inf become null: strict JSON

except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


def _error(status: int, message: str) -> tuple[int, bytes, dict[str, str] | None]:
    return status, _dumps({"error": message}), None


Response = tuple[int, bytes, "dict[str, str] | None"]


class _Stats:
    """Request counters shown by ``GET /stats``; touched only on the event loop thread."""

    def __init__(self) -> None:
        self.started = time.time()
        self.requests = 0
        self.predict_requests = 0
        self.predict_rows = 0
        self.by_status: dict[int, int] = {}


class _App:
    """Routing, auth and predict handling; every method runs on the event loop thread."""

    def __init__(self, config: ServerConfig, model: LoadedModel | None, executor: ThreadPoolExecutor) -> None:
        self.config = config
        self.model = model
        self.signature: Signature | None = model.signature if model else None
        self.stats = _Stats()
        self.draining = False
        self.connections: set[_HttpProtocol] = set()
        self._token = config.token_sha256.lower().encode() if config.token_sha256 else None
        self._prefix = "/v1/models/"
        self.batcher: MicroBatcher | None = None
        if model is not None:
            self.batcher = MicroBatcher(
                model.run,
                executor=executor,
                max_batch_size=config.max_batch_size,
                timeout_s=config.batch_timeout_ms / 1000.0,
                rows_of=lambda p: p.rows,
                mergeable=lambda p: p.merge,
                can_grow=self._can_grow,
            )
        self.capture: CaptureWriter | None = None
        if config.capture_dir and self.signature is not None:
            self.capture = CaptureWriter(
                config.capture_dir,
                endpoint=config.name,
                model=config.model_name,
                rows_of=self.signature.capture_rows,
                sample_percent=config.capture_sample_percent,
                file_suffix=config.capture_suffix,
            )

    def _can_grow(self) -> bool:
        """Whether another request could still join the queued batch: some connection is not waiting on us."""
        return any(not c.busy for c in self.connections)

    # -- dispatch ----------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str],
               body: bytes) -> Response | asyncio.Future[Response]:
        """Answer one request: a response now, or a future of one (predict)."""
        self.stats.requests += 1
        path = target.split("?", 1)[0]
        if path == "/ping":
            if method != "GET":
                return self._method(("GET",))
            return 200, b'{"status":"AVAILABLE"}', None
        if self._token is not None and not self._authorized(headers.get("authorization")):
            return 401, b'{"error":"missing or invalid bearer token"}', {"WWW-Authenticate": "Bearer"}
        if path == "/invocations":
            return self._predict(body) if method == "POST" else self._method(("POST",))
        if path == "/stats":
            return (200, _dumps(self.stats_dict()), None) if method == "GET" else self._method(("GET",))
        if not path.startswith(self._prefix):
            return _error(404, f"no route {path!r}")
        rest = unquote(path[len(self._prefix):])
        verb = None
        if ":" in rest:
            rest, verb = rest.rsplit(":", 1)
        parts = rest.split("/")
        name, tail = parts[0], parts[1:]
        if len(tail) >= 2 and tail[0] in ("versions", "labels"):
            if tail[1] not in ("1", "latest", "stable"):
                return _error(404, f"model {name!r} has no version {tail[1]!r}; it serves version 1")
            tail = tail[2:]
        if name != self.config.model_name and name not in self.config.aliases:
            return _error(404, f"model {name!r} is not served here; this endpoint serves "
                               f"{self.config.model_name!r}")
        if verb is not None:
            if tail or verb != "predict":
                return _error(404, f"no route {path!r}; use :predict")
            return self._predict(body) if method == "POST" else self._method(("POST",))
        if not tail:
            if method != "GET":
                return self._method(("GET",))
            return 200, _dumps({"model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]}), None
        if tail == ["metadata"]:
            if method != "GET":
                return self._method(("GET",))
            if self.signature is None:
                return _error(404, "the no-op server has no model metadata")
            return 200, _dumps(self.signature.metadata(self.config.model_name)), None
        return _error(404, f"no route {path!r}")

    def _method(self, allowed: tuple[str, ...]) -> Response:
        return 405, _dumps({"error": f"method not allowed; use {' or '.join(allowed)}"}), {
            "Allow": ", ".join(allowed)}

    def _authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        digest = hashlib.sha256(token.strip().encode()).hexdigest().encode()
        assert self._token is not None
        return hmac.compare_digest(digest, self._token)

    # -- predict -----------------------------------------------------------
    def _predict(self, body: bytes) -> Response | asyncio.Future[Response]:
        try:
            data = _loads(body)
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError too
            return _error(400, f"malformed JSON: {exc}")
        if self.signature is None:
            return self._noop(data)
        try:
            payload = self.signature.parse(data)
        except PayloadError as exc:
            return _error(400, str(exc))
        self.stats.predict_requests += 1
        self.stats.predict_rows += payload.rows
        assert self.batcher is not None
        # Only captured requests get an id (returned as X-Request-Id to match the capture line).
        captured = self.capture is not None and self.capture.sampled()
        request_id = uuid.uuid4().hex if captured else None
        ts = datetime.now(UTC) if captured else None
        inner = self.batcher.submit(payload)
        outer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        inner.add_done_callback(lambda f: outer.set_result(self._answer(f, payload, request_id, ts)))
        return outer

    def _answer(self, fut: asyncio.Future[Any], payload: Payload, request_id: str | None,
                ts: datetime | None) -> Response:
        exc = fut.exception()
        if exc is not None:
            if type(exc).__name__ in ("InvalidArgumentError", "ValueError", "TypeError"):
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                return _error(400, f"the model rejected the input: {first[:500]}")
            logger.error("prediction %s failed: %r", request_id, exc)
            return _error(500, f"the model call failed: {type(exc).__name__}")
        result = fut.result()
        predictions = predictions_for(result, payload.rows)
        if isinstance(result, dict) and payload.columnar:  # several outputs: columns differ from rows
            body = _dumps({"outputs": result})
            logged: list[Any] | bytes = predictions
        else:
            logged = _dumps(predictions)  # encoded once, for the client and the capture log
            body = (b'{"outputs":' if payload.columnar else b'{"predictions":') + logged + b"}"
        if request_id is None or self.capture is None:
            return 200, body, None
        self.capture.record(request_id=request_id, payload=payload, predictions=logged, ts=ts)
        return 200, body, {"X-Request-Id": request_id}

    def _noop(self, data: Any) -> Response:
        """The HTTP ceiling: decode the body and answer one fixed prediction per row, no model."""
        rows = data.get("instances") if isinstance(data, dict) else None
        if rows is None and isinstance(data, dict) and isinstance(data.get("inputs"), dict):
            rows = next(iter(data["inputs"].values()), [])
        if not isinstance(rows, list):
            return _error(400, "the body must be a JSON object with 'instances' or 'inputs'")
        self.stats.predict_requests += 1
        self.stats.predict_rows += len(rows)
        return 200, _dumps({"predictions": [[0.0, 0.0, 1.0]] * len(rows)}), None

    def stats_dict(self) -> dict[str, Any]:
        """The ``GET /stats`` body."""
        st = self.stats
        b = self.batcher.stats if self.batcher else None
        return {
            "endpoint": self.config.name,
            "model": self.config.model_name,
            "uptime_s": round(time.time() - st.started, 3),
            "requests": st.requests,
            "predict_requests": st.predict_requests,
            "predict_rows": st.predict_rows,
            "responses_by_status": {str(k): v for k, v in sorted(st.by_status.items())},
            "model_calls": b.model_calls if b else 0,
            "mean_batch_rows": round(b.rows / b.model_calls, 3) if b and b.model_calls else 0.0,
            "max_batch_rows": b.max_batch_rows if b else 0,
            "max_batch_size": self.config.max_batch_size,
            "batch_timeout_ms": self.config.batch_timeout_ms,
            "capture_lines": self.capture.lines_written if self.capture else 0,
            "capture_dropped": self.capture.dropped if self.capture else 0,
            "open_connections": len(self.connections),
        }


class _HttpProtocol(asyncio.Protocol):
    """A minimal HTTP/1.1 server connection: keep-alive and pipelining, one request handled at a time."""

    def __init__(self, app: _App) -> None:
        self.app = app
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False
        self.closing = False
        self.paused = False
        self._head: tuple[str, str, dict[str, str], int, int, bool] | None = None
        self._continued = False

    # -- asyncio callbacks -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.app.draining:
            self.closing = True
            transport.close()
            return
        self.app.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.app.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._process()
        elif not self.paused and len(self.buf) > self.app.config.max_body_bytes + _MAX_HEADER_BYTES:
            self.paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    # -- parsing -------------------------------------------------------------
    def _process(self) -> None:
        while not self.busy and not self.closing and self.buf:
            request = self._next_request()
            if request is None:
                return
            method, target, headers, body, keep_alive = request
            try:
                result = self.app.handle(method, target, headers, body)
            except Exception:
                logger.exception("unexpected error answering %s %s", method, target.split("?", 1)[0])
                result = _error(500, "internal server error")
            if isinstance(result, tuple):
                self._respond(result, keep_alive)
            else:
                self.busy = True
                result.add_done_callback(lambda f, ka=keep_alive: self._finish(f, ka))
        if self.paused and not self.busy and not self.closing and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def _finish(self, fut: asyncio.Future[Response], keep_alive: bool) -> None:
        self.busy = False
        try:
            response = fut.result()
        except Exception:
            logger.exception("unexpected error answering a predict request")
            response = _error(500, "internal server error")
        if self.closing:
            return
        self._respond(response, keep_alive)
        self._process()

    def _next_request(self) -> tuple[str, str, dict[str, str], bytes, bool] | None:
        """Parse one complete request off the buffer, or None until more bytes arrive.

        Protocol errors are answered here (and close the connection).
        """
        if self._head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0 or end > _MAX_HEADER_BYTES:
                # the same limit whether the head arrived in one read or in pieces
                if end > _MAX_HEADER_BYTES or len(self.buf) > _MAX_HEADER_BYTES:
                    self._fail(431, "request headers too large")
                return None
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self._fail(400, "malformed HTTP request line")
                return None
            method, target, version = parts
            headers: dict[str, str] = {}
            for line in lines[1:]:
                key, sep, value = line.partition(":")
                if not sep:
                    self._fail(400, "malformed HTTP header")
                    return None
                headers[key.strip().lower()] = value.strip()
            if "transfer-encoding" in headers:
                self._fail(411, "chunked request bodies are not supported; send Content-Length")
                return None
            try:
                length = int(headers.get("content-length", "0"))
                if length < 0:
                    raise ValueError
            except ValueError:
                self._fail(400, "invalid Content-Length")
                return None
            if length > self.app.config.max_body_bytes:
                self._fail(413, f"request body of {length} bytes is over the limit of "
                                f"{self.app.config.max_body_bytes} bytes")
                return None
            conn = headers.get("connection", "").lower()
            keep = (version == "HTTP/1.1" and conn != "close") or (
                version == "HTTP/1.0" and conn == "keep-alive")
            self._head = (method, target, headers, end + 4, length, keep)
            self._continued = False
        method, target, headers, start, length, keep = self._head
        if len(self.buf) < start + length:
            if (not self._continued and headers.get("expect", "").lower() == "100-continue"
                    and self.transport is not None):
                self._continued = True
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return None
        body = bytes(self.buf[start:start + length])
        del self.buf[:start + length]
        self._head = None
        if self.app.draining:
            keep = False
        return method, target, headers, body, keep

    def _fail(self, status: int, message: str) -> None:
        self.app.stats.requests += 1
        self._respond(_error(status, message), keep_alive=False)

    def _respond(self, response: Response, keep_alive: bool) -> None:
        status, body, extra = response
        stats = self.app.stats.by_status
        stats[status] = stats.get(status, 0) + 1
        if self.transport is None or self.closing:
            return
        if self.app.draining:
            keep_alive = False
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"]
        if extra:
            head.extend(f"{k}: {v}\r\n" for k, v in extra.items())
        if not keep_alive:
            head.append("Connection: close\r\n")
        head.append("\r\n")
        self.transport.write("".join(head).encode("latin-1") + body)
        if not keep_alive:
            self.closing = True
            self.transport.close()

    def close_if_idle(self) -> None:
        """Close the connection unless a request is being answered (used when draining)."""
        if not self.busy and self.transport is not None:
            self.closing = True
            self.transport.close()


# -- start-up and lifecycle --------------------------------------------------
def _port_claims_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"unifiedml-ports-{os.getuid()}"


def _claim_port(port: int, owner: str) -> Any:
    """Hold ``port`` for ``owner`` (an endpoint) for as long as this process lives; raise if another holds it.

    SO_REUSEPORT lets any process of the same user join a port, so two
    endpoints (two projects, two homes) could end up sharing one and answer
    each other's requests. Each server process keeps a shared ``flock`` on a
    per-port file that names its owner; a process of another owner finds the
    lock held and a different name, and refuses to start. The file descriptor
    is returned and must stay open.
    """
    import fcntl

    directory = _port_claims_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory / str(port), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = False
        except BlockingIOError:
            held = True
        if held:
            fcntl.flock(fd, fcntl.LOCK_SH)  # wait out a claim in progress, then read who holds the port
            current = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            if current and current != owner:
                raise StartupError(f"the port is already used by another unifiedml endpoint ({current})")
            return fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode(), 0)
        fcntl.flock(fd, fcntl.LOCK_SH)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """Create the listening socket now, so a taken port fails fast (before TensorFlow is imported)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise StartupError(f"cannot resolve host {host!r}: {exc}") from exc
    family, socktype, proto, _, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and hasattr(socket, "SO_REUSEPORT"):
            # Only sockets that all set SO_REUSEPORT (same user) share the port: another
            # program holding it still makes this bind fail with "in use".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        in_use = exc.errno == errno.EADDRINUSE
        reason = "the address is already in use" if in_use else exc.strerror or str(exc)
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from exc
    sock.setblocking(False)
    return sock


def _url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _write_ready(path: str | None, data: dict[str, Any]) -> None:
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, target)


class _Server:
    """One server: bind, load, serve until stopped, drain (used by run_server and BackgroundServer)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.port: int | None = None
        self.url: str | None = None
        self.app: _App | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._port_claim: Any = None  # an open fd holding the port for this endpoint until the process exits

    def _claim(self, port: int) -> Any:
        try:
            return _claim_port(port, self.config.owner or "")
        except StartupError as exc:
            raise StartupError(f"cannot listen on {self.config.host}:{port}: {exc}") from exc

    def start(self) -> socket.socket:
        """Bind and load the model (blocking); raises StartupError.

        Also shortens the interpreter's GIL switch interval (process-wide): the
        model thread gives up the GIL inside TensorFlow and, with the default
        5 ms, waits that long to get it back from the busy event loop on every
        call - measured as a 5x slower model under load.
        """
        if self.config.switch_interval_s:
            sys.setswitchinterval(self.config.switch_interval_s)
        claim = self.config.reuse_port and self.config.owner
        if claim and self.config.port:  # before binding: a refused process never takes a connection
            self._port_claim = self._claim(self.config.port)
        sock = _bind(self.config.host, self.config.port, reuse_port=self.config.reuse_port)
        if claim and not self.config.port:
            try:
                self._port_claim = self._claim(sock.getsockname()[1])
            except StartupError:
                sock.close()
                raise
        try:
            model = None
            if not self.config.noop:
                model_dir = self.config.model_dir or ""
                if not Path(model_dir, "saved_model.pb").exists():
                    raise StartupError(f"no SavedModel at {model_dir} (saved_model.pb is missing)")
                try:
                    model = LoadedModel.load(model_dir, threads=self.config.tf_threads)
                except StartupError:
                    raise
                except Exception as exc:
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise StartupError(f"cannot load the SavedModel at {model_dir}: {first}") from exc
            self._model = model
            # TensorFlow leaves ~10^5 long-lived objects behind; without freezing them every full
            # collection walks them all (>100 ms pauses seen at p99 once capture keeps requests alive).
            gc.collect()
            gc.freeze()
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self.url = _url(self.config.host, self.port)
        return sock

    async def serve(self, sock: socket.socket, on_listening: Callable[[], None]) -> None:
        """Serve on ``sock`` until :meth:`request_stop`; then drain and clean up."""
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uml-model")
        app = self.app = _App(self.config, self._model, executor)
        server = await self.loop.create_server(lambda: _HttpProtocol(app), sock=sock, backlog=1024)
        on_listening()
        logger.info("endpoint %r serving model %r on %s (batch <= %d rows, %.1f ms; capture %s; auth %s)",
                    self.config.name, self.config.model_name, self.url, self.config.max_batch_size,
                    self.config.batch_timeout_ms, "on" if app.capture else "off",
                    "on" if self.config.token_sha256 else "off")
        try:
            await self._stop.wait()
        finally:
            logger.info("stopping: no new connections; finishing in-flight requests")
            server.close()
            app.draining = True
            await asyncio.sleep(0.05)  # connections accepted just before the close get to connection_made
            deadline = time.monotonic() + self.config.drain_timeout_s
            while time.monotonic() < deadline:
                for conn in list(app.connections):
                    conn.close_if_idle()
                busy = any(c.busy for c in app.connections) or (app.batcher is not None and app.batcher.busy)
                if not busy:
                    break
                await asyncio.sleep(0.01)
            for conn in list(app.connections):
                if conn.transport is not None:
                    conn.transport.abort()
            await server.wait_closed()
            executor.shutdown(wait=True)
            if app.capture is not None:
                app.capture.close()
                logger.info("capture log flushed (%d lines)", app.capture.lines_written)
            logger.info("stopped after %d requests", app.stats.requests)

    def request_stop(self) -> None:
        """Ask the server to stop; thread-safe, idempotent."""
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)


def run_server(config: ServerConfig, *, install_signal_handlers: bool = True) -> int:
    """Serve ``config`` until SIGTERM/SIGINT (or a stop request); blocks; returns the exit code.

    Writes the ready file once listening (``{"pid", "port", "url", "started_at"}``)
    or ``{"error": ...}`` when it cannot start, in which case it returns
    :data:`EXIT_START_FAILED` (3). Returns 0 after a graceful stop.
    """
    if config.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, config.cpus)  # before TensorFlow sizes its thread pools
    server = _Server(config)
    try:
        sock = server.start()
    except StartupError as exc:
        logger.error("endpoint %r failed to start: %s", config.name, exc)
        _write_ready(config.ready_file, {"error": str(exc)})
        return EXIT_START_FAILED

    def ready() -> None:
        _write_ready(config.ready_file, {
            "pid": os.getpid(), "port": server.port, "url": server.url,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        })

    async def main_coro() -> None:
        if install_signal_handlers:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, server.request_stop)
        await server.serve(sock, ready)

    asyncio.run(main_coro())
    return 0


class BackgroundServer:
    """Run the server in a daemon thread of this process (tests, benchmarks).

    ``start()`` blocks until it listens (or raises :class:`StartupError`);
    ``stop()`` drains it and blocks until the thread ends; also a context
    manager. :attr:`url`, :attr:`port` and :meth:`stats` are valid after start.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._server = _Server(config)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        assert self._server.url is not None, "start() the server first"
        return self._server.url

    @property
    def port(self) -> int:
        assert self._server.port is not None, "start() the server first"
        return self._server.port

    def start(self, timeout: float = 120.0) -> BackgroundServer:
        """Bind, load the model and serve in a thread; returns self once listening."""
        sock = self._server.start()

        def target() -> None:
            try:
                asyncio.run(self._server.serve(sock, self._ready.set))
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                raise

        self._thread = threading.Thread(target=target, name=f"uml-server-{self.config.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise StartupError(f"the server did not start listening within {timeout:.0f}s")
        if self._error is not None:
            raise StartupError(f"the server failed: {self._error}")
        return self

    def stats(self) -> dict[str, Any]:
        """The ``GET /stats`` counters, read through the event loop (thread-safe)."""
        loop, app = self._server.loop, self._server.app
        assert loop is not None and app is not None

        async def read() -> dict[str, Any]:
            return app.stats_dict()

        return asyncio.run_coroutine_threadsafe(read(), loop).result(10)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop accepting, finish in-flight requests, flush capture; blocks; idempotent."""
        self._server.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m unifiedml.providers.local.server --config PATH``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m unifiedml.providers.local.server",
                                     description="Serve a SavedModel over the TF Serving REST API.")
    parser.add_argument("--config", required=True,
                        help="the JSON server config written by the local provider")
    parser.add_argument("--log-level", default=os.environ.get("UNIFIEDML_SERVER_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        config = ServerConfig.from_file(args.config)
    except StartupError as exc:
        logger.error("%s", exc)
        ready_file = None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            ready_file = json.loads(Path(args.config).read_text()).get("ready_file")
        if isinstance(ready_file, str):
            _write_ready(ready_file, {"error": str(exc)})
        return EXIT_START_FAILED
    return run_server(config)


if __name__ == "__main__":
    sys.exit(main())
