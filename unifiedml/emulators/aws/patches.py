"""Gap fills patched into moto's SageMaker backend, inside the emulator's server process.

moto 5.2.5 makes jobs ``Completed`` and endpoints ``InService`` at once,
overwrites a resource created twice under one name (AWS refuses), leaves AutoML
V2 jobs ``InProgress`` forever and omits ``CaptureStatus``. These patches make
it behave like the service on those points: creates refuse existing names with
AWS's error codes, jobs and endpoints pass through their transitional states on
the emulator's clock, and every successful create is counted (so a test can
prove that no resource was created twice). Applied once per process by
:func:`apply`; they read the emulator state installed by the server.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError

from unifiedml.emulators.aws.jobs import AutoMLWorker, TrainingWorker
from unifiedml.emulators.aws.state import current

__all__ = ["apply", "set_endpoint_status_later"]

_applied = False
_Backend = sm_models.SageMakerModelBackend


def _count(kind: str, name: str) -> None:
    state = current()
    with state.lock:
        state.creates[(kind, name)] += 1


def set_endpoint_status_later(endpoint: Any, status: str, delay: float, then: Any = None) -> None:
    """Set ``endpoint.endpoint_status`` after ``delay`` seconds (running ``then()`` first)."""

    def flip() -> None:
        if then is not None:
            then()
        endpoint.endpoint_status = status
        endpoint.last_modified_time = sm_models.utcnow()

    if delay <= 0:
        flip()
        return
    timer = threading.Timer(delay, flip)
    timer.daemon = True
    timer.start()


def apply() -> None:
    """Patch moto's SageMaker backend (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True

    original_training = _Backend.create_training_job

    def create_training_job(self: Any, training_job_name: str, **kwargs: Any) -> Any:
        if training_job_name in self.training_jobs:
            # AWS's answer to a duplicate name (ResourceInUse), so a retried create can tell.
            raise ResourceInUseException(
                "Training job names must be unique within an AWS account and region, and a training job "
                f"with this name already exists ({self.training_jobs[training_job_name].arn})"
            )
        job = original_training(self, training_job_name, **kwargs)
        job.training_job_status, job.secondary_status = "InProgress", "Starting"
        job.training_end_time = None
        job.training_start_time = None
        job.final_metric_data_list = []
        job.algorithm_specification.pop("MetricDefinitions", None)
        _count("training_job", training_job_name)
        state = current()
        worker = TrainingWorker(state, job, self.account_id, self.region_name)
        with state.lock:
            state.workers[worker.name] = worker
        worker.start()
        return job

    def stop_training_job(self: Any, training_job_name: str) -> None:
        job = self.training_jobs.get(training_job_name)
        if job is None:
            arn = sm_models.FakeTrainingJob.arn_formatter(
                training_job_name, self.account_id, self.region_name
            )
            raise ValidationError(message=f"Could not find training job '{arn}'.")
        if job.training_job_status != "InProgress":
            raise ValidationError(
                message="The request was rejected because the training job is in status "
                f"{job.training_job_status}."
            )
        job.training_job_status, job.secondary_status = "Stopping", "Stopping"
        worker = current().workers.get(f"training-{training_job_name}")
        if worker is not None:
            worker.stop()

    original_model = _Backend.create_model

    def create_model(self: Any, model_name: str, **kwargs: Any) -> Any:
        if model_name in self._models:
            arn = sm_models.arn_formatter("model", model_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing model "{arn}".')
        model = original_model(self, model_name=model_name, **kwargs)
        _count("model", model_name)
        return model

    original_config = _Backend.create_endpoint_config

    def create_endpoint_config(self: Any, endpoint_config_name: str, **kwargs: Any) -> Any:
        if endpoint_config_name in self.endpoint_configs:
            arn = sm_models.FakeEndpointConfig.arn_formatter(
                endpoint_config_name, self.account_id, self.region_name
            )
            raise ValidationError(message=f'Cannot create already existing endpoint configuration "{arn}".')
        config = original_config(self, endpoint_config_name=endpoint_config_name, **kwargs)
        _count("endpoint_config", endpoint_config_name)
        return config

    original_endpoint = _Backend.create_endpoint

    def create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
        if endpoint_name in self.endpoints:
            arn = sm_models.FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
        endpoint = original_endpoint(self, endpoint_name, endpoint_config_name, tags)
        endpoint.endpoint_status = "Creating"
        _count("endpoint", endpoint_name)
        set_endpoint_status_later(endpoint, "InService", current().config.endpoint_delay)
        return endpoint

    original_automl = _Backend.create_auto_ml_job_v2

    def create_auto_ml_job_v2(self: Any, auto_ml_job_name: str, **kwargs: Any) -> Any:
        if auto_ml_job_name in self.auto_ml_jobs:
            raise ResourceInUseException(f"AutoML job {auto_ml_job_name} already exists.")
        arn = original_automl(self, auto_ml_job_name, **kwargs)
        job = self.auto_ml_jobs[auto_ml_job_name]
        job.end_time = None
        job.best_candidate = None
        _count("automl_job", auto_ml_job_name)
        state = current()
        worker = AutoMLWorker(state, job, self.account_id)
        with state.lock:
            state.workers[worker.name] = worker
        worker.start()
        return arn

    original_describe_automl = sm_models.AutoMLJob.describe

    def automl_describe(self: Any) -> dict[str, Any]:
        # Drop the fields AWS omits while a job runs (moto fills them with sample values).
        return {k: v for k, v in original_describe_automl(self).items() if v is not None}

    original_endpoint_response = sm_models.FakeEndpoint.response_object

    def endpoint_response(self: Any) -> dict[str, Any]:
        response = original_endpoint_response.fget(self)  # type: ignore[attr-defined]
        capture = response.get("DataCaptureConfig")
        if capture:
            # DescribeEndpoint returns a DataCaptureConfigSummary, which carries the capture status.
            response["DataCaptureConfig"] = {
                "EnableCapture": bool(capture.get("EnableCapture", False)),
                "CaptureStatus": "Started" if capture.get("EnableCapture") else "Stopped",
                "CurrentSamplingPercentage": int(capture.get("InitialSamplingPercentage", 100)),
                "DestinationS3Uri": capture.get("DestinationS3Uri", ""),
                **({"KmsKeyId": capture["KmsKeyId"]} if capture.get("KmsKeyId") else {}),
            }
        return response

    _Backend.create_training_job = create_training_job
    _Backend.stop_training_job = stop_training_job
    _Backend.create_model = create_model
    _Backend.create_endpoint_config = create_endpoint_config
    _Backend.create_endpoint = create_endpoint
    _Backend.create_auto_ml_job_v2 = create_auto_ml_job_v2
    sm_models.AutoMLJob.describe = automl_describe
    sm_models.FakeEndpoint.response_object = property(endpoint_response)
