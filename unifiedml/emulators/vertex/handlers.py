"""The REST paths of Vertex AI that unifiedml's provider (and the aiplatform SDK) use, with state.

Each handler takes the parsed request and returns ``(status, body)``. Request
bodies are parsed with the proto-plus types of ``google.cloud.aiplatform_v1``
(``from_json``, unknown fields rejected), so a provider sending a wrong shape
gets the 400 the real service would give. Resources are stored as camelCase
JSON; enums are integers (the client asks for ``enum-encoding=int``).

Transitions happen on read, by the wall clock: a CustomJob is PENDING, then
RUNNING, then SUCCEEDED (or FAILED when its script fails) after
``job_delay``; a TrainingPipeline after ``automl_delay``; long-running
operations report ``done=false`` until ``operation_delay`` (``deploy_delay``
for deployModel) has passed, and the deployed model appears on the endpoint
only when its operation completes.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from unifiedml.emulators.model_servers import ModelServers
from unifiedml.emulators.vertex.state import EmulatorState, Operation

logger = logging.getLogger(__name__)

__all__ = ["ApiError", "Request", "Router"]

_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."
_EMPTY = "type.googleapis.com/google.protobuf.Empty"
#: JobState / PipelineState values (google.cloud.aiplatform_v1 enums share the numbering).
PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED = 2, 3, 4, 5, 6, 7
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
           400.1: "FAILED_PRECONDITION", 500: "INTERNAL", 503: "UNAVAILABLE"}


class ApiError(Exception):
    """An error answer in Google's JSON error shape."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or _STATUS.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class Request:
    def __init__(self, method: str, path: str, query: str, body: bytes) -> None:
        self.method, self.path = method, path
        self.query = {k: v[-1] for k, v in parse_qs(query).items()}
        self.raw = body

    def json(self) -> dict[str, Any]:
        if not self.raw:
            return {}
        try:
            data = json.loads(self.raw)
        except ValueError as exc:
            raise ApiError(400, f"invalid JSON payload: {exc}") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "the payload must be a JSON object")
        return data


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _types() -> Any:
    from google.cloud import aiplatform_v1

    return aiplatform_v1


def parse(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check ``data`` against the proto type and return its canonical camelCase JSON (ints for enums)."""
    cls = getattr(_types(), type_name)
    try:
        message = cls.from_json(json.dumps(data), ignore_unknown_fields=False)
    except Exception as exc:  # json_format.ParseError and friends
        raise ApiError(400, f"invalid {type_name}: {exc}") from exc
    return json.loads(cls.to_json(message, use_integers_for_enums=True, indent=None))


def check_labels(labels: dict[str, str]) -> None:
    """Vertex AI label rules (the ``labels`` field documentation of google.cloud.aiplatform_v1 types)."""
    if len(labels) > 64:
        raise ApiError(400, "at most 64 labels are allowed")
    for key, value in labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise ApiError(400, f"invalid label {key}={value}: lowercase letters, digits, '_' and '-' only, "
                                "keys start with a letter, at most 63 characters")


def _matches(resource: dict[str, Any], expression: str) -> bool:
    """The filter subset the provider uses: ``display_name="x"`` and ``labels.k="v"`` joined by AND."""
    for term in re.split(r"\s+AND\s+", expression.strip()):
        match = re.match(r'^\s*([a-zA-Z_.\-0-9]+)\s*=\s*"?([^"]*)"?\s*$', term)
        if not match:
            raise ApiError(400, f"unsupported filter term {term!r}")
        key, value = match.groups()
        if key in ("display_name", "displayName"):
            if resource.get("displayName") != value:
                return False
        elif key.startswith("labels."):
            if (resource.get("labels") or {}).get(key[len("labels."):]) != value:
                return False
        else:
            raise ApiError(400, f"unsupported filter field {key!r}")
    return True


#: The metrics an AutoML pipeline's model evaluation carries in the emulator: fixed stand-in values (not an
#: evaluation of anything), under the metric names of Vertex AI's classification and regression
#: evaluation schemas (GoogleCloudAiplatformV1SchemaModelevaluationMetrics*EvaluationMetrics).
EVALUATION_METRICS: dict[str, dict[str, float]] = {
    "classification": {"auPrc": 0.95, "auRoc": 0.96, "logLoss": 0.21},
    "regression": {"rootMeanSquaredError": 0.42, "meanAbsoluteError": 0.31, "rSquared": 0.88,
                   "meanAbsolutePercentageError": 7.5},
}


class Router:
    """Dispatches ``(method, path)`` to a handler; paths are matched after the ``/v1`` or ``/ui`` prefix."""

    def __init__(self, state: EmulatorState, *, storage: Any, runner: Callable[[str], None],
                 servers: ModelServers | None = None) -> None:
        self.state = state
        self.storage = storage  # a google.cloud.storage.Client on the GCS emulator
        self.run_job = runner  # starts a CustomJob's worker thread
        self.servers = servers or ModelServers()  # real SavedModels, when serve_models is on
        p = r"projects/[^/]+/locations/[^/]+"
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]] = [
            ("GET", re.compile(rf"^(?P<name>{p}(?:/[^/]+/[^/]+)*/operations/[^/:]+)$"), self.get_operation),
            ("GET", re.compile(rf"^(?P<name>{p}(?:/[^/]+/[^/]+)*)/operations$"), self.list_operations),
            ("POST", re.compile(rf"^(?P<parent>{p})/models:upload$"), self.upload_model),
            ("POST", re.compile(rf"^(?P<name>{p}/endpoints/[^/:]+):deployModel$"), self.deploy_model),
            ("POST", re.compile(rf"^(?P<name>{p}/endpoints/[^/:]+):undeployModel$"), self.undeploy_model),
            ("POST", re.compile(rf"^(?P<name>{p}/endpoints/[^/:]+):predict$"), self.predict),
            ("POST", re.compile(rf"^(?P<name>{p}/customJobs/[^/:]+):cancel$"), self.cancel_job),
            ("POST", re.compile(rf"^(?P<name>{p}/trainingPipelines/[^/:]+):cancel$"), self.cancel_job),
            ("PATCH", re.compile(rf"^(?P<name>{p}/endpoints/[^/:]+)$"), self.update_endpoint),
            ("GET", re.compile(rf"^(?P<model>{p}/models/[^/:]+)/evaluations$"), self.list_evaluations),
            ("POST", re.compile(rf"^(?P<parent>{p})/(?P<coll>[a-zA-Z]+)$"), self.create),
            ("GET", re.compile(rf"^(?P<parent>{p})/(?P<coll>[a-zA-Z]+)$"), self.list),
            ("GET", re.compile(rf"^(?P<name>{p}/(?P<coll>[a-zA-Z]+)/[^/:]+)$"), self.get),
            ("DELETE", re.compile(rf"^(?P<name>{p}/(?P<coll>[a-zA-Z]+)/[^/:]+)$"), self.delete),
        ]

    # -- dispatch ------------------------------------------------------------
    def dispatch(self, request: Request) -> tuple[int, Any]:
        path = request.path
        if path == "/v2/entries:list" and request.method == "POST":
            return self.list_log_entries(request)
        match = re.match(r"^/(v1|ui)/(.*)$", path)
        if not match:
            raise ApiError(404, f"no such path {path}")
        rest = match.group(2)
        for method, pattern, handler in self.routes:
            if method == request.method and (m := pattern.match(rest)):
                return handler(request, **m.groupdict())
        raise ApiError(404, f"the emulator does not implement {request.method} {path}")

    # -- helpers -------------------------------------------------------------
    def _get(self, name: str) -> dict[str, Any]:
        with self.state.lock:
            resource = self.state.resources.get(name)
            if resource is None:
                raise ApiError(404, f"{name} not found")
            self._advance(name, resource)
            return resource

    def _operation(self, parent: str, *, response: dict[str, Any] | None, response_type: str,
                   delay: float | None = None, on_done: Callable[[], dict[str, Any] | None] | None = None
                   ) -> dict[str, Any]:
        op_name = f"{parent}/operations/{self.state.next_id()}"
        wait = self.state.config.operation_delay if delay is None else delay
        op = Operation(name=op_name, ready_at=time.time() + wait, response=response,
                       response_type=response_type, on_done=on_done)
        with self.state.lock:
            self.state.operations[op_name] = op
        return self._render_operation(op)

    def _render_operation(self, op: Operation) -> dict[str, Any]:
        with self.state.lock:
            if not op.finished and time.time() >= op.ready_at:
                op.finished = True
                if op.on_done is not None:
                    try:
                        produced = op.on_done()
                    except ApiError as exc:
                        op.error = {"code": _grpc_code(exc.status), "message": exc.message}
                        produced = None
                    if produced is not None:
                        op.response = produced
            out: dict[str, Any] = {"name": op.name, "done": op.finished}
            if op.finished:
                if op.error:
                    out["error"] = op.error
                else:
                    out["response"] = {"@type": op.response_type or _EMPTY, **(op.response or {})}
            return out

    def _advance(self, name: str, resource: dict[str, Any]) -> None:
        """Move jobs and pipelines along their states by the clock (called under the lock)."""
        cfg = self.state.config
        if "/customJobs/" in name:
            state = resource.get("state")
            age = time.time() - _ts(resource["createTime"])
            if state == PENDING and age >= cfg.job_delay / 3:
                resource.update(state=RUNNING, startTime=_now(), updateTime=_now())
                self.state.log(name, f"Job {name} is running.")
                self.run_job(name)
            elif state == CANCELLING:
                resource.update(state=CANCELLED, endTime=_now(), updateTime=_now())
        elif "/trainingPipelines/" in name:
            state = resource.get("state")
            age = time.time() - _ts(resource["createTime"])
            if state == PENDING and age >= cfg.automl_delay / 3:
                resource.update(state=RUNNING, startTime=_now())
            elif state == RUNNING and age >= cfg.automl_delay:
                self._finish_pipeline(name, resource)
            elif state == CANCELLING:
                resource.update(state=CANCELLED, endTime=_now())

    def _finish_pipeline(self, name: str, pipeline: dict[str, Any]) -> None:
        parent = name.split("/trainingPipelines/")[0]
        upload = pipeline.get("modelToUpload") or {}
        model_id = pipeline.get("modelId") or self.state.next_id()
        model_name = f"{parent}/models/{model_id}"
        dataset = (pipeline.get("inputDataConfig") or {}).get("datasetId")
        if dataset and f"{parent}/datasets/{dataset}" not in self.state.resources:
            pipeline.update(state=FAILED, endTime=_now(),
                            error={"code": 5, "message": f"dataset {dataset} does not exist"})
            return
        self.state.resources[model_name] = {
            **upload,
            "name": model_name,
            "versionId": "1",
            "trainingPipeline": name,
            "createTime": _now(),
            "updateTime": _now(),
            "labels": upload.get("labels") or pipeline.get("labels") or {},
            "supportedDeploymentResourcesTypes": [1],  # DEDICATED_RESOURCES
        }
        self.state.creates[("models", model_id)] += 1
        task = str((pipeline.get("trainingTaskInputs") or {}).get("predictionType") or "classification")
        kind = "regression" if task == "regression" else "classification"
        self.state.resources[f"{model_name}/evaluations/1"] = {
            "name": f"{model_name}/evaluations/1",
            "metricsSchemaUri": f"gs://google-cloud-aiplatform/schema/modelevaluation/{kind}_metrics_1.0.0.yaml",
            "metrics": dict(EVALUATION_METRICS[kind]),
            "createTime": _now(),
        }
        pipeline.update(state=SUCCEEDED, endTime=_now(), updateTime=_now(),
                        modelToUpload={**self.state.resources[model_name]})

    # -- generic create / get / list / delete ----------------------------------
    _CREATE_TYPES = {
        "customJobs": "CustomJob",
        "trainingPipelines": "TrainingPipeline",
        "datasets": "Dataset",
        "endpoints": "Endpoint",
        "modelDeploymentMonitoringJobs": "ModelDeploymentMonitoringJob",
    }

    def create(self, request: Request, *, parent: str, coll: str) -> tuple[int, Any]:
        type_name = self._CREATE_TYPES.get(coll)
        if type_name is None:
            raise ApiError(404, f"the emulator does not implement creating {coll}")
        body = parse(type_name, request.json())
        check_labels(body.get("labels") or {})
        if not body.get("displayName") and coll != "endpoints":
            raise ApiError(400, "displayName is required")
        now = _now()
        if coll == "endpoints":
            rid = request.query.get("endpointId") or self.state.next_id()
        elif coll == "trainingPipelines":
            rid = self.state.next_id()
        else:
            rid = self.state.next_id()
        name = f"{parent}/{coll}/{rid}"
        with self.state.lock:
            if name in self.state.resources:
                raise ApiError(409, f"{name} already exists")
            resource = {**body, "name": name, "createTime": now, "updateTime": now}
            if coll == "customJobs":
                self._check_job(resource)
                resource["state"] = PENDING
            elif coll == "trainingPipelines":
                self._check_pipeline(resource)
                resource["state"] = PENDING
            elif coll == "modelDeploymentMonitoringJobs":
                if body.get("endpoint") not in self.state.resources:
                    raise ApiError(404, f"endpoint {body.get('endpoint')} not found")
                resource["state"] = RUNNING
                resource["scheduleState"] = 1  # PENDING
            elif coll == "endpoints":
                resource.setdefault("displayName", rid)
                resource["etag"] = "1"
            self.state.resources[name] = resource
            self.state.creates[(coll, body.get("displayName") or rid)] += 1
        if coll in ("datasets", "endpoints"):
            return 200, self._operation(parent, response=resource, response_type=_TYPE + type_name)
        return 200, resource

    def _check_job(self, job: dict[str, Any]) -> None:
        pools = (job.get("jobSpec") or {}).get("workerPoolSpecs") or []
        if not pools:
            raise ApiError(400, "jobSpec.workerPoolSpecs is required")
        for pool in pools:
            if not (pool.get("machineSpec") or {}).get("machineType"):
                raise ApiError(400, "workerPoolSpecs.machineSpec.machineType is required")
            package = pool.get("pythonPackageSpec")
            if package:
                for uri in package.get("packageUris") or []:
                    if not self._gcs_exists(uri):
                        raise ApiError(400, f"the package {uri} does not exist")

    def _check_pipeline(self, pipeline: dict[str, Any]) -> None:
        inputs = pipeline.get("trainingTaskInputs") or {}
        if not inputs.get("targetColumn"):
            raise ApiError(400, "trainingTaskInputs.targetColumn is required")
        budget = int(inputs.get("trainBudgetMilliNodeHours") or 0)
        if not 1000 <= budget <= 72000:
            raise ApiError(400, "trainBudgetMilliNodeHours must be between 1000 and 72000")

    def _gcs_exists(self, uri: str) -> bool:
        bucket, _, key = uri.removeprefix("gs://").partition("/")
        try:
            return bool(self.storage.bucket(bucket).blob(key).exists())
        except Exception:  # a missing bucket reads as a missing object
            return False

    def get(self, request: Request, *, name: str, coll: str) -> tuple[int, Any]:
        return 200, self._get(name)

    def list(self, request: Request, *, parent: str, coll: str) -> tuple[int, Any]:
        expression = request.query.get("filter", "")
        with self.state.lock:
            found = []
            for name, resource in list(self.state.resources.items()):
                if name.startswith(f"{parent}/{coll}/") and name.count("/") == parent.count("/") + 2:
                    self._advance(name, resource)
                    if not expression or _matches(resource, expression):
                        found.append(resource)
        found.sort(key=lambda r: r["createTime"], reverse=True)
        size = int(request.query.get("pageSize") or 100)
        start = int(request.query.get("pageToken") or 0)
        page = found[start : start + size]
        out: dict[str, Any] = {coll: page}
        if start + size < len(found):
            out["nextPageToken"] = str(start + size)
        return 200, out

    def delete(self, request: Request, *, name: str, coll: str) -> tuple[int, Any]:
        with self.state.lock:
            resource = self._get(name)
            if coll == "endpoints" and resource.get("deployedModels"):
                raise ApiError(400, "the endpoint has deployed models; undeploy them first",
                               "FAILED_PRECONDITION")
            if coll == "models" and any(
                dm.get("model") == name
                for r in self.state.resources.values()
                for dm in r.get("deployedModels") or []
            ):
                raise ApiError(400, "the model is deployed to an endpoint; undeploy it first",
                               "FAILED_PRECONDITION")
            del self.state.resources[name]
            for child in [n for n in self.state.resources if n.startswith(name + "/")]:
                del self.state.resources[child]  # a model's evaluations go with it
        parent = name.rsplit("/", 2)[0]
        return 200, self._operation(parent, response=None, response_type=_EMPTY)

    def cancel_job(self, request: Request, *, name: str) -> tuple[int, Any]:
        with self.state.lock:
            resource = self._get(name)
            if resource.get("state") in (PENDING, RUNNING):
                resource.update(state=CANCELLING, updateTime=_now())
        return 200, {}

    def get_operation(self, request: Request, *, name: str) -> tuple[int, Any]:
        with self.state.lock:
            op = self.state.operations.get(name)
        if op is None:
            raise ApiError(404, f"operation {name} not found")
        return 200, self._render_operation(op)

    def list_operations(self, request: Request, *, name: str) -> tuple[int, Any]:
        with self.state.lock:
            ops = [op for n, op in self.state.operations.items() if n.startswith(f"{name}/operations/")]
        return 200, {"operations": [self._render_operation(op) for op in ops]}

    # -- models ----------------------------------------------------------------
    def upload_model(self, request: Request, *, parent: str) -> tuple[int, Any]:
        body = request.json()
        model = parse("Model", body.get("model") or {})
        check_labels(model.get("labels") or {})
        if not model.get("displayName"):
            raise ApiError(400, "model.displayName is required")
        if not (model.get("containerSpec") or {}).get("imageUri"):
            raise ApiError(400, "model.containerSpec.imageUri is required")
        artifact = model.get("artifactUri")
        if artifact and not self._gcs_prefix_exists(artifact):
            raise ApiError(400, f"no files at artifactUri {artifact}")
        model_id = body.get("modelId") or self.state.next_id()
        name = f"{parent}/models/{model_id}"
        with self.state.lock:
            if name in self.state.resources:
                raise ApiError(409, f"{name} already exists")
            self.state.resources[name] = {**model, "name": name, "versionId": "1", "createTime": _now(),
                                          "updateTime": _now(), "supportedDeploymentResourcesTypes": [1]}
            self.state.creates[("models", model_id)] += 1
        return 200, self._operation(parent, response={"model": name, "modelVersionId": "1"},
                                    response_type=_TYPE + "UploadModelResponse")

    def _gcs_prefix_exists(self, uri: str) -> bool:
        bucket, _, key = uri.removeprefix("gs://").partition("/")
        try:
            return any(True for _ in self.storage.list_blobs(bucket, prefix=key.rstrip("/") + "/", max_results=1))
        except Exception:
            return False

    # -- endpoints -------------------------------------------------------------
    def deploy_model(self, request: Request, *, name: str) -> tuple[int, Any]:
        body = request.json()
        parsed = parse("DeployModelRequest", {**body, "endpoint": name})
        deployed = parsed.get("deployedModel") or {}
        split = {k: int(v) for k, v in (parsed.get("trafficSplit") or {}).items()}
        with self.state.lock:
            endpoint = self._get(name)
            model = self.state.resources.get(deployed.get("model", ""))
            if model is None:
                raise ApiError(404, f"model {deployed.get('model')} not found")
            resources = deployed.get("dedicatedResources") or {}
            if not (resources.get("machineSpec") or {}).get("machineType"):
                raise ApiError(400, "deployedModel.dedicatedResources.machineSpec.machineType is required")
            if int(resources.get("minReplicaCount") or 0) < 1:
                raise ApiError(400, "dedicatedResources.minReplicaCount must be at least 1")
            current = {k: int(v) for k, v in (endpoint.get("trafficSplit") or {}).items()}
            if split and sum(split.values()) != 100:
                raise ApiError(400, "trafficSplit must add up to 100")
            if not split and current:
                raise ApiError(400, "give trafficSplit when the endpoint already serves a model")
        deployed_id = self.state.next_id()

        def finish() -> dict[str, Any]:
            with self.state.lock:
                ep = self.state.resources.get(name)
                if ep is None:
                    raise ApiError(404, f"endpoint {name} was deleted")
                entry = {**deployed, "id": deployed_id, "createTime": _now(),
                         "displayName": deployed.get("displayName") or model.get("displayName")}
                ep.setdefault("deployedModels", []).append(entry)
                new_split = {(deployed_id if k == "0" else k): v for k, v in split.items()} or {deployed_id: 100}
                ep["trafficSplit"] = {k: v for k, v in new_split.items() if v or k == deployed_id}
                ep["updateTime"] = _now()
                return {"deployedModel": entry}

        return 200, self._operation(name, response=None, response_type=_TYPE + "DeployModelResponse",
                                    delay=self.state.config.deploy_delay, on_done=finish)

    def undeploy_model(self, request: Request, *, name: str) -> tuple[int, Any]:
        body = request.json()
        deployed_id = str(body.get("deployedModelId") or "")
        split = {k: int(v) for k, v in (body.get("trafficSplit") or {}).items()}
        with self.state.lock:
            endpoint = self._get(name)
            models = endpoint.get("deployedModels") or []
            if not any(dm["id"] == deployed_id for dm in models):
                raise ApiError(404, f"deployed model {deployed_id} not found on {name}")
            remaining = [dm for dm in models if dm["id"] != deployed_id]
            current = {k: int(v) for k, v in (endpoint.get("trafficSplit") or {}).items()}
            if remaining and not split:
                if current.get(deployed_id, 0) and len(remaining) >= 1:
                    raise ApiError(400, "the model gets traffic: give the trafficSplit of the remaining models")
                split = {k: v for k, v in current.items() if k != deployed_id}
            endpoint["deployedModels"] = remaining
            endpoint["trafficSplit"] = split if remaining else {}
            endpoint["updateTime"] = _now()
        return 200, self._operation(name, response={}, response_type=_TYPE + "UndeployModelResponse")

    def update_endpoint(self, request: Request, *, name: str) -> tuple[int, Any]:
        body = parse("Endpoint", request.json())
        mask = [m.strip() for m in request.query.get("updateMask", "").split(",") if m.strip()]
        with self.state.lock:
            endpoint = self._get(name)
            for field in mask or list(body):
                key = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)
                if key == "trafficSplit":
                    split = {k: int(v) for k, v in (body.get("trafficSplit") or {}).items()}
                    ids = {dm["id"] for dm in endpoint.get("deployedModels") or []}
                    if sum(split.values()) != 100 or not set(split) <= ids:
                        raise ApiError(400, "trafficSplit must name deployed models and add up to 100")
                    endpoint["trafficSplit"] = split
                elif key in ("displayName", "description", "labels", "predictRequestResponseLoggingConfig"):
                    if key == "labels":
                        check_labels(body.get("labels") or {})
                    endpoint[key] = body.get(key)
                else:
                    raise ApiError(400, f"field {field} cannot be updated")
            endpoint["updateTime"] = _now()
            endpoint["etag"] = str(int(endpoint.get("etag", "1")) + 1)
            return 200, endpoint

    def list_evaluations(self, request: Request, *, model: str) -> tuple[int, Any]:
        """ModelService.ListModelEvaluations: the evaluation an AutoML pipeline left on its model."""
        self._get(model)
        prefix = f"{model}/evaluations/"
        with self.state.lock:
            found = [dict(r) for n, r in sorted(self.state.resources.items()) if n.startswith(prefix)]
        return 200, {"modelEvaluations": found}

    def predict(self, request: Request, *, name: str) -> tuple[int, Any]:
        body = request.json()
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, "instances must be a non-empty list")
        with self.state.lock:
            endpoint = self._get(name)
            models = endpoint.get("deployedModels") or []
            if not models:
                raise ApiError(400, f"endpoint {name} has no deployed model", "FAILED_PRECONDITION")
            split = {k: int(v) for k, v in (endpoint.get("trafficSplit") or {}).items()}
            ids = [dm["id"] for dm in models]
            weights = [split.get(i, 0) for i in ids]
            chosen = self.state.rng.choices(ids, weights=weights)[0] if sum(weights) else ids[0]
            deployed = next(dm for dm in models if dm["id"] == chosen)
            script = self.state.scripted.get(name.rsplit("/", 1)[-1]) or []
            scripted = script.pop(0) if script else None
            logging_cfg = endpoint.get("predictRequestResponseLoggingConfig") or {}
        if scripted is not None and scripted.status != 200:
            raise ApiError(scripted.status, scripted.message or "prediction failed")
        if scripted is not None and scripted.predictions is not None:
            predictions = scripted.predictions
        elif self.state.config.serve_models:
            predictions = self._model_predictions(deployed.get("model") or "", instances)
        else:
            predictions = [_stub_prediction(row) for row in instances]
        response = {"predictions": predictions, "deployedModelId": chosen, "model": deployed.get("model"),
                    "modelDisplayName": deployed.get("displayName"), "modelVersionId": "1"}
        if logging_cfg.get("enabled"):
            self._log_prediction(name, chosen, body, response, float(logging_cfg.get("samplingRate") or 1.0))
        return 200, response

    def _model_predictions(self, model_name: str, instances: list[Any]) -> list[Any]:
        """The deployed model's own answer (its SavedModel, served locally), as Vertex AI's container gives it.

        A 4xx from the model server is the container refusing the input:
        400 with its message; anything else is 500.
        """
        with self.state.lock:
            model = self.state.resources.get(model_name) or {}
        artifact = str(model.get("artifactUri") or "")
        if not artifact.startswith("gs://"):
            raise ApiError(400, f"model {model_name} has no gs:// artifactUri to serve", "FAILED_PRECONDITION")
        bucket, _, prefix = artifact.removeprefix("gs://").partition("/")
        prefix = prefix.rstrip("/") + "/"

        def fetch(folder: Path) -> None:
            for blob in self.storage.list_blobs(bucket, prefix=prefix):
                target = folder / blob.name[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                blob.download_to_filename(str(target))

        try:
            port = self.servers.port_for(artifact, fetch, self.state.config.python)
        except RuntimeError as exc:
            raise ApiError(500, str(exc), "INTERNAL") from exc
        if port is None:
            raise ApiError(400, f"no SavedModel under {artifact}", "FAILED_PRECONDITION")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("POST", "/v1/models/model:predict", body=json.dumps({"instances": instances}),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read() or b"{}")
        finally:
            conn.close()
        if resp.status != 200:
            message = answer.get("error", f"model server answered {resp.status}")
            raise ApiError(400 if 400 <= resp.status < 500 else 500, message)
        return list(answer.get("predictions", []))

    def _log_prediction(self, name: str, deployed_id: str, request: dict[str, Any], response: dict[str, Any],
                        rate: float) -> None:
        """Append the row Vertex AI's request-response logging writes to BigQuery (same columns)."""
        with self.state.lock:
            if self.state.rng.random() > rate:
                return
            self.state.predictions_log.append({
                "endpoint": name,
                "deployed_model_id": deployed_id,
                "logging_time": datetime.now(UTC),
                "request_id": len(self.state.predictions_log) + 1,
                "request_payload": [json.dumps(request)],
                "response_payload": [json.dumps({"predictions": response["predictions"]})],
            })

    # -- Cloud Logging (entries.list) for training logs -----------------------
    def list_log_entries(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        expression = body.get("filter", "")
        match = re.search(r'resource\.labels\.job_id\s*=\s*"?([0-9A-Za-z_-]+)"?', expression)
        if not match:
            raise ApiError(400, "filter must name resource.labels.job_id")
        job_id = match.group(1)
        with self.state.lock:
            lines = [
                (ts, line)
                for name, entries in self.state.logs.items()
                if name.endswith(f"/customJobs/{job_id}")
                for ts, line in entries
            ]
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 1000)
        page = lines[start : start + size]
        out: dict[str, Any] = {
            "entries": [
                {
                    "logName": "projects/-/logs/workerpool0-0",
                    "resource": {"type": "ml_job", "labels": {"job_id": job_id}},
                    "timestamp": datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z"),
                    "textPayload": line,
                }
                for ts, line in page
            ]
        }
        if start + size < len(lines):
            out["nextPageToken"] = str(start + size)
        return 200, out


def _stub_prediction(row: Any) -> list[float]:
    """A deterministic stand-in answer: the mean of the row's numbers (0.0 when it has none)."""
    values = row.values() if isinstance(row, dict) else row if isinstance(row, list) else [row]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return [sum(numbers) / len(numbers) if numbers else 0.0]


def _grpc_code(status: str) -> int:
    return {"INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "FAILED_PRECONDITION": 9,
            "RESOURCE_EXHAUSTED": 8, "INTERNAL": 13, "UNAVAILABLE": 14}.get(status, 2)
