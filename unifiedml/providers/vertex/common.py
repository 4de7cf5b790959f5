"""Constants and small helpers the Vertex AI provider's modules share (proto JSON, timestamps, states)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from unifiedml.resources import Status

TABULAR_DATASET_SCHEMA = "gs://google-cloud-aiplatform/schema/dataset/metadata/tabular_1.0.0.yaml"
AUTOML_TABULAR_DEFINITION = "gs://google-cloud-aiplatform/schema/trainingjob/definition/automl_tabular_1.0.0.yaml"
#: JobState / PipelineState numbers (the two enums share them) -> neutral status.
_STATE = {
    1: Status.PENDING, 2: Status.PENDING, 3: Status.RUNNING, 4: Status.SUCCEEDED, 5: Status.FAILED,
    6: Status.RUNNING, 7: Status.STOPPED, 8: Status.PENDING, 9: Status.PENDING, 10: Status.RUNNING,
}
_STATE_NAMES = {1: "QUEUED", 2: "PENDING", 3: "RUNNING", 4: "SUCCEEDED", 5: "FAILED", 6: "CANCELLING",
                7: "CANCELLED", 8: "PAUSED", 9: "EXPIRED", 10: "UPDATING"}
#: Neutral objective names -> optimizationObjective of AutoML tabular (aiplatform's AutoMLTabularTrainingJob).
_OBJECTIVES = {
    "classification": {"auc": "maximize-au-roc", "roc_auc": "maximize-au-roc", "log_loss": "minimize-log-loss",
                       "logloss": "minimize-log-loss", "pr_auc": "maximize-au-prc", "au_prc": "maximize-au-prc"},
    "regression": {"rmse": "minimize-rmse", "mae": "minimize-mae", "rmsle": "minimize-rmsle"},
}


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _js(message: Any) -> dict[str, Any]:
    """A proto-plus message (or a raw protobuf) as camelCase JSON with integer enums."""
    if hasattr(type(message), "to_json") and hasattr(type(message), "pb"):
        return json.loads(type(message).to_json(message, use_integers_for_enums=True, indent=None))
    from google.protobuf import json_format

    return json.loads(json_format.MessageToJson(message, use_integers_for_enums=True))
