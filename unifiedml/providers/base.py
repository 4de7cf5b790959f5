"""The provider contract.

A provider translates neutral specs into one backend's calls and returns
handles. This base class holds everything that must be the same on every
backend, so each provider writes only the translation:

* **Capabilities are declared, not discovered by crashing.** A subclass lists
  ``capabilities`` and, for every capability it lacks, the reason in
  ``UNSUPPORTED``. Class creation fails if a capability is in neither. Calling a
  missing one raises :class:`CapabilityNotSupported` before any network call.
* **Public methods are templates** (``train`` -> ``_train`` ...): the base
  validates the spec, checks the capability, derives the name and the standard
  tags, writes an intent to the journal *before* the create, records the
  resource after it, and closes the intent. A crash in between leaves a
  pending intent that the next ``apply`` reconciles.
* **Tags** ``unifiedml-project``, ``unifiedml-resource`` and ``unifiedml-run-id``
  go on every resource so costs can be attributed and orphans found.
* **Settings** are a pydantic model per provider (``Settings``), so a typo in a
  provider option is a ConfigError naming the field, not a silent default.
"""

from __future__ import annotations

import logging
import re
import secrets
from abc import ABC
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from unifiedml._ops import Backoff
from unifiedml.errors import CapabilityNotSupported, ConfigError, NotFound
from unifiedml.resources import AutoMLJob, Endpoint, Model, Prediction, TrainingJob
from unifiedml.specs import AutoMLSpec, DeploymentSpec, TrainingSpec, config_error_from, validate_spec
from unifiedml.state import ResourceRecord, StateStore, config_hash

logger = logging.getLogger(__name__)

__all__ = ["TAG_PROJECT", "TAG_RESOURCE", "TAG_RUN_ID", "Capability", "Provider", "ProviderSettings"]

TAG_PROJECT = "unifiedml-project"
TAG_RESOURCE = "unifiedml-resource"
TAG_RUN_ID = "unifiedml-run-id"


class Capability(StrEnum):
    """What a provider can do. ``unifiedml providers`` prints the matrix."""

    TRAIN = "train"
    AUTOML = "automl"
    DEPLOY = "deploy"
    PREDICT = "predict"
    UPDATE_ENDPOINT = "update_endpoint"
    STOP_TRAINING = "stop_training"
    TRAINING_LOGS = "training_logs"
    GPU = "gpu"
    SPOT = "spot"
    CAPTURE = "capture"
    NATIVE_MONITOR = "native_monitor"
    BILLED_COST = "billed_cost"
    #: Replicas between ``min_replicas`` and ``max_replicas``, added and removed with the load.
    AUTOSCALING = "autoscaling"
    #: One endpoint serving several models, ``DeploymentSpec.traffic`` sharing requests between them.
    TRAFFIC_SPLIT = "traffic_split"


class ProviderSettings(BaseModel):
    """Base of each provider's settings: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def serving_needs(spec: DeploymentSpec) -> list[Capability]:
    """The optional serving capabilities a deployment asks for: a varying replica count (``max_replicas``
    above ``min_replicas``) and a traffic split between more than one model."""
    needs = []
    if spec.max_replicas is not None and spec.max_replicas > max(spec.min_replicas, 1):
        needs.append(Capability.AUTOSCALING)
    if spec.traffic is not None and sum(1 for share in spec.traffic.values() if share > 0) > 1:
        needs.append(Capability.TRAFFIC_SPLIT)
    return needs


class Provider(ABC):
    """Base class of every backend. See the module docstring for the contract."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    UNSUPPORTED: ClassVar[Mapping[Capability, str]] = {}
    Settings: ClassVar[type[ProviderSettings]] = ProviderSettings
    #: How handles poll this provider while waiting.
    poll_backoff: Backoff = Backoff(initial=1.0, cap=30.0)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "__abstract_provider__", False) or "name" not in cls.__dict__:
            return
        missing = set(Capability) - set(cls.capabilities) - set(cls.UNSUPPORTED)
        if missing:
            raise TypeError(
                f"provider {cls.__name__} must declare each capability as supported or give the reason "
                f"it is not; undeclared: {sorted(m.value for m in missing)}"
            )
        both = set(cls.capabilities) & set(cls.UNSUPPORTED)
        if both:
            raise TypeError(f"provider {cls.__name__} declares {sorted(both)} both supported and unsupported")

    def __init__(
        self,
        *,
        project: str = "default",
        state: StateStore | None = None,
        settings: ProviderSettings | Mapping[str, Any] | None = None,
    ) -> None:
        if not re.match(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$|^[a-z]$", project):
            raise ConfigError(
                f"{project!r} is not a valid project name",
                field="project",
                hint="use lowercase letters, digits and hyphens (it becomes a tag on every resource)",
            )
        self.project = project
        self.state = state if state is not None else StateStore()
        if isinstance(settings, ProviderSettings):
            self.settings = settings
        else:
            try:
                self.settings = self.Settings.model_validate(dict(settings or {}))
            except ValidationError as exc:
                raise config_error_from(exc, where=f"providers.{self.name}", model=self.Settings) from exc

    # -- capability checks -------------------------------------------------
    @classmethod
    def supports(cls, capability: Capability) -> bool:
        """True when the provider offers ``capability``."""
        return capability in cls.capabilities

    def require(self, capability: Capability) -> None:
        """Raise :class:`CapabilityNotSupported` (with the declared reason) unless supported."""
        if capability not in self.capabilities:
            reason = self.UNSUPPORTED.get(capability, "not declared by this provider")
            raise CapabilityNotSupported(self.name, capability.value, reason)

    # -- naming and tags ---------------------------------------------------
    def standard_tags(self, kind: str, name: str, run_id: str | None = None) -> dict[str, str]:
        """The tags every created resource carries."""
        return {
            TAG_PROJECT: self.project,
            TAG_RESOURCE: f"{kind}/{name}",
            TAG_RUN_ID: run_id or new_run_id(),
        }

    def new_name(self, prefix: str) -> str:
        """A fresh, valid, unique name for an unnamed resource: ``prefix-YYYYmmdd-HHMMSS-xxxx``."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        slug = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:30] or "uml"
        if not slug[0].isalpha():
            slug = "uml-" + slug
        return f"{slug}-{stamp}-{secrets.token_hex(2)}"

    # -- journal helpers ---------------------------------------------------
    def _record(
        self,
        *,
        kind: str,
        name: str,
        native_id: str | None,
        tags: dict[str, str],
        spec: BaseModel | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        spec_json = spec.model_dump(mode="json", exclude={"auth_token"}) if spec is not None else None
        self.state.record_resource(
            ResourceRecord(
                provider=self.name,
                kind=kind,
                name=name,
                native_id=native_id,
                project=self.project,
                tags=tags,
                config_hash=config_hash(spec_json) if spec_json is not None else None,
                spec=spec_json,
                extra=extra or {},
            )
        )

    def _journaled(self, *, kind: str, name: str, action: str, spec: BaseModel | None = None) -> _Intent:
        spec_json = spec.model_dump(mode="json", exclude={"auth_token"}) if spec is not None else None
        return _Intent(self, kind, name, action, config_hash(spec_json) if spec_json is not None else None)

    # -- training ----------------------------------------------------------
    def train(self, spec: TrainingSpec | Mapping[str, Any]) -> TrainingJob:
        """Start a training job; returns its handle at once (``job.wait()`` blocks).

        Not idempotent across calls: two calls start two jobs. Within a call,
        retries reuse one derived name, so a retried create never makes a second job.
        """
        spec = validate_spec(TrainingSpec, spec)
        self.require(Capability.TRAIN)
        if spec.spot:
            self.require(Capability.SPOT)
        if spec.resources.wants_gpu:
            self.require(Capability.GPU)
        name = spec.name or self.new_name(_entry_slug(spec))
        tags = {**spec.tags, **self.standard_tags("training_job", name)}
        with self._journaled(kind="training_job", name=name, action="create", spec=spec):
            job = self._train(spec, name=name, tags=tags)
            self._record(kind="training_job", name=name, native_id=job.id, tags=tags, spec=spec)
        return job

    def get_training_job(self, name: str) -> TrainingJob:
        """Describe a training job by name; raises NotFound."""
        self.require(Capability.TRAIN)
        return self._get_training_job(name)

    def list_training_jobs(self) -> list[TrainingJob]:
        """Training jobs of this project on this provider, newest first."""
        self.require(Capability.TRAIN)
        return self._list_training_jobs()

    def training_logs(self, name: str, *, follow: bool = False) -> Iterator[str]:
        """Log lines of a job; ``follow`` keeps reading until it ends."""
        self.require(Capability.TRAINING_LOGS)
        return self._training_logs(name, follow=follow)

    def training_logs_tail(self, name: str, lines: int = 20) -> str | None:
        """The last ``lines`` log lines, or None when the provider keeps no logs."""
        if not self.supports(Capability.TRAINING_LOGS):
            return None
        try:
            tail: list[str] = []
            for line in self._training_logs(name, follow=False):
                tail.append(line)
                if len(tail) > lines:
                    tail.pop(0)
            return "\n".join(tail)
        except NotFound:
            return None

    def stop_training_job(self, name: str) -> None:
        """Ask a running job to stop; no-op when it already ended. Does not wait."""
        self.require(Capability.STOP_TRAINING)
        self._stop_training_job(name)

    def delete_training_job(self, name: str) -> None:
        """Stop a job if needed and mark it deleted in the state store. Idempotent."""
        self.require(Capability.TRAIN)
        with self._journaled(kind="training_job", name=name, action="delete"):
            self._delete_training_job(name)
            self.state.mark_deleted(self.name, "training_job", name)

    # -- automl ------------------------------------------------------------
    def automl(self, spec: AutoMLSpec | Mapping[str, Any]) -> AutoMLJob:
        """Start an AutoML search; returns its handle at once."""
        spec = validate_spec(AutoMLSpec, spec)
        self.require(Capability.AUTOML)
        name = spec.name or self.new_name(f"automl-{spec.target}")
        tags = {**spec.tags, **self.standard_tags("automl_job", name)}
        with self._journaled(kind="automl_job", name=name, action="create", spec=spec):
            job = self._automl(spec, name=name, tags=tags)
            self._record(kind="automl_job", name=name, native_id=job.id, tags=tags, spec=spec)
        return job

    def get_automl_job(self, name: str) -> AutoMLJob:
        """Describe an AutoML job by name; raises NotFound."""
        self.require(Capability.AUTOML)
        return self._get_automl_job(name)

    # -- models ------------------------------------------------------------
    def get_model(self, name: str) -> Model:
        """Describe a model by name; raises NotFound."""
        self.require(Capability.DEPLOY)
        return self._get_model(name)

    def import_model(self, artifact: str, *, name: str) -> Model:
        """Register an existing model artifact (a SavedModel folder or the provider's URI) under ``name``.

        Idempotent for the same artifact; raises AlreadyExists when ``name`` points elsewhere.
        """
        self.require(Capability.DEPLOY)
        from unifiedml.specs import validate_name

        validate_name(name)
        with self._journaled(kind="model", name=name, action="create"):
            model = self._import_model(artifact, name=name, tags=self.standard_tags("model", name))
            self._record(kind="model", name=name, native_id=model.id, tags=model.tags, spec=None,
                         extra={"artifact": artifact})
        return model

    def delete_model(self, name: str) -> None:
        """Delete a model. Idempotent."""
        self.require(Capability.DEPLOY)
        self._delete_model(name)
        self.state.mark_deleted(self.name, "model", name)

    # -- endpoints ---------------------------------------------------------
    def deploy(self, model: Model | str, spec: DeploymentSpec | Mapping[str, Any] | None = None) -> Endpoint:
        """Create an endpoint serving ``model``; returns its handle (``endpoint.wait()`` blocks until in service).

        Idempotent by name: deploying to a name that already serves the same
        model with the same spec returns the existing endpoint.
        """
        spec = validate_spec(DeploymentSpec, spec or {})
        self.require(Capability.DEPLOY)
        if spec.resources.wants_gpu:
            self.require(Capability.GPU)
        if spec.capture.enabled:
            self.require(Capability.CAPTURE)
        for capability in serving_needs(spec):
            self.require(capability)
        model_handle = self.get_model(model) if isinstance(model, str) else model
        name = spec.name or _endpoint_name(model_handle.name)
        tags = {**spec.tags, **self.standard_tags("endpoint", name)}
        with self._journaled(kind="endpoint", name=name, action="create", spec=spec):
            endpoint = self._deploy(model_handle, spec, name=name, tags=tags)
            self._record(
                kind="endpoint",
                name=name,
                native_id=endpoint.id,
                tags=endpoint.tags or tags,  # an existing endpoint (idempotent create) keeps its own tags
                spec=spec,
                extra={"model": model_handle.name},
            )
        return endpoint

    def update_endpoint(
        self, name: str, model: Model | str, spec: DeploymentSpec | Mapping[str, Any] | None = None
    ) -> Endpoint:
        """Switch an endpoint to another model without downtime (blue/green). Returns the updated handle."""
        spec = validate_spec(DeploymentSpec, spec or {"name": name})
        self.require(Capability.UPDATE_ENDPOINT)
        for capability in serving_needs(spec):
            self.require(capability)
        model_handle = self.get_model(model) if isinstance(model, str) else model
        with self._journaled(kind="endpoint", name=name, action="update", spec=spec):
            endpoint = self._update_endpoint(name, model_handle, spec)
            try:
                tags = self.state.get_resource(self.name, "endpoint", name).tags
            except NotFound:  # made by an interrupted run, or outside unifiedml: adopt it
                tags = endpoint.tags
            self._record(
                kind="endpoint",
                name=name,
                native_id=endpoint.id,
                tags=tags,
                spec=spec,
                extra={"model": model_handle.name},
            )
        return endpoint

    def settle_endpoint(self, endpoint: Endpoint) -> None:
        """Finish what can only be done once an endpoint serves (SageMaker: register its autoscaling).

        Called by :meth:`Endpoint.wait` with the handle it has just refreshed
        (so nothing is described again); idempotent and cheap when there is
        nothing to do. Blocking.
        """
        self.require(Capability.DEPLOY)
        self._settle_endpoint(endpoint)

    def _settle_endpoint(self, endpoint: Endpoint) -> None:  # noqa: B027 - a hook most providers leave empty
        """Provider hook for :meth:`settle_endpoint` (default: nothing to do)."""

    def get_endpoint(self, name: str) -> Endpoint:
        """Describe an endpoint by name; raises NotFound."""
        self.require(Capability.DEPLOY)
        return self._get_endpoint(name)

    def list_endpoints(self) -> list[Endpoint]:
        """Endpoints of this provider (live ones, as the provider reports them)."""
        self.require(Capability.DEPLOY)
        return self._list_endpoints()

    def delete_endpoint(self, name: str) -> None:
        """Stop serving and remove what the deployment created. Idempotent: a missing endpoint is fine."""
        self.require(Capability.DEPLOY)
        with self._journaled(kind="endpoint", name=name, action="delete"):
            self._delete_endpoint(name)
            self.state.mark_deleted(self.name, "endpoint", name)

    def predict(self, endpoint: Endpoint | str, instances: list[Any] | dict[str, list[Any]]) -> Prediction:
        """Send instances (a list of rows) or columnar inputs (a dict of lists). Blocking."""
        self.require(Capability.PREDICT)
        name = endpoint.name if isinstance(endpoint, Endpoint) else endpoint
        if isinstance(instances, dict):
            if not instances or not all(isinstance(v, list) for v in instances.values()):
                raise ConfigError("columnar inputs must map each feature to a list", field="instances")
        elif not isinstance(instances, list) or not instances:
            raise ConfigError("give a non-empty list of instances", field="instances")
        return self._predict(name, instances)

    # -- hooks each provider implements (those it supports) ------------------
    def _unsupported(self, capability: Capability) -> CapabilityNotSupported:
        return CapabilityNotSupported(
            self.name, capability.value, self.UNSUPPORTED.get(capability, "not implemented")
        )

    def _train(self, spec: TrainingSpec, *, name: str, tags: dict[str, str]) -> TrainingJob:
        raise self._unsupported(Capability.TRAIN)

    def _get_training_job(self, name: str) -> TrainingJob:
        raise self._unsupported(Capability.TRAIN)

    def _list_training_jobs(self) -> list[TrainingJob]:
        raise self._unsupported(Capability.TRAIN)

    def _training_logs(self, name: str, *, follow: bool) -> Iterator[str]:
        raise self._unsupported(Capability.TRAINING_LOGS)

    def _stop_training_job(self, name: str) -> None:
        raise self._unsupported(Capability.STOP_TRAINING)

    def _delete_training_job(self, name: str) -> None:
        raise self._unsupported(Capability.TRAIN)

    def _automl(self, spec: AutoMLSpec, *, name: str, tags: dict[str, str]) -> AutoMLJob:
        raise self._unsupported(Capability.AUTOML)

    def _get_automl_job(self, name: str) -> AutoMLJob:
        raise self._unsupported(Capability.AUTOML)

    def _get_model(self, name: str) -> Model:
        raise self._unsupported(Capability.DEPLOY)

    def _delete_model(self, name: str) -> None:
        raise self._unsupported(Capability.DEPLOY)

    def _import_model(self, artifact: str, *, name: str, tags: dict[str, str]) -> Model:
        raise self._unsupported(Capability.DEPLOY)

    def _deploy(self, model: Model, spec: DeploymentSpec, *, name: str, tags: dict[str, str]) -> Endpoint:
        raise self._unsupported(Capability.DEPLOY)

    def _update_endpoint(self, name: str, model: Model, spec: DeploymentSpec) -> Endpoint:
        raise self._unsupported(Capability.UPDATE_ENDPOINT)

    def _get_endpoint(self, name: str) -> Endpoint:
        raise self._unsupported(Capability.DEPLOY)

    def _list_endpoints(self) -> list[Endpoint]:
        raise self._unsupported(Capability.DEPLOY)

    def _delete_endpoint(self, name: str) -> None:
        raise self._unsupported(Capability.DEPLOY)

    def _predict(self, name: str, instances: list[Any] | dict[str, list[Any]]) -> Prediction:
        raise self._unsupported(Capability.PREDICT)

    # -- introspection -----------------------------------------------------
    @classmethod
    def describe_capabilities(cls) -> dict[str, dict[str, Any]]:
        """``{capability: {"supported": bool, "reason": str | None}}`` for every capability."""
        return {
            cap.value: {"supported": cap in cls.capabilities, "reason": cls.UNSUPPORTED.get(cap)}
            for cap in Capability
        }


class _Intent:
    """Context manager: journal intent before the action, closed done/failed after."""

    def __init__(self, provider: Provider, kind: str, name: str, action: str, chash: str | None) -> None:
        self.provider, self.kind, self.name, self.action, self.chash = provider, kind, name, action, chash
        self.id: str | None = None

    def __enter__(self) -> _Intent:
        self.id = self.provider.state.begin_intent(
            provider=self.provider.name,
            kind=self.kind,
            name=self.name,
            action=self.action,
            config_hash=self.chash,
        )
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.id is None:
            return
        if exc is None:
            self.provider.state.finish_intent(self.id)
        elif isinstance(exc, Exception):
            self.provider.state.finish_intent(self.id, error=f"{type(exc).__name__}: {exc}")
        # KeyboardInterrupt/SystemExit leave the intent pending on purpose:
        # the action may be half done, and the next apply must reconcile it.


def new_run_id() -> str:
    """A short random id grouping the resources one run created."""
    return secrets.token_hex(6)


def _entry_slug(spec: TrainingSpec) -> str:
    if spec.module:
        return spec.module.rsplit(".", 1)[-1]
    base = (spec.entry_point or "job").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0]


def _endpoint_name(model_name: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", model_name.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "ep-" + name
    return name[:63].rstrip("-")
