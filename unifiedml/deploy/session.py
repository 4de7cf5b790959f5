"""One object tying a loaded config to its state store and configured providers (used by CLI and SDK)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from unifiedml.config.loader import LoadedConfig, load_config
from unifiedml.deploy.apply import ApplyResult, Progress, apply_plan, destroy
from unifiedml.deploy.plan import Plan, PlanItem, build_plan
from unifiedml.providers.base import TAG_PROJECT, Provider
from unifiedml.providers.registry import load
from unifiedml.state import StateStore, default_home

__all__ = ["DeploySession", "Orphan"]


class Orphan(dict[str, Any]):
    """A live resource carrying unifiedml tags that the state store does not know."""


class DeploySession:
    """``DeploySession.from_file("unifiedml.yaml").plan()`` and friends.

    Providers are created once per name from the file's ``providers:`` section
    (settings validated by each provider's Settings model); the state store is
    ``$UNIFIEDML_HOME/state.db``.
    """

    def __init__(self, loaded: LoadedConfig, *, state: StateStore | None = None) -> None:
        self.loaded = loaded
        self.state = state or StateStore(default_home() / "state.db")
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path | None = None, *, env_name: str | None = None) -> DeploySession:
        return cls(load_config(path, env_name=env_name))

    @property
    def project(self) -> str:
        return self.loaded.config.project

    def provider(self, name: str) -> Provider:
        """The configured provider ``name`` (thread-safe, created once)."""
        with self._lock:
            if name not in self._providers:
                cls = load(name)
                settings = self.loaded.config.providers.get(name, {})
                self._providers[name] = cls(project=self.project, state=self.state, settings=settings)
            return self._providers[name]

    def price(self, item: PlanItem) -> tuple[float | None, str | None]:
        """Hourly price of an endpoint item from the cost catalog, or (None, None) when unknown."""
        from unifiedml.cost.plan_prices import estimate_plan_item

        return estimate_plan_item(item)

    def plan(self) -> Plan:
        """Read-only diff of file vs state vs live, checked against the file's budgets."""
        plan = build_plan(self.loaded, state=self.state, provider_for=self.provider, price_for=self.price)
        plan.budget_error = self._budget_error(plan)
        return plan

    def _budget_error(self, plan: Plan) -> str | None:
        """Why applying ``plan`` would push a budget's forecast over (None when it would not)."""
        if not self.loaded.config.budgets:
            return None
        from unifiedml.cost.budgets import check_plan_against_budgets, current_statuses, load_budgets
        from unifiedml.errors import BudgetExceeded

        budgets = load_budgets(self.loaded.config.budgets)
        added = [
            ({"provider": i.provider, "project": self.project, "tags": (i.desired or {}).get("tags", {})},
             i.cost_per_hour, i.currency)
            for i in plan.items
            if i.kind == "endpoint" and i.action in ("create", "replace")
        ]
        try:
            check_plan_against_budgets(current_statuses(self.state, budgets), added)
        except BudgetExceeded as exc:
            return exc.message
        return None

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One apply/destroy per project at a time (an OS file lock: a killed run releases it)."""
        from unifiedml.errors import ConfigError

        lock_dir = self.state.home / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        path = lock_dir / f"apply-{self.project}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise ConfigError(
                    f"another apply or destroy of project {self.project!r} is running (pid {holder})",
                    field="project",
                    hint="wait for it to finish; a killed run releases the lock by itself",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    def apply(self, plan: Plan | None = None, *, parallelism: int = 4, progress: Progress | None = None,
              wait_timeout: float = 3600) -> ApplyResult:
        """Apply ``plan`` (computed now when not given). Blocking; safe to re-run.

        Raises BudgetExceeded, changing nothing, when the plan would push a budget's forecast over.
        """
        plan = plan or self.plan()
        if plan.budget_error:
            from unifiedml.errors import BudgetExceeded

            raise BudgetExceeded(plan.budget_error, hint="raise the budget, or plan smaller endpoints")
        with self._exclusive():
            return apply_plan(self.loaded, plan, state=self.state, provider_for=self.provider,
                              parallelism=parallelism, progress=progress, wait_timeout=wait_timeout)

    def destroy(self, *, parallelism: int = 4, progress: Progress | None = None) -> ApplyResult:
        """Remove what applies of this project created, endpoints first. Idempotent."""
        with self._exclusive():
            return destroy(self.loaded, state=self.state, provider_for=self.provider, parallelism=parallelism,
                           progress=progress)

    def orphans(self) -> list[Orphan]:
        """Live endpoints tagged with this project that the state store does not record."""
        found: list[Orphan] = []
        names = set(self.loaded.config.providers) | {
            self.loaded.config.endpoint_provider(n) for n in self.loaded.config.endpoints
        } | {"local"}
        for provider_name in sorted(names):
            provider = self.provider(provider_name)
            known = {r.name for r in self.state.list_resources(provider=provider_name, kind="endpoint")}
            for endpoint in provider.list_endpoints():
                if endpoint.tags.get(TAG_PROJECT) == self.project and endpoint.name not in known:
                    found.append(Orphan(provider=provider_name, kind="endpoint", name=endpoint.name,
                                        status=endpoint.status.value))
        return found

    def delete_orphan(self, orphan: Orphan) -> None:
        self.provider(orphan["provider"]).delete_endpoint(orphan["name"])
