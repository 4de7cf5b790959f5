"""Vertex AI provider against the emulator, with the real GAPIC REST clients over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PENGUINS
from tests.providers.vertex.vertex_fixtures import BUCKET, GCP_PROJECT, PARENT, REGION, gapic, vertex_client
from unifiedml import TrainingSpec
from unifiedml.emulators.vertex.handlers import EVALUATION_METRICS
from unifiedml.errors import (
    AuthenticationError,
    ConfigError,
    NotFound,
    OperationFailed,
    PermissionDenied,
    ProviderError,
    Throttled,
)
from unifiedml.providers.base import TAG_PROJECT, TAG_RESOURCE
from unifiedml.resources import Status
from unifiedml.specs import AutoMLSpec, DeploymentSpec

pytest.importorskip("google.cloud.aiplatform_v1")

SCRIPT = """\
import os, sys
from unifiedml import runtime

print("platform", runtime.platform(), "hp", runtime.hyperparameters())
if runtime.hyperparameters().get("fail"):
    sys.exit(3)
os.makedirs(runtime.model_dir(), exist_ok=True)
open(os.path.join(runtime.model_dir(), "saved_model.pb"), "wb").write(b"x")
rows = open(os.path.join(runtime.data_dir("train"), "penguins.csv")).read().count("\\n")
print("rows", rows)
"""


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(SCRIPT)
    return path


def _trained(client: Any, tmp_path: Path, **hp: Any) -> Any:
    job = client.train(TrainingSpec(entry_point=str(_script(tmp_path)), inputs={"train": str(PENGUINS)},
                                    hyperparameters={"epochs": 1, **hp}))
    return job.wait(timeout=60, progress=False, raise_on_failure=False)


# -- training ------------------------------------------------------------------------------
def test_the_runtime_script_runs_unchanged_with_aip_variables_and_logs_are_read(vertex: Any, tmp_path: Path) -> None:
    client = vertex_client(vertex)
    job = _trained(client, tmp_path)
    assert job.status is Status.SUCCEEDED
    lines = list(client.logs(job.name))
    assert any("platform vertex" in line for line in lines)
    assert any(line.startswith("rows ") and int(line.split()[1]) > 300 for line in lines)
    assert job.model is not None and job.model.artifact_uri.startswith(f"gs://{BUCKET}/")
    blob = job.model.artifact_uri.removeprefix(f"gs://{BUCKET}/") + "/saved_model.pb"
    assert vertex.storage.bucket(BUCKET).blob(blob).exists()
    native = gapic(vertex, "job").get_custom_job(name=job.id)
    pool = native.job_spec.worker_pool_specs[0]
    assert pool.python_package_spec.executor_image_uri == (
        "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-14.py310:latest")
    assert pool.machine_spec.machine_type == "n1-standard-4"
    events = [e.event for e in client.state.events(provider="vertex", kind="training_job", name=job.name)]
    assert events == ["job_start", "job_end"]


def test_a_failing_script_fails_the_job_with_the_log_tail(vertex: Any, tmp_path: Path) -> None:
    client = vertex_client(vertex)
    job = client.train(TrainingSpec(entry_point=str(_script(tmp_path)), inputs={"train": str(PENGUINS)},
                                    hyperparameters={"fail": True}))
    with pytest.raises(OperationFailed) as info:
        job.wait(timeout=60, progress=False)
    assert "non-zero status of 3" in str(info.value)
    assert "platform vertex" in (info.value.logs_tail or "")


def test_stop_cancels_a_running_job(vertex: Any, tmp_path: Path) -> None:
    vertex.configure(job_delay=30.0, run_training=False)
    client = vertex_client(vertex)
    job = client.train(TrainingSpec(entry_point=str(_script(tmp_path))))
    client.provider.stop_training_job(job.name)
    assert client.get_job(job.name).wait(timeout=10, progress=False, raise_on_failure=False).status is Status.STOPPED


def test_machine_types_accelerators_and_spot_reach_the_worker_pool(vertex: Any, tmp_path: Path) -> None:
    vertex.configure(run_training=False)
    client = vertex_client(vertex)
    job = client.train(TrainingSpec(entry_point=str(_script(tmp_path)), spot=True,
                                    resources={"size": "gpu-small", "instance_count": 3}))
    native = gapic(vertex, "job").get_custom_job(name=job.id)
    pools = native.job_spec.worker_pool_specs
    assert [p.replica_count for p in pools] == [1, 2]
    assert pools[0].machine_spec.accelerator_type.name == "NVIDIA_TESLA_T4"
    assert "tf-gpu" in pools[0].python_package_spec.executor_image_uri
    assert native.job_spec.scheduling.strategy.name == "SPOT"


# -- bad input: ConfigError naming the field, nothing created ---------------------------------------
@pytest.mark.parametrize(
    ("overrides", "spec", "field"),
    [
        ({"gcp_project": None}, {}, "providers.vertex.gcp_project"),
        ({"region": None}, {}, "providers.vertex.region"),
        ({}, {"tags": {"Team": "x"}}, "tags.Team"),
        ({}, {"tags": {"team": "Has Space"}}, "tags.team"),
        ({}, {"resources": {"instance_type": "n1-standrd-4"}}, "resources.instance_type"),
        ({}, {"resources": {"accelerator_type": "NVIDIA_TESLA_Z9", "accelerator_count": 1}},
         "resources.accelerator_type"),
        ({}, {"inputs": {"train": f"gs://{BUCKET}/missing/data.csv"}}, "inputs.train"),
        ({}, {"inputs": {"train": "gs://no-such-bucket-x/data.csv"}}, "inputs.train"),
    ],
)
def test_bad_input_is_a_config_error_naming_the_field_before_anything_is_created(
    vertex: Any, tmp_path: Path, overrides: dict[str, Any], spec: dict[str, Any], field: str
) -> None:
    client = vertex_client(vertex, **overrides)
    with pytest.raises(ConfigError) as info:
        client.train(TrainingSpec(entry_point=str(_script(tmp_path)), **spec))
    assert info.value.field == field
    assert vertex.stats()["creates"] == {}
    assert not [c for c in vertex.stats()["calls"] if c.startswith("POST")]


def test_bad_deploy_input_is_a_config_error(vertex: Any, tmp_path: Path) -> None:
    client = vertex_client(vertex)
    model = _trained(client, tmp_path).model
    for spec, field in (
        ({"resources": {"instance_type": "x1-giant"}}, "resources.instance_type"),
        ({"tags": {"unifiedml_X": "v"}}, "tags.unifiedml_X"),
        ({"capture": {"destination": "gs://bucket/x"}}, "capture.destination"),
    ):
        with pytest.raises(ConfigError) as info:
            client.deploy(model, DeploymentSpec(name="bad", **spec))
        assert info.value.field == field
    assert gapic(vertex, "endpoint").list_endpoints(parent=PARENT).endpoints == []


def test_import_model_checks_the_gs_path(vertex: Any) -> None:
    client = vertex_client(vertex)
    with pytest.raises(ConfigError) as info:
        client.provider.import_model(f"gs://{BUCKET}/nothing/here", name="imported")
    assert info.value.field == "artifact"
    vertex.storage.bucket(BUCKET).blob("models/a/saved_model.pb").upload_from_string(b"x")
    model = client.provider.import_model(f"gs://{BUCKET}/models/a", name="imported")
    assert model.id == f"{PARENT}/models/imported"
    assert client.provider.import_model(f"gs://{BUCKET}/models/a", name="imported").id == model.id
    assert model.tags[TAG_RESOURCE] == "model/imported"


# -- AutoML ------------------------------------------------------------------------------------
def test_automl_creates_a_dataset_and_a_tabular_pipeline_whose_model_deploys(vertex: Any) -> None:
    client = vertex_client(vertex)
    job = client.automl(AutoMLSpec(name="penguins-automl", data=str(PENGUINS), target="species",
                                   task="classification", objective="log_loss", time_budget="2h"))
    job.wait(timeout=30, progress=False)
    assert job.status is Status.SUCCEEDED
    assert job.model is not None and job.model.name == "penguins-automl"
    pipeline = gapic(vertex, "pipeline").get_training_pipeline(name=job.id)
    inputs = dict(pipeline.training_task_inputs)
    assert inputs["targetColumn"] == "species"
    assert inputs["trainBudgetMilliNodeHours"] == 2000
    assert inputs["optimizationObjective"] == "minimize-log-loss"
    assert {t["auto"]["columnName"] for t in inputs["transformations"]} >= {"island", "bill_length_mm"}
    assert pipeline.training_task_definition.endswith("automl_tabular_1.0.0.yaml")
    datasets = vertex.resources("datasets")
    assert len(datasets) == 1 and datasets[0]["metadata"]["inputConfig"]["gcsSource"]["uri"][0].startswith("gs://")
    assert client.automl(AutoMLSpec(name="penguins-automl", data=str(PENGUINS), target="species",
                                    task="classification")).id == job.id  # found again, not re-created
    # Vertex AI returns one model, with an evaluation: the leaderboard is that model, ranked by the objective
    (entry,) = job.leaderboard
    assert entry.name == "penguins-automl"
    want = EVALUATION_METRICS["classification"]
    assert (entry.objective_metric, entry.objective_value) == ("logLoss", want["logLoss"])
    assert entry.metrics == want
    assert entry.extra["metrics_schema"].endswith("classification_metrics_1.0.0.yaml")
    assert job.to_dict()["leaderboard"][0]["objective_metric"] == "logLoss"
    endpoint = client.deploy("penguins-automl", DeploymentSpec(name="automl-ep"))
    endpoint.wait(timeout=30, progress=False)
    assert client.predict(endpoint, [{"bill_length_mm": 40.0}]).predictions == [[40.0]]
    client.delete_endpoint("automl-ep")


@pytest.mark.parametrize(("spec", "field"), [
    ({"time_budget": "30m"}, "time_budget"),
    ({"time_budget": "100h"}, "time_budget"),
    ({"objective": "accuracy"}, "objective"),
    ({"target": "nope"}, "target"),
])
def test_automl_bad_input(vertex: Any, spec: dict[str, Any], field: str) -> None:
    client = vertex_client(vertex)
    base = {"data": str(PENGUINS), "target": "species", "task": "classification"}
    with pytest.raises(ConfigError) as info:
        client.automl(AutoMLSpec(**{**base, **spec}))
    assert info.value.field == field
    assert vertex.stats()["creates"] == {}


# -- long-running operations, traffic, blue/green --------------------------------------------------
def test_long_running_operations_are_polled_until_done(vertex: Any, tmp_path: Path) -> None:
    vertex.configure(operation_delay=0.3, deploy_delay=0.5)
    client = vertex_client(vertex)
    model = _trained(client, tmp_path).model
    endpoint = client.deploy(model, DeploymentSpec(name="lro"))
    assert endpoint.status is Status.CREATING
    endpoint.wait(timeout=30, progress=False)
    assert endpoint.status is Status.IN_SERVICE
    calls = vertex.stats()["calls"]
    assert calls.get("GET operations/*", 0) >= 2  # upload + create endpoint polled while done=false
    assert calls.get("GET endpoints/*/operations/*", 0) >= 1
    client.delete_endpoint("lro")


def test_traffic_split_canary_then_blue_green_switch(vertex: Any, tmp_path: Path) -> None:
    client = vertex_client(vertex)
    first = _trained(client, tmp_path).model
    second = _trained(client, tmp_path, epochs=2).model
    client.deploy(first, DeploymentSpec(name="split", resources={"size": "cpu-small"}, min_replicas=2)).wait(
        timeout=30, progress=False)
    canary = client.update_endpoint("split", second, DeploymentSpec(name="split",
                                                                    traffic={first.name: 80, second.name: 20}))
    assert canary.extra["traffic"] == {first.name: 80, second.name: 20}
    served = {client.predict("split", [{"x": 1.0}]).model for _ in range(40)}
    assert served == {first.name, second.name}
    switched = client.update_endpoint("split", second)
    assert switched.extra["traffic"] == {second.name: 100}
    assert [d["name"] for d in switched.extra["deployed_models"]] == [second.name]
    assert switched.resources == {"instance_type": "n1-standard-4", "replicas": 2}
    events = [(e.event, e.attrs.get("model")) for e in client.state.events(provider="vertex", kind="endpoint",
                                                                            name="split")
              if e.event in ("endpoint_up", "endpoint_down")]
    assert events == [("endpoint_up", first.name), ("endpoint_up", second.name), ("endpoint_down", first.name)]
    client.delete_endpoint("split")
    assert vertex.resources("endpoints") == []
    # The model the endpoint served is deleted with it; the one replaced earlier stays registered (rollback).
    assert [m["displayName"] for m in vertex.resources("models")] == [first.name]


def test_predict_translates_the_containers_answers(vertex: Any, tmp_path: Path) -> None:
    from unifiedml.emulators.vertex import PredictResult

    client = vertex_client(vertex)
    model = _trained(client, tmp_path).model
    client.deploy(model, DeploymentSpec(name="answers")).wait(timeout=30, progress=False)
    vertex.script_predict("answers", [PredictResult(predictions=[[0.1, 0.9]]),
                                      PredictResult(status=429, message="rate")])
    assert client.predict("answers", {"x": [1.0]}).predictions == [[0.1, 0.9]]
    assert client.predict("answers", [{"x": 1.0}]).predictions == [[1.0]]  # 429 retried, then the stub
    vertex.script_predict("answers", [PredictResult(status=403, message="denied")])
    with pytest.raises(PermissionDenied):
        client.predict("answers", [{"x": 1.0}])
    client.delete_endpoint("answers")
    with pytest.raises(NotFound):
        client.predict("answers", [{"x": 1.0}])


# -- monitoring and cost ------------------------------------------------------------------------
class _EmulatorRows:
    """A QueryRunner answering the logging query from the emulator's request-response log."""

    def __init__(self, vertex: Any) -> None:
        self.vertex = vertex
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def run(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.seen.append((sql, dict(params)))
        return [r for r in self.vertex.logged_rows() if r["endpoint"] == params["endpoint"]]


def test_request_response_logging_rows_reach_the_drift_frame(vertex: Any, tmp_path: Path) -> None:
    client = vertex_client(vertex)
    model = _trained(client, tmp_path).model
    endpoint = client.deploy(model, DeploymentSpec(name="logged", capture={"sample_percent": 100}))
    endpoint.wait(timeout=30, progress=False)
    assert endpoint.extra["logging"]["bigqueryDestination"]["outputUri"] == f"bq://{GCP_PROJECT}"
    client.predict("logged", [{"a": 1.0, "b": "x"}, {"a": 3.0, "b": "y"}])
    client.predict("logged", [[5.0, 6.0]])
    runner = _EmulatorRows(vertex)
    rows = list(client.provider.capture_records("logged", runner=runner))
    assert [(r["a"], r["b"], r["prediction"]) for r in rows[:2]] == [(1.0, "x", 1.0), (3.0, "y", 3.0)]
    assert rows[2]["f0"] == 5.0 and rows[2]["prediction"] == 5.5
    assert all(isinstance(r["ts"], datetime) for r in rows)
    sql, params = runner.seen[0]
    assert f"`{GCP_PROJECT}.logging_logged_logged.request_response_logging`" in sql
    assert params["endpoint"] == f"{PARENT}/endpoints/logged"

    # the same rows through the registered drift reader, into the engine
    from unifiedml.monitoring import check
    from unifiedml.monitoring.readers import registered_readers
    from unifiedml.providers.vertex.drift import RequestLogReader

    assert "vertex" in registered_readers()
    source = RequestLogReader(client.provider, runner).read("logged", since=datetime(2000, 1, 1, tzinfo=UTC))
    report = check({"a": [1.0, 2.0, 3.0] * 20, "b": ["x", "y"] * 30}, source, columns=["a", "b"])
    assert {f.name: f.n_current for f in report.features} == {"a": 2, "b": 2}
    client.delete_endpoint("logged")


def test_native_monitor_is_created_once_and_deleted(vertex: Any, tmp_path: Path) -> None:
    client = vertex_client(vertex)
    model = _trained(client, tmp_path).model
    client.deploy(model, DeploymentSpec(name="watched")).wait(timeout=30, progress=False)
    first = client.provider.create_native_monitor("watched", features=["x"])
    assert client.provider.create_native_monitor("watched", features=["x"]) == first
    job = vertex.resources("modelDeploymentMonitoringJobs")[0]
    assert job["endpoint"] == f"{PARENT}/endpoints/watched" and job["labels"][TAG_PROJECT] == "tests"
    client.provider.delete_native_monitor("watched")
    client.provider.delete_native_monitor("watched")
    assert vertex.resources("modelDeploymentMonitoringJobs") == []
    client.delete_endpoint("watched")


def test_billing_sql_and_row_mapping() -> None:
    from unifiedml.providers.vertex.billing import billed_costs

    class Rows:
        def run(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
            self.sql, self.params = sql, params
            return [{"usage_date": "2026-01-02", "service": "Vertex AI", "gcp_project": GCP_PROJECT,
                     "uml_project": "tests", "uml_resource": "endpoint--web", "currency": "USD",
                     "cost": 3.5, "credits": -0.5, "usage_amount": 24.0, "usage_unit": "hour"}]

    runner = Rows()
    records = billed_costs(runner, table="acct.billing.gcp_billing_export_v1_0123", since=datetime(2026, 1, 1),
                           until=datetime(2026, 2, 1), project="tests")
    assert "FROM `acct.billing.gcp_billing_export_v1_0123`" in runner.sql
    assert "service.description = 'Vertex AI'" in runner.sql
    assert "key = 'unifiedml-project' AND value = @project" in runner.sql
    assert runner.params == {"since": datetime(2026, 1, 1, tzinfo=UTC), "until": datetime(2026, 2, 1, tzinfo=UTC),
                             "project": "tests"}
    (record,) = records
    assert (record.amount, record.currency, record.kind) == (3.0, "USD", "billed")
    assert record.resource == "endpoint/web" and record.tags[TAG_RESOURCE] == "endpoint/web"
    assert record.start == datetime(2026, 1, 2, tzinfo=UTC)


def test_bigquery_runner_types_its_parameters() -> None:
    pytest.importorskip("google.cloud.bigquery")
    from unifiedml.providers.vertex.billing import BigQueryRunner

    params = BigQueryRunner.parameters({"since": datetime(2026, 1, 1, tzinfo=UTC), "project": None, "n": 3})
    assert [(p.name, p.type_) for p in params] == [("since", "TIMESTAMP"), ("project", "STRING"), ("n", "INT64")]


# -- labels, errors, the high-level SDK ------------------------------------------------------------
def test_labels_round_trip_and_follow_vertex_rules() -> None:
    from unifiedml.providers.vertex.naming import from_labels, to_labels

    tags = {TAG_PROJECT: "p", TAG_RESOURCE: "training_job/my-job-1", "unifiedml-run-id": "abc123"}
    labels = to_labels(tags)
    assert labels[TAG_RESOURCE] == "training_job--my-job-1"
    assert from_labels(labels) == tags
    long = to_labels({TAG_RESOURCE: "endpoint/" + "a" * 63})[TAG_RESOURCE]
    assert len(long) == 63


def test_google_errors_map_to_the_unifiedml_tree() -> None:
    from google.api_core import exceptions as gx
    from google.auth import exceptions as ax

    from unifiedml.errors import AlreadyExists, QuotaExceeded
    from unifiedml.providers.vertex.errors import translate

    cases = [
        (gx.ResourceExhausted("Too many requests"), Throttled),
        (gx.TooManyRequests("slow down"), Throttled),
        (gx.ResourceExhausted("Quota exceeded for quota metric 'custom_model_training_cpus' limit"), QuotaExceeded),
        (gx.InvalidArgument("bad"), ConfigError),
        (gx.BadRequest("bad"), ConfigError),
        (gx.PermissionDenied("no"), PermissionDenied),
        (gx.NotFound("gone"), NotFound),
        (gx.AlreadyExists("dup"), AlreadyExists),
        (gx.Unauthenticated("who"), AuthenticationError),
        (ax.DefaultCredentialsError("none"), AuthenticationError),
        (gx.ServiceUnavailable("later"), ProviderError),
    ]
    for exc, expected in cases:
        assert type(translate(exc, what="x")) is expected, exc
    assert translate(gx.ServiceUnavailable("later"), what="x").retryable
    auth = translate(gx.Unauthenticated("token=abcdef123456 expired"), what="x")
    assert "gcloud auth application-default login" in (auth.hint or "")
    assert "abcdef123456" not in str(auth)


def test_the_high_level_aiplatform_sdk_reads_what_the_provider_made(vertex: Any, tmp_path: Path) -> None:
    aiplatform = pytest.importorskip("google.cloud.aiplatform")
    from google.auth.credentials import AnonymousCredentials

    client = vertex_client(vertex)
    model = _trained(client, tmp_path).model
    client.deploy(model, DeploymentSpec(name="sdk")).wait(timeout=30, progress=False)
    aiplatform.init(project=GCP_PROJECT, location=REGION, credentials=AnonymousCredentials(),
                    api_transport="rest", api_endpoint=vertex.url)
    endpoint = aiplatform.Endpoint(f"{PARENT}/endpoints/sdk")
    assert endpoint.predict(instances=[{"x": 2.0}]).predictions == [[2.0]]
    assert [m.display_name for m in endpoint.list_models()] == [model.name]
    job = aiplatform.CustomJob.get(client.get_job(model.name).id)
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    assert json.loads(json.dumps(dict(job.labels)))[TAG_PROJECT] == "tests"
    client.delete_endpoint("sdk")


@pytest.mark.slow
def test_the_quickstart_tensorflow_script_trains_unchanged_and_its_savedmodel_lands_in_gcs(vertex: Any) -> None:
    pytest.importorskip("tensorflow")
    from tests.conftest import QUICKSTART

    client = vertex_client(vertex)
    job = client.train(TrainingSpec(entry_point=str(QUICKSTART / "train.py"), inputs={"train": str(PENGUINS)},
                                    hyperparameters={"epochs": 2}))
    job.wait(timeout=300, progress=False)
    prefix = job.model.artifact_uri.removeprefix(f"gs://{BUCKET}/")
    names = {b.name.removeprefix(prefix + "/") for b in vertex.storage.list_blobs(BUCKET, prefix=prefix + "/")}
    assert "saved_model.pb" in names and any(n.startswith("variables/") for n in names)
