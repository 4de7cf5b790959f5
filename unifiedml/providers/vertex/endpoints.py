"""Vertex AI models, endpoints (deploy, blue/green and canary updates, delete) and prediction."""

from __future__ import annotations

import logging
import time
from typing import Any

from unifiedml.errors import AlreadyExists, ConfigError, NotFound, OperationFailed
from unifiedml.providers.base import TAG_PROJECT, Capability
from unifiedml.providers.vertex import images, naming, packaging
from unifiedml.providers.vertex.common import (
    _js,
    _ts,
)
from unifiedml.providers.vertex.errors import PROVIDER, call, no_retry
from unifiedml.resources import Endpoint, Model, Prediction, Status
from unifiedml.specs import DeploymentSpec

logger = logging.getLogger(__name__)

__all__ = ["EndpointsMixin"]


class EndpointsMixin:
    """Vertex AI models, endpoints (deploy, blue/green and canary updates, delete) and prediction.

    A mixin of :class:`~unifiedml.providers.vertex.provider.VertexProvider`, whose clients,
    settings and operation helpers it uses.
    """

    # -- models ----------------------------------------------------------------------------
    def _model_name(self, name: str) -> str:
        return f"{self.parent}/models/{name}"

    def _model_handle(self, model: dict[str, Any]) -> Model:
        container = model.get("containerSpec") or {}
        return Model(
            provider=self.name, name=model["name"].rsplit("/", 1)[-1], id=model["name"],
            artifact_uri=model.get("artifactUri") or "", framework="tensorflow",
            created_at=_ts(model.get("createTime")), tags=naming.from_labels(model.get("labels") or {}),
            _client=self,
            extra={"registered": True, "model_resource": model["name"], "image": container.get("imageUri"),
                   "training_pipeline": model.get("trainingPipeline")},
        )

    def _describe_model(self, name: str) -> dict[str, Any] | None:
        try:
            return call(lambda: _js(self.client("model").get_model(name=self._model_name(name), **no_retry())),
                        what=f"get model {name}")
        except NotFound:
            return None

    def _get_model(self, name: str) -> Model:
        """The registered model ``name``, else the model of a succeeded training or AutoML job of that name."""
        found = self._describe_model(name)
        if found is not None:
            return self._model_handle(found)
        for getter in (self._get_training_job, self._get_automl_job):
            try:
                job = getter(name)
            except NotFound:
                continue
            if job.model is not None:
                return job.model
        raise NotFound(f"no Vertex AI model named {name!r}", provider=PROVIDER,
                       hint="models come from successful training or AutoML jobs, or import_model(gs://...)")

    def _ensure_model(self, model: Model, *, gpu: bool) -> str:
        """Upload ``model`` to the Model Registry under its name unless it is there. Idempotent; blocking."""
        if model.extra.get("model_resource"):
            return str(model.extra["model_resource"])
        v1 = self._types()
        image = self.settings.serving_image or images.prediction_image(
            self.region, model.framework_version or self.settings.framework_version, gpu=gpu)
        body = v1.Model(display_name=model.name, artifact_uri=model.artifact_uri,
                        container_spec=v1.ModelContainerSpec(image_uri=image),
                        labels=naming.to_labels(self.standard_tags("model", model.name)))

        def create() -> dict[str, Any]:
            op = self.client("model").upload_model(
                request={"parent": self.parent, "model": body, "model_id": model.name}, **no_retry())
            return {"operation": op.operation.name}

        def lookup() -> dict[str, Any] | None:
            try:
                return _js(self.client("model").get_model(name=self._model_name(model.name), **no_retry()))
            except Exception as exc:
                from google.api_core import exceptions as gx

                if isinstance(exc, gx.NotFound):
                    return None
                raise

        found, _ = self._create_once(lookup, create, what=f"upload model {model.name}", field="artifact")
        if "operation" in found:
            self._wait_operation("model", found["operation"], what=f"upload model {model.name}")
        return self._model_name(model.name)

    def _import_model(self, artifact: str, *, name: str, tags: dict[str, str]) -> Model:
        self._check()
        if not artifact.startswith("gs://"):
            raise ConfigError("give the gs:// folder of a SavedModel", field="artifact", provider=PROVIDER)
        packaging.check_gcs_uri(self.client("storage"), artifact, field="artifact")
        existing = self._describe_model(name)
        if existing is not None:
            if existing.get("artifactUri", "").rstrip("/") != artifact.rstrip("/"):
                raise AlreadyExists(f"a model named {name!r} already points to {existing.get('artifactUri')}",
                                    provider=PROVIDER)
            return self._model_handle(existing)
        model = Model(provider=self.name, name=name, id=name, artifact_uri=artifact, tags=tags, _client=self)
        self._ensure_model(model, gpu=False)
        return self._get_model(name)

    def _delete_model(self, name: str) -> None:
        try:
            op = call(lambda: self.client("model").delete_model(name=self._model_name(name), **no_retry()),
                      what=f"delete model {name}")
        except NotFound:
            return
        try:
            self._wait_operation("model", op.operation.name, what=f"delete model {name}")
        except NotFound:
            return

    # -- endpoints --------------------------------------------------------------------------
    def _endpoint_name(self, name: str) -> str:
        return f"{self.parent}/endpoints/{name}"

    def _describe_endpoint(self, name: str) -> dict[str, Any] | None:
        try:
            return call(lambda: _js(self.client("endpoint").get_endpoint(name=self._endpoint_name(name),
                                                                         **no_retry())),
                        what=f"get endpoint {name}")
        except NotFound:
            return None

    def _machine(self, spec: DeploymentSpec, current: dict[str, Any] | None = None) -> tuple[str, str | None, int]:
        res = spec.resources
        if current and not (res.size or res.instance_type or res.accelerator_type):
            ms = (current.get("dedicatedResources") or {}).get("machineSpec") or {}
            return ms.get("machineType", self.settings.serving_machine_type), None, 0
        return images.machine_for(res.size, res.instance_type, res.accelerator_type, res.accelerator_count,
                                  default=self.settings.serving_machine_type, field="resources")

    def _deployed_model(self, model: Model, spec: DeploymentSpec, model_resource: str,
                        machine: tuple[str, str | None, int], *, replicas: int | None = None) -> Any:
        v1 = self._types()
        machine_type, accel, count = machine
        ms = v1.MachineSpec(machine_type=machine_type)
        if accel:
            ms.accelerator_type = getattr(v1.AcceleratorType, accel)
            ms.accelerator_count = count
        replicas = replicas or max(spec.min_replicas, spec.resources.instance_count)
        return v1.DeployedModel(
            model=model_resource, display_name=model.name,
            dedicated_resources=v1.DedicatedResources(machine_spec=ms, min_replica_count=replicas,
                                                      max_replica_count=max(spec.max_replicas or replicas, replicas)),
        )

    def _logging_config(self, spec: DeploymentSpec) -> Any:
        if not spec.capture.enabled:
            return None
        v1 = self._types()
        destination = spec.capture.destination or self.settings.capture_destination or f"bq://{self.gcp_project}"
        if not destination.startswith("bq://"):
            raise ConfigError("request-response logging goes to BigQuery: give bq://project[.dataset[.table]]",
                              field="capture.destination", provider=PROVIDER)
        return v1.PredictRequestResponseLoggingConfig(
            enabled=True, sampling_rate=spec.capture.sample_percent / 100,
            bigquery_destination=v1.BigQueryDestination(output_uri=destination),
        )

    def _pending_deploy(self, name: str) -> tuple[str | None, Any]:
        """The last deploy operation recorded for endpoint ``name`` and its state (None when none)."""
        events = [e for e in self.state.events(provider=self.name, kind="endpoint", name=name)
                  if e.event == "deploy_requested"]
        if not events:
            return None, None
        op_name = events[-1].attrs.get("operation")
        try:
            return op_name, self._operation("endpoint", op_name)
        except NotFound:
            return op_name, None

    def _running_operations(self, endpoint: str) -> list[str]:
        """Operations on the endpoint that are not done (ours: we are its only deployer)."""
        ops = self.client("endpoint").list_operations(request={"name": endpoint}, **no_retry())
        return [op.name for op in ops.operations if not op.done]

    def _deploy_model(self, name: str, deployed: Any, split: dict[str, int]) -> str:
        """Start ``DeployModel``; a lost response is found again as the endpoint's running operation."""
        endpoint = self._endpoint_name(name)

        def lookup() -> str | None:
            # Operations first, then the endpoint: a deploy finishing between the two reads shows up in the second.
            running = self._running_operations(endpoint)
            if running:
                return running[-1]
            ep = _js(self.client("endpoint").get_endpoint(name=endpoint, **no_retry()))
            if any(dm.get("model") == deployed.model for dm in ep.get("deployedModels") or []):
                return "deployed"
            return None

        def create() -> str:
            op = self.client("endpoint").deploy_model(endpoint=endpoint, deployed_model=deployed,
                                                      traffic_split=split, **no_retry())
            return str(op.operation.name)

        op_name, _ = self._create_once(lookup, create, what=f"deploy to endpoint {name}")
        if op_name != "deployed":
            self.state.add_event(provider=self.name, kind="endpoint", name=name, event="deploy_requested",
                                 attrs={"operation": op_name, "model": deployed.display_name})
        return str(op_name)

    def _deploy(self, model: Model, spec: DeploymentSpec, *, name: str, tags: dict[str, str]) -> Endpoint:
        """Upload the model, create the endpoint, start DeployModel (non-blocking: ``endpoint.wait()``)."""
        self._check()
        naming.check_labels(spec.tags)
        machine = self._machine(spec)
        if machine[1]:
            self.require(Capability.GPU)
        if spec.min_replicas < 1:
            raise ConfigError("Vertex AI endpoints need at least one replica", field="min_replicas",
                              provider=PROVIDER)
        if spec.traffic is not None and set(spec.traffic) != {model.name}:
            raise ConfigError("a new endpoint serves one model; split traffic with update_endpoint()",
                              field="traffic", provider=PROVIDER)
        logging_config = self._logging_config(spec)
        existing = self._describe_endpoint(name)
        if existing is not None:
            served = {dm.get("displayName") for dm in existing.get("deployedModels") or []}
            if served == {model.name}:
                return self._get_endpoint(name)
            if served:
                raise AlreadyExists(f"endpoint {name!r} already serves {sorted(served)}", provider=PROVIDER,
                                    hint="switch it with update_endpoint(), or delete it first")
            _, op = self._pending_deploy(name)
            if op is not None and not op.done:
                return self._get_endpoint(name)  # a deploy of an earlier call is still running
        model_resource = self._ensure_model(model, gpu=bool(machine[1]))
        v1 = self._types()
        if existing is None:
            body = v1.Endpoint(display_name=name, labels=naming.to_labels(tags))
            if logging_config is not None:
                body.predict_request_response_logging_config = logging_config

            def create() -> dict[str, Any]:
                op = self.client("endpoint").create_endpoint(parent=self.parent, endpoint=body, endpoint_id=name,
                                                             **no_retry())
                return {"operation": op.operation.name}

            def lookup() -> dict[str, Any] | None:
                try:
                    return _js(self.client("endpoint").get_endpoint(name=self._endpoint_name(name), **no_retry()))
                except Exception as exc:
                    from google.api_core import exceptions as gx

                    if isinstance(exc, gx.NotFound):
                        return None
                    raise

            found, _ = self._create_once(lookup, create, what=f"create endpoint {name}")
            if "operation" in found:
                self._wait_operation("endpoint", found["operation"], what=f"create endpoint {name}")
        deployed = self._deployed_model(model, spec, model_resource, machine)
        self._deploy_model(name, deployed, {"0": 100})
        self.state.add_event(provider=self.name, kind="endpoint", name=name, event="endpoint_up",
                             attrs={"instance_type": machine[0],
                                    "replicas": deployed.dedicated_resources.min_replica_count,
                                    "accelerator": machine[1], "accelerator_count": machine[2], "model": model.name})
        return self._get_endpoint(name)

    def _update_endpoint(self, name: str, model: Model, spec: DeploymentSpec) -> Endpoint:
        """Blue/green: deploy beside the old model, move traffic, undeploy the old one (unless a split is asked)."""
        self._check()
        existing = self._describe_endpoint(name)
        if existing is None:
            raise NotFound(f"no Vertex AI endpoint named {name!r}", provider=PROVIDER)
        current = existing.get("deployedModels") or []
        by_name = {dm.get("displayName"): dm for dm in current}
        if spec.traffic is not None and not set(spec.traffic) <= {*by_name, model.name}:
            raise ConfigError("traffic names models that are not on the endpoint", field="traffic",
                              provider=PROVIDER, hint="on it: " + ", ".join(sorted(by_name)))
        machine = self._machine(spec, current[0] if current else None)
        endpoint = self._endpoint_name(name)
        client = self.client("endpoint")
        if model.name not in by_name:
            model_resource = self._ensure_model(model, gpu=bool(machine[1]))
            keep = not ({"min_replicas", "resources"} & spec.model_fields_set) and current
            replicas = int((current[0].get("dedicatedResources") or {}).get("minReplicaCount") or 1) if keep else None
            deployed = self._deployed_model(model, spec, model_resource, machine, replicas=replicas)
            if spec.traffic is not None:
                split = {(by_name[k]["id"] if k in by_name else "0"): v for k, v in spec.traffic.items()}
            else:
                split = {"0": 100, **{dm["id"]: 0 for dm in current}}
            op_name = self._deploy_model(name, deployed, split)
            if op_name != "deployed":
                self._wait_operation("endpoint", op_name, what=f"deploy {model.name} to {name}")
            self.state.add_event(provider=self.name, kind="endpoint", name=name, event="endpoint_up",
                                 attrs={"instance_type": machine[0],
                                        "replicas": deployed.dedicated_resources.min_replica_count,
                                        "model": model.name, "reason": "update"})
        else:
            # Already on the endpoint: move the traffic (all of it, unless a split is given).
            v1 = self._types()
            wanted = spec.traffic if spec.traffic is not None else {model.name: 100}
            split = {dm["id"]: int(wanted.get(dm.get("displayName"), 0)) for dm in current}
            body = v1.Endpoint(name=endpoint, traffic_split=split)
            call(lambda: client.update_endpoint(endpoint=body, update_mask={"paths": ["traffic_split"]},
                                                **no_retry()), what=f"set traffic of {name}")
        if spec.traffic is None:
            # Blue/green finished: the new model has all traffic; remove the old ones.
            for dm in current:
                if dm.get("displayName") != model.name:
                    self._undeploy(name, dm, remaining_split=None)
        return self._get_endpoint(name)

    def _undeploy(self, name: str, deployed: dict[str, Any], remaining_split: dict[str, int] | None) -> None:
        endpoint = self._endpoint_name(name)
        request: dict[str, Any] = {"endpoint": endpoint, "deployed_model_id": deployed["id"]}
        if remaining_split:
            request["traffic_split"] = remaining_split
        try:
            op = call(lambda: self.client("endpoint").undeploy_model(request=request, **no_retry()),
                      what=f"undeploy {deployed.get('displayName')} from {name}")
        except NotFound:
            return  # an earlier attempt undeployed it
        self._wait_operation("endpoint", op.operation.name, what=f"undeploy from {name}")
        resources = deployed.get("dedicatedResources") or {}
        self.state.add_event(provider=self.name, kind="endpoint", name=name, event="endpoint_down",
                             attrs={"instance_type": (resources.get("machineSpec") or {}).get("machineType"),
                                    "replicas": resources.get("minReplicaCount"),
                                    "model": deployed.get("displayName")})

    def _get_endpoint(self, name: str) -> Endpoint:
        ep = self._describe_endpoint(name)
        if ep is None:
            raise NotFound(f"no Vertex AI endpoint named {name!r}", provider=PROVIDER,
                           hint="list endpoints with `unifiedml endpoints list --provider vertex`")
        return self._endpoint_handle(ep)

    def _endpoint_handle(self, ep: dict[str, Any]) -> Endpoint:
        name = ep["name"].rsplit("/", 1)[-1]
        models = ep.get("deployedModels") or []
        split = {k: int(v) for k, v in (ep.get("trafficSplit") or {}).items()}
        reason = None
        _, op = self._pending_deploy(name)
        if not models and op is not None and op.done and not op.error.code:
            # The deploy finished after ``ep`` was read: read it again.
            ep = self._describe_endpoint(name) or ep
            models = ep.get("deployedModels") or []
            split = {k: int(v) for k, v in (ep.get("trafficSplit") or {}).items()}
        if op is not None and not op.done:
            status = Status.UPDATING if models else Status.CREATING
        elif models:
            status = Status.IN_SERVICE
        elif op is not None and op.error.code:
            status, reason = Status.FAILED, op.error.message
        else:
            status, reason = Status.FAILED, "no model is deployed to the endpoint"
        main = max(models, key=lambda dm: split.get(dm["id"], 0)) if models else {}
        resources = main.get("dedicatedResources") or {}
        base = self.settings.api_endpoint or f"https://{self.region}-aiplatform.googleapis.com"
        if not base.startswith("http"):
            base = "https://" + base
        return Endpoint(
            provider=self.name, name=name, id=ep["name"], status=status,
            url=f"{base.rstrip('/')}/v1/{ep['name']}:predict" if status in (Status.IN_SERVICE, Status.UPDATING)
            else None,
            model=main.get("displayName"), created_at=_ts(ep.get("createTime")),
            tags=naming.from_labels(ep.get("labels") or {}),
            resources={"instance_type": (resources.get("machineSpec") or {}).get("machineType"),
                       "replicas": resources.get("minReplicaCount")},
            extra={"endpoint": ep["name"], "traffic_split": split,
                   "deployed_models": [{"id": dm["id"], "model": dm.get("model"), "name": dm.get("displayName")}
                                       for dm in models],
                   "traffic": {dm.get("displayName"): split.get(dm["id"], 0) for dm in models},
                   "logging": ep.get("predictRequestResponseLoggingConfig"), "failure_reason": reason},
            _client=self,
        )

    def _list_endpoints(self) -> list[Endpoint]:
        def fetch() -> list[dict[str, Any]]:
            pager = self.client("endpoint").list_endpoints(
                request={"parent": self.parent, "filter": f'labels.{TAG_PROJECT}="{self.project}"'}, **no_retry())
            return [_js(e) for e in pager]

        return [self._endpoint_handle(e) for e in call(fetch, what="list endpoints")]

    def _delete_endpoint(self, name: str) -> None:
        """Undeploy every model, delete the endpoint and the models this project uploaded. Idempotent; blocking."""
        self._check()
        op_name, op = self._pending_deploy(name)
        if op is not None and not op.done and op_name:
            try:
                self._wait_operation("endpoint", op_name, what=f"deploy to {name}")
            except OperationFailed:
                pass
        ep = self._describe_endpoint(name)
        if ep is None:
            return
        models = list(ep.get("deployedModels") or [])
        split = {k: int(v) for k, v in (ep.get("trafficSplit") or {}).items()}
        models.sort(key=lambda dm: split.get(dm["id"], 0))
        for i, dm in enumerate(models):
            rest = models[i + 1 :]
            remaining = None
            if rest and split.get(dm["id"], 0):
                remaining = {r["id"]: split.get(r["id"], 0) for r in rest}
                remaining[rest[-1]["id"]] += split[dm["id"]]
                split = {**split, **remaining}
            self._undeploy(name, dm, remaining)
        try:
            op2 = call(lambda: self.client("endpoint").delete_endpoint(name=ep["name"], **no_retry()),
                       what=f"delete endpoint {name}")
            self._wait_operation("endpoint", op2.operation.name, what=f"delete endpoint {name}")
        except NotFound:
            pass
        for dm in models:
            model_id = str(dm.get("model", "")).rsplit("/", 1)[-1]
            described = self._describe_model(model_id) if model_id else None
            if described and (described.get("labels") or {}).get(TAG_PROJECT) == self.project:
                try:
                    self._delete_model(model_id)
                except ConfigError as exc:  # still deployed elsewhere: keep it
                    logger.info("kept model %s: %s", model_id, exc)

    # -- prediction --------------------------------------------------------------------------
    def _predict(self, name: str, instances: list[Any] | dict[str, list[Any]]) -> Prediction:
        if isinstance(instances, dict):
            keys = list(instances)
            lengths = {len(v) for v in instances.values()}
            if len(lengths) != 1:
                raise ConfigError("columnar inputs must have columns of equal length", field="instances")
            rows: list[Any] = [dict(zip(keys, values, strict=True)) for values in zip(*instances.values(), strict=True)]
        else:
            rows = instances
        endpoint = self._endpoint_name(name)
        start = time.perf_counter()
        response = call(
            lambda: self.client("prediction").predict(endpoint=endpoint, instances=rows, **no_retry()),
            what=f"predict on endpoint {name}", field="instances", attempts=6,
        )
        latency = (time.perf_counter() - start) * 1000
        answer = _js(response)
        return Prediction(
            predictions=answer.get("predictions", []), model=answer.get("modelDisplayName"),
            latency_ms=round(latency, 3),
            extra={"endpoint": name, "deployed_model_id": answer.get("deployedModelId"),
                   "model_resource": answer.get("model")},
        )
