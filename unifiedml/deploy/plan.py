"""``plan``: desired (the file) vs recorded (the state store) vs live (each provider's describe).

Every model and endpoint in the file gets one :class:`PlanItem` with an
action: ``create``, ``update`` (in place), ``replace`` (delete then create),
``delete`` (recorded, gone from the file) or ``noop``; with the reasons and
the fields that differ. Nothing is changed by planning: it only reads.

What the deploy layer records (kinds ``config-model`` / ``config-endpoint`` in
the state store's ``resources`` table) is the *logical* resource: the name in
the file, the provider, the native name it maps to and the hash of its desired
configuration. Native names are deterministic (a model version is
``<model>-<hash8>``, an endpoint keeps its name), so a re-run after an
interrupted apply finds what the interrupted run made instead of making it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from unifiedml.config.loader import LoadedConfig
from unifiedml.errors import NotFound, UnifiedMLError
from unifiedml.providers.base import Capability, Provider
from unifiedml.resources import Status
from unifiedml.state import StateStore, config_hash

logger = logging.getLogger(__name__)

__all__ = ["Action", "Plan", "PlanItem", "build_plan", "model_version_name"]

Action = Literal["create", "update", "replace", "delete", "noop"]
KIND_MODEL = "config-model"
KIND_ENDPOINT = "config-endpoint"
KIND_MONITOR = "config-monitor"
MANAGED_TAG = "unifiedml-managed-by"


@dataclass
class PlanItem:
    """One resource's planned change."""

    kind: Literal["model", "endpoint", "monitor"]
    name: str
    provider: str
    action: Action
    native_name: str
    config_hash: str | None
    desired: dict[str, Any] | None = None
    reasons: list[str] = field(default_factory=list)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    cost_per_hour: float | None = None
    currency: str | None = None

    @property
    def cost_per_month(self) -> float | None:
        """30-day month at the planned size, or None when the price is unknown."""
        return None if self.cost_per_hour is None else self.cost_per_hour * 24 * 30

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "provider": self.provider,
            "action": self.action,
            "native_name": self.native_name,
            "reasons": self.reasons,
            "changes": {k: {"from": a, "to": b} for k, (a, b) in self.changes.items()},
            "cost_per_hour": self.cost_per_hour,
            "cost_per_month": self.cost_per_month,
            "currency": self.currency,
        }


@dataclass
class Plan:
    """The whole plan, in execution order (models, endpoints, then deletions in reverse)."""

    project: str
    items: list[PlanItem]
    #: Set when applying would push a budget's forecast over; apply refuses such a plan.
    budget_error: str | None = None

    @property
    def has_changes(self) -> bool:
        return any(i.action != "noop" for i in self.items)

    def counts(self) -> dict[str, int]:
        out = {a: 0 for a in ("create", "update", "replace", "delete", "noop")}
        for item in self.items:
            out[item.action] += 1
        return out

    def total_cost_per_hour(self) -> tuple[float, int]:
        """(sum of known hourly costs of resources that will exist, number with an unknown price)."""
        total, unknown = 0.0, 0
        for item in self.items:
            if item.kind != "endpoint" or item.action == "delete":
                continue
            if item.cost_per_hour is None:
                unknown += 1
            else:
                total += item.cost_per_hour
        return total, unknown

    def to_dict(self) -> dict[str, Any]:
        total, unknown = self.total_cost_per_hour()
        return {
            "project": self.project,
            "has_changes": self.has_changes,
            "counts": self.counts(),
            "items": [i.to_dict() for i in self.items],
            "total_cost_per_hour": total,
            "total_cost_per_month": total * 24 * 30,
            "resources_with_unknown_price": unknown,
            "budget_error": self.budget_error,
        }


def model_version_name(model: str, chash: str) -> str:
    """The native name of one version of a file's model: ``<model>-<first 8 of its config hash>``."""
    return f"{model[:54].rstrip('-')}-{chash[:8]}"


def _model_payload(loaded: LoadedConfig, name: str) -> dict[str, Any]:
    mc = loaded.config.models[name]
    payload = mc.model_dump(mode="json", exclude_none=True)
    payload["provider"] = loaded.config.model_provider(name)
    # Paths are part of the identity only as resolved absolute paths.
    if mc.artifact:
        payload["artifact"] = loaded.resolve(mc.artifact)
    if mc.training:
        t = payload["training"]
        if t.get("entry_point"):
            t["entry_point"] = loaded.resolve(t["entry_point"])
        if t.get("source_dir"):
            t["source_dir"] = loaded.resolve(t["source_dir"])
        t["inputs"] = {k: {**v, "uri": loaded.resolve(v["uri"])} for k, v in t.get("inputs", {}).items()}
    if mc.automl:
        payload["automl"]["data"]["uri"] = loaded.resolve(mc.automl.data.uri)
    return payload


def _diff(old: dict[str, Any] | None, new: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    old = old or {}
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(_diff(a, b, f"{prefix}{key}."))
        elif a != b:
            out[f"{prefix}{key}"] = (a, b)
    return out


def build_plan(
    loaded: LoadedConfig,
    *,
    state: StateStore,
    provider_for: Callable[[str], Provider],
    price_for: Callable[[PlanItem], tuple[float | None, str | None]] | None = None,
) -> Plan:
    """Compare the file with the state store and the live resources. Reads only.

    ``provider_for(name)`` returns a configured provider; ``price_for(item)``
    returns (hourly price, currency) for an endpoint item, or (None, None) when unknown.
    """
    config = loaded.config
    items: list[PlanItem] = []
    recorded_models = {r.name: r for r in state.list_resources(kind=KIND_MODEL, project=config.project)}
    recorded_endpoints = {r.name: r for r in state.list_resources(kind=KIND_ENDPOINT, project=config.project)}
    recorded_monitors = {r.name: r for r in state.list_resources(kind=KIND_MONITOR, project=config.project)}

    model_hashes: dict[str, str] = {}
    model_actions: dict[str, Action] = {}
    for name in config.models:
        provider_name = config.model_provider(name)
        payload = _model_payload(loaded, name)
        chash = config_hash(payload)
        model_hashes[name] = chash
        native = model_version_name(name, chash)
        item = PlanItem("model", name, provider_name, "noop", native, chash, desired=payload)
        rec = recorded_models.get(name)
        provider = provider_for(provider_name)
        live = _live_model(provider, native)
        if rec is None:
            item.action = "create" if live is None else "noop"
            item.reasons.append("new in the file" if live is None else "found live from an interrupted apply")
        elif rec.config_hash != chash:
            item.action = "replace"
            item.reasons.append("its definition changed: a new version will be built")
            item.changes = _diff(rec.spec, payload)
        elif live is None:
            item.action = "create"
            item.reasons.append(f"recorded, but {native!r} is not found live")
        items.append(item)
        model_actions[name] = item.action

    for name, ep in config.endpoints.items():
        provider_name = config.endpoint_provider(name)
        provider = provider_for(provider_name)
        model_native = model_version_name(ep.model, model_hashes[ep.model])
        desired = {**ep.deployment_spec(name), "model": model_native}
        chash = config_hash(desired)
        item = PlanItem("endpoint", name, provider_name, "noop", name, chash, desired=desired)
        rec = recorded_endpoints.get(name)
        live = _live_endpoint(provider, name)
        can_update = provider.supports(Capability.UPDATE_ENDPOINT)
        if live is None:
            item.action = "create"
            item.reasons.append("new in the file" if rec is None else "recorded, but not found live")
        elif live.status in (Status.FAILED,):
            item.action = "replace"
            item.reasons.append(f"live endpoint is {live.status.value}")
        elif rec is None:
            if live.model == model_native:
                item.reasons.append("found live from an interrupted apply")
            else:
                item.action = "update" if can_update else "replace"
                item.reasons.append(f"exists live serving {live.model!r} but not recorded")
                item.changes = {"model": (live.model, model_native)}
        else:
            item.changes = _diff(rec.spec, desired)
            if live.model != (rec.spec or {}).get("model"):
                item.reasons.append(f"drift: live serves {live.model!r}, recorded {(rec.spec or {}).get('model')!r}")
                item.changes.setdefault("model", (live.model, model_native))
            if rec.config_hash != chash or live.model != model_native:
                # Providers that can update in place (blue/green) take any change that way; the
                # others are replaced. Host and port cannot move under a running endpoint.
                moves = bool({"host", "port"} & set(item.changes))
                item.action = "update" if (can_update and not moves) else "replace"
                if not item.reasons:
                    item.reasons.append("its definition changed")
        if price_for is not None:
            item.cost_per_hour, item.currency = price_for(item)
        items.append(item)

    for name, mon in config.monitors.items():
        provider_name = config.endpoint_provider(mon.endpoint)
        desired = {**mon.monitor_spec(name, loaded.resolve(mon.reference)), "endpoint": mon.endpoint,
                   "provider": provider_name}
        chash = config_hash(desired)
        item = PlanItem("monitor", name, provider_name, "noop", name, chash, desired=desired)
        rec = recorded_monitors.get(name)
        live = _live_schedule(state, name)
        if live is None:
            item.action = "create"
            item.reasons.append("new in the file" if rec is None else "recorded, but its schedule is gone")
        elif rec is None or rec.config_hash != chash:
            item.action = "update"
            item.reasons.append("its definition changed" if rec else "found live, not recorded")
            item.changes = _diff(rec.spec if rec else None, desired)
        items.append(item)

    # Deletions: recorded by a previous apply of this project, gone from the file (reverse order).
    for name, rec in recorded_monitors.items():
        if name not in config.monitors:
            items.append(PlanItem("monitor", name, rec.provider, "delete", rec.native_id or name, None,
                                  reasons=["no longer in the file"]))
    for name, rec in recorded_endpoints.items():
        if name not in config.endpoints:
            items.append(PlanItem("endpoint", name, rec.provider, "delete", rec.native_id or name, None,
                                  reasons=["no longer in the file"]))
    for name, rec in recorded_models.items():
        if name not in config.models:
            items.append(PlanItem("model", name, rec.provider, "delete", rec.native_id or name, None,
                                  reasons=["no longer in the file"]))
    return Plan(project=config.project, items=items)


def _live_model(provider: Provider, native: str) -> Any:
    try:
        return provider.get_model(native)
    except NotFound:
        return None
    except UnifiedMLError as exc:
        logger.debug("describe model %s on %s failed: %s", native, provider.name, exc)
        raise


def _live_schedule(state: StateStore, name: str) -> Any:
    from unifiedml.monitoring import db

    try:
        return db.get_schedule(db.open_store(state), name)
    except NotFound:
        return None


def _live_endpoint(provider: Provider, name: str) -> Any:
    try:
        return provider.get_endpoint(name)
    except NotFound:
        return None
