"""SageMaker-specific behaviour, against the AWS emulator with the real boto3 over HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import PENGUINS
from tests.providers.sagemaker.aws_fixtures import BUCKET, boto, sagemaker_client
from unifiedml import Client, TrainingSpec
from unifiedml.emulators.aws import AwsEmulator
from unifiedml.errors import AuthenticationError, ConfigError, NotFound
from unifiedml.providers.base import TAG_PROJECT, TAG_RESOURCE
from unifiedml.resources import Status
from unifiedml.specs import AutoMLSpec, DeploymentSpec


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "train.py"
    script.write_text("from unifiedml import runtime\nprint('hps', runtime.hyperparameters())\n")
    return script


def _train(client: Client, tmp_path: Path, name: str | None = None):
    job = client.train(
        TrainingSpec(
            name=name,
            entry_point=str(_script(tmp_path)),
            inputs={"train": str(PENGUINS)},
            hyperparameters={"epochs": 1},
        )
    )
    return job.wait(timeout=60, progress=False)


def test_training_job_passes_through_in_progress_and_streams_logs(aws: AwsEmulator, tmp_path: Path) -> None:
    # Long enough that train()'s own calls (upload, create, describe) finish inside it on a loaded machine:
    # with 0.5 s a busy CI run once saw the job already completed when train() returned.
    aws.configure(training_delay=2.0)
    client = sagemaker_client(aws)
    job = client.train(TrainingSpec(entry_point=str(_script(tmp_path)), inputs={"train": str(PENGUINS)}))
    assert job.status in (Status.PENDING, Status.RUNNING)
    lines = list(client.provider.wait_for_job(job.name, timeout=30) and client.logs(job.name))
    assert any("starting training job" in line for line in lines)
    job.refresh()
    assert job.status is Status.SUCCEEDED and job.model is not None
    assert job.model.artifact_uri.endswith(f"{job.name}/output/model.tar.gz")
    events = [e.event for e in client.state.events(kind="training_job", name=job.name)]
    assert events == ["job_start", "job_end"]
    assert client.state.events(kind="training_job", name=job.name)[0].attrs["instance_type"] == "ml.m5.large"


def test_unchanged_data_is_not_uploaded_twice(aws: AwsEmulator, tmp_path: Path) -> None:
    client = sagemaker_client(aws)
    _train(client, tmp_path)
    puts_after_first = aws.stats()["calls"].get("s3:PUT", 0)
    _train(client, tmp_path)
    # The second job re-uses the source archive and the data objects: no PUT at all.
    assert aws.stats()["calls"].get("s3:PUT", 0) == puts_after_first


def test_stop_training_job(aws: AwsEmulator, tmp_path: Path) -> None:
    aws.configure(training_delay=30)
    client = sagemaker_client(aws)
    job = client.train(TrainingSpec(entry_point=str(_script(tmp_path))))
    job.stop()
    job.wait(timeout=10, progress=False, raise_on_failure=False)
    assert job.status is Status.STOPPED
    job.stop()  # idempotent once ended


def test_automl_leaderboard_best_first_and_best_model_deploys(aws: AwsEmulator) -> None:
    client = sagemaker_client(aws)
    job = client.automl(
        AutoMLSpec(
            data=str(PENGUINS), target="species", task="classification", max_candidates=4, time_budget="10m"
        )
    )
    assert len(job.extra["native_name"]) <= 32
    job.wait(timeout=30, progress=False)
    assert job.status is Status.SUCCEEDED
    board = job.leaderboard
    assert len(board) == 4
    assert board[0].objective_metric == "Accuracy"  # three species: multiclass
    values = [c.objective_value for c in board]
    assert values == sorted(values, reverse=True)
    assert job.model is not None and job.model.extra["candidate"] == board[0].name
    request = boto(aws, "sagemaker").describe_auto_ml_job_v2(AutoMLJobName=job.extra["native_name"])
    config = request["AutoMLProblemTypeConfig"]["TabularJobConfig"]
    assert config["ProblemType"] == "MulticlassClassification"
    assert config["CompletionCriteria"] == {"MaxAutoMLJobRuntimeInSeconds": 600, "MaxCandidates": 4}
    endpoint = client.deploy(job.model, DeploymentSpec(name="automl-ep")).wait(timeout=30, progress=False)
    assert endpoint.model == job.name


def test_blue_green_update_keeps_serving_and_delete_cleans_everything(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    aws.configure(endpoint_delay=0.5)
    client = sagemaker_client(aws)
    blue = _train(client, tmp_path, name="blue").model
    green = _train(client, tmp_path, name="green").model
    endpoint = client.deploy(blue, DeploymentSpec(name="web")).wait(timeout=30, progress=False)
    first_config = endpoint.extra["endpoint_config"]
    updated = client.update_endpoint("web", green)
    assert updated.status is Status.UPDATING
    assert updated.model == "blue"  # the old fleet serves until the switch
    assert len(client.predict("web", [[1.0]]).predictions) == 1  # no downtime while updating
    updated.wait(timeout=30, progress=False)
    assert updated.model == "green" and updated.extra["endpoint_config"] != first_config
    assert updated.extra["capture"]["CaptureStatus"] == "Started"
    events = [e.event for e in client.state.events(kind="endpoint", name="web")]
    assert events == ["endpoint_up", "endpoint_down", "endpoint_up"]
    client.delete_endpoint("web")
    client.delete_endpoint("web")  # idempotent
    sm = boto(aws, "sagemaker")
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    with pytest.raises(NotFound):
        client.get_endpoint("web")


def test_data_capture_files_become_rows(aws: AwsEmulator, tmp_path: Path) -> None:
    client = sagemaker_client(aws)
    model = _train(client, tmp_path).model
    client.deploy(model, DeploymentSpec(name="captured")).wait(timeout=30, progress=False)
    rows_sent = [{"bill_length_mm": 39.1, "island": "Dream"}, {"bill_length_mm": 41.0, "island": "Biscoe"}]
    client.predict("captured", rows_sent)
    client.predict("captured", [{"bill_length_mm": 50.0, "island": "Torgersen"}])
    keys = [o["Key"] for o in boto(aws, "s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert any("/capture/captured/AllTraffic/" in k and k.endswith(".jsonl") for k in keys)
    rows = list(client.provider.capture_records("captured"))
    assert [r["bill_length_mm"] for r in rows] == [39.1, 41.0, 50.0]
    assert [r["island"] for r in rows] == ["Dream", "Biscoe", "Torgersen"]
    assert all(r["prediction"] == [0.5] and r["ts"] is not None for r in rows)


def test_drift_engine_reads_sagemaker_capture_through_its_reader(aws: AwsEmulator, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from unifiedml.monitoring import check
    from unifiedml.providers.sagemaker.drift import DataCaptureReader

    client = sagemaker_client(aws)
    model = _train(client, tmp_path).model
    client.deploy(model, DeploymentSpec(name="drifting")).wait(timeout=30, progress=False)
    client.predict("drifting", [{"bill_length_mm": 60.0 + i % 3, "island": "Dream"} for i in range(40)])
    from unifiedml.monitoring.readers import registered_readers

    assert "sagemaker" in registered_readers()
    source = DataCaptureReader(client.provider).read("drifting", since=datetime.now(UTC) - timedelta(hours=1))
    reference = {"bill_length_mm": [38.0 + (i % 9) for i in range(200)],
                 "island": ["Dream", "Biscoe", "Torgersen", "Biscoe"] * 50}
    report = check(reference, source, columns=["bill_length_mm", "island"])
    assert report.status == "drift"
    assert {f.name for f in report.features if f.drifted} == {"bill_length_mm", "island"}
    assert next(f for f in report.features if f.name == "bill_length_mm").n_current == 40


def test_native_monitor_schedule_and_executions(aws: AwsEmulator, tmp_path: Path) -> None:
    client = sagemaker_client(aws)
    model = _train(client, tmp_path).model
    client.deploy(model, DeploymentSpec(name="watched")).wait(timeout=30, progress=False)
    names = client.provider.create_native_monitor("watched", schedule="cron(0 * ? * * *)")
    assert names == client.provider.create_native_monitor("watched")  # idempotent
    schedule = boto(aws, "sagemaker").describe_monitoring_schedule(MonitoringScheduleName=names["schedule"])
    assert schedule["EndpointName"] == "watched" and schedule["MonitoringScheduleStatus"] == "Scheduled"
    import time

    time.sleep(0.5)
    executions = client.provider.monitor_executions(names["schedule"])
    assert executions and executions[0]["MonitoringExecutionStatus"] == "Completed"
    client.provider.delete_native_monitor(names["schedule"])
    client.provider.delete_native_monitor(names["schedule"])


def test_billed_cost_by_tag_and_list_prices(aws: AwsEmulator) -> None:
    aws.seed_costs(
        [
            {
                "ResultsByTime": [
                    {
                        "TimePeriod": {"Start": "2024-05-01", "End": "2024-05-02"},
                        "Total": {},
                        "Groups": [
                            {
                                "Keys": [f"{TAG_RESOURCE}$endpoint/web"],
                                "Metrics": {"UnblendedCost": {"Amount": "2.76", "Unit": "USD"}},
                            },
                            {
                                "Keys": [f"{TAG_RESOURCE}$training_job/blue"],
                                "Metrics": {"UnblendedCost": {"Amount": "0.12", "Unit": "USD"}},
                            },
                            {
                                "Keys": [f"{TAG_RESOURCE}$"],
                                "Metrics": {"UnblendedCost": {"Amount": "0.01", "Unit": "USD"}},
                            },
                        ],
                        "Estimated": True,
                    }
                ],
                "DimensionValueAttributes": [],
            }
        ]
    )
    client = sagemaker_client(aws, project="shop")
    records = client.provider.billed_costs(start=date(2024, 5, 1), end=date(2024, 5, 2))
    assert [(r.resource, r.amount) for r in records] == [
        ("endpoint/web", Decimal("2.76")),
        ("training_job/blue", Decimal("0.12")),
        (None, Decimal("0.01")),
    ]
    assert all(r.project == "shop" and r.estimated and r.currency == "USD" for r in records)
    aws.seed_prices(
        [("us-east-1", "ml.m5.large", "Hosting", 0.115), ("us-east-1", "ml.m5.large", "Training", 0.1)]
    )
    assert client.provider.list_price("ml.m5.large", component="Hosting") == Decimal("0.115")
    assert client.provider.list_price("ml.g5.48xlarge") is None
    assert TAG_PROJECT  # the filter key used above


def test_every_resource_carries_the_standard_tags(aws: AwsEmulator, tmp_path: Path) -> None:
    client = sagemaker_client(aws, project="tagged")
    model = _train(client, tmp_path, name="tagjob").model
    client.deploy(model, DeploymentSpec(name="tag-ep")).wait(timeout=30, progress=False)
    sm = boto(aws, "sagemaker")
    arns = [
        sm.describe_training_job(TrainingJobName="tagjob")["TrainingJobArn"],
        sm.describe_model(ModelName="tagjob")["ModelArn"],
        sm.describe_endpoint(EndpointName="tag-ep")["EndpointArn"],
        sm.list_endpoint_configs()["EndpointConfigs"][0]["EndpointConfigArn"],
    ]
    for arn in arns:
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
        assert tags[TAG_PROJECT] == "tagged" and tags[TAG_RESOURCE] and tags["unifiedml-run-id"]


# -- bad input: a ConfigError naming the field, before anything is created ----------------------
def _nothing_created(aws: AwsEmulator) -> None:
    assert aws.stats()["creates"] == {}
    assert not any(op.startswith("Create") for op in aws.stats()["calls"])


def test_unknown_instance_type_is_a_config_error(aws: AwsEmulator, tmp_path: Path) -> None:
    client = sagemaker_client(aws)
    with pytest.raises(ConfigError) as info:
        client.train(
            TrainingSpec(entry_point=str(_script(tmp_path)), resources={"instance_type": "ml.m5.huge"})
        )
    assert info.value.field == "resources.instance_type" and "ml.m5.xlarge" in (info.value.hint or "")
    _nothing_created(aws)


def test_role_that_is_not_an_arn_is_a_config_error(aws: AwsEmulator) -> None:
    with pytest.raises(ConfigError) as info:
        sagemaker_client(aws, role_arn="SageMakerRole")
    assert info.value.field == "providers.sagemaker.role_arn"
    _nothing_created(aws)


def test_missing_region_is_a_config_error(
    aws: AwsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    client = sagemaker_client(aws, region=None)
    with pytest.raises(ConfigError) as info:
        client.train(TrainingSpec(entry_point=str(_script(tmp_path))))
    assert info.value.field == "providers.sagemaker.region"
    _nothing_created(aws)


def test_missing_s3_input_is_a_config_error(aws: AwsEmulator, tmp_path: Path) -> None:
    client = sagemaker_client(aws)
    with pytest.raises(ConfigError) as info:
        client.train(
            TrainingSpec(
                entry_point=str(_script(tmp_path)), inputs={"train": f"s3://{BUCKET}/no/such/prefix/"}
            )
        )
    assert info.value.field == "inputs.train"
    _nothing_created(aws)


def test_missing_credentials_say_how_to_configure_them(
    aws: AwsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = sagemaker_client(aws)
    with pytest.raises(AuthenticationError) as info:
        client.get_endpoint("anything")
    assert "aws configure" in (info.value.hint or "")
    assert "wJalrXUtnFEMI" not in str(info.value) + (info.value.hint or "")
