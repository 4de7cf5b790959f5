"""SageMaker and Price List operations moto 5.2.5 lacks, answered in the emulator's WSGI layer.

Each handler takes the decoded JSON request (and the account/region of the
caller) and returns ``(status, body)``; errors use AWS's error codes so botocore
raises the same ``ClientError`` a real account would.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.sagemaker import models as sm_models

from unifiedml.emulators.aws.patches import set_endpoint_status_later
from unifiedml.emulators.aws.state import EmulatorState

__all__ = ["PRICING_OPS", "SAGEMAKER_OPS", "Error"]


class Error(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


Handler = Callable[[EmulatorState, str, str, dict[str, Any]], dict[str, Any]]


def _backend(account: str, region: str) -> Any:
    return sm_models.sagemaker_backends[account][region]


def update_endpoint(state: EmulatorState, account: str, region: str, req: dict[str, Any]) -> dict[str, Any]:
    """Blue/green: the old config keeps serving while ``Updating``; the switch happens at the end."""
    backend = _backend(account, region)
    name, config_name = req["EndpointName"], req["EndpointConfigName"]
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        arn = sm_models.FakeEndpoint.arn_formatter(name, account, region)
        raise Error("ValidationException", f"Could not find endpoint '{arn}'.")
    config = backend.endpoint_configs.get(config_name)
    if config is None:
        arn = sm_models.FakeEndpointConfig.arn_formatter(config_name, account, region)
        raise Error("ValidationException", f"Could not find endpoint configuration '{arn}'.")
    if endpoint.endpoint_status != "InService":
        raise Error(
            "ValidationException",
            f'Cannot update in-progress endpoint "{endpoint.arn}" (status {endpoint.endpoint_status}).',
        )
    endpoint.endpoint_status = "Updating"

    def switch() -> None:
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
        endpoint.data_capture_config = config.data_capture_config

    set_endpoint_status_later(endpoint, "InService", state.config.endpoint_delay, then=switch)
    return {"EndpointArn": endpoint.arn}


def list_candidates(state: EmulatorState, account: str, region: str, req: dict[str, Any]) -> dict[str, Any]:
    backend = _backend(account, region)
    name = req["AutoMLJobName"]
    if name not in backend.auto_ml_jobs:
        raise Error("ResourceNotFound", f"Could not find AutoML job with name {name}.")
    worker = state.workers.get(f"automl-{name}")
    candidates = list(getattr(worker, "candidates", []) or [])
    if req.get("SortBy") == "FinalObjectiveMetricValue":
        minimize = bool(candidates) and candidates[0]["FinalAutoMLJobObjectiveMetric"]["Type"] == "Minimize"
        descending = req.get("SortOrder", "Ascending") == "Descending"
        candidates.sort(key=lambda c: c["FinalAutoMLJobObjectiveMetric"]["Value"], reverse=descending)
        del minimize
    return {"Candidates": [_jsonable(c) for c in candidates]}


def _schedule_key(name: str) -> str:
    return name


def create_monitoring_schedule(
    state: EmulatorState, account: str, region: str, req: dict[str, Any]
) -> dict[str, Any]:
    name = req["MonitoringScheduleName"]
    config = req["MonitoringScheduleConfig"]
    with state.lock:
        if name in state.monitoring_schedules:
            raise Error("ResourceInUse", f"Monitoring schedule {name} already exists.")
        endpoint = None
        definition = config.get("MonitoringJobDefinitionName")
        if definition:
            found = _backend(account, region).data_quality_job_definitions.get(definition)
            if found is None:
                raise Error("ResourceNotFound", f"Could not find job definition {definition}.")
            endpoint = (found.data_quality_job_input or {}).get("EndpointInput", {}).get("EndpointName")
        arn = f"arn:aws:sagemaker:{region}:{account}:monitoring-schedule/{name}"
        state.monitoring_schedules[name] = {
            "MonitoringScheduleArn": arn,
            "MonitoringScheduleName": name,
            "MonitoringScheduleStatus": "Scheduled",
            "MonitoringType": config.get("MonitoringType", "DataQuality"),
            "CreationTime": time.time(),
            "LastModifiedTime": time.time(),
            "MonitoringScheduleConfig": config,
            "EndpointName": endpoint,
            "Tags": req.get("Tags", []),
        }
        state.creates[("monitoring_schedule", name)] += 1
    return {"MonitoringScheduleArn": arn}


def _schedule(state: EmulatorState, name: str) -> dict[str, Any]:
    found = state.monitoring_schedules.get(name)
    if found is None:
        raise Error("ResourceNotFound", f"Could not find monitoring schedule {name}.")
    return found


def _executions(state: EmulatorState, schedule: dict[str, Any]) -> list[dict[str, Any]]:
    """Synthetic executions: one per ``monitoring_interval`` elapsed since the schedule was created."""
    interval = max(state.config.monitoring_interval, 0.001)
    count = min(int((time.time() - schedule["CreationTime"]) / interval), 100)
    out = []
    for i in range(count):
        when = schedule["CreationTime"] + (i + 1) * interval
        out.append(
            {
                "MonitoringScheduleName": schedule["MonitoringScheduleName"],
                "ScheduledTime": when,
                "CreationTime": when,
                "LastModifiedTime": when,
                "MonitoringExecutionStatus": "Completed",
                "EndpointName": schedule.get("EndpointName"),
                "MonitoringJobDefinitionName": schedule["MonitoringScheduleConfig"].get(
                    "MonitoringJobDefinitionName"
                ),
                "MonitoringType": schedule["MonitoringType"],
            }
        )
    return [{k: v for k, v in e.items() if v is not None} for e in out]


def describe_monitoring_schedule(
    state: EmulatorState, account: str, region: str, req: dict[str, Any]
) -> dict[str, Any]:
    with state.lock:
        schedule = dict(_schedule(state, req["MonitoringScheduleName"]))
    schedule.pop("Tags", None)
    executions = _executions(state, schedule)
    if executions:
        schedule["LastMonitoringExecutionSummary"] = executions[-1]
    return {k: v for k, v in schedule.items() if v is not None}


def list_monitoring_schedules(
    state: EmulatorState, account: str, region: str, req: dict[str, Any]
) -> dict[str, Any]:
    with state.lock:
        found = [
            s
            for s in state.monitoring_schedules.values()
            if not req.get("EndpointName") or s.get("EndpointName") == req["EndpointName"]
        ]
    keys = (
        "MonitoringScheduleName",
        "MonitoringScheduleArn",
        "CreationTime",
        "LastModifiedTime",
        "MonitoringScheduleStatus",
        "EndpointName",
        "MonitoringType",
    )
    return {"MonitoringScheduleSummaries": [{k: s[k] for k in keys if s.get(k) is not None} for s in found]}


def delete_monitoring_schedule(
    state: EmulatorState, account: str, region: str, req: dict[str, Any]
) -> dict[str, Any]:
    with state.lock:
        _schedule(state, req["MonitoringScheduleName"])
        del state.monitoring_schedules[req["MonitoringScheduleName"]]
    return {}


def list_monitoring_executions(
    state: EmulatorState, account: str, region: str, req: dict[str, Any]
) -> dict[str, Any]:
    with state.lock:
        schedules = list(state.monitoring_schedules.values())
    out = []
    for schedule in schedules:
        if (
            req.get("MonitoringScheduleName")
            and schedule["MonitoringScheduleName"] != req["MonitoringScheduleName"]
        ):
            continue
        if req.get("EndpointName") and schedule.get("EndpointName") != req["EndpointName"]:
            continue
        out += _executions(state, schedule)
    out.sort(key=lambda e: e["ScheduledTime"], reverse=req.get("SortOrder", "Descending") == "Descending")
    return {"MonitoringExecutionSummaries": out[: int(req.get("MaxResults", 100))]}


def stop_training_job(state: EmulatorState, account: str, region: str, req: dict[str, Any]) -> dict[str, Any]:
    """moto's responses lack StopTrainingJob; the backend method comes from :mod:`.patches`."""
    try:
        _backend(account, region).stop_training_job(req["TrainingJobName"])
    except sm_models.ValidationError as exc:
        raise Error("ValidationException", exc.message) from exc
    return {}


SAGEMAKER_OPS: dict[str, Handler] = {
    "StopTrainingJob": stop_training_job,
    "UpdateEndpoint": update_endpoint,
    "ListCandidatesForAutoMLJob": list_candidates,
    "CreateMonitoringSchedule": create_monitoring_schedule,
    "DescribeMonitoringSchedule": describe_monitoring_schedule,
    "ListMonitoringSchedules": list_monitoring_schedules,
    "DeleteMonitoringSchedule": delete_monitoring_schedule,
    "ListMonitoringExecutions": list_monitoring_executions,
}


# -- Price List (moto has no `pricing` service) --------------------------------
def get_products(state: EmulatorState, account: str, region: str, req: dict[str, Any]) -> dict[str, Any]:
    """``GetProducts`` over the prices seeded with :meth:`AwsEmulator.seed_prices` (TERM_MATCH only)."""
    if req.get("ServiceCode") != "AmazonSageMaker":
        return {"FormatVersion": "aws_v1", "PriceList": []}
    wanted = {f["Field"]: f["Value"] for f in req.get("Filters", []) if f.get("Type") == "TERM_MATCH"}
    out = []
    with state.lock:
        prices = dict(state.prices)
    for (region_code, instance, component), usd in sorted(prices.items()):
        attrs = {
            "regionCode": region_code,
            "instanceName": instance,
            "component": component,
            "servicecode": "AmazonSageMaker",
        }
        if any(attrs.get(k) != v for k, v in wanted.items()):
            continue
        sku = hashlib.sha1(f"{region_code}{instance}{component}".encode()).hexdigest()[:16].upper()
        term = f"{sku}.JRTCKXETXF"
        out.append(
            json.dumps(
                {
                    "product": {"productFamily": "ML Instance", "attributes": attrs, "sku": sku},
                    "serviceCode": "AmazonSageMaker",
                    "terms": {
                        "OnDemand": {
                            term: {
                                "priceDimensions": {
                                    f"{term}.6YS6EN2CT7": {
                                        "unit": "Hrs",
                                        "pricePerUnit": {"USD": f"{usd:.10f}"},
                                        "description": f"emulator {instance} {component}",
                                    }
                                },
                                "sku": sku,
                                "offerTermCode": "JRTCKXETXF",
                            }
                        }
                    },
                    "version": "emulator",
                    "publicationDate": "1970-01-01T00:00:00Z",
                }
            )
        )
    return {"FormatVersion": "aws_v1", "PriceList": out}


def describe_services(state: EmulatorState, account: str, region: str, req: dict[str, Any]) -> dict[str, Any]:
    return {
        "Services": [
            {"ServiceCode": "AmazonSageMaker", "AttributeNames": ["regionCode", "instanceName", "component"]}
        ],
        "FormatVersion": "aws_v1",
    }


PRICING_OPS: dict[str, Handler] = {"GetProducts": get_products, "DescribeServices": describe_services}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).timestamp()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """Datetimes as epoch seconds, as AWS's JSON protocol sends them."""
    return _jsonable(value)
