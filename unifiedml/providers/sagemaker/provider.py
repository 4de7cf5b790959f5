"""The SageMaker provider: neutral specs -> boto3 (``sagemaker``, ``sagemaker-runtime``, ``s3``, ``logs``).

What maps to what (details in docs/providers/sagemaker.md):

* ``train`` -> the entry point's folder as ``sourcedir.tar.gz`` in S3 (with
  :mod:`unifiedml.runtime` inside), local data uploaded by content hash, then
  ``CreateTrainingJob`` on the TensorFlow training image in script mode
  (``sagemaker_program`` / ``sagemaker_submit_directory`` hyperparameters).
  The job's ``model.tar.gz`` becomes a deployable :class:`Model` of the same name.
* ``automl`` -> ``CreateAutoMLJobV2`` (tabular); the best candidate is the model,
  the candidates are ``job.leaderboard``.
* ``deploy`` -> ``CreateModel`` (TF Serving image), ``CreateEndpointConfig`` (with
  ``DataCaptureConfig``), ``CreateEndpoint``; ``update_endpoint`` -> a new config
  and ``UpdateEndpoint`` (blue/green: the old fleet serves until the new one is in service).
* ``predict`` -> ``InvokeEndpoint`` with TF Serving's JSON (``{"instances": [...]}``).

Every native name is derived from unifiedml's name (:mod:`.naming`), so a
retried create finds the resource its first attempt made. Every call goes
through :func:`.errors.call` (translation + the one retry policy). boto3 is
imported on first use, never at import time.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from unifiedml._lazy import require
from unifiedml._ops import Backoff
from unifiedml.errors import AlreadyExists, ConfigError, NotFound, ProviderError
from unifiedml.providers.base import TAG_PROJECT, Capability, Provider, ProviderSettings
from unifiedml.providers.content import resolve_inputs
from unifiedml.providers.sagemaker import images, naming, packaging, scaling
from unifiedml.providers.sagemaker.errors import PROVIDER, call, client_config, translate
from unifiedml.resources import AutoMLJob, Candidate, Endpoint, Model, Prediction, Status, TrainingJob
from unifiedml.specs import AutoMLSpec, DataRef, DeploymentSpec, TrainingSpec

if TYPE_CHECKING:
    from unifiedml.providers.sagemaker.costs import BilledCost

logger = logging.getLogger(__name__)

__all__ = ["SageMakerProvider", "SageMakerSettings"]

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
VARIANT = "AllTraffic"
_ROLE_RE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")  # botocore's RoleArn
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

_JOB_STATUS = {
    "InProgress": Status.RUNNING,
    "Completed": Status.SUCCEEDED,
    "Failed": Status.FAILED,
    "Stopping": Status.RUNNING,
    "Stopped": Status.STOPPED,
}
_ENDPOINT_STATUS = {
    "Creating": Status.CREATING,
    "Updating": Status.UPDATING,
    "SystemUpdating": Status.UPDATING,
    "RollingBack": Status.UPDATING,
    "UpdateRollbackFailed": Status.FAILED,
    "InService": Status.IN_SERVICE,
    "Deleting": Status.DELETING,
    "Failed": Status.FAILED,
    "OutOfService": Status.FAILED,
}
#: Neutral objective names -> AutoMLMetricEnum (botocore's service model).
_OBJECTIVES = {
    "accuracy": "Accuracy",
    "mse": "MSE",
    "f1": "F1",
    "f1macro": "F1macro",
    "f1_macro": "F1macro",
    "auc": "AUC",
    "roc_auc": "AUC",
    "rmse": "RMSE",
    "balanced_accuracy": "BalancedAccuracy",
    "balancedaccuracy": "BalancedAccuracy",
    "r2": "R2",
    "recall": "Recall",
    "recall_macro": "RecallMacro",
    "precision": "Precision",
    "precision_macro": "PrecisionMacro",
    "mae": "MAE",
}


class SageMakerSettings(ProviderSettings):
    """Settings of the SageMaker provider (``Client("sagemaker", region=..., role_arn=..., bucket=...)``).

    ``endpoint_url`` points every AWS client at an emulator (``AWS_ENDPOINT_URL`` works too).
    Credentials are never settings: boto3 finds them (profile, variables, instance role).
    """

    region: str | None = None
    role_arn: str | None = None
    bucket: str | None = None
    prefix: str = "unifiedml"
    endpoint_url: str | None = None
    profile: str | None = None
    framework_version: str = "2.12"
    training_image: str | None = None
    serving_image: str | None = None
    training_instance_type: str = "ml.m5.large"
    serving_instance_type: str = "ml.m5.large"
    volume_size_gb: int = Field(30, ge=1, le=16384)
    poll_initial: float = Field(5.0, gt=0)
    poll_cap: float = Field(60.0, gt=0)
    log_poll: float = Field(5.0, gt=0)

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_RE.match(value):
            raise ValueError(
                "must be an IAM role ARN such as arn:aws:iam::123456789012:role/SageMakerExecution "
                "(the role SageMaker assumes to read your data and write the model)"
            )
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and not _BUCKET_RE.match(value):
            raise ValueError("must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", value):
            raise ValueError(f"{value!r} is not an AWS region name (e.g. us-east-1)")
        return value


def _now() -> datetime:
    return datetime.now(UTC)


def _tags_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _tags_dict(tags: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


class SageMakerProvider(Provider):
    """Amazon SageMaker through boto3. See the module docstring and docs/providers/sagemaker.md."""

    name = "sagemaker"
    Settings = SageMakerSettings
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
        }
    )
    UNSUPPORTED: ClassVar[dict[Capability, str]] = {
        Capability.TRAFFIC_SPLIT: "unifiedml gives a SageMaker endpoint one production variant; weighted "
        "variants are not mapped yet (update_endpoint switches blue/green)",
    }

    settings: SageMakerSettings

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_backoff = Backoff(initial=self.settings.poll_initial, cap=self.settings.poll_cap)
        self._clients: dict[str, Any] = {}
        self._region: str | None = None

    # -- clients -----------------------------------------------------------
    @property
    def region(self) -> str:
        """The AWS region (settings, then the profile/environment); ConfigError naming ``region`` if none."""
        if self._region is None:
            self._session()
        assert self._region is not None
        return self._region

    def _session(self) -> Any:
        boto3 = require("boto3", extra="aws", provider=PROVIDER)
        try:
            session = boto3.Session(profile_name=self.settings.profile, region_name=self.settings.region)
        except Exception as exc:
            raise translate(exc, what="open an AWS session") from exc
        region = self.settings.region or session.region_name
        if not region:
            raise ConfigError(
                "no AWS region is configured",
                field=f"providers.{self.name}.region",
                provider=PROVIDER,
                hint="pass region='us-east-1' (or set AWS_DEFAULT_REGION, or a region in your AWS profile)",
            )
        self._region = region
        return session

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` (cached). Pricing and Cost Explorer live in us-east-1."""
        if service not in self._clients:
            session = self._session()
            region = "us-east-1" if service in ("pricing", "ce") else self.region
            kwargs: dict[str, Any] = {"region_name": region, "config": client_config()}
            if self.settings.endpoint_url:
                kwargs["endpoint_url"] = self.settings.endpoint_url
            self._clients[service] = session.client(service, **kwargs)
        return self._clients[service]

    @property
    def sm(self) -> Any:
        return self.client("sagemaker")

    @property
    def autoscaling(self) -> Any:
        return self.client("application-autoscaling")

    # -- checks made before anything is created -----------------------------
    def _role(self) -> str:
        if not self.settings.role_arn:
            raise ConfigError(
                "an IAM execution role is required",
                field=f"providers.{self.name}.role_arn",
                provider=PROVIDER,
                hint="pass role_arn='arn:aws:iam::<account>:role/<SageMakerExecutionRole>'",
            )
        return self.settings.role_arn

    def _bucket(self) -> str:
        if not self.settings.bucket:
            raise ConfigError(
                "an S3 bucket for code, data and models is required",
                field=f"providers.{self.name}.bucket",
                provider=PROVIDER,
                hint="pass bucket='my-sagemaker-bucket' (it must exist, in the same region)",
            )
        return self.settings.bucket

    def s3_root(self, *parts: str) -> str:
        """``s3://<bucket>/<prefix>/<project>/<parts...>``."""
        return naming.s3_join(f"s3://{self._bucket()}", self.settings.prefix, self.project, *parts)

    def _resolve_inputs(
        self, inputs: dict[str, DataRef], *, field: str
    ) -> dict[str, tuple[str, Path | None]]:
        """Check every input before any upload or create: local paths exist, S3 URIs hold objects."""
        return resolve_inputs(
            inputs, field=field, scheme="s3", platform="SageMaker", provider=PROVIDER,
            check_remote=lambda uri, where: packaging.check_s3_uri(self.client("s3"), uri, field=where),
        )

    def _upload_inputs(self, resolved: dict[str, tuple[str, Path | None]]) -> dict[str, str]:
        s3 = self.client("s3")
        out = {}
        for channel, (uri, path) in resolved.items():
            out[channel] = (
                uri if path is None else packaging.upload_data(s3, path, data_root=self.s3_root("data"))[0]
            )
        return out

    def _image(self, scope: str, instance_type: str) -> str:
        explicit = self.settings.training_image if scope == "training" else self.settings.serving_image
        if explicit:
            return explicit
        return images.tensorflow_image(
            region=self.region,
            version=self.settings.framework_version,
            scope=scope,
            instance_type=instance_type,
        )

    def _native_tags(self, arn: str) -> dict[str, str]:
        out = call(lambda: self.sm.list_tags(ResourceArn=arn), what=f"list tags of {arn}")
        return _tags_dict(out.get("Tags", []))

    # -- training ----------------------------------------------------------
    def _train(self, spec: TrainingSpec, *, name: str, tags: dict[str, str]) -> TrainingJob:
        """Create the job (non-blocking). Validates everything first; a retried create finds the job."""
        role = self._role()
        self._bucket()
        instance = images.instance_for(
            spec.resources.size,
            spec.resources.instance_type,
            scope="training",
            default=self.settings.training_instance_type,
            field="resources",
        )
        if images.is_gpu(instance):
            self.require(Capability.GPU)
        image = self._image("training", instance)
        archive = packaging.build_source_archive(spec)
        resolved = self._resolve_inputs(spec.inputs, field="inputs")
        try:
            return self._get_training_job(name)  # an earlier attempt of this call created it
        except NotFound:
            pass
        s3 = self.client("s3")
        source_uri = self.s3_root("source", archive.sha256, "sourcedir.tar.gz")
        packaging.upload_if_absent(s3, source_uri, archive.data)
        channels = self._upload_inputs(resolved)
        hyper = {k: json.dumps(v) for k, v in spec.hyperparameters.items()}
        # Script-mode contract of the SageMaker TensorFlow training containers.
        hyper.update(
            {
                "sagemaker_program": json.dumps(archive.program),
                "sagemaker_submit_directory": json.dumps(source_uri),
                "sagemaker_region": json.dumps(self.region),
                "sagemaker_container_log_level": "20",
            }
        )
        max_runtime = int(spec.max_runtime.total_seconds())
        request: dict[str, Any] = {
            "TrainingJobName": name,
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "RoleArn": role,
            "HyperParameters": hyper,
            "InputDataConfig": [
                {
                    "ChannelName": channel,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
                for channel, uri in channels.items()
            ],
            "OutputDataConfig": {"S3OutputPath": self.s3_root("jobs")},
            "ResourceConfig": {
                "InstanceType": instance,
                "InstanceCount": spec.resources.instance_count,
                "VolumeSizeInGB": self.settings.volume_size_gb,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
            "Tags": _tags_list(tags),
        }
        if not request["InputDataConfig"]:
            del request["InputDataConfig"]  # a job without channels: the API wants the field absent
        if spec.environment:
            request["Environment"] = dict(spec.environment)
        if spec.spot:
            # Spot waits for capacity within MaxWaitTimeInSeconds (>= the runtime) and checkpoints to S3.
            request["EnableManagedSpotTraining"] = True
            request["StoppingCondition"]["MaxWaitTimeInSeconds"] = min(max_runtime * 2, 28 * 86400)
            request["CheckpointConfig"] = {"S3Uri": self.s3_root("checkpoints", name)}
        request.update(spec.options_for(self.name))  # the escape hatch: native fields win
        try:
            call(lambda: self.sm.create_training_job(**request), what=f"create training job {name}")
        except AlreadyExists:
            logger.info("training job %s already exists (a retried create); using it", name)
        self.state.add_event(
            provider=self.name,
            kind="training_job",
            name=name,
            event="job_start",
            attrs={
                "instance_type": instance,
                "instance_count": spec.resources.instance_count,
                "spot": spec.spot,
            },
        )
        return self._get_training_job(name)

    def _describe_job(self, name: str) -> dict[str, Any]:
        return call(
            lambda: self.sm.describe_training_job(TrainingJobName=name), what=f"describe training job {name}"
        )

    def _get_training_job(self, name: str) -> TrainingJob:
        try:
            desc = self._describe_job(name)
        except NotFound as exc:
            raise NotFound(
                f"no SageMaker training job named {name!r}",
                provider=PROVIDER,
                hint="list jobs with `unifiedml jobs list --provider sagemaker`",
            ) from exc
        status = _JOB_STATUS.get(desc["TrainingJobStatus"], Status.UNKNOWN)
        if desc["TrainingJobStatus"] == "InProgress" and desc.get("SecondaryStatus") in (
            "Starting",
            "Pending",
        ):
            status = Status.PENDING
        model = None
        artifact = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        tags = self._native_tags(desc["TrainingJobArn"])
        if status is Status.SUCCEEDED and artifact:
            model = self._model_from_job(name, artifact, desc, tags)
        if status in (Status.SUCCEEDED, Status.FAILED, Status.STOPPED):
            self._record_job_end(name, desc)
        resources = desc.get("ResourceConfig") or {}
        return TrainingJob(
            provider=self.name,
            name=name,
            id=desc["TrainingJobArn"],
            status=status,
            created_at=desc.get("CreationTime"),
            started_at=desc.get("TrainingStartTime"),
            ended_at=desc.get("TrainingEndTime"),
            model=model,
            metrics={m["MetricName"]: float(m["Value"]) for m in desc.get("FinalMetricDataList", []) or []},
            failure_reason=desc.get("FailureReason"),
            resources_used={
                "instance_type": resources.get("InstanceType"),
                "instance_count": resources.get("InstanceCount"),
                "billable_seconds": desc.get("BillableTimeInSeconds"),
            },
            tags=tags,
            extra={
                "training_job_arn": desc["TrainingJobArn"],
                "sagemaker_status": desc["TrainingJobStatus"],
                "secondary_status": desc.get("SecondaryStatus"),
                "model_artifact": artifact,
                "training_image": (desc.get("AlgorithmSpecification") or {}).get("TrainingImage"),
                "log_group": TRAINING_LOG_GROUP,
            },
            _client=self,
        )

    def _record_job_end(self, name: str, desc: dict[str, Any]) -> None:
        """Record ``job_end`` once (cost estimates pair it with ``job_start``)."""
        events = self.state.events(provider=self.name, kind="training_job", name=name)
        if any(e.event == "job_end" for e in events):
            return
        resources = desc.get("ResourceConfig") or {}
        self.state.add_event(
            provider=self.name,
            kind="training_job",
            name=name,
            event="job_end",
            ts=desc.get("TrainingEndTime"),
            attrs={
                "instance_type": resources.get("InstanceType"),
                "instance_count": resources.get("InstanceCount"),
                "status": desc["TrainingJobStatus"],
                "billable_seconds": desc.get("BillableTimeInSeconds"),
            },
        )

    def _list_training_jobs(self) -> list[TrainingJob]:
        out = []
        for record in self.state.list_resources(
            provider=self.name, kind="training_job", project=self.project
        ):
            try:
                out.append(self._get_training_job(record.name))
            except NotFound:
                continue
        return sorted(out, key=lambda j: j.created_at or _now(), reverse=True)

    def _training_logs(self, name: str, *, follow: bool) -> Iterator[str]:
        self._describe_job(name)  # NotFound for an unknown job, before the generator starts
        return self._log_lines(name, follow=follow)

    def _log_lines(self, name: str, *, follow: bool) -> Iterator[str]:
        logs = self.client("logs")
        tokens: dict[str, str | None] = {}
        while True:
            try:
                streams = call(
                    lambda: logs.describe_log_streams(
                        logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{name}/"
                    ),
                    what="list log streams",
                )
            except NotFound:
                streams = {"logStreams": []}
            for stream in sorted(s["logStreamName"] for s in streams.get("logStreams", [])):
                while True:
                    kwargs: dict[str, Any] = {
                        "logGroupName": TRAINING_LOG_GROUP,
                        "logStreamName": stream,
                        "startFromHead": True,
                    }
                    if tokens.get(stream):
                        kwargs["nextToken"] = tokens[stream]
                    page = call(lambda kw=kwargs: logs.get_log_events(**kw), what="read training logs")
                    for event in page.get("events", []):
                        yield event["message"]
                    token = page.get("nextForwardToken")
                    done = token == tokens.get(stream) or not page.get("events")
                    tokens[stream] = token
                    if done:
                        break
            if not follow:
                return
            if self._get_training_job(name).done:
                follow = False  # one more pass drains what the job wrote last
                continue
            time.sleep(self.settings.log_poll)

    def wait_for_job(self, name: str, *, timeout: float | None = None) -> TrainingJob:
        """Block until job ``name`` ends, streaming its CloudWatch log lines to this module's logger.

        Returns the final handle; raises OperationFailed like :meth:`TrainingJob.wait`.
        """
        for line in self._log_lines(name, follow=True):
            logger.info("[%s] %s", name, line)
        return self._get_training_job(name).wait(timeout=timeout, progress=False)

    def _stop_training_job(self, name: str) -> None:
        desc = self._describe_job(name)
        if desc["TrainingJobStatus"] != "InProgress":
            return
        try:
            call(lambda: self.sm.stop_training_job(TrainingJobName=name), what=f"stop training job {name}")
        except ConfigError as exc:
            # It ended between describe and stop: nothing to do.
            logger.info("training job %s did not need stopping: %s", name, exc)

    def _delete_training_job(self, name: str) -> None:
        # SageMaker keeps job records (there is no delete API); stop it and forget it locally.
        try:
            self._stop_training_job(name)
        except NotFound:
            return

    # -- automl ------------------------------------------------------------
    def _automl(self, spec: AutoMLSpec, *, name: str, tags: dict[str, str]) -> AutoMLJob:
        """Create a tabular AutoML V2 job (non-blocking); a retried create finds it."""
        role = self._role()
        self._bucket()
        native = naming.automl_job_name(name)
        resolved = self._resolve_inputs({"": spec.data}, field="data")
        path = resolved[""][1]
        objective, problem = self._objective(spec, path)
        try:
            return self._get_automl_job(name)
        except NotFound:
            pass
        data_uri = self._upload_inputs(resolved)[""]
        criteria: dict[str, Any] = {"MaxAutoMLJobRuntimeInSeconds": int(spec.time_budget.total_seconds())}
        if spec.max_candidates:
            criteria["MaxCandidates"] = spec.max_candidates
        tabular: dict[str, Any] = {"TargetAttributeName": spec.target, "CompletionCriteria": criteria}
        if problem:
            tabular["ProblemType"] = problem
        request: dict[str, Any] = {
            "AutoMLJobName": native,
            "AutoMLJobInputDataConfig": [
                {
                    "ChannelType": "training",
                    "ContentType": "text/csv;header=present",
                    "CompressionType": "None",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": data_uri}},
                }
            ],
            "OutputDataConfig": {"S3OutputPath": self.s3_root("automl")},
            "AutoMLProblemTypeConfig": {"TabularJobConfig": tabular},
            "RoleArn": role,
            "Tags": _tags_list(tags),
        }
        if objective:
            request["AutoMLJobObjective"] = {"MetricName": objective}
        request.update(spec.options_for(self.name))
        try:
            call(lambda: self.sm.create_auto_ml_job_v2(**request), what=f"create AutoML job {native}")
        except AlreadyExists:
            logger.info("AutoML job %s already exists (a retried create); using it", native)
        self.state.add_event(
            provider=self.name,
            kind="automl_job",
            name=name,
            event="job_start",
            attrs={"instance_type": None, "instance_count": None, "native_name": native},
        )
        return self._get_automl_job(name)

    def _objective(self, spec: AutoMLSpec, path: Path | None) -> tuple[str | None, str | None]:
        """(AutoMLJobObjective metric, ProblemType): SageMaker wants both or neither."""
        objective = None
        if spec.objective:
            objective = _OBJECTIVES.get(spec.objective.lower().replace("-", "_"))
            if objective is None:
                raise ConfigError(
                    f"{spec.objective!r} is not an objective SageMaker Autopilot offers",
                    field="objective",
                    provider=PROVIDER,
                    hint="one of " + ", ".join(sorted(set(_OBJECTIVES.values()))),
                )
        if spec.task == "regression":
            return objective or "MSE", "Regression"
        classes = _count_classes(path, spec.target) if path is not None and path.is_file() else None
        if classes is None:
            return (objective, None) if objective is None else (objective, "MulticlassClassification")
        if classes == 2:
            return objective or "F1", "BinaryClassification"
        return objective or "Accuracy", "MulticlassClassification"

    def _get_automl_job(self, name: str) -> AutoMLJob:
        native = naming.automl_job_name(name)
        try:
            desc = call(
                lambda: self.sm.describe_auto_ml_job_v2(AutoMLJobName=native),
                what=f"describe AutoML job {native}",
            )
        except NotFound as exc:
            raise NotFound(f"no SageMaker AutoML job named {name!r}", provider=PROVIDER) from exc
        status = _JOB_STATUS.get(desc["AutoMLJobStatus"], Status.UNKNOWN)
        leaderboard: list[Candidate] = []
        model = None
        if status is Status.SUCCEEDED:
            leaderboard = self._leaderboard(native)
            best = desc.get("BestCandidate") or {}
            containers = best.get("InferenceContainers") or []
            if containers:
                model = Model(
                    provider=self.name,
                    name=name,
                    id=desc["AutoMLJobArn"],
                    artifact_uri=containers[-1].get("ModelDataUrl", ""),
                    framework="sagemaker-autopilot",
                    source_job=name,
                    created_at=best.get("CreationTime"),
                    _client=self,
                    extra={
                        "containers": containers,
                        "candidate": best.get("CandidateName"),
                        "registered": False,
                    },
                )
            self._record_job_end(
                name, {"TrainingJobStatus": desc["AutoMLJobStatus"], "TrainingEndTime": desc.get("EndTime")}
            )
        return AutoMLJob(
            provider=self.name,
            name=name,
            id=desc["AutoMLJobArn"],
            status=status,
            created_at=desc.get("CreationTime"),
            started_at=desc.get("CreationTime"),
            ended_at=desc.get("EndTime"),
            model=model,
            failure_reason=desc.get("FailureReason") or None,
            leaderboard=leaderboard,
            metrics=(
                {leaderboard[0].objective_metric: leaderboard[0].objective_value}
                if leaderboard and leaderboard[0].objective_value is not None
                else {}
            ),
            extra={
                "automl_job_arn": desc["AutoMLJobArn"],
                "native_name": native,
                "sagemaker_status": desc["AutoMLJobStatus"],
                "secondary_status": desc.get("AutoMLJobSecondaryStatus"),
            },
            _client=self,
        )

    def _leaderboard(self, native: str) -> list[Candidate]:
        out: list[Candidate] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"AutoMLJobName": native, "SortBy": "FinalObjectiveMetricValue"}
            if token:
                kwargs["NextToken"] = token
            page = call(
                lambda kw=kwargs: self.sm.list_candidates_for_auto_ml_job(**kw),
                what=f"list candidates of {native}",
            )
            for c in page.get("Candidates", []):
                metric = c.get("FinalAutoMLJobObjectiveMetric") or {}
                out.append(
                    Candidate(
                        name=c["CandidateName"],
                        objective_metric=metric.get("MetricName", ""),
                        objective_value=float(metric["Value"]) if "Value" in metric else None,
                        metrics={
                            m["MetricName"]: float(m["Value"])
                            for m in (c.get("CandidateProperties") or {}).get("CandidateMetrics", [])
                            if "Value" in m
                        },
                        extra={
                            "status": c.get("CandidateStatus"),
                            "objective_type": metric.get("Type"),
                            "containers": c.get("InferenceContainers", []),
                        },
                    )
                )
            token = page.get("NextToken")
            if not token:
                break
        minimize = bool(out) and out[0].extra.get("objective_type") == "Minimize"
        # Best first, whatever order the service sorted in; unscored candidates last.
        return sorted(
            out,
            key=lambda c: (c.objective_value is None, (c.objective_value or 0.0) * (1 if minimize else -1)),
        )

    # -- models ------------------------------------------------------------
    def _model_from_job(self, name: str, artifact: str, desc: dict[str, Any], tags: dict[str, str]) -> Model:
        return Model(
            provider=self.name,
            name=name,
            id=desc["TrainingJobArn"],
            artifact_uri=artifact,
            framework="tensorflow",
            framework_version=self.settings.framework_version,
            source_job=name,
            created_at=desc.get("TrainingEndTime"),
            tags=tags,
            _client=self,
            extra={"registered": False, "training_job_arn": desc["TrainingJobArn"]},
        )

    def _get_model(self, name: str) -> Model:
        """The SageMaker model ``name``, else the model of a completed training or AutoML job of that name."""
        try:
            desc = call(lambda: self.sm.describe_model(ModelName=name), what=f"describe model {name}")
        except NotFound:
            desc = None
        if desc is not None:
            containers = (
                [desc["PrimaryContainer"]] if desc.get("PrimaryContainer") else desc.get("Containers", [])
            )
            return Model(
                provider=self.name,
                name=name,
                id=desc["ModelArn"],
                artifact_uri=(containers[-1].get("ModelDataUrl", "") if containers else ""),
                created_at=desc.get("CreationTime"),
                tags=self._native_tags(desc["ModelArn"]),
                _client=self,
                extra={"registered": True, "model_arn": desc["ModelArn"], "containers": containers},
            )
        for getter in (self._get_training_job, self._get_automl_job):
            try:
                job = getter(name)
            except NotFound:
                continue
            if job.model is not None:
                return job.model
        raise NotFound(
            f"no SageMaker model named {name!r}",
            provider=PROVIDER,
            hint="models come from successful training or AutoML jobs",
        )

    def _containers(self, model: Model, instance_type: str) -> list[dict[str, Any]]:
        if model.extra.get("containers"):
            return [
                {k: v for k, v in c.items() if k in ("Image", "ModelDataUrl", "Environment")}
                for c in model.extra["containers"]
            ]
        return [{"Image": self._image("inference", instance_type), "ModelDataUrl": model.artifact_uri}]

    def _ensure_model(self, model: Model, instance_type: str) -> None:
        """Create the SageMaker model for ``model`` unless it exists. Idempotent."""
        try:
            call(lambda: self.sm.describe_model(ModelName=model.name), what=f"describe model {model.name}")
            return
        except NotFound:
            pass
        containers = self._containers(model, instance_type)
        request: dict[str, Any] = {
            "ModelName": model.name,
            "ExecutionRoleArn": self._role(),
            "Tags": _tags_list(self.standard_tags("model", model.name)),
        }
        if len(containers) == 1:
            request["PrimaryContainer"] = containers[0]
        else:
            request["Containers"] = containers
        try:
            call(lambda: self.sm.create_model(**request), what=f"create model {model.name}")
        except AlreadyExists:
            pass

    def _import_model(self, artifact: str, *, name: str, tags: dict[str, str]) -> Model:
        if not artifact.startswith("s3://"):
            raise ConfigError("give the s3:// URI of a model.tar.gz", field="artifact", provider=PROVIDER)
        packaging.check_s3_uri(self.client("s3"), artifact, field="artifact")
        model = Model(provider=self.name, name=name, id=name, artifact_uri=artifact, tags=tags, _client=self)
        self._ensure_model(model, self.settings.serving_instance_type)
        return self._get_model(name)

    def _delete_model(self, name: str) -> None:
        try:
            call(lambda: self.sm.delete_model(ModelName=name), what=f"delete model {name}")
        except NotFound:
            pass

    # -- endpoints ---------------------------------------------------------
    def _variant_and_capture(
        self, model: Model, spec: DeploymentSpec, current: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        resources = spec.resources
        if current and not (resources.size or resources.instance_type):
            instance, count = current["InstanceType"], current["InitialInstanceCount"]
        else:
            instance = images.instance_for(
                resources.size,
                resources.instance_type,
                scope="serving",
                default=self.settings.serving_instance_type,
                field="resources",
            )
            if spec.min_replicas < 1:
                raise ConfigError(
                    "SageMaker real-time endpoints need at least one instance",
                    field="min_replicas",
                    provider=PROVIDER,
                )
            count = max(spec.min_replicas, resources.instance_count)
        variant = {
            "VariantName": VARIANT,
            "ModelName": model.name,
            "InitialInstanceCount": count,
            "InstanceType": instance,
            "InitialVariantWeight": 1.0,
        }
        capture = None
        if spec.capture.enabled:
            destination = spec.capture.destination or self.s3_root("capture")
            if not destination.startswith("s3://"):
                raise ConfigError(
                    "the capture destination must be an s3:// URI",
                    field="capture.destination",
                    provider=PROVIDER,
                )
            capture = {
                "EnableCapture": True,
                "InitialSamplingPercentage": spec.capture.sample_percent,
                "DestinationS3Uri": destination,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
            }
        return variant, capture

    def _ensure_config(
        self, endpoint: str, variant: dict[str, Any], capture: dict[str, Any] | None, tags: dict[str, str]
    ) -> str:
        config_name = naming.endpoint_config_name(endpoint, {"variant": variant, "capture": capture})
        request: dict[str, Any] = {
            "EndpointConfigName": config_name,
            "ProductionVariants": [variant],
            "Tags": _tags_list(tags),
        }
        if capture:
            request["DataCaptureConfig"] = capture
        try:
            call(
                lambda: self.sm.describe_endpoint_config(EndpointConfigName=config_name),
                what=f"describe endpoint config {config_name}",
            )
        except NotFound:
            try:
                call(
                    lambda: self.sm.create_endpoint_config(**request),
                    what=f"create endpoint config {config_name}",
                )
            except AlreadyExists:
                pass
        return config_name

    def _describe_endpoint(self, name: str) -> dict[str, Any] | None:
        try:
            return call(
                lambda: self.sm.describe_endpoint(EndpointName=name), what=f"describe endpoint {name}"
            )
        except NotFound:
            return None

    def _deploy(self, model: Model, spec: DeploymentSpec, *, name: str, tags: dict[str, str]) -> Endpoint:
        """Create model, config and endpoint (non-blocking); the same deploy again returns the endpoint."""
        self._role()
        self._bucket()
        plan = scaling.plan_from(spec)  # a missing or bad scaling option fails here, before anything is made
        variant, capture = self._variant_and_capture(model, spec)
        if images.is_gpu(variant["InstanceType"]):
            self.require(Capability.GPU)
        config_name = naming.endpoint_config_name(name, {"variant": variant, "capture": capture})
        existing = self._describe_endpoint(name)
        if existing is not None and existing["EndpointStatus"] not in ("Failed", "Deleting"):
            if existing["EndpointConfigName"] == config_name:
                if plan is not None:  # a new plan is taken; removing one is update_endpoint's job
                    arn = existing["EndpointArn"]
                    self._set_scaling_plan(arn, plan, self._native_tags(arn).get(scaling.PLAN_TAG))
                return self._get_endpoint(name)
            raise AlreadyExists(
                f"endpoint {name!r} already exists with another model or configuration",
                provider=PROVIDER,
                hint="switch it with update_endpoint(), or delete it first",
            )
        if existing is not None and existing["EndpointStatus"] == "Failed":
            self._delete_endpoint(name)
        self._ensure_model(model, variant["InstanceType"])
        self._ensure_config(name, variant, capture, tags)
        # the scaling plan travels as a tag: registered when the endpoint first serves (settle_endpoint)
        endpoint_tags = {**tags, scaling.PLAN_TAG: plan.to_tag()} if plan else tags
        try:
            call(
                lambda: self.sm.create_endpoint(
                    EndpointName=name, EndpointConfigName=config_name, Tags=_tags_list(endpoint_tags)
                ),
                what=f"create endpoint {name}",
            )
        except AlreadyExists:
            logger.info("endpoint %s already exists (a retried create); using it", name)
        self._endpoint_event(name, "endpoint_up", variant, model=model.name)
        return self._get_endpoint(name)

    def _update_endpoint(self, name: str, model: Model, spec: DeploymentSpec) -> Endpoint:
        """Blue/green: a new endpoint config, then UpdateEndpoint; the old fleet serves until the switch."""
        existing = self._describe_endpoint(name)
        if existing is None:
            raise NotFound(f"no SageMaker endpoint named {name!r}", provider=PROVIDER)
        old_config = call(
            lambda: self.sm.describe_endpoint_config(EndpointConfigName=existing["EndpointConfigName"]),
            what="describe endpoint config",
        )
        old_variant = old_config["ProductionVariants"][0]
        variant, capture = self._variant_and_capture(model, spec, current=old_variant)
        if "capture" not in spec.model_fields_set and old_config.get("DataCaptureConfig"):
            capture = old_config["DataCaptureConfig"]  # keep capturing as before unless told otherwise
        # Scaling: a spec that sets max_replicas or scaling options replaces the plan; one that does not keeps it.
        new_plan = "max_replicas" in spec.model_fields_set or bool(spec.options_for(self.name))
        plan = scaling.plan_from(spec) if new_plan else None
        tags = self._native_tags(existing["EndpointArn"])
        current_plan = tags.pop(scaling.PLAN_TAG, None)
        self._ensure_model(model, variant["InstanceType"])
        config_name = self._ensure_config(name, variant, capture, tags)
        if (new_plan and plan is None) or variant["InstanceType"] != old_variant.get("InstanceType"):
            # A dropped plan must go, and SageMaker refuses to change the instance type of a registered
            # variant: deregister now; the next wait registers a kept plan again. (A changed plan is
            # simply registered over the old one by that wait: both calls upsert.)
            if scaling.describe(self.autoscaling, name, VARIANT) is not None:
                scaling.remove(self.autoscaling, name, VARIANT)
        if new_plan:
            self._set_scaling_plan(existing["EndpointArn"], plan, current_plan)
        if existing["EndpointConfigName"] != config_name:
            call(
                lambda: self.sm.update_endpoint(EndpointName=name, EndpointConfigName=config_name),
                what=f"update endpoint {name}",
            )
            self._endpoint_event(name, "endpoint_down", old_variant, reason="update")
            self._endpoint_event(name, "endpoint_up", variant, model=model.name)
        return self._get_endpoint(name)

    def _set_scaling_plan(self, arn: str, plan: scaling.ScalingPlan | None, current: str | None) -> None:
        """Write (or, for None, remove) the endpoint's scaling-plan tag; nothing when ``current`` (the tag's
        value now, read by the caller) already says so."""
        wanted = plan.to_tag() if plan else None
        if current == wanted:
            return
        if wanted is None:
            call(lambda: self.sm.delete_tags(ResourceArn=arn, TagKeys=[scaling.PLAN_TAG]), what=f"untag {arn}")
        else:
            call(lambda: self.sm.add_tags(ResourceArn=arn, Tags=[{"Key": scaling.PLAN_TAG, "Value": wanted}]),
                 what=f"tag {arn}")

    def _settle_endpoint(self, endpoint: Endpoint) -> None:
        """Register the endpoint's autoscaling once it serves (from its plan tag, on the handle). Idempotent."""
        name, value = endpoint.name, endpoint.extra.get("autoscaling")
        if endpoint.status is not Status.IN_SERVICE or value is None:
            return
        plan = scaling.ScalingPlan.from_tag(value)
        if plan is None:
            logger.warning("endpoint %s has an unreadable %s tag %r; its autoscaling is left as it is",
                           name, scaling.PLAN_TAG, value)
            return
        if scaling.describe(self.autoscaling, name, VARIANT) != plan:
            scaling.apply(self.autoscaling, name, VARIANT, plan)
            logger.info("endpoint %s scales between %d and %d instances (target %g invocations per instance "
                        "per minute)", name, plan.min_capacity, plan.max_capacity, plan.target)

    def _endpoint_event(self, name: str, event: str, variant: dict[str, Any], **extra: Any) -> None:
        """Record endpoint_up/endpoint_down with the variant's instance type and count (cost needs them)."""
        self.state.add_event(
            provider=self.name,
            kind="endpoint",
            name=name,
            event=event,
            attrs={"instance_type": variant.get("InstanceType"), "replicas": variant.get("InitialInstanceCount"),
                   **extra},
        )

    def _endpoint_url(self, name: str) -> str:
        base = self.settings.endpoint_url or f"https://runtime.sagemaker.{self.region}.amazonaws.com"
        return f"{base.rstrip('/')}/endpoints/{name}/invocations"

    def _get_endpoint(self, name: str) -> Endpoint:
        desc = self._describe_endpoint(name)
        if desc is None:
            raise NotFound(
                f"no SageMaker endpoint named {name!r}",
                provider=PROVIDER,
                hint="list endpoints with `unifiedml endpoints list --provider sagemaker`",
            )
        config_name = desc["EndpointConfigName"]
        try:
            config = call(
                lambda: self.sm.describe_endpoint_config(EndpointConfigName=config_name),
                what=f"describe endpoint config {config_name}",
            )
            variant = config["ProductionVariants"][0]
        except NotFound:
            variant = {}
        status = _ENDPOINT_STATUS.get(desc["EndpointStatus"], Status.UNKNOWN)
        tags = self._native_tags(desc["EndpointArn"])
        return Endpoint(
            provider=self.name,
            name=name,
            id=desc["EndpointArn"],
            status=status,
            url=self._endpoint_url(name) if status in (Status.IN_SERVICE, Status.UPDATING) else None,
            model=variant.get("ModelName"),
            created_at=desc.get("CreationTime"),
            tags=tags,
            resources={
                "instance_type": variant.get("InstanceType"),
                "replicas": variant.get("InitialInstanceCount"),
            },
            extra={
                "endpoint_arn": desc["EndpointArn"],
                "endpoint_config": config_name,
                "sagemaker_status": desc["EndpointStatus"],
                "capture": desc.get("DataCaptureConfig"),
                "variants": desc.get("ProductionVariants", []),
                "failure_reason": desc.get("FailureReason"),
                "autoscaling": tags.get(scaling.PLAN_TAG),
            },
            _client=self,
        )

    def _list_endpoints(self) -> list[Endpoint]:
        out = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"MaxResults": 100}
            if token:
                kwargs["NextToken"] = token
            page = call(lambda kw=kwargs: self.sm.list_endpoints(**kw), what="list endpoints")
            for summary in page.get("Endpoints", []):
                if self._native_tags(summary["EndpointArn"]).get(TAG_PROJECT) != self.project:
                    continue
                try:
                    out.append(self._get_endpoint(summary["EndpointName"]))
                except NotFound:
                    continue
            token = page.get("NextToken")
            if not token:
                return out

    def _delete_endpoint(self, name: str) -> None:
        """Delete the endpoint, its configs and the models they serve that no other endpoint uses.

        Idempotent; does not wait.
        """
        desc = self._describe_endpoint(name)
        configs = set()
        if desc is not None:
            configs.add(desc["EndpointConfigName"])
            if scaling.PLAN_TAG in self._native_tags(desc["EndpointArn"]):
                scaling.remove(self.autoscaling, name, VARIANT)  # deregister first, as AWS asks
            try:
                call(lambda: self.sm.delete_endpoint(EndpointName=name), what=f"delete endpoint {name}")
            except NotFound:
                pass
            self._endpoint_event(name, "endpoint_down", self._recorded_variant(desc["EndpointConfigName"]))
        # Every config this endpoint ever had (blue/green leaves the old ones): <fit(name)>-<hash>.
        stem = naming.fit(name, 52) + "-"
        page = call(
            lambda: self.sm.list_endpoint_configs(NameContains=stem, MaxResults=100),
            what="list endpoint configs",
        )
        configs |= {
            c["EndpointConfigName"]
            for c in page.get("EndpointConfigs", [])
            if c["EndpointConfigName"].startswith(stem)
        }
        models = set()
        for config_name in sorted(configs):
            variant = self._recorded_variant(config_name)
            if variant.get("ModelName"):
                models.add(variant["ModelName"])
            try:
                call(
                    lambda c=config_name: self.sm.delete_endpoint_config(EndpointConfigName=c),
                    what=f"delete endpoint config {config_name}",
                )
            except NotFound:
                pass
        # A SageMaker model may serve other endpoints too (one unifiedml model, several
        # endpoints): delete only those no remaining endpoint uses.
        for model_name in sorted(models - self._models_in_use()):
            self._delete_model(model_name)

    def _models_in_use(self) -> set[str]:
        """SageMaker model names served by any endpoint that still exists."""
        in_use: set[str] = set()
        page = call(lambda: self.sm.list_endpoints(MaxResults=100), what="list endpoints")
        for ep in page.get("Endpoints", []):
            desc = self._describe_endpoint(ep["EndpointName"])
            if desc is not None:
                in_use |= {v.get("ModelName") for v in [self._recorded_variant(desc["EndpointConfigName"])]}
        in_use.discard(None)  # type: ignore[arg-type]
        return in_use

    def _recorded_variant(self, config_name: str) -> dict[str, Any]:
        try:
            config = call(
                lambda: self.sm.describe_endpoint_config(EndpointConfigName=config_name),
                what=f"describe endpoint config {config_name}",
            )
        except NotFound:
            return {}
        return dict(config["ProductionVariants"][0])

    # -- prediction --------------------------------------------------------
    def _predict(self, name: str, instances: list[Any] | dict[str, list[Any]]) -> Prediction:
        key = "inputs" if isinstance(instances, dict) else "instances"
        body = json.dumps({key: instances})
        runtime = self.client("sagemaker-runtime")
        start = time.perf_counter()
        response = call(
            lambda: runtime.invoke_endpoint(
                EndpointName=name, ContentType="application/json", Accept="application/json", Body=body
            ),
            what=f"invoke endpoint {name}",
            attempts=4,
        )
        payload = response["Body"].read()
        latency = (time.perf_counter() - start) * 1000
        try:
            answer = json.loads(payload)
        except ValueError as exc:
            raise ProviderError(f"endpoint {name!r} answered non-JSON", provider=PROVIDER) from exc
        predictions = answer.get("predictions", answer.get("outputs")) if isinstance(answer, dict) else answer
        return Prediction(
            predictions=predictions,
            model=None,
            latency_ms=round(latency, 3),
            extra={"endpoint": name, "variant": response.get("InvokedProductionVariant")},
        )

    # -- monitoring and cost (SageMaker-only entry points) ---------------------
    def capture_records(self, endpoint: str, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Rows of the endpoint's DataCapture files (see :mod:`.capture`). Blocking, reads S3."""
        from unifiedml.providers.sagemaker.capture import read_capture

        ep = self._get_endpoint(endpoint)
        capture = ep.extra.get("capture") or {}
        if not capture.get("DestinationS3Uri"):
            raise ConfigError(
                f"endpoint {endpoint!r} does not capture data", field="capture", provider=PROVIDER
            )
        return read_capture(self.client("s3"), capture["DestinationS3Uri"], endpoint=endpoint, since=since)

    def billed_costs(self, *, start: date, end: date, granularity: str = "DAILY") -> list[BilledCost]:
        """Billed SageMaker cost of this project per resource tag (Cost Explorer). Blocking."""
        from unifiedml.providers.sagemaker.costs import billed_costs

        return billed_costs(
            self.client("ce"), start=start, end=end, project=self.project, granularity=granularity
        )

    def list_price(self, instance_type: str, *, component: str | None = None) -> Decimal | None:
        """On-demand USD/hour of ``instance_type`` here, from the Price List API (None if unlisted)."""
        from unifiedml.providers.sagemaker.costs import list_price

        return list_price(
            self.client("pricing"), instance_type=instance_type, region=self.region, component=component
        )

    def create_native_monitor(
        self,
        endpoint: str,
        *,
        schedule: str = "cron(0 * ? * * *)",
        baseline_uri: str | None = None,
        instance_type: str = "ml.m5.large",
        image_uri: str | None = None,
    ) -> dict[str, str]:
        """SageMaker Model Monitor (data quality) on ``endpoint``'s capture. Idempotent; returns the names."""
        from unifiedml.providers.sagemaker.monitor import create_data_quality_monitor

        self.require(Capability.NATIVE_MONITOR)
        images.check_instance_type(instance_type, scope="serving", field="instance_type")
        ep = self._get_endpoint(endpoint)
        if not (ep.extra.get("capture") or {}).get("EnableCapture"):
            raise ConfigError(
                f"endpoint {endpoint!r} does not capture data; Model Monitor needs capture",
                field="capture",
                provider=PROVIDER,
            )
        tags = _tags_list(self.standard_tags("monitor", endpoint))
        return create_data_quality_monitor(
            self.sm,
            endpoint=endpoint,
            role_arn=self._role(),
            output_uri=self.s3_root("monitoring", endpoint),
            region=self.region,
            tags=tags,
            schedule=schedule,
            instance_type=instance_type,
            baseline_uri=baseline_uri,
            image_uri=image_uri,
        )

    def monitor_executions(self, schedule: str) -> list[dict[str, Any]]:
        """Executions of a native monitor schedule, newest first."""
        from unifiedml.providers.sagemaker.monitor import monitor_executions

        return monitor_executions(self.sm, schedule=schedule)

    def delete_native_monitor(self, schedule: str) -> None:
        """Delete a native monitor schedule and its job definition. Idempotent."""
        from unifiedml.providers.sagemaker.monitor import delete_monitor

        delete_monitor(self.sm, schedule=schedule)


def _count_classes(path: Path, target: str, limit: int = 100_000) -> int | None:
    """Distinct values of ``target`` in a local CSV (None when the column is missing)."""
    import csv

    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or target not in reader.fieldnames:
            raise ConfigError(
                f"the data has no column {target!r}",
                field="target",
                provider=PROVIDER,
                hint="columns: " + ", ".join(reader.fieldnames or []),
            )
        values = set()
        for i, row in enumerate(reader):
            if i >= limit:
                break
            if row[target] not in ("", "NA"):
                values.add(row[target])
    return len(values)
