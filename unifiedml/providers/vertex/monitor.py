"""Vertex AI model monitoring (the optional native monitor): one ModelDeploymentMonitoringJob per endpoint.

The job watches prediction drift of every model deployed to the endpoint
(``predictionDriftDetectionConfig`` with one threshold per feature), samples
``sample_rate`` of the requests and runs every ``interval_hours``. It is named
``<endpoint>-monitor`` (display name) and carries the unifiedml labels, so a
second call finds it instead of creating another. unifiedml's own drift
checks do not need it: they read the request-response log (:mod:`.logging_reader`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unifiedml.errors import ConfigError, NotFound
from unifiedml.providers.vertex import naming
from unifiedml.providers.vertex.errors import PROVIDER, call, no_retry

if TYPE_CHECKING:
    from unifiedml.providers.vertex.provider import VertexProvider
    from unifiedml.resources import Endpoint

__all__ = ["create_monitoring_job", "delete_monitoring_job"]


def _display(endpoint: str) -> str:
    return naming.fit(f"{endpoint}-monitor", 128)


def create_monitoring_job(provider: VertexProvider, endpoint: Endpoint, *, interval_hours: int,
                          sample_rate: float, drift_threshold: float, features: list[str]) -> str:
    if not 0 < sample_rate <= 1:
        raise ConfigError("sample_rate must be in (0, 1]", field="sample_rate", provider=PROVIDER)
    if interval_hours < 1:
        raise ConfigError("the monitoring interval is at least one hour", field="interval_hours", provider=PROVIDER)
    deployed = endpoint.extra.get("deployed_models") or []
    if not deployed:
        raise ConfigError(f"endpoint {endpoint.name!r} has no deployed model to monitor", field="endpoint",
                          provider=PROVIDER)
    v1 = provider._types()
    name = _display(endpoint.name)
    thresholds = {f: v1.ThresholdConfig(value=drift_threshold) for f in features}
    objective = v1.ModelMonitoringObjectiveConfig(
        prediction_drift_detection_config=v1.ModelMonitoringObjectiveConfig.PredictionDriftDetectionConfig(
            drift_thresholds=thresholds)
    )
    job = v1.ModelDeploymentMonitoringJob(
        display_name=name,
        endpoint=endpoint.id,
        model_deployment_monitoring_objective_configs=[
            v1.ModelDeploymentMonitoringObjectiveConfig(deployed_model_id=dm["id"], objective_config=objective)
            for dm in deployed
        ],
        model_deployment_monitoring_schedule_config=v1.ModelDeploymentMonitoringScheduleConfig(
            monitor_interval={"seconds": interval_hours * 3600}),
        logging_sampling_strategy=v1.SamplingStrategy(
            random_sample_config=v1.SamplingStrategy.RandomSampleConfig(sample_rate=sample_rate)),
        labels=naming.to_labels(provider.standard_tags("monitor", endpoint.name)),
    )
    client = provider.client("job")
    found, _ = provider._create_once(
        lambda: provider._find("job", "list_model_deployment_monitoring_jobs", "modelDeploymentMonitoringJobs",
                               name),
        lambda: {"name": client.create_model_deployment_monitoring_job(
            parent=provider.parent, model_deployment_monitoring_job=job, **no_retry()).name},
        what=f"create monitoring job for {endpoint.name}",
    )
    return str(found["name"])


def delete_monitoring_job(provider: VertexProvider, endpoint: str) -> None:
    found: Any = call(
        lambda: provider._find("job", "list_model_deployment_monitoring_jobs", "modelDeploymentMonitoringJobs",
                               _display(endpoint)),
        what=f"look up the monitoring job of {endpoint}",
    )
    if found is None:
        return
    try:
        op = call(lambda: provider.client("job").delete_model_deployment_monitoring_job(name=found["name"],
                                                                                         **no_retry()),
                  what=f"delete monitoring job of {endpoint}")
        provider._wait_operation("job", op.operation.name, what=f"delete monitoring job of {endpoint}")
    except NotFound:
        return
