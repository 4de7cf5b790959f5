"""``Client``: the single entry point of the SDK.

    from unifiedml import Client, TrainingSpec
    client = Client("local")
    job = client.train(TrainingSpec(entry_point="train.py", inputs={"train": "data.csv"}))
    job.wait()
    endpoint = client.deploy(job.model)
    endpoint.wait()
    print(client.predict(endpoint, [{"x": 1.0}]).predictions)

The client routes to one provider; provider settings are keyword arguments
validated by that provider's ``Settings`` model (a typo is a ConfigError that
names the field). Every method is a call the CLI makes too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unifiedml.providers.base import Capability, Provider
from unifiedml.providers.registry import load
from unifiedml.resources import AutoMLJob, Endpoint, Model, Prediction, TrainingJob
from unifiedml.specs import AutoMLSpec, DeploymentSpec, TrainingSpec
from unifiedml.state import StateStore, default_home

if TYPE_CHECKING:
    from unifiedml.monitoring.spec import EndpointMonitor, MonitorSpec

__all__ = ["Client"]


class Client:
    """Talk to one provider through the neutral API.

    ``project`` tags every resource (default ``$UNIFIEDML_PROJECT`` or
    ``default``); ``home`` is where state lives (default ``$UNIFIEDML_HOME`` or
    ``./.unifiedml``). Constructing a client makes no network call.
    """

    def __init__(
        self,
        provider: str = "local",
        *,
        project: str | None = None,
        home: str | os.PathLike[str] | None = None,
        state: StateStore | None = None,
        **settings: Any,
    ) -> None:
        if state is None:
            root = Path(home) if home is not None else default_home()
            state = StateStore(root / "state.db")
        self.state = state
        cls = load(provider)
        self.provider: Provider = cls(
            project=project or os.environ.get("UNIFIEDML_PROJECT", "default"),
            state=state,
            settings=settings,
        )

    def __repr__(self) -> str:
        return f"Client({self.provider.name!r}, project={self.provider.project!r})"

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.provider.name

    def supports(self, capability: Capability | str) -> bool:
        """True when the provider offers the capability."""
        return self.provider.supports(Capability(capability))

    # training
    def train(self, spec: TrainingSpec | Mapping[str, Any]) -> TrainingJob:
        """Start a training job; returns at once. See :meth:`Provider.train`."""
        return self.provider.train(spec)

    def automl(self, spec: AutoMLSpec | Mapping[str, Any]) -> AutoMLJob:
        """Start an AutoML search; returns at once."""
        return self.provider.automl(spec)

    def get_job(self, name: str) -> TrainingJob:
        """Describe a training job."""
        return self.provider.get_training_job(name)

    def jobs(self) -> list[TrainingJob]:
        """Training jobs, newest first."""
        return self.provider.list_training_jobs()

    def logs(self, name: str, *, follow: bool = False) -> Iterator[str]:
        """A training job's log lines."""
        return self.provider.training_logs(name, follow=follow)

    # models and endpoints
    def get_model(self, name: str) -> Model:
        """Describe a model."""
        return self.provider.get_model(name)

    def deploy(self, model: Model | str, spec: DeploymentSpec | Mapping[str, Any] | None = None) -> Endpoint:
        """Deploy a model to an endpoint; returns at once (``endpoint.wait()`` blocks)."""
        return self.provider.deploy(model, spec)

    def update_endpoint(
        self, name: str, model: Model | str, spec: DeploymentSpec | Mapping[str, Any] | None = None
    ) -> Endpoint:
        """Switch an endpoint to another model without downtime."""
        return self.provider.update_endpoint(name, model, spec)

    def get_endpoint(self, name: str) -> Endpoint:
        """Describe an endpoint."""
        return self.provider.get_endpoint(name)

    def endpoints(self) -> list[Endpoint]:
        """Live endpoints."""
        return self.provider.list_endpoints()

    def delete_endpoint(self, name: str) -> None:
        """Delete an endpoint. Idempotent."""
        self.provider.delete_endpoint(name)

    def predict(self, endpoint: Endpoint | str, instances: list[Any] | dict[str, list[Any]]) -> Prediction:
        """Send instances to an endpoint and return its predictions. Blocking."""
        return self.provider.predict(endpoint, instances)

    # monitoring and cost
    def monitor(self, endpoint: Endpoint | str, spec: MonitorSpec | Mapping[str, Any]) -> EndpointMonitor:
        """Watch an endpoint's captured traffic for drift against reference data.

        With ``spec.schedule`` (cron) the check is stored for ``unifiedml scheduler``
        and this returns at once (idempotent: the same name replaces the schedule);
        without, one check runs now (blocking) and ``monitor.last_report`` holds it.
        """
        from unifiedml.monitoring.spec import MonitorSpec, monitor
        from unifiedml.specs import validate_spec

        spec = validate_spec(MonitorSpec, spec)
        name = endpoint.name if isinstance(endpoint, Endpoint) else endpoint
        return monitor(name, spec, provider=self.provider.name, store=self.state)

    def costs(self, *, since: str = "30d") -> Any:
        """What this provider's recorded resources cost: estimates from lifecycle events (uptime x
        catalog price, or configured local rates). Returns the cost module's running-usage rows."""
        from datetime import UTC, datetime

        from unifiedml.cost.estimates import estimate_running
        from unifiedml.specs import parse_duration

        start = datetime.now(UTC) - parse_duration(since)
        return [u for u in estimate_running(self.state, since=start) if u.interval.provider == self.provider.name]
