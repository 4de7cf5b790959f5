"""Vertex AI AutoML tabular: dataset from a CSV in GCS, then a TrainingPipeline."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Any

from unifiedml.errors import ConfigError, NotFound
from unifiedml.providers.vertex import naming, packaging
from unifiedml.providers.vertex.common import (
    _OBJECTIVES,
    _STATE,
    _STATE_NAMES,
    AUTOML_TABULAR_DEFINITION,
    TABULAR_DATASET_SCHEMA,
    _js,
    _ts,
)
from unifiedml.providers.vertex.errors import PROVIDER, call, no_retry
from unifiedml.resources import AutoMLJob, Candidate, Model, Status
from unifiedml.specs import AutoMLSpec

logger = logging.getLogger(__name__)

__all__ = ["AutoMLMixin"]

#: AutoML tabular's optimisation objectives -> the evaluation metric that measures each.
_OBJECTIVE_METRICS = {
    "maximize-au-roc": "auRoc",
    "maximize-au-prc": "auPrc",
    "minimize-log-loss": "logLoss",
    "minimize-rmse": "rootMeanSquaredError",
    "minimize-mae": "meanAbsoluteError",
    "minimize-rmsle": "rootMeanSquaredLogError",
}
_DEFAULT_METRIC = {"classification": "logLoss", "regression": "rootMeanSquaredError"}


class AutoMLMixin:
    """Vertex AI AutoML tabular: dataset from a CSV in GCS, then a TrainingPipeline.

    A mixin of :class:`~unifiedml.providers.vertex.provider.VertexProvider`, whose clients,
    settings and operation helpers it uses.
    """

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
        leaderboard = self._leaderboard(model, inputs) if model is not None else []
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
            leaderboard=leaderboard,
            _client=self,
        )

    def _leaderboard(self, model: Model, inputs: dict[str, Any]) -> list[Candidate]:
        """The pipeline's one model as the leaderboard, with its evaluation metrics (ListModelEvaluations).

        AutoML tabular on Vertex AI hands back one model, not its candidates; its
        evaluation carries the scalar metrics of the task's schema (``auRoc``,
        ``logLoss``, ... or ``rootMeanSquaredError``, ...). The objective metric
        is the one the pipeline optimised; without an objective, unifiedml ranks
        by ``logLoss`` (classification) or ``rootMeanSquaredError`` (regression).
        """
        evaluations = call(lambda: [_js(e) for e in self.client("model").list_model_evaluations(
                               parent=model.id, **no_retry())],
                           what=f"list evaluations of model {model.name}")
        if not evaluations:
            return []
        evaluation = evaluations[0]
        metrics = {k: float(v) for k, v in (evaluation.get("metrics") or {}).items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        task = "regression" if inputs.get("predictionType") == "regression" else "classification"
        objective = _OBJECTIVE_METRICS.get(str(inputs.get("optimizationObjective") or ""), _DEFAULT_METRIC[task])
        return [Candidate(name=model.name, objective_metric=objective, objective_value=metrics.get(objective),
                          metrics=metrics, extra={"evaluation": evaluation.get("name"),
                                                  "metrics_schema": evaluation.get("metricsSchemaUri")})]
