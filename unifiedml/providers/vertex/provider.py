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

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from unifiedml._lazy import require
from unifiedml._ops import Backoff
from unifiedml.errors import ConfigError, OperationFailed, ProviderError
from unifiedml.providers.base import TAG_PROJECT, Capability, Provider, ProviderSettings
from unifiedml.providers.vertex import images, naming
from unifiedml.providers.vertex.automl import AutoMLMixin
from unifiedml.providers.vertex.common import _js
from unifiedml.providers.vertex.endpoints import EndpointsMixin
from unifiedml.providers.vertex.errors import PROVIDER, call, no_retry, translate
from unifiedml.providers.vertex.training import TrainingMixin

if TYPE_CHECKING:
    from unifiedml.cost.readers.base import QueryRunner
    from unifiedml.cost.records import CostRecord

logger = logging.getLogger(__name__)

__all__ = ["VertexProvider", "VertexSettings"]

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


class VertexProvider(TrainingMixin, AutoMLMixin, EndpointsMixin, Provider):
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
            Capability.AUTOSCALING,
            Capability.TRAFFIC_SPLIT,
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

