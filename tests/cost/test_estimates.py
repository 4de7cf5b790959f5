"""Estimates: training, deployment, running resources from lifecycle events, local rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from unifiedml.cost.catalog import DATA_DIR, Catalog, PriceRow, write_catalog_file
from unifiedml.cost.estimates import (
    HOURS_PER_MONTH,
    estimate_deployment,
    estimate_running,
    estimate_training,
    usage_intervals,
)
from unifiedml.cost.plan_prices import estimate_plan_item
from unifiedml.cost.settings import CostSettings, load_cost_settings
from unifiedml.errors import ConfigError, NotFound
from unifiedml.specs import DeploymentSpec, Resources, TrainingSpec
from unifiedml.state.store import Event, StateStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)
RATES = CostSettings(cpu_core_hour=0.05, gpu_hour=1.0, currency="EUR")


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    write_catalog_file(
        tmp_path / "sagemaker.csv",
        [
            PriceRow("sagemaker", s, "us-east-1", "ml.m5.large", p, "USD", "https://example.test/pricing", "2026-11-24")
            for s, p in (("training", 0.1), ("hosting", 0.2))
        ],
        metadata={"sources": "test", "fetched": "2026-11-24"},
    )
    return Catalog([DATA_DIR, tmp_path])


def test_training_estimate_is_price_times_instances_times_runtime(catalog: Catalog) -> None:
    spec = TrainingSpec(
        entry_point="train.py", max_runtime="10h", resources=Resources(instance_type="ml.m5.large", instance_count=3)
    )
    est = estimate_training(
        spec, provider="sagemaker", expected_runtime=timedelta(hours=2), catalog=catalog, settings=CostSettings()
    )
    assert est.maximum.amount == pytest.approx(0.1 * 3 * 10)
    assert est.expected is not None and est.expected.amount == pytest.approx(0.6)
    assert est.maximum.currency == "USD" and est.to_dict()["sources"] == ["https://example.test/pricing"]


def test_training_estimate_with_unknown_price_is_none_not_zero() -> None:
    spec = TrainingSpec(entry_point="t.py", resources=Resources(size="gpu-large"))
    est = estimate_training(spec, provider="vertex", catalog=Catalog([DATA_DIR]), settings=CostSettings())
    assert est.maximum.amount is None and est.maximum.currency == "USD"
    assert est.to_dict()["maximum"]["known"] is False


def test_huggingface_training_uses_the_jobs_price() -> None:
    spec = TrainingSpec(entry_point="t.py", max_runtime="30m", resources=Resources(size="gpu-small"))
    est = estimate_training(spec, provider="huggingface", catalog=Catalog([DATA_DIR]), settings=CostSettings())
    assert est.price.instance_type == "t4-small" and est.maximum.amount == pytest.approx(0.2)


def test_deployment_estimate_per_hour_and_month_at_min_and_max(catalog: Catalog) -> None:
    spec = DeploymentSpec(resources=Resources(size="cpu-small"), min_replicas=2, max_replicas=5)
    est = estimate_deployment(spec, provider="sagemaker", catalog=catalog, settings=CostSettings())
    assert (est.per_hour_min, est.per_hour_max) == (pytest.approx(0.4), pytest.approx(1.0))
    assert est.per_month_min == pytest.approx(0.4 * HOURS_PER_MONTH)
    assert est.per_month_max == pytest.approx(HOURS_PER_MONTH * 1.0)


def test_unknown_instance_type_in_a_spec_is_a_clear_error(catalog: Catalog) -> None:
    spec = DeploymentSpec(resources=Resources(instance_type="ml.m5.huge"))
    with pytest.raises(NotFound, match="unknown instance type"):
        estimate_deployment(spec, provider="sagemaker", catalog=catalog)


def test_local_cost_is_unknown_without_rates_and_priced_with_them() -> None:
    spec = DeploymentSpec(resources=Resources(size="cpu-large"))
    assert estimate_deployment(spec, provider="local", settings=CostSettings()).per_hour_min is None
    est = estimate_deployment(spec, provider="local", settings=RATES)
    assert est.per_hour_min == pytest.approx(4 * 0.05) and est.currency == "EUR"


def test_settings_from_yaml_then_environment(tmp_path: Path) -> None:
    p = tmp_path / "cost.yaml"
    p.write_text("cost:\n  cpu_core_hour: 0.01\n  gpu_hour: 0.5\n  regions: {sagemaker: eu-west-1}\n")
    s = load_cost_settings(p, env={"UNIFIEDML_COST_GPU_HOUR": "0.7"})
    assert (s.cpu_core_hour, s.gpu_hour, s.regions["sagemaker"]) == (0.01, 0.7, "eu-west-1")
    with pytest.raises(ConfigError, match="cpu_core_hour"):
        load_cost_settings(env={"UNIFIEDML_COST_CPU_CORE_HOUR": "cheap"})


def _ev(kind: str, name: str, event: str, hours: float, provider: str = "sagemaker", **attrs: object) -> Event:
    return Event(provider, kind, name, event, T0 + timedelta(hours=hours), dict(attrs))


def test_intervals_pair_events_and_an_update_starts_a_new_interval() -> None:
    events = [
        _ev("endpoint", "web", "endpoint_up", 0, instance_type="ml.m5.large", replicas=2),
        _ev("endpoint", "web", "endpoint_up", 3, instance_type="ml.m5.xlarge", replicas=1),
        _ev("endpoint", "web", "endpoint_down", 5),
        _ev("training_job", "j", "job_end", 2, provider="local", wall_seconds=1800.0, cores=2, gpus=0),
    ]
    got = usage_intervals(events)
    assert [(i.name, i.start, i.end, i.instance_type, i.count) for i in got] == [
        ("web", T0, T0 + timedelta(hours=3), "ml.m5.large", 2),
        ("j", T0 + timedelta(hours=1.5), T0 + timedelta(hours=2), None, 1),
        ("web", T0 + timedelta(hours=3), T0 + timedelta(hours=5), "ml.m5.xlarge", 1),
    ]


def test_running_resources_cost_uptime_times_price(catalog: Catalog) -> None:
    events = [
        _ev("endpoint", "web", "endpoint_up", 0, instance_type="ml.m5.large", replicas=2),
        _ev("training_job", "fit", "job_start", 1, instance_type="ml.m5.large", instance_count=1),
        _ev("training_job", "fit", "job_end", 3, status="Completed"),
        _ev("endpoint", "lab", "endpoint_up", 0, provider="local", cores=2, gpus=0, instance_type=None, replicas=1),
    ]
    now = T0 + timedelta(hours=10)
    got = {u.interval.name: u for u in estimate_running(events=events, now=now, catalog=catalog, settings=RATES)}
    assert got["web"].estimate.amount == pytest.approx(0.2 * 2 * 10) and got["web"].interval.end is None
    assert got["fit"].estimate.amount == pytest.approx(0.1 * 2)
    assert got["lab"].estimate.amount == pytest.approx(2 * 0.05 * 10) and got["lab"].estimate.currency == "EUR"


def test_running_window_clips_intervals(catalog: Catalog) -> None:
    events = [_ev("endpoint", "web", "endpoint_up", 0, instance_type="ml.m5.large", replicas=1)]
    got = estimate_running(
        events=events, since=T0 + timedelta(hours=4), until=T0 + timedelta(hours=6), catalog=catalog, settings=RATES
    )
    assert got[0].estimate.hours == pytest.approx(2)


def test_an_interval_without_a_known_type_is_unknown_not_an_error(catalog: Catalog) -> None:
    events = [_ev("endpoint", "x", "endpoint_up", 0, instance_type="ml.nonexistent", replicas=1)]
    got = estimate_running(events=events, now=T0 + timedelta(hours=1), catalog=catalog, settings=RATES)
    assert got[0].estimate.amount is None and "unknown instance type" in (got[0].price.note or "")


def test_estimates_read_the_state_store(catalog: Catalog, home: Path) -> None:
    store = StateStore(home / "state.db")
    store.add_event(
        provider="sagemaker",
        kind="endpoint",
        name="web",
        event="endpoint_up",
        ts=T0,
        attrs={"instance_type": "ml.m5.large", "replicas": 1},
    )
    got = estimate_running(store, now=T0 + timedelta(hours=2), catalog=catalog, settings=RATES)
    assert got[0].estimate.amount == pytest.approx(0.4)


def test_plan_items_are_priced_at_min_replicas_and_unknown_never_fails() -> None:
    class Item:
        kind, action, provider, name = "endpoint", "create", "huggingface", "web"
        desired = {
            "resources": {"size": "gpu-small", "instance_type": None},
            "min_replicas": 2,
            "max_replicas": None,
            "model": "m",
        }

    assert estimate_plan_item(Item()) == (pytest.approx(1.0), "USD")
    Item.provider = "sagemaker"
    assert estimate_plan_item(Item()) == (None, "USD")
    Item.desired = {"resources": {"instance_type": "ml.bogus"}}
    assert estimate_plan_item(Item()) == (None, None)
