"""What users get back: handles on provider resources.

Every handle has ``status``, ``refresh()``, ``wait(timeout=, progress=)``,
``delete()`` and ``extra`` (the provider's native ids and fields, the one
escape hatch for reading provider-only data). Handles are typed snapshots:
``refresh()`` re-reads the provider and updates the handle in place.
``to_dict()`` gives the JSON the CLI prints with ``--output json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

from unifiedml._ops import wait_until
from unifiedml.errors import OperationFailed, UnifiedMLError

if TYPE_CHECKING:
    from unifiedml.providers.base import Provider

__all__ = [
    "AutoMLJob",
    "Candidate",
    "Endpoint",
    "Handle",
    "Model",
    "Prediction",
    "Status",
    "TrainingJob",
]


class Status(StrEnum):
    """Neutral lifecycle states; providers map theirs onto these (their own value stays in ``extra``)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    CREATING = "creating"
    UPDATING = "updating"
    IN_SERVICE = "in_service"
    DELETING = "deleting"
    DELETED = "deleted"
    READY = "ready"
    UNKNOWN = "unknown"


JOB_TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.STOPPED})
ENDPOINT_SETTLED = frozenset({Status.IN_SERVICE, Status.FAILED, Status.DELETED})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Handle):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(eq=False, kw_only=True)
class Handle:
    """Common fields of every handle. ``name`` is unifiedml's name, ``id`` the provider's native id."""

    provider: str
    name: str
    id: str
    status: Status = Status.UNKNOWN
    created_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    _client: Provider | None = field(default=None, repr=False)

    kind: str = field(default="resource", init=False, repr=False)

    def _provider(self) -> Provider:
        if self._client is None:
            raise UnifiedMLError(
                f"this {self.kind} handle is detached from its provider",
                provider=self.provider,
                hint="get a fresh handle from Client(...)",
            )
        return self._client

    def _fetch(self) -> Self:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def refresh(self) -> Self:
        """Re-read the resource from its provider and update this handle in place. Returns self."""
        fresh = self._fetch()
        for f in fields(self):
            if f.name not in ("_client", "kind"):
                setattr(self, f.name, getattr(fresh, f.name))
        return self

    def delete(self) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the public fields."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            if f.name.startswith("_") or f.name == "kind":
                continue
            out[f.name] = _jsonable(getattr(self, f.name))
        return out


@dataclass(eq=False, kw_only=True)
class Model(Handle):
    """A deployable model artifact. ``artifact_uri`` is where its files live (``file://``, ``s3://`` ...)."""

    artifact_uri: str = ""
    framework: str = "tensorflow"
    framework_version: str | None = None
    signature: dict[str, Any] | None = None
    source_job: str | None = None
    status: Status = Status.READY
    kind: str = field(default="model", init=False, repr=False)

    def _fetch(self) -> Model:
        return self._provider().get_model(self.name)

    def wait(self, timeout: float | None = None, progress: bool | None = None) -> Model:
        """Models are ready when their handle exists on every current provider; returns self at once."""
        return self

    def delete(self) -> None:
        """Delete the model from its provider. Idempotent."""
        self._provider().delete_model(self.name)


@dataclass(eq=False, kw_only=True)
class TrainingJob(Handle):
    """A custom training job. ``model`` is set once it succeeded and produced a deployable model."""

    started_at: datetime | None = None
    ended_at: datetime | None = None
    model: Model | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    failure_reason: str | None = None
    resources_used: dict[str, Any] = field(default_factory=dict)
    kind: str = field(default="training_job", init=False, repr=False)

    @property
    def done(self) -> bool:
        return self.status in JOB_TERMINAL

    @property
    def duration_s(self) -> float | None:
        """Run time in seconds (so far, while running)."""
        if self.started_at is None:
            return None
        end = self.ended_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()

    def _fetch(self) -> TrainingJob:
        return self._provider().get_training_job(self.name)

    def logs(self, *, follow: bool = False) -> Iterator[str]:
        """The job's log lines; with ``follow=True`` keeps yielding until the job ends."""
        return self._provider().training_logs(self.name, follow=follow)

    def wait(
        self, timeout: float | None = None, progress: bool | None = None, *, raise_on_failure: bool = True
    ) -> TrainingJob:
        """Block until the job ends; return self.

        Raises :class:`OperationFailed` (with the log tail) when it failed and
        ``raise_on_failure``; :class:`OperationTimeout` when ``timeout`` seconds
        pass first (the job keeps running).
        """
        wait_until(
            self.refresh,
            lambda job: job.done,
            timeout=timeout,
            progress=progress,
            what=f"training job {self.name}",
            describe=lambda job: job.status.value,
            backoff=self._provider().poll_backoff,
        )
        if raise_on_failure and self.status is not Status.SUCCEEDED:
            raise OperationFailed(
                f"training job {self.name} ended {self.status.value}"
                + (f": {self.failure_reason}" if self.failure_reason else ""),
                provider=self.provider,
                logs_tail=self._provider().training_logs_tail(self.name),
                hint=f"see the whole log with `unifiedml jobs logs {self.name} --provider {self.provider}`",
            )
        return self

    def stop(self) -> None:
        """Ask the provider to stop the job. Idempotent; does not wait."""
        self._provider().stop_training_job(self.name)

    def delete(self) -> None:
        """Stop the job if running and forget its records; artifacts of a produced model stay. Idempotent."""
        self._provider().delete_training_job(self.name)


@dataclass(frozen=True)
class Candidate:
    """One AutoML candidate on the leaderboard."""

    name: str
    objective_metric: str
    objective_value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False, kw_only=True)
class AutoMLJob(TrainingJob):
    """An AutoML search; ``leaderboard`` is sorted best first and ``model`` is the best candidate's."""

    leaderboard: list[Candidate] = field(default_factory=list)
    kind: str = field(default="automl_job", init=False, repr=False)

    def _fetch(self) -> AutoMLJob:
        return self._provider().get_automl_job(self.name)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["leaderboard"] = [
            {
                "name": c.name,
                "objective_metric": c.objective_metric,
                "objective_value": c.objective_value,
                "metrics": c.metrics,
            }
            for c in self.leaderboard
        ]
        return out


@dataclass(eq=False, kw_only=True)
class Endpoint(Handle):
    """A serving endpoint. ``url`` is where predictions go; ``model`` names the served model."""

    url: str | None = None
    model: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    kind: str = field(default="endpoint", init=False, repr=False)

    def _fetch(self) -> Endpoint:
        return self._provider().get_endpoint(self.name)

    def wait(self, timeout: float | None = None, progress: bool | None = None) -> Endpoint:
        """Block until the endpoint is in service, then settle it (autoscaling, where asked); return self.

        Raises OperationFailed if it failed.
        """
        wait_until(
            self.refresh,
            lambda ep: ep.status in ENDPOINT_SETTLED,
            timeout=timeout,
            progress=progress,
            what=f"endpoint {self.name}",
            describe=lambda ep: ep.status.value,
            backoff=self._provider().poll_backoff,
        )
        if self.status is not Status.IN_SERVICE:
            raise OperationFailed(
                f"endpoint {self.name} is {self.status.value}"
                + (f": {self.extra['failure_reason']}" if self.extra.get("failure_reason") else ""),
                provider=self.provider,
                logs_tail=self.extra.get("logs_tail"),
            )
        self._provider().settle_endpoint(self)  # e.g. autoscaling, which needs a serving variant
        return self

    def predict(self, instances: list[Any] | dict[str, list[Any]]) -> Prediction:
        """Send instances (rows) or a columnar dict and return predictions. Blocking."""
        return self._provider().predict(self.name, instances)

    def delete(self) -> None:
        """Stop serving and remove what the deployment created (not the model). Idempotent."""
        self._provider().delete_endpoint(self.name)


@dataclass(frozen=True)
class Prediction:
    """Predictions for the instances sent, in order, plus the serving model's name and the round-trip time."""

    predictions: list[Any]
    model: str | None = None
    latency_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "model": self.model,
            "latency_ms": self.latency_ms,
            "extra": self.extra,
        }
