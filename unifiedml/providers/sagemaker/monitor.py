"""SageMaker Model Monitor (data quality) behind a neutral call: a job definition plus a schedule.

Optional: unifiedml's own drift engine reads the DataCapture files without it
(:mod:`.capture`). This is for teams that want the platform's scheduled checks
and CloudWatch metrics. The analyzer image is AWS's prebuilt
``sagemaker-model-monitor-analyzer``; registry accounts per region are listed
at docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-pre-built-container.html
(only the regions below are built in; pass ``image_uri`` elsewhere).
"""

from __future__ import annotations

from typing import Any

from unifiedml.errors import AlreadyExists, ConfigError
from unifiedml.providers.sagemaker import naming
from unifiedml.providers.sagemaker.errors import PROVIDER, call

__all__ = ["ANALYZER_ACCOUNTS", "create_data_quality_monitor", "delete_monitor", "monitor_executions"]

ANALYZER_ACCOUNTS = {"us-east-1": "156813124566", "us-east-2": "777275614652", "ca-central-1": "536280801234"}


def analyzer_image(region: str, image_uri: str | None) -> str:
    if image_uri:
        return image_uri
    account = ANALYZER_ACCOUNTS.get(region)
    if account is None:
        raise ConfigError(
            f"no built-in Model Monitor image for {region!r}",
            field="image_uri",
            provider=PROVIDER,
            hint="see the Model Monitor pre-built container page for your region's image",
        )
    return f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-model-monitor-analyzer"


def create_data_quality_monitor(
    sm: Any,
    *,
    endpoint: str,
    role_arn: str,
    output_uri: str,
    region: str,
    tags: list[dict[str, str]],
    schedule: str = "cron(0 * ? * * *)",
    instance_type: str = "ml.m5.large",
    baseline_uri: str | None = None,
    image_uri: str | None = None,
) -> dict[str, str]:
    """Create (or find) ``<endpoint>-dq`` job definition and schedule. Idempotent; returns their names."""
    name = naming.fit(f"{endpoint}-dq", 63)
    definition: dict[str, Any] = {
        "JobDefinitionName": name,
        "DataQualityAppSpecification": {"ImageUri": analyzer_image(region, image_uri)},
        "DataQualityJobInput": {
            "EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input/endpoint"}
        },
        "DataQualityJobOutputConfig": {
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": output_uri,
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    }
                }
            ]
        },
        "JobResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": instance_type, "VolumeSizeInGB": 20}
        },
        "RoleArn": role_arn,
        "Tags": tags,
    }
    if baseline_uri:
        definition["DataQualityBaselineConfig"] = {
            "ConstraintsResource": {"S3Uri": f"{baseline_uri.rstrip('/')}/constraints.json"},
            "StatisticsResource": {"S3Uri": f"{baseline_uri.rstrip('/')}/statistics.json"},
        }
    try:
        call(
            lambda: sm.create_data_quality_job_definition(**definition), what=f"create job definition {name}"
        )
    except AlreadyExists:
        pass
    try:
        call(
            lambda: sm.create_monitoring_schedule(
                MonitoringScheduleName=name,
                MonitoringScheduleConfig={
                    "ScheduleConfig": {"ScheduleExpression": schedule},
                    "MonitoringJobDefinitionName": name,
                    "MonitoringType": "DataQuality",
                },
                Tags=tags,
            ),
            what=f"create monitoring schedule {name}",
        )
    except AlreadyExists:
        pass
    return {"job_definition": name, "schedule": name}


def monitor_executions(sm: Any, *, schedule: str) -> list[dict[str, Any]]:
    """The schedule's executions, newest first (``MonitoringExecutionSummaries``)."""
    page = call(
        lambda: sm.list_monitoring_executions(MonitoringScheduleName=schedule, SortOrder="Descending"),
        what=f"list executions of {schedule}",
    )
    return list(page.get("MonitoringExecutionSummaries", []))


def delete_monitor(sm: Any, *, schedule: str) -> None:
    """Delete the schedule and its job definition. Idempotent."""
    from unifiedml.errors import NotFound

    for fn in (
        lambda: sm.delete_monitoring_schedule(MonitoringScheduleName=schedule),
        lambda: sm.delete_data_quality_job_definition(JobDefinitionName=schedule),
    ):
        try:
            call(fn, what=f"delete monitor {schedule}")
        except NotFound:
            pass
