"""Config-driven deploy: ``plan`` (read-only diff), ``apply`` (make it so), ``destroy``, ``gc``."""

from unifiedml.deploy.apply import ApplyResult, apply_plan, destroy
from unifiedml.deploy.plan import Plan, PlanItem, build_plan
from unifiedml.deploy.session import DeploySession

__all__ = ["ApplyResult", "DeploySession", "Plan", "PlanItem", "apply_plan", "build_plan", "destroy"]
