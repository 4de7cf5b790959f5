"""Endpoint autoscaling through Application Auto Scaling, against the AWS emulator with the real boto3."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.providers.sagemaker.aws_fixtures import boto, sagemaker_client
from tests.providers.sagemaker.test_sagemaker_provider import _train
from unifiedml.emulators.aws import AwsEmulator
from unifiedml.errors import ConfigError
from unifiedml.providers.sagemaker import scaling
from unifiedml.specs import DeploymentSpec


def _target(aws: AwsEmulator) -> dict | None:
    found = boto(aws, "application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    targets = found["ScalableTargets"]
    assert len(targets) <= 1
    return targets[0] if targets else None


def _policy(aws: AwsEmulator) -> dict:
    found = boto(aws, "application-autoscaling").describe_scaling_policies(ServiceNamespace="sagemaker")
    (policy,) = found["ScalingPolicies"]
    return policy


def test_autoscaling_needs_its_target_and_fails_before_anything_is_made(aws: AwsEmulator, tmp_path: Path) -> None:
    client = sagemaker_client(aws)
    model = _train(client, tmp_path, name="m").model
    with pytest.raises(ConfigError) as err:
        client.deploy(model, DeploymentSpec(name="web", min_replicas=1, max_replicas=4))
    assert err.value.field == "provider_options.sagemaker.invocations_per_instance"
    assert "no default" in (err.value.hint or "")
    with pytest.raises(ConfigError) as err:
        client.deploy(model, DeploymentSpec(name="web", max_replicas=4,
                                            provider_options={"sagemaker": {"invocation_per_instance": 70}}))
    assert err.value.hint == "did you mean 'invocations_per_instance'?"
    with pytest.raises(ConfigError, match="applies only to an autoscaling endpoint"):
        client.deploy(model, DeploymentSpec(name="web",
                                            provider_options={"sagemaker": {"invocations_per_instance": 70}}))
    assert boto(aws, "sagemaker").list_endpoints()["Endpoints"] == []


def test_autoscaling_is_registered_once_the_endpoint_serves_and_removed_with_it(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    aws.configure(endpoint_delay=0.3)
    client = sagemaker_client(aws)
    model = _train(client, tmp_path, name="m").model
    spec = DeploymentSpec(name="web", min_replicas=2, max_replicas=6,
                          provider_options={"sagemaker": {"invocations_per_instance": 70, "scale_in_cooldown": 300}})
    endpoint = client.deploy(model, spec)
    assert endpoint.extra["autoscaling"] == "min=2 max=6 target=70 in=300"
    assert _target(aws) is None  # a variant is registered only once it serves
    endpoint.wait(timeout=30, progress=False)
    target = _target(aws)
    assert target is not None
    assert (target["ResourceId"], target["ScalableDimension"]) == ("endpoint/web/variant/AllTraffic",
                                                                  "sagemaker:variant:DesiredInstanceCount")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    policy = _policy(aws)
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert config["TargetValue"] == 70.0 and config["ScaleInCooldown"] == 300
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    registrations = aws.stats()["calls"].get("RegisterScalableTarget", 0)
    endpoint.wait(timeout=30, progress=False)  # settled already: nothing registered again
    assert aws.stats()["calls"].get("RegisterScalableTarget", 0) == registrations

    # a new instance type: deregistered before UpdateEndpoint (AWS refuses it otherwise), registered again after
    bigger = DeploymentSpec(name="web", resources={"instance_type": "ml.c5.xlarge"})
    updated = client.update_endpoint("web", model, bigger)
    assert _target(aws) is None
    updated.wait(timeout=30, progress=False)
    assert (_target(aws) or {}).get("MaxCapacity") == 6  # the plan was kept: the spec did not set max_replicas

    # turning autoscaling off removes the registration and the plan
    off = client.update_endpoint("web", model, DeploymentSpec(name="web", max_replicas=None))
    assert _target(aws) is None and off.extra["autoscaling"] is None
    off.wait(timeout=30, progress=False)
    assert _target(aws) is None

    client.update_endpoint("web", model, DeploymentSpec(
        name="web", max_replicas=3, provider_options={"sagemaker": {"invocations_per_instance": 20}})
    ).wait(timeout=30, progress=False)
    assert (_target(aws) or {}).get("MaxCapacity") == 3
    client.delete_endpoint("web")
    assert _target(aws) is None
    assert boto(aws, "sagemaker").list_endpoints()["Endpoints"] == []


def test_scaling_plan_tag_round_trips_and_unreadable_tags_are_ignored() -> None:
    plan = scaling.ScalingPlan(1, 8, 70.5, None, 60)
    assert plan.to_tag() == "min=1 max=8 target=70.5 out=60"
    assert scaling.ScalingPlan.from_tag(plan.to_tag()) == plan
    assert scaling.ScalingPlan.from_tag("min=one") is None
