"""Endpoint autoscaling through Application Auto Scaling: what a deployment asks for, and applying it.

A SageMaker endpoint scales when its production variant is registered as a
scalable target (namespace ``sagemaker``, resource
``endpoint/<endpoint>/variant/<variant>``, dimension
``sagemaker:variant:DesiredInstanceCount``, minimum at least 1) and a scaling
policy is attached; unifiedml attaches one target-tracking policy on the
predefined metric ``SageMakerVariantInvocationsPerInstance`` (invocations per
instance per minute). AWS documents these in "Register a model" and "Apply a
scaling policy" (docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-policy.html
and endpoint-auto-scaling-add-code-apply.html). The target value has no AWS
default, so a deployment that asks for ``max_replicas > min_replicas`` must
give it: ``provider_options={"sagemaker": {"invocations_per_instance": 70}}``.

Registration needs a variant that serves, so it happens when the endpoint is
first seen in service (``Endpoint.wait()``), from the plan kept in a tag on
the endpoint (it survives a lost state file and is read back by any process).
Changing a registered variant's instance type is refused by SageMaker until
its policies are deleted and it is deregistered (endpoint-scaling-update.html):
the provider removes the scaling before such an update, and the next wait
registers it again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from unifiedml.errors import ConfigError, NotFound
from unifiedml.providers.sagemaker.errors import call
from unifiedml.specs import DeploymentSpec

__all__ = ["DEPLOY_OPTIONS", "PLAN_TAG", "ScalingPlan", "apply", "describe", "plan_from", "remove"]

PROVIDER = "sagemaker"
NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
POLICY = "unifiedml-invocations-per-instance"
#: The endpoint tag holding the plan (``min=1 max=4 target=70 in=300 out=60``).
PLAN_TAG = "unifiedml-autoscaling"
#: ``provider_options["sagemaker"]`` keys a deployment accepts.
DEPLOY_OPTIONS = {
    "invocations_per_instance": "target average invocations per instance per minute (required to autoscale)",
    "scale_in_cooldown": "seconds between scale-in activities (AWS's default when absent)",
    "scale_out_cooldown": "seconds between scale-out activities (AWS's default when absent)",
}


@dataclass(frozen=True)
class ScalingPlan:
    """Instance bounds and the target-tracking policy of one endpoint variant."""

    min_capacity: int
    max_capacity: int
    target: float
    scale_in_cooldown: int | None = None
    scale_out_cooldown: int | None = None

    def to_tag(self) -> str:
        parts = [f"min={self.min_capacity}", f"max={self.max_capacity}", f"target={self.target:g}"]
        if self.scale_in_cooldown is not None:
            parts.append(f"in={self.scale_in_cooldown}")
        if self.scale_out_cooldown is not None:
            parts.append(f"out={self.scale_out_cooldown}")
        return " ".join(parts)

    @classmethod
    def from_tag(cls, value: str) -> ScalingPlan | None:
        """The plan a tag holds; None for a tag this version cannot read (never an exception)."""
        try:
            fields = dict(part.split("=", 1) for part in value.split())
            return cls(int(fields["min"]), int(fields["max"]), float(fields["target"]),
                       int(fields["in"]) if "in" in fields else None,
                       int(fields["out"]) if "out" in fields else None)
        except (KeyError, ValueError):
            return None


def _check_options(spec: DeploymentSpec) -> dict[str, Any]:
    options = spec.options_for(PROVIDER)
    for key in options:
        if key not in DEPLOY_OPTIONS:
            import difflib

            close = difflib.get_close_matches(key, list(DEPLOY_OPTIONS), n=1)
            raise ConfigError(
                f"unknown SageMaker deployment option {key!r}",
                field=f"provider_options.sagemaker.{key}",
                provider=PROVIDER,
                hint=f"did you mean {close[0]!r}?" if close else "accepted: " + ", ".join(sorted(DEPLOY_OPTIONS)),
            )
    return options


def plan_from(spec: DeploymentSpec) -> ScalingPlan | None:
    """The scaling a deployment asks for (None: a fixed instance count); ConfigError for bad options.

    Checked before anything is created, so a missing target fails the deploy
    with the field to set, not a half-made endpoint.
    """
    options = _check_options(spec)
    if spec.max_replicas is None or spec.max_replicas <= max(spec.min_replicas, 1):
        for key in options:
            raise ConfigError(
                f"{key} applies only to an autoscaling endpoint",
                field=f"provider_options.sagemaker.{key}",
                provider=PROVIDER,
                hint="set max_replicas above min_replicas, or drop the option",
            )
        return None
    target = options.get("invocations_per_instance")
    if target is None:
        raise ConfigError(
            "an autoscaling SageMaker endpoint needs its target invocations per instance per minute",
            field="provider_options.sagemaker.invocations_per_instance",
            provider=PROVIDER,
            hint="AWS has no default for it: choose one from a load test, e.g. "
            'provider_options={"sagemaker": {"invocations_per_instance": 70}}',
        )
    if isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target) or target <= 0:
        raise ConfigError("invocations_per_instance must be a positive number",
                          field="provider_options.sagemaker.invocations_per_instance", provider=PROVIDER)
    cooldowns: dict[str, int | None] = {}
    for key in ("scale_in_cooldown", "scale_out_cooldown"):
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ConfigError(f"{key} must be a whole number of seconds >= 0",
                              field=f"provider_options.sagemaker.{key}", provider=PROVIDER)
        cooldowns[key] = value
    return ScalingPlan(max(spec.min_replicas, 1), spec.max_replicas, float(target),
                       cooldowns["scale_in_cooldown"], cooldowns["scale_out_cooldown"])


def _resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def describe(client: Any, endpoint: str, variant: str) -> ScalingPlan | None:
    """The scaling registered for a variant now (None when it is not a scalable target)."""
    rid = _resource_id(endpoint, variant)
    targets = call(lambda: client.describe_scalable_targets(ServiceNamespace=NAMESPACE, ResourceIds=[rid],
                                                             ScalableDimension=DIMENSION),
                   what=f"describe scalable target {rid}")
    found = targets.get("ScalableTargets", [])
    if not found:
        return None
    policies = call(lambda: client.describe_scaling_policies(ServiceNamespace=NAMESPACE, ResourceId=rid,
                                                              ScalableDimension=DIMENSION, PolicyNames=[POLICY]),
                    what=f"describe scaling policies of {rid}")
    config = next((p.get("TargetTrackingScalingPolicyConfiguration", {})
                   for p in policies.get("ScalingPolicies", []) if p.get("PolicyName") == POLICY), {})
    return ScalingPlan(int(found[0]["MinCapacity"]), int(found[0]["MaxCapacity"]),
                       float(config.get("TargetValue", math.nan)),
                       config.get("ScaleInCooldown"), config.get("ScaleOutCooldown"))


def apply(client: Any, endpoint: str, variant: str, plan: ScalingPlan) -> None:
    """Register the variant with the plan's bounds and attach the policy. Idempotent (both calls upsert)."""
    rid = _resource_id(endpoint, variant)
    call(lambda: client.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=rid,
                                                  ScalableDimension=DIMENSION, MinCapacity=plan.min_capacity,
                                                  MaxCapacity=plan.max_capacity),
         what=f"register scalable target {rid}")
    config: dict[str, Any] = {"TargetValue": plan.target,
                              "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC}}
    if plan.scale_in_cooldown is not None:
        config["ScaleInCooldown"] = plan.scale_in_cooldown
    if plan.scale_out_cooldown is not None:
        config["ScaleOutCooldown"] = plan.scale_out_cooldown
    call(lambda: client.put_scaling_policy(PolicyName=POLICY, ServiceNamespace=NAMESPACE, ResourceId=rid,
                                           ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
                                           TargetTrackingScalingPolicyConfiguration=config),
         what=f"put scaling policy on {rid}")


def remove(client: Any, endpoint: str, variant: str) -> None:
    """Delete the policy and deregister the variant. Idempotent (absent ones are fine)."""
    rid = _resource_id(endpoint, variant)
    try:
        call(lambda: client.delete_scaling_policy(PolicyName=POLICY, ServiceNamespace=NAMESPACE, ResourceId=rid,
                                                  ScalableDimension=DIMENSION),
             what=f"delete scaling policy of {rid}")
    except NotFound:
        pass
    try:
        call(lambda: client.deregister_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=rid,
                                                        ScalableDimension=DIMENSION),
             what=f"deregister scalable target {rid}")
    except NotFound:
        pass
