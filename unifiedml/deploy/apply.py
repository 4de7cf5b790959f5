"""``apply`` and ``destroy``: make the plan so, safely re-runnable.

* Dependency order: an endpoint starts as soon as its own model is ready, a
  monitor as soon as its endpoint is; deletions run after, in reverse
  (monitors, endpoints, then models). Independent
  resources run in parallel, at most ``parallelism`` at a time.
* An intent is written to the journal before each change (``config-model`` /
  ``config-endpoint``) and closed after it; providers journal their own creates
  too. A run killed half way leaves pending intents; the next ``plan`` looks at
  what is live (native names are deterministic) and the next ``apply``
  converges, then closes the stale intents as reconciled.
* Applying the same file twice changes nothing the second time: every item's
  plan action is ``noop``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from unifiedml.config.loader import LoadedConfig
from unifiedml.deploy.plan import KIND_ENDPOINT, KIND_MODEL, KIND_MONITOR, MANAGED_TAG, Plan, PlanItem
from unifiedml.errors import NotFound, UnifiedMLError
from unifiedml.providers.base import Provider
from unifiedml.specs import AutoMLSpec, DeploymentSpec, TrainingSpec
from unifiedml.state import ResourceRecord, StateStore

logger = logging.getLogger(__name__)

__all__ = ["ApplyResult", "apply_plan", "destroy"]

_KIND = {"model": KIND_MODEL, "endpoint": KIND_ENDPOINT, "monitor": KIND_MONITOR}

#: Called with (item, phase, message) as work progresses; phase is start|done|failed.
Progress = Callable[[PlanItem, str, str], None]


@dataclass
class ApplyResult:
    """What an apply did: per-item outcome and the errors of those that failed."""

    done: list[PlanItem] = field(default_factory=list)
    failed: list[tuple[PlanItem, BaseException]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _noop_progress(item: PlanItem, phase: str, message: str) -> None:
    logger.info("%s %s/%s: %s", phase, item.kind, item.name, message)


class _Applier:
    def __init__(
        self,
        loaded: LoadedConfig,
        plan: Plan,
        *,
        state: StateStore,
        provider_for: Callable[[str], Provider],
        progress: Progress,
        wait_timeout: float,
    ) -> None:
        self.loaded, self.plan, self.state = loaded, plan, state
        self.provider_for, self.progress, self.wait_timeout = provider_for, progress, wait_timeout
        self.project = loaded.config.project
        self._lock = threading.Lock()

    # -- records -------------------------------------------------------------
    def _record(self, item: PlanItem) -> None:
        self.state.record_resource(
            ResourceRecord(
                provider=item.provider,
                kind=_KIND[item.kind],
                name=item.name,
                native_id=item.native_name,
                project=self.project,
                config_hash=item.config_hash,
                spec=item.desired,
                tags={MANAGED_TAG: "config"},
                extra={"file": str(self.loaded.path) if self.loaded.path else None},
            )
        )

    def _intent(self, item: PlanItem) -> str:
        return self.state.begin_intent(
            provider=item.provider,
            kind=_KIND[item.kind],
            name=item.name,
            action=item.action,
            config_hash=item.config_hash,
        )

    # -- models --------------------------------------------------------------
    def _tags(self, item: PlanItem) -> dict[str, str]:
        return {MANAGED_TAG: "config", "unifiedml-config-name": item.name}

    def make_model(self, item: PlanItem) -> None:
        provider = self.provider_for(item.provider)
        mc = self.loaded.config.models[item.name]
        desired = item.desired or {}
        if mc.artifact:
            provider.import_model(desired["artifact"], name=item.native_name)
        elif mc.training:
            spec = TrainingSpec.model_validate(
                {**desired["training"], "name": item.native_name, "tags": {**mc.training.tags, **self._tags(item)}}
            )
            job = provider.train(spec)
            self.progress(item, "wait", f"training job {job.name} {job.status.value}")
            job.wait(timeout=self.wait_timeout, progress=False)
            if job.model is None:
                raise UnifiedMLError(
                    f"training job {job.name} succeeded but produced no deployable model",
                    provider=item.provider,
                    hint="the script must write a SavedModel to runtime.model_dir()",
                )
            if job.model.name != item.native_name:
                item.native_name = job.model.name
        elif mc.automl:
            spec = AutoMLSpec.model_validate(
                {**desired["automl"], "name": item.native_name, "tags": {**mc.automl.tags, **self._tags(item)}}
            )
            job = provider.automl(spec)
            job.wait(timeout=self.wait_timeout, progress=False)
            if job.model is not None:
                item.native_name = job.model.name

    def remove_model(self, item: PlanItem) -> None:
        provider = self.provider_for(item.provider)
        provider.delete_model(item.native_name)

    # -- endpoints -----------------------------------------------------------
    def _deployment(self, item: PlanItem) -> DeploymentSpec:
        desired = dict(item.desired or {})
        desired.pop("model", None)
        desired["tags"] = {**desired.get("tags", {}), **self._tags(item)}
        return DeploymentSpec.model_validate(desired)

    def make_endpoint(self, item: PlanItem) -> None:
        provider = self.provider_for(item.provider)
        model = (item.desired or {})["model"]
        spec = self._deployment(item)
        if item.action == "update":
            endpoint = provider.update_endpoint(item.name, model, spec)
        else:
            if item.action == "replace":
                provider.delete_endpoint(item.name)
            endpoint = provider.deploy(model, spec)
        self.progress(item, "wait", f"endpoint {endpoint.status.value}")
        endpoint.wait(timeout=self.wait_timeout, progress=False)

    def remove_endpoint(self, item: PlanItem) -> None:
        self.provider_for(item.provider).delete_endpoint(item.native_name)

    # -- monitors ------------------------------------------------------------
    def make_monitor(self, item: PlanItem) -> None:
        """Store (or replace: idempotent) the drift schedule that ``unifiedml scheduler`` runs."""
        from unifiedml.monitoring.spec import MonitorSpec, monitor

        desired = dict(item.desired or {})
        endpoint, provider = desired.pop("endpoint"), desired.pop("provider")
        monitor(endpoint, MonitorSpec.model_validate(desired), provider=provider, store=self.state)

    def remove_monitor(self, item: PlanItem) -> None:
        from unifiedml.monitoring import db

        db.remove_schedule(db.open_store(self.state), item.native_name)

    # -- driver --------------------------------------------------------------
    def run_item(self, item: PlanItem, fn: Callable[[PlanItem], None]) -> None:
        if item.action == "noop":
            if item.kind == "endpoint":
                # It may be one an interrupted run started that is still coming up.
                self.provider_for(item.provider).get_endpoint(item.native_name).wait(
                    timeout=self.wait_timeout, progress=False
                )
            self._record(item)  # adopt what an interrupted run made
            return
        intent = self._intent(item)
        self.progress(item, "start", item.action)
        try:
            fn(item)
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.state.finish_intent(intent, error=f"{type(exc).__name__}: {exc}")
            raise
        if item.action == "delete":
            self.state.mark_deleted(item.provider, _KIND[item.kind], item.name)
        else:
            self._record(item)
        self.state.finish_intent(intent)
        self.progress(item, "done", item.action)

    def run_creates(self, plan: Plan, parallelism: int, result: ApplyResult) -> None:
        """Models and endpoints as a dependency graph: each endpoint starts as soon as *its* model is
        ready, not when every model is. Models are queued first, so with a bounded pool an endpoint
        waiting for its model never holds back the model it waits for."""
        models = [i for i in plan.items if i.kind == "model" and i.action != "delete"]
        endpoints = [i for i in plan.items if i.kind == "endpoint" and i.action != "delete"]
        monitors = [i for i in plan.items if i.kind == "monitor" and i.action != "delete"]
        if not models and not endpoints and not monitors:
            return
        model_of = {name: ep.model for name, ep in self.loaded.config.endpoints.items()}
        with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="uml-apply") as pool:
            model_futures = {m.name: pool.submit(self.run_item, m, self.make_model) for m in models}

            def after(dependency: Any, what: str, fn: Callable[[PlanItem], None]) -> Callable[[PlanItem], None]:
                """Run ``fn`` once ``dependency`` (a future, or None) finished; fail if it failed."""

                def task(item: PlanItem) -> None:
                    if dependency is not None and dependency.exception() is not None:
                        raise UnifiedMLError(f"not applied: its {what} failed", provider=item.provider)
                    self.run_item(item, fn)

                return task

            futures = {f: m for m, f in zip(models, model_futures.values(), strict=True)}
            endpoint_futures = {
                e.name: pool.submit(after(model_futures.get(model_of.get(e.name, "")), "model", self.make_endpoint), e)
                for e in endpoints
            }
            futures.update({f: e for e, f in zip(endpoints, endpoint_futures.values(), strict=True)})
            endpoint_of = {name: m.endpoint for name, m in self.loaded.config.monitors.items()}

            for m in monitors:
                dependency = endpoint_futures.get(endpoint_of.get(m.name, ""))
                futures[pool.submit(after(dependency, "endpoint", self.make_monitor), m)] = m
            for future in as_completed(futures):
                item = futures[future]
                exc = future.exception()
                if exc is None:
                    result.done.append(item)
                else:
                    result.failed.append((item, exc))
                    self.progress(item, "failed", str(exc))

    def run_level(self, items: list[tuple[PlanItem, Callable[[PlanItem], None]]], parallelism: int,
                  result: ApplyResult) -> None:
        if not items:
            return
        with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="uml-apply") as pool:
            futures = {pool.submit(self.run_item, item, fn): item for item, fn in items}
            for future in as_completed(futures):
                item = futures[future]
                exc = future.exception()
                if exc is None:
                    result.done.append(item)
                else:
                    result.failed.append((item, exc))
                    self.progress(item, "failed", str(exc))


def apply_plan(
    loaded: LoadedConfig,
    plan: Plan,
    *,
    state: StateStore,
    provider_for: Callable[[str], Provider],
    parallelism: int = 4,
    progress: Progress | None = None,
    wait_timeout: float = 3600,
) -> ApplyResult:
    """Carry out ``plan``. Blocking. Stops after the first level with a failure (dependants would fail too).

    Re-running after any failure or interruption is safe: see the module docstring.
    """
    applier = _Applier(loaded, plan, state=state, provider_for=provider_for,
                       progress=progress or _noop_progress, wait_timeout=wait_timeout)
    result = ApplyResult()
    old_versions = []
    applier.run_creates(plan, parallelism, result)
    if result.failed:
        return result
    levels: list[list[tuple[PlanItem, Callable[[PlanItem], None]]]] = [
        [(i, applier.remove_monitor) for i in plan.items if i.kind == "monitor" and i.action == "delete"],
        [(i, applier.remove_endpoint) for i in plan.items if i.kind == "endpoint" and i.action == "delete"],
        [(i, applier.remove_model) for i in plan.items if i.kind == "model" and i.action == "delete"],
    ]
    for item in plan.items:
        if item.kind == "model" and item.action == "replace":
            try:
                old = state.get_resource(item.provider, KIND_MODEL, item.name)
                if old.native_id and old.native_id != item.native_name:
                    old_versions.append((item.provider, old.native_id))
            except NotFound:
                pass
    for level in levels:
        applier.run_level(level, parallelism, result)
        if result.failed:
            return result
    # Old model versions go once every endpoint has moved off them.
    for provider_name, native in old_versions:
        try:
            provider_for(provider_name).delete_model(native)
        except UnifiedMLError as exc:
            logger.warning("could not delete the old model version %s: %s", native, exc)
    _close_reconciled_intents(state, plan)
    return result


def _close_reconciled_intents(state: StateStore, plan: Plan) -> None:
    """After a clean apply, intents left pending by an interrupted run describe work now reconciled."""
    names = {(i.provider, i.name) for i in plan.items} | {(i.provider, i.native_name) for i in plan.items}
    for entry in state.pending_intents():
        if (entry.provider, entry.name) in names:
            state.finish_intent(entry.id, error=None)


def destroy(
    loaded: LoadedConfig,
    *,
    state: StateStore,
    provider_for: Callable[[str], Provider],
    parallelism: int = 4,
    progress: Progress | None = None,
) -> ApplyResult:
    """Remove everything a previous apply of this project recorded, endpoints first. Idempotent."""
    project = loaded.config.project
    items: list[PlanItem] = []
    for kind, plan_kind in ((KIND_MONITOR, "monitor"), (KIND_ENDPOINT, "endpoint"), (KIND_MODEL, "model")):
        for rec in state.list_resources(kind=kind, project=project):
            items.append(PlanItem(plan_kind, rec.name, rec.provider, "delete",  # type: ignore[arg-type]
                                  rec.native_id or rec.name, None, reasons=["destroy"]))
    plan = Plan(project=project, items=items)
    applier = _Applier(loaded, plan, state=state, provider_for=provider_for,
                       progress=progress or _noop_progress, wait_timeout=600)
    result = ApplyResult()
    applier.run_level([(i, applier.remove_monitor) for i in items if i.kind == "monitor"], parallelism, result)
    if not result.failed:
        applier.run_level([(i, applier.remove_endpoint) for i in items if i.kind == "endpoint"], parallelism,
                          result)
    if not result.failed:
        applier.run_level([(i, applier.remove_model) for i in items if i.kind == "model"], parallelism, result)
    _close_reconciled_intents(state, plan)
    return result


def describe_failure(exc: BaseException) -> dict[str, Any]:
    """A JSON-ready description of a failed item's error."""
    if isinstance(exc, UnifiedMLError):
        return exc.to_dict()
    return {"error": type(exc).__name__, "message": str(exc)}
