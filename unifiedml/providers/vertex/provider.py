"""The Vertex AI provider: neutral specs -> GAPIC ``google.cloud.aiplatform_v1`` clients over REST + GCS.

What maps to what (details in docs/providers/vertex.md):

* ``train`` -> the entry point's folder as a Python source distribution in GCS
  (with :mod:`unifiedml.runtime` inside, :mod:`.packaging`), local data uploaded
  by content hash, then a ``CustomJob`` whose worker pool runs it on the
  prebuilt TensorFlow training image (``pythonPackageSpec``). The script reads
  ``AIP_MODEL_DIR``; the job's ``<baseOutputDirectory>/model`` becomes a
  deployable :class:`Model` of the job's name.
* ``automl`` -> a tabular ``Dataset`` from a CSV in GCS, then an AutoML tabular
  ``TrainingPipeline`` (target, objective, budget in milli node hours) that
  uploads its model under the job's name.
* ``deploy`` -> ``UploadModel`` (prebuilt TF prediction image) as a long-running
  operation, ``CreateEndpoint`` (request-response logging to BigQuery when
  capture is on), ``DeployModel`` with machine type, replicas and traffic
  split; ``update_endpoint`` deploys the new model beside the old one, moves
  the traffic, then undeploys the old one (blue/green), or keeps both for a
  canary split; ``predict`` -> ``Predict`` with ``instances``.

Every resource carries the unifiedml labels (:mod:`.naming`); models and
endpoints have deterministic ids (unifiedml's names); jobs, pipelines and
datasets, whose ids Vertex AI assigns, are found again by display name and
labels before each create attempt, so a retried create never makes a second
one. Every call goes through :func:`.errors.call`. Google libraries are
imported on first use, never at import time.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from unifiedml._lazy import require
from unifiedml._ops import Backoff
from unifiedml.errors import AlreadyExists, ConfigError, NotFound, OperationFailed, ProviderError
from unifiedml.providers.base import TAG_PROJECT, Capability, Provider, ProviderSettings
from unifiedml.providers.vertex import images, naming, packaging
from unifiedml.providers.vertex.errors import PROVIDER, call, no_retry, translate
from unifiedml.resources import AutoMLJob, Endpoint, Model, Prediction, Status, TrainingJob
from unifiedml.specs import AutoMLSpec, DataRef, DeploymentSpec, TrainingSpec

if TYPE_CHECKING:
    from unifiedml.cost.readers.base import QueryRunner
    from unifiedml.cost.records import CostRecord

logger = logging.getLogger(__name__)

__all__ = ["VertexProvider", "VertexSettings"]

TABULAR_DATASET_SCHEMA = "gs://google-cloud-aiplatform/schema/dataset/metadata/tabular_1.0.0.yaml"
AUTOML_TABULAR_DEFINITION = "gs://google-cloud-aiplatform/schema/trainingjob/definition/automl_tabular_1.0.0.yaml"
#: JobState / PipelineState numbers (the two enums share them) -> neutral status.
_STATE = {
    1: Status.PENDING, 2: Status.PENDING, 3: Status.RUNNING, 4: Status.SUCCEEDED, 5: Status.FAILED,
    6: Status.RUNNING, 7: Status.STOPPED, 8: Status.PENDING, 9: Status.PENDING, 10: Status.RUNNING,
}
_STATE_NAMES = {1: "QUEUED", 2: "PENDING", 3: "RUNNING", 4: "SUCCEEDED", 5: "FAILED", 6: "CANCELLING",
                7: "CANCELLED", 8: "PAUSED", 9: "EXPIRED", 10: "UPDATING"}
#: Neutral objective names -> optimizationObjective of AutoML tabular (aiplatform's AutoMLTabularTrainingJob).
_OBJECTIVES = {
    "classification": {"auc": "maximize-au-roc", "roc_auc": "maximize-au-roc", "log_loss": "minimize-log-loss",
                       "logloss": "minimize-log-loss", "pr_auc": "maximize-au-prc", "au_prc": "maximize-au-prc"},
    "regression": {"rmse": "minimize-rmse", "mae": "minimize-mae", "rmsle": "minimize-rmsle"},
}
_REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")
_GCP_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class VertexSettings(ProviderSettings):
    """Settings of the Vertex AI provider (``Client("vertex", gcp_project=..., region=..., staging_bucket=...)``).

    ``gcp_project`` is the Google Cloud project (``project`` is unifiedml's own
    project label); it falls back to ``$GOOGLE_CLOUD_PROJECT``. ``api_endpoint``
    (default ``{region}-aiplatform.googleapis.com``), ``storage_endpoint`` and
    ``logging_endpoint`` point the clients elsewhere (an emulator).
    ``credentials``: ``default`` (Application Default Credentials),
    ``anonymous`` (emulators only) or ``file`` (a service-account key at
    ``credentials_file``). Key material is never a setting.
    """

    gcp_project: str | None = Field(default_factory=lambda: os.environ.get("GOOGLE_CLOUD_PROJECT") or None)
    region: str | None = None
    staging_bucket: str | None = None
    prefix: str = "unifiedml"
    api_endpoint: str | None = None
    storage_endpoint: str | None = None
    logging_endpoint: str = "https://logging.googleapis.com"
    credentials: Literal["default", "anonymous", "file"] = "default"
    credentials_file: str | None = None
    service_account: str | None = None
    framework_version: str = "2.14"
    training_image: str | None = None
    serving_image: str | None = None
    training_machine_type: str = "n1-standard-4"
    serving_machine_type: str = "n1-standard-2"
    capture_destination: str | None = None
    poll_initial: float = Field(5.0, gt=0)
    poll_cap: float = Field(60.0, gt=0)
    log_poll: float = Field(5.0, gt=0)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION_RE.match(value):
            raise ValueError(f"{value!r} is not a Google Cloud region name (e.g. us-central1)")
        return value

    @field_validator("gcp_project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not _GCP_PROJECT_RE.match(value):
            raise ValueError(f"{value!r} is not a Google Cloud project id (6-30 lowercase letters, digits, hyphens)")
        return value

    @field_validator("staging_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.removeprefix("gs://").rstrip("/")
        if not re.match(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", name):
            raise ValueError("must be a Cloud Storage bucket name or gs://bucket (3-63 lowercase characters)")
        return name

    @field_validator("training_machine_type", "serving_machine_type")
    @classmethod
    def _machine(cls, value: str) -> str:
        images.check_machine_type(value, field="machine_type")
        return value


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _js(message: Any) -> dict[str, Any]:
    """A proto-plus message (or a raw protobuf) as camelCase JSON with integer enums."""
    if hasattr(type(message), "to_json") and hasattr(type(message), "pb"):
        return json.loads(type(message).to_json(message, use_integers_for_enums=True, indent=None))
    from google.protobuf import json_format

    return json.loads(json_format.MessageToJson(message, use_integers_for_enums=True))


class VertexProvider(Provider):
    """Google Cloud Vertex AI through the GAPIC REST clients. See the module docstring and docs/providers/vertex.md."""

    name = "vertex"
    Settings = VertexSettings
    capabilities = frozenset(
        {
            Capability.TRAIN,
            Capability.AUTOML,
            Capability.DEPLOY,
            Capability.PREDICT,
            Capability.UPDATE_ENDPOINT,
            Capability.STOP_TRAINING,
            Capability.TRAINING_LOGS,
            Capability.GPU,
            Capability.SPOT,
            Capability.CAPTURE,
            Capability.NATIVE_MONITOR,
            Capability.BILLED_COST,
        }
    )
    UNSUPPORTED: ClassVar[dict[Capability, str]] = {}

    settings: VertexSettings

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_backoff = Backoff(initial=self.settings.poll_initial, cap=self.settings.poll_cap)
        self._clients: dict[str, Any] = {}
        self._creds: Any = None

    # -- configuration checked before anything is created -------------------------
    @property
    def gcp_project(self) -> str:
        if not self.settings.gcp_project:
            raise ConfigError("no Google Cloud project is configured", field=f"providers.{self.name}.gcp_project",
                              provider=PROVIDER,
                              hint="pass gcp_project='my-project' (or set GOOGLE_CLOUD_PROJECT)")
        return self.settings.gcp_project

    @property
    def region(self) -> str:
        if not self.settings.region:
            raise ConfigError("no Vertex AI region is configured", field=f"providers.{self.name}.region",
                              provider=PROVIDER, hint="pass region='us-central1'")
        return self.settings.region

    @property
    def parent(self) -> str:
        return f"projects/{self.gcp_project}/locations/{self.region}"

    def _bucket(self) -> str:
        if not self.settings.staging_bucket:
            raise ConfigError("a staging bucket for code, data and models is required",
                              field=f"providers.{self.name}.staging_bucket", provider=PROVIDER,
                              hint="pass staging_bucket='gs://my-bucket' (in the same region)")
        return self.settings.staging_bucket

    def gcs_root(self, *parts: str) -> str:
        """``gs://<bucket>/<prefix>/<project>/<parts...>``."""
        return naming.gcs_join(f"gs://{self._bucket()}", self.settings.prefix, self.project, *parts)

    def _check(self) -> None:
        self.gcp_project  # noqa: B018 - raises ConfigError when missing
        self.region  # noqa: B018
        self._bucket()

    # -- clients -----------------------------------------------------------------
    def credentials(self) -> Any:
        if self._creds is None:
            require("google.auth", extra="gcp", provider=PROVIDER)
            if self.settings.credentials == "anonymous":
                from google.auth.credentials import AnonymousCredentials

                self._creds = AnonymousCredentials()
            elif self.settings.credentials == "file":
                if not self.settings.credentials_file or not Path(self.settings.credentials_file).is_file():
                    raise ConfigError("the service-account key file does not exist",
                                      field=f"providers.{self.name}.credentials_file", provider=PROVIDER)
                from google.oauth2 import service_account

                self._creds = service_account.Credentials.from_service_account_file(
                    self.settings.credentials_file, scopes=["https://www.googleapis.com/auth/cloud-platform"]
                )
            else:
                import google.auth

                try:
                    self._creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
                except Exception as exc:
                    raise translate(exc, what="find Google credentials") from exc
        return self._creds

    def client(self, service: str) -> Any:
        """A GAPIC REST client of ``google.cloud.aiplatform_v1`` (``job``, ``pipeline``, ``dataset``,
        ``model``, ``endpoint``, ``prediction``) or ``storage``; cached."""
        if service not in self._clients:
            if service == "storage":
                storage = require("google.cloud.storage", extra="gcp", provider=PROVIDER)
                options = {"api_endpoint": self.settings.storage_endpoint} if self.settings.storage_endpoint else None
                self._clients[service] = storage.Client(project=self.gcp_project, credentials=self.credentials(),
                                                        client_options=options)
            else:
                v1 = require("google.cloud.aiplatform_v1", extra="gcp", provider=PROVIDER)
                cls = {
                    "job": v1.JobServiceClient, "pipeline": v1.PipelineServiceClient,
                    "dataset": v1.DatasetServiceClient, "model": v1.ModelServiceClient,
                    "endpoint": v1.EndpointServiceClient, "prediction": v1.PredictionServiceClient,
                }[service]
                endpoint = self.settings.api_endpoint or f"{self.region}-aiplatform.googleapis.com"
                self._clients[service] = cls(transport="rest", credentials=self.credentials(),
                                             client_options={"api_endpoint": endpoint})
        return self._clients[service]

    @staticmethod
    def _types() -> Any:
        return require("google.cloud.aiplatform_v1", extra="gcp", provider=PROVIDER)

    # -- long-running operations and create-once ---------------------------------------
    def _operation(self, service: str, name: str) -> Any:
        return call(lambda: self.client(service).get_operation(request={"name": name}, **no_retry()),
                    what=f"get operation {name}")

    def _wait_operation(self, service: str, name: str, *, what: str, timeout: float = 1800.0) -> Any:
        """Poll an operation until done (our own polling, with retries); returns the raw Operation."""
        deadline = time.monotonic() + timeout
        attempt = 0
        backoff = Backoff(initial=min(0.2, self.settings.poll_initial), cap=self.settings.poll_cap)
        while True:
            op = self._operation(service, name)
            if op.done:
                if op.error.code:
                    raise OperationFailed(f"{what} failed: {op.error.message}", provider=PROVIDER)
                return op
            if time.monotonic() > deadline:
                raise ProviderError(f"{what} did not finish in {timeout:.0f}s (operation {name})",
                                    provider=PROVIDER)
            time.sleep(backoff.delay(attempt))
            attempt += 1

    def _create_once(self, lookup: Callable[[], Any], create: Callable[[], Any], *, what: str,
                     field: str | None = None) -> tuple[Any, bool]:
        """Create unless ``lookup`` finds what an earlier attempt made; returns (result, created?).

        Each attempt looks first, so a create whose response was lost is found,
        not repeated. ``create`` raising AlreadyExists also counts as found.
        """
        created = False

        def attempt() -> Any:
            nonlocal created
            found = lookup()
            if found is not None:
                return found
            try:
                result = create()
            except Exception as exc:
                from google.api_core import exceptions as gx

                if isinstance(exc, gx.AlreadyExists | gx.Conflict):
                    again = lookup()
                    if again is not None:
                        return again
                raise
            created = True
            return result

        return call(attempt, what=what, field=field), created

    def _filter(self, name: str) -> str:
        return f'display_name="{name}" AND labels.{TAG_PROJECT}="{self.project}"'

    def _find(self, service: str, method: str, collection: str, name: str) -> dict[str, Any] | None:
        """The newest resource of ``collection`` named ``name`` in this project (raw call, no retries)."""
        pager = getattr(self.client(service), method)(
            request={"parent": self.parent, "filter": self._filter(name), "page_size": 100}, **no_retry()
        )
        for item in pager:
            return _js(item)
        return None

    # -- training -------------------------------------------------------------------------
    def _resolve_inputs(self, inputs: dict[str, DataRef], *, field: str) -> dict[str, tuple[str, Path | None]]:
        """Check every input before any upload or create: local paths exist, gs:// URIs hold objects."""
        out: dict[str, tuple[str, Path | None]] = {}
        for channel, ref in inputs.items():
            where = f"{field}.{channel}" if channel else field
            if ref.is_local:
                path = ref.local_path().resolve()
                if not path.exists():
                    raise ConfigError(f"{str(path)!r} does not exist", field=where, provider=PROVIDER)
                out[channel] = ("", path)
            elif ref.scheme == "gs":
                packaging.check_gcs_uri(self.client("storage"), ref.uri, field=where)
                out[channel] = (ref.uri, None)
            else:
                raise ConfigError(f"Vertex AI reads gs:// URIs or local paths, not {ref.uri!r}", field=where,
                                  provider=PROVIDER)
        return out

    def _upload_inputs(self, resolved: dict[str, tuple[str, Path | None]], *, files: bool = False) -> dict[str, str]:
        """gs:// locations of the inputs: folders (channels are folders everywhere), or files when ``files``."""
        out = {}
        for channel, (uri, path) in resolved.items():
            if path is None:
                out[channel] = uri
            else:
                prefix, _ = packaging.upload_data(self.client("storage"), path, data_root=self.gcs_root("data"))
                out[channel] = prefix + path.name if files and path.is_file() else prefix
        return out

    def _train(self, spec: TrainingSpec, *, name: str, tags: dict[str, str]) -> TrainingJob:
        """Create the CustomJob (non-blocking). Validates everything first; a retried create finds the job."""
        self._check()
        naming.check_labels(spec.tags)
        res = spec.resources
        machine, accel, count = images.machine_for(res.size, res.instance_type, res.accelerator_type,
                                                   res.accelerator_count, default=self.settings.training_machine_type,
                                                   field="resources")
        if accel:
            self.require(Capability.GPU)
        image = self.settings.training_image or images.training_image(
            self.region, spec.framework_version or self.settings.framework_version, gpu=bool(accel))
        package = packaging.build_package(spec)
        resolved = self._resolve_inputs(spec.inputs, field="inputs")
        existing = call(lambda: self._find("job", "list_custom_jobs", "customJobs", name),
                        what=f"look up training job {name}")
        if existing is not None:
            return self._job_handle(existing)
        storage = self.client("storage")
        package_uri = self.gcs_root("source", package.sha256, package.filename)
        packaging.upload_if_absent(storage, package_uri, package.data)
        channels = self._upload_inputs(resolved)
        v1 = self._types()
        env = [v1.EnvVar(name=k, value=v) for k, v in sorted(spec.environment.items())]
        for channel, uri in sorted(channels.items()):
            # Training containers mount buckets at /gcs/ (Cloud Storage FUSE); the runtime reads UML_CHANNEL_*.
            env.append(v1.EnvVar(name=f"UML_CHANNEL_{channel.upper().replace('-', '_')}",
                                 value="/gcs/" + uri.removeprefix("gs://").rstrip("/")))
        args = [*spec.args] + [
            f"--{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in spec.hyperparameters.items()
        ]
        machine_spec = v1.MachineSpec(machine_type=machine)
        if accel:
            machine_spec.accelerator_type = getattr(v1.AcceleratorType, accel)
            machine_spec.accelerator_count = count
        python_spec = v1.PythonPackageSpec(executor_image_uri=image, package_uris=[package_uri],
                                           python_module=package.module, args=args, env=env)
        pools = [v1.WorkerPoolSpec(machine_spec=machine_spec, replica_count=1, python_package_spec=python_spec,
                                   disk_spec=v1.DiskSpec(boot_disk_type="pd-ssd", boot_disk_size_gb=100))]
        if res.instance_count > 1:
            pools.append(v1.WorkerPoolSpec(machine_spec=machine_spec, replica_count=res.instance_count - 1,
                                           python_package_spec=python_spec))
        scheduling = v1.Scheduling(timeout=spec.max_runtime)
        if spec.spot:
            scheduling.strategy = v1.Scheduling.Strategy.SPOT
        job_spec = v1.CustomJobSpec(
            worker_pool_specs=pools,
            base_output_directory=v1.GcsDestination(output_uri_prefix=self.gcs_root("jobs", name)),
            scheduling=scheduling,
        )
        if self.settings.service_account:
            job_spec.service_account = self.settings.service_account
        job = v1.CustomJob(display_name=name, labels=naming.to_labels(tags), job_spec=job_spec)
        options = spec.options_for(self.name)
        if options:  # the escape hatch: CustomJob JSON fields (camelCase) merged over ours
            merged = {**_js(job), **options}
            job = v1.CustomJob.from_json(json.dumps(merged))
        created, _ = self._create_once(
            lambda: self._find("job", "list_custom_jobs", "customJobs", name),
            lambda: _js(self.client("job").create_custom_job(parent=self.parent, custom_job=job, **no_retry())),
            what=f"create training job {name}",
        )
        self.state.add_event(provider=self.name, kind="training_job", name=name, event="job_start",
                             attrs={"instance_type": machine, "instance_count": res.instance_count,
                                    "accelerator": accel, "accelerator_count": count, "spot": spec.spot})
        return self._job_handle(created)

    def _describe_job(self, name: str) -> dict[str, Any]:
        try:
            record = self.state.get_resource(self.name, "training_job", name)
            native = record.native_id
        except NotFound:
            native = None
        if native:
            try:
                return call(lambda: _js(self.client("job").get_custom_job(name=native, **no_retry())),
                            what=f"get training job {name}")
            except NotFound:
                pass
        found = call(lambda: self._find("job", "list_custom_jobs", "customJobs", name),
                     what=f"look up training job {name}")
        if found is None:
            raise NotFound(f"no Vertex AI training job named {name!r}", provider=PROVIDER,
                           hint="list jobs with `unifiedml jobs list --provider vertex`")
        return found

    def _get_training_job(self, name: str) -> TrainingJob:
        return self._job_handle(self._describe_job(name))

    def _job_handle(self, job: dict[str, Any]) -> TrainingJob:
        name = job["displayName"]
        state = int(job.get("state") or 0)
        status = _STATE.get(state, Status.UNKNOWN)
        spec = job.get("jobSpec") or {}
        base = ((spec.get("baseOutputDirectory") or {}).get("outputUriPrefix") or "").rstrip("/")
        pools = spec.get("workerPoolSpecs") or [{}]
        machine = (pools[0].get("machineSpec") or {}).get("machineType")
        replicas = sum(int(p.get("replicaCount") or 0) for p in pools)
        tags = naming.from_labels(job.get("labels") or {})
        model = None
        if status is Status.SUCCEEDED and base:
            model = Model(provider=self.name, name=name, id=job["name"], artifact_uri=f"{base}/model",
                          framework="tensorflow", framework_version=self.settings.framework_version,
                          source_job=name, created_at=_ts(job.get("endTime")), tags=tags, _client=self,
                          extra={"registered": False, "custom_job": job["name"]})
        if status in (Status.SUCCEEDED, Status.FAILED, Status.STOPPED):
            self._record_job_end(name, job, machine, replicas)
        return TrainingJob(
            provider=self.name, name=name, id=job["name"], status=status,
            created_at=_ts(job.get("createTime")), started_at=_ts(job.get("startTime")),
            ended_at=_ts(job.get("endTime")), model=model,
            failure_reason=(job.get("error") or {}).get("message"),
            resources_used={"instance_type": machine, "instance_count": replicas},
            tags=tags,
            extra={"custom_job": job["name"], "vertex_state": _STATE_NAMES.get(state, str(state)),
                   "base_output_directory": base, "job_id": job["name"].rsplit("/", 1)[-1],
                   "executor_image": ((pools[0].get("pythonPackageSpec") or {}).get("executorImageUri"))},
            _client=self,
        )

    def _record_job_end(self, name: str, job: dict[str, Any], machine: str | None, replicas: int | None,
                        kind: str = "training_job") -> None:
        """Record ``job_end`` once (cost estimates pair it with ``job_start``)."""
        if any(e.event == "job_end" for e in self.state.events(provider=self.name, kind=kind, name=name)):
            return
        self.state.add_event(provider=self.name, kind=kind, name=name, event="job_end", ts=_ts(job.get("endTime")),
                             attrs={"instance_type": machine, "instance_count": replicas,
                                    "status": _STATE_NAMES.get(int(job.get("state") or 0))})

    def _list_training_jobs(self) -> list[TrainingJob]:
        def fetch() -> list[dict[str, Any]]:
            pager = self.client("job").list_custom_jobs(
                request={"parent": self.parent, "filter": f'labels.{TAG_PROJECT}="{self.project}"'}, **no_retry())
            return [_js(j) for j in pager]

        jobs = [self._job_handle(j) for j in call(fetch, what="list training jobs")]
        return sorted(jobs, key=lambda j: j.created_at or _now(), reverse=True)

    def _training_logs(self, name: str, *, follow: bool) -> Iterator[str]:
        job = self._describe_job(name)  # NotFound before the generator starts
        return self._log_lines(name, job["name"].rsplit("/", 1)[-1], follow=follow)

    def _log_lines(self, name: str, job_id: str, *, follow: bool) -> Iterator[str]:
        """Cloud Logging ``entries.list`` for ``resource.type="ml_job"`` and the job id, oldest first."""
        from google.auth.transport.requests import AuthorizedSession

        session = AuthorizedSession(self.credentials())
        url = self.settings.logging_endpoint.rstrip("/") + "/v2/entries:list"
        seen = 0
        while True:
            lines: list[str] = []
            token = None
            while True:
                body: dict[str, Any] = {
                    "resourceNames": [f"projects/{self.gcp_project}"],
                    "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"',
                    "orderBy": "timestamp asc", "pageSize": 1000,
                }
                if token:
                    body["pageToken"] = token

                def post(b: dict[str, Any] = body) -> dict[str, Any]:
                    response = session.post(url, json=b, timeout=60)
                    if response.status_code >= 400:
                        from google.api_core import exceptions as gx

                        raise gx.from_http_response(response)
                    return dict(response.json())

                page = call(post, what=f"read logs of {name}")
                for entry in page.get("entries", []):
                    text = entry.get("textPayload")
                    if text is None:
                        text = json.dumps(entry.get("jsonPayload", {}))
                    lines.append(text)
                token = page.get("nextPageToken")
                if not token:
                    break
            yield from lines[seen:]
            seen = max(seen, len(lines))
            if not follow:
                return
            if self._get_training_job(name).done:
                follow = False  # one more pass drains what was written last
                continue
            time.sleep(self.settings.log_poll)

    def wait_for_job(self, name: str, *, timeout: float | None = None) -> TrainingJob:
        """Block until job ``name`` ends, streaming its log lines to this module's logger."""
        for line in self.training_logs(name, follow=True):
            logger.info("[%s] %s", name, line)
        return self._get_training_job(name).wait(timeout=timeout, progress=False)

    def _stop_training_job(self, name: str) -> None:
        job = self._describe_job(name)
        if _STATE.get(int(job.get("state") or 0)) not in (Status.PENDING, Status.RUNNING):
            return
        call(lambda: self.client("job").cancel_custom_job(name=job["name"], **no_retry()),
             what=f"cancel training job {name}")

    def _delete_training_job(self, name: str) -> None:
        # Keep the CustomJob record (it holds the run's history); stop it if running.
        try:
            self._stop_training_job(name)
        except NotFound:
            return

    # -- automl ----------------------------------------------------------------------------
    def _automl(self, spec: AutoMLSpec, *, name: str, tags: dict[str, str]) -> AutoMLJob:
        """Create a tabular dataset and an AutoML TrainingPipeline (non-blocking); a retried create finds them."""
        self._check()
        naming.check_labels(spec.tags)
        if spec.data.resolved_format() != "csv":
            raise ConfigError("Vertex AI AutoML tabular reads CSV here", field="data", provider=PROVIDER)
        hours = spec.time_budget.total_seconds() / 3600
        budget = math.ceil(hours * 1000)
        if not 1000 <= budget <= 72000:
            raise ConfigError(
                f"a budget of {hours:g} node hours is outside what AutoML tabular accepts", field="time_budget",
                provider=PROVIDER, hint="between 1h and 72h (trainBudgetMilliNodeHours 1000-72000)",
            )
        objective = None
        if spec.objective:
            objective = _OBJECTIVES[spec.task].get(spec.objective.lower().replace("-", "_"))
            if objective is None:
                raise ConfigError(f"{spec.objective!r} is not an AutoML tabular {spec.task} objective",
                                  field="objective", provider=PROVIDER,
                                  hint="one of " + ", ".join(sorted(_OBJECTIVES[spec.task])))
        resolved = self._resolve_inputs({"": spec.data}, field="data")
        columns = self._csv_columns(resolved[""], spec.target)
        existing = call(lambda: self._find("pipeline", "list_training_pipelines", "trainingPipelines", name),
                        what=f"look up AutoML job {name}")
        if existing is not None:
            return self._automl_handle(existing)
        data_uri = self._upload_inputs(resolved, files=True)[""]
        dataset = self._ensure_dataset(name, data_uri, tags)
        v1 = self._types()
        inputs: dict[str, Any] = {
            "targetColumn": spec.target,
            "predictionType": spec.task,
            "trainBudgetMilliNodeHours": budget,
            "transformations": [{"auto": {"columnName": c}} for c in columns if c != spec.target],
        }
        if objective:
            inputs["optimizationObjective"] = objective
        inputs.update(spec.options_for(self.name).get("training_task_inputs", {}))
        labels = naming.to_labels(tags)
        model_labels = naming.to_labels(self.standard_tags("model", name, run_id=tags.get("unifiedml-run-id")))
        pipeline = v1.TrainingPipeline(
            display_name=name,
            training_task_definition=AUTOML_TABULAR_DEFINITION,
            training_task_inputs=inputs,
            input_data_config=v1.InputDataConfig(dataset_id=dataset.rsplit("/", 1)[-1]),
            model_to_upload=v1.Model(display_name=name, labels=model_labels),
            model_id=name,
            labels=labels,
        )
        created, _ = self._create_once(
            lambda: self._find("pipeline", "list_training_pipelines", "trainingPipelines", name),
            lambda: _js(self.client("pipeline").create_training_pipeline(parent=self.parent,
                                                                         training_pipeline=pipeline, **no_retry())),
            what=f"create AutoML job {name}",
        )
        self.state.add_event(provider=self.name, kind="automl_job", name=name, event="job_start",
                             attrs={"instance_type": None, "instance_count": None, "milli_node_hours": budget})
        return self._automl_handle(created)

    def _csv_columns(self, resolved: tuple[str, Path | None], target: str) -> list[str]:
        uri, path = resolved
        if path is not None:
            if path.is_dir():
                raise ConfigError("give one CSV file for AutoML", field="data", provider=PROVIDER)
            with path.open(newline="") as fh:
                header = next(csv.reader(fh), [])
        else:
            bucket, key = packaging.split_gcs(uri, field="data")
            head = call(lambda: self.client("storage").bucket(bucket).blob(key).download_as_bytes(start=0, end=65535),
                        what=f"read the header of {uri}")
            header = next(csv.reader(io.StringIO(head.decode(errors="replace"))), [])
        if target not in header:
            raise ConfigError(f"the data has no column {target!r}", field="target", provider=PROVIDER,
                              hint="columns: " + ", ".join(header))
        return header

    def _ensure_dataset(self, name: str, data_uri: str, tags: dict[str, str]) -> str:
        v1 = self._types()
        dataset = v1.Dataset(display_name=name, labels=naming.to_labels(tags),
                             metadata_schema_uri=TABULAR_DATASET_SCHEMA,
                             metadata={"inputConfig": {"gcsSource": {"uri": [data_uri]}}})

        def create() -> dict[str, Any]:
            op = self.client("dataset").create_dataset(parent=self.parent, dataset=dataset, **no_retry())
            return {"operation": op.operation.name}

        found, _ = self._create_once(
            lambda: self._find("dataset", "list_datasets", "datasets", name), create,
            what=f"create dataset {name}",
        )
        if "operation" in found:
            op = self._wait_operation("dataset", found["operation"], what=f"create dataset {name}")
            return str(v1.Dataset.deserialize(op.response.value).name)
        return str(found["name"])

    def _get_automl_job(self, name: str) -> AutoMLJob:
        found = call(lambda: self._find("pipeline", "list_training_pipelines", "trainingPipelines", name),
                     what=f"look up AutoML job {name}")
        if found is None:
            raise NotFound(f"no Vertex AI AutoML job named {name!r}", provider=PROVIDER)
        return self._automl_handle(found)

    def _automl_handle(self, pipeline: dict[str, Any]) -> AutoMLJob:
        name = pipeline["displayName"]
        state = int(pipeline.get("state") or 0)
        status = _STATE.get(state, Status.UNKNOWN)
        model = None
        uploaded = pipeline.get("modelToUpload") or {}
        if status is Status.SUCCEEDED and uploaded.get("name"):
            model = self._model_handle(uploaded)
            model.source_job = name
        if status in (Status.SUCCEEDED, Status.FAILED, Status.STOPPED):
            self._record_job_end(name, pipeline, None, None, kind="automl_job")
        inputs = pipeline.get("trainingTaskInputs") or {}
        return AutoMLJob(
            provider=self.name, name=name, id=pipeline["name"], status=status,
            created_at=_ts(pipeline.get("createTime")), started_at=_ts(pipeline.get("startTime")),
            ended_at=_ts(pipeline.get("endTime")), model=model,
            failure_reason=(pipeline.get("error") or {}).get("message"),
            tags=naming.from_labels(pipeline.get("labels") or {}),
            extra={"training_pipeline": pipeline["name"], "vertex_state": _STATE_NAMES.get(state, str(state)),
                   "dataset_id": (pipeline.get("inputDataConfig") or {}).get("datasetId"),
                   "milli_node_hours": inputs.get("trainBudgetMilliNodeHours"),
                   "objective": inputs.get("optimizationObjective")},
            _client=self,
        )

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

    # -- monitoring and cost (Vertex-only entry points) ------------------------------------------
    def capture_records(self, endpoint: str, *, runner: QueryRunner, table: str | None = None,
                        since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Rows of the endpoint's request-response logging table (see :mod:`.logging_reader`). Blocking."""
        from unifiedml.providers.vertex.logging_reader import logging_table, read_logged_requests

        ep = self._get_endpoint(endpoint)
        config = ep.extra.get("logging") or {}
        if not config.get("enabled"):
            raise ConfigError(f"endpoint {endpoint!r} does not log requests", field="capture", provider=PROVIDER)
        destination = (config.get("bigqueryDestination") or {}).get("outputUri", f"bq://{self.gcp_project}")
        return read_logged_requests(runner, table or logging_table(destination, endpoint_display_name=endpoint,
                                                                   endpoint_id=endpoint),
                                    endpoint=ep.id, since=since)

    def billed_costs(self, *, runner: QueryRunner, table: str, since: date | datetime,
                     until: date | datetime) -> list[CostRecord]:
        """Billed Vertex AI cost of this project per labelled resource and day (BigQuery billing export)."""
        from unifiedml.providers.vertex.billing import billed_costs

        return billed_costs(runner, table=table, since=since, until=until, project=self.project)

    def create_native_monitor(self, endpoint: str, *, interval_hours: int = 1, sample_rate: float = 1.0,
                              drift_threshold: float = 0.3, features: list[str] | None = None) -> str:
        """Vertex AI model monitoring (prediction drift) on ``endpoint``. Idempotent; returns the job's name."""
        from unifiedml.providers.vertex.monitor import create_monitoring_job

        self.require(Capability.NATIVE_MONITOR)
        ep = self._get_endpoint(endpoint)
        return create_monitoring_job(self, ep, interval_hours=interval_hours, sample_rate=sample_rate,
                                     drift_threshold=drift_threshold, features=features or [])

    def delete_native_monitor(self, endpoint: str) -> None:
        """Delete the monitoring job of ``endpoint``. Idempotent."""
        from unifiedml.providers.vertex.monitor import delete_monitoring_job

        delete_monitoring_job(self, endpoint)

