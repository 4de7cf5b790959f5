"""plan / apply / destroy against SageMaker through the AWS emulator, with the real boto3."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tests.providers.sagemaker.aws_fixtures import BUCKET, ROLE, boto
from unifiedml.deploy import DeploySession
from unifiedml.emulators.aws import AwsEmulator


def _artifact(aws: AwsEmulator) -> str:
    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w:gz") as tar:
        info = tarfile.TarInfo("1/placeholder.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    boto(aws, "s3").put_object(Bucket=BUCKET, Key="models/clf.tar.gz", Body=blob.getvalue())
    return f"s3://{BUCKET}/models/clf.tar.gz"


def _config(tmp_path: Path, aws: AwsEmulator, artifact: str, endpoints: dict[str, str]) -> Path:
    lines = ["project: smdeploy", "providers:", "  sagemaker:", "    region: us-east-1", f"    role_arn: {ROLE}",
             f"    bucket: {BUCKET}", f"    endpoint_url: {aws.url}", "    poll_initial: 0.05", "    poll_cap: 0.2",
             "models:", "  clf:", f"    artifact: {artifact}", "endpoints:" if endpoints else "endpoints: {}"]
    for name, itype in endpoints.items():
        lines += [f"  {name}:", "    model: clf", f"    instance_type: {itype}"]
    path = tmp_path / "unifiedml.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_apply_is_idempotent_detects_drift_and_destroys(aws: AwsEmulator, tmp_path: Path) -> None:
    artifact = _artifact(aws)
    cfg = _config(tmp_path, aws, artifact, {"web-a": "ml.m5.large", "web-b": "ml.m5.large"})
    session = DeploySession.from_file(cfg)
    plan = session.plan()
    assert [(i.kind, i.name, i.action) for i in plan.items] == [
        ("model", "clf", "create"), ("endpoint", "web-a", "create"), ("endpoint", "web-b", "create")]
    assert session.apply(plan).ok
    sm = boto(aws, "sagemaker")
    assert sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]) == ["web-a", "web-b"]
    def create_calls() -> int:
        return sum(n for op, n in aws.stats()["calls"].items() if op.startswith("Create"))

    # applying the same file twice changes nothing the second time: not one Create* call
    before = create_calls()
    again = DeploySession.from_file(cfg)
    assert not again.plan().has_changes
    assert again.apply().ok
    assert create_calls() == before

    # drift: an endpoint deleted outside unifiedml is planned for creation again
    sm.delete_endpoint(EndpointName="web-b")
    items = {i.name: i for i in DeploySession.from_file(cfg).plan().items}
    assert items["web-b"].action == "create"
    assert items["web-a"].action == "noop"

    # a changed instance type is an update in place (a new endpoint config, blue/green)
    cfg = _config(tmp_path, aws, artifact, {"web-a": "ml.m5.xlarge", "web-b": "ml.m5.large"})
    plan = DeploySession.from_file(cfg).plan()
    items = {i.name: i for i in plan.items}
    assert items["web-a"].action == "update"  # SageMaker updates in place
    assert "resources.instance_type" in items["web-a"].changes
    assert DeploySession.from_file(cfg).apply(plan).ok
    assert not DeploySession.from_file(cfg).plan().has_changes

    result = DeploySession.from_file(cfg).destroy()
    assert result.ok
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_models()["Models"] == []
    assert DeploySession.from_file(cfg).destroy().ok  # idempotent


def test_plan_json_prices_are_unknown_not_zero(aws: AwsEmulator, tmp_path: Path) -> None:
    cfg = _config(tmp_path, aws, _artifact(aws), {"web": "ml.m5.large"})
    data = DeploySession.from_file(cfg).plan().to_dict()
    web = next(i for i in data["items"] if i["name"] == "web")
    assert web["cost_per_hour"] is None  # no shipped SageMaker price: unknown, never 0
    assert data["resources_with_unknown_price"] == 1
    json.dumps(data)
