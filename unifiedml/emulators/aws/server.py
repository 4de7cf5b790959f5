"""The AWS emulator: moto's server on 127.0.0.1 plus the gap fills, fault injection and controls.

Start it in-process (tests) or as ``python -m unifiedml.emulators.aws --port 5005``
(the example). Point boto3 at :attr:`AwsEmulator.url` with fake keys. On top of
moto it answers the SageMaker calls moto lacks (:mod:`.handlers`), makes jobs and
endpoints pass through their transitional states (:mod:`.patches`), serves
``invoke_endpoint`` with DataCapture (:mod:`.serving`), fakes the ``pricing``
service and injects faults. Control routes (JSON, on the same port):

* ``POST /_emulator/config`` - change :class:`EmulatorConfig` fields
* ``GET /_emulator/stats`` - calls received, faults injected, creates per resource
* ``POST /_emulator/reset`` - moto's reset plus the emulator's own state
* ``POST /_emulator/invoke-results`` - ``{"endpoint": n, "results": [{"body":..., "status": 200}]}``
* ``POST /_emulator/prices`` - ``{"prices": [{"region", "instance_type", "component", "usd_per_hour"}]}``
* ``POST /_emulator/costs`` - Cost Explorer results, queued through moto's static API
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from unifiedml.emulators.aws.state import EmulatorConfig, EmulatorState, InvokeResult, install
from unifiedml.emulators.faults import Fault, choose_fault

logger = logging.getLogger(__name__)

__all__ = ["AwsEmulator"]

DEFAULT_ACCOUNT = "123456789012"
_CRED_RE = re.compile(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/")
_INVOKE_RE = re.compile(r"^/endpoints/([^/]+)/invocations$")

StartResponse = Callable[..., Any]


def _caller(environ: dict[str, Any]) -> tuple[str, str, str]:
    """(account, region, service) from the SigV4 Authorization header."""
    match = _CRED_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return DEFAULT_ACCOUNT, "us-east-1", ""
    key, region, service = match.groups()
    # moto's rule: a 12-digit access key id names the account; anything else is the default account.
    account = key if key.isdigit() and len(key) == 12 else DEFAULT_ACCOUNT
    return account, region, service


class _Middleware:
    def __init__(self, app: Any, emulator: AwsEmulator) -> None:
        self.app, self.emulator = app, emulator

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self._respond(start_response, *self.emulator._control(environ, path))
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        account, region, _service = _caller(environ)
        invoke = _INVOKE_RE.match(path) if environ.get("REQUEST_METHOD") == "POST" else None
        op = (
            target.split(".", 1)[-1]
            if target
            else ("InvokeEndpoint" if invoke else f"s3:{environ['REQUEST_METHOD']}")
        )
        protocol = "json" if target else ("rest-json" if invoke else "s3")
        state = self.emulator.state
        with state.lock:
            state.calls[op] += 1
            cfg = state.config
            draw = state.rng.random()
        if cfg.latency > 0:
            time.sleep(cfg.latency)
        fault = choose_fault(draw, throttle=cfg.fault_rate, error=cfg.error_rate, error_after=cfg.error_after_rate)
        if fault in (Fault.throttle, Fault.error):
            with state.lock:
                state.faults[f"{fault}:{op}"] += 1
            return self._respond(start_response, *_fault(protocol, fault))
        try:
            response = self._dispatch(environ, start_response, target, invoke, account, region, body)
        except Exception:
            logger.exception("emulator failure on %s", op)
            return self._respond(start_response, *_fault(protocol, "error"))
        if fault == "error_after":
            # The call took effect; the caller only sees a 500 (a lost response).
            with state.lock:
                state.faults[f"{fault}:{op}"] += 1
            if response is not None:
                list(response)
            return self._respond(start_response, *_fault(protocol, "error"))
        if response is None:
            return self.app(environ, start_response)
        return response

    def _dispatch(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        target: str,
        invoke: Any,
        account: str,
        region: str,
        body: bytes,
    ) -> Iterable[bytes] | None:
        from unifiedml.emulators.aws import handlers, serving

        state = self.emulator.state
        prefix, _, op = target.partition(".")
        table = (
            handlers.SAGEMAKER_OPS
            if prefix == "SageMaker"
            else (handlers.PRICING_OPS if prefix == "AWSPriceListService" else {})
        )
        if op in table:
            try:
                result = table[op](state, account, region, json.loads(body or b"{}"))
            except handlers.Error as exc:
                payload = json.dumps({"__type": exc.code, "message": exc.message}).encode()
                return self._respond(
                    start_response, exc.status, {"Content-Type": "application/x-amz-json-1.1"}, payload
                )
            payload = json.dumps(handlers.jsonable(result)).encode()
            return self._respond(start_response, 200, {"Content-Type": "application/x-amz-json-1.1"}, payload)
        if invoke:
            status, headers, out = serving.invoke(
                state,
                self.emulator.servers,
                account,
                region,
                invoke.group(1),
                body,
                environ.get("CONTENT_TYPE", "application/json"),
            )
            return self._respond(start_response, status, headers, out)
        if prefix == "AWSPriceListService":
            payload = json.dumps(
                {"__type": "InvalidParameterException", "message": f"unsupported {op}"}
            ).encode()
            return self._respond(start_response, 400, {"Content-Type": "application/x-amz-json-1.1"}, payload)
        # moto answers; the response is produced lazily by the caller of this method
        if self.emulator.state.config.error_after_rate:
            # Buffer moto's answer so an "error after" fault can replace it after the call took effect.
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                captured["status"], captured["headers"] = status, headers
                return lambda data: None

            chunks = b"".join(self.app(environ, capture))

            def replay() -> Iterable[bytes]:
                start_response(captured["status"], captured["headers"])
                yield chunks

            return _Replay(replay)
        return None

    @staticmethod
    def _respond(
        start_response: StartResponse, status: int, headers: dict[str, str], body: bytes
    ) -> list[bytes]:
        reason = {
            200: "OK",
            400: "Bad Request",
            404: "Not Found",
            424: "Failed Dependency",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }.get(status, "Status")
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
        return [body]


class _Replay:
    """A buffered moto response, sent only when iterated (so an injected fault can replace it)."""

    def __init__(self, produce: Callable[[], Iterable[bytes]]) -> None:
        self.produce = produce

    def __iter__(self) -> Any:
        return iter(self.produce())


def _fault(protocol: str, kind: str) -> tuple[int, dict[str, str], bytes]:
    if protocol == "s3":
        code, status, msg = (
            ("SlowDown", 503, "Please reduce your request rate.")
            if kind == "throttle"
            else ("InternalError", 500, "We encountered an internal error. Please try again.")
        )
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{msg}</Message>"
        body += "</Error>"
        return status, {"Content-Type": "application/xml"}, body.encode()
    code, status, msg = (
        ("ThrottlingException", 400, "Rate exceeded")
        if kind == "throttle"
        else ("InternalFailure", 500, "An internal error occurred (injected by the emulator).")
    )
    if protocol == "rest-json":
        return (
            status,
            {"Content-Type": "application/json", "x-amzn-ErrorType": code},
            json.dumps({"message": msg}).encode(),
        )
    return (
        status,
        {"Content-Type": "application/x-amz-json-1.1"},
        json.dumps({"__type": code, "message": msg}).encode(),
    )


class AwsEmulator:
    """moto's server with SageMaker gaps filled. One per process (moto's backends are process-global).

    ``start()`` binds 127.0.0.1 (``port=0`` picks a free port) and returns self;
    ``url`` is the endpoint for every boto3 client; ``env()`` gives the variables
    (fake keys, region, ``AWS_ENDPOINT_URL``) for a child process.
    """

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1", **config: Any) -> None:
        self.host, self.port = host, port
        self.state = EmulatorState()
        self.state.config.update(config)
        self.state.rng.seed(self.state.config.fault_seed)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        from unifiedml.emulators.model_servers import ModelServers

        self.servers = ModelServers()

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> AwsEmulator:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from unifiedml.emulators.aws import patches

        install(self.state)
        patches.apply()

        class _QuietHandler(MotoRequestHandler):
            # werkzeug prints every request to stderr; keep it in the logging tree at debug level
            def log_request(self, code: Any = "-", size: Any = "-") -> None:
                logger.debug("%s %s -> %s", self.command, self.path, code)

        app = _Middleware(DomainDispatcherApplication(create_backend_app), self)
        self._server = make_server(self.host, self.port, app, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)
        self._thread.start()
        logger.info("AWS emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        self.state.reset()
        self.servers.stop_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> AwsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self, region: str = "us-east-1") -> dict[str, str]:
        """Environment for a boto3 process pointed at this emulator (fake keys: moto accepts any)."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": self.url,
        }

    # -- controls ----------------------------------------------------------
    def configure(self, **values: Any) -> None:
        """Change :class:`EmulatorConfig` fields (delays, faults ...) on the running server."""
        with self.state.lock:
            self.state.config.update(values)
            if "fault_seed" in values:
                self.state.rng.seed(values["fault_seed"])

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def reset(self) -> None:
        """Forget every resource: the emulator's workers and scripts, then moto's state."""
        self.state.reset()
        self.servers.stop_all()
        self._post("/moto-api/reset", None)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def script_invoke(self, endpoint: str, results: list[InvokeResult]) -> None:
        """Queue answers for the next invocations of ``endpoint`` (consumed in order)."""
        with self.state.lock:
            self.state.scripted.setdefault(endpoint, []).extend(results)

    def seed_prices(self, prices: Iterable[tuple[str, str, str, float]]) -> None:
        """``(region, instance_type, component, usd_per_hour)`` rows for the fake ``pricing`` API."""
        with self.state.lock:
            for region, instance, component, usd in prices:
                self.state.prices[(region, instance, component)] = float(usd)

    def seed_costs(self, results: list[dict[str, Any]]) -> None:
        """Queue ``GetCostAndUsage`` responses (moto's static results API; one per new query)."""
        self._post("/moto-api/static/ce/cost-and-usage-results", {"results": results})

    def _post(self, path: str, payload: Any) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        req = urllib.request.Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    def _control(self, environ: dict[str, Any], path: str) -> tuple[int, dict[str, str], bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        try:
            if path == "/_emulator/stats":
                out: Any = self.stats()
            elif path == "/_emulator/config":
                self.configure(**payload)
                out = asdict(self.state.config)
            elif path == "/_emulator/reset":
                self.state.reset()
                self.servers.stop_all()
                threading.Thread(target=self._post, args=("/moto-api/reset", None), daemon=True).start()
                out = {"reset": True}
            elif path == "/_emulator/invoke-results":
                self.script_invoke(payload["endpoint"], [InvokeResult(**r) for r in payload["results"]])
                out = {"queued": len(payload["results"])}
            elif path == "/_emulator/prices":
                self.seed_prices(
                    (p["region"], p["instance_type"], p["component"], p["usd_per_hour"])
                    for p in payload["prices"]
                )
                out = {"prices": len(self.state.prices)}
            elif path == "/_emulator/costs":
                threading.Thread(target=self.seed_costs, args=(payload["results"],), daemon=True).start()
                out = {"queued": len(payload["results"])}
            else:
                return 404, {"Content-Type": "application/json"}, b'{"error": "unknown control route"}'
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": str(exc)}).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()
