"""Report grouping and formats, budgets (check, forecast, plan guard, webhook) and the local-run summary."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cost.fakes import FakeServer
from unifiedml.cost.budgets import (
    Budget,
    check_plan_against_budgets,
    evaluate_budgets,
    load_budgets,
    send_budget_alert,
)
from unifiedml.cost.catalog import DATA_DIR, Catalog
from unifiedml.cost.records import CostRecord
from unifiedml.cost.report import build_report
from unifiedml.cost.settings import CostSettings
from unifiedml.cost.summary import portable_size_for, summarize_local_runs
from unifiedml.errors import BudgetExceeded, ConfigError
from unifiedml.state.store import StateStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def rec(kind: str, amount: float, day: int = 0, provider: str = "sagemaker", resource: str = "endpoint/web",
        project: str = "churn", currency: str = "USD", **tags: str) -> CostRecord:
    start = T0 + timedelta(days=day)
    return CostRecord(provider=provider, project=project, resource=resource, kind=kind, start=start,
                      end=start + timedelta(days=1), amount=amount, currency=currency, source="test", tags=tags)


RECORDS = [
    rec("estimate", 2.0, 0, team="ml"), rec("billed", 2.5, 0, team="ml"),
    rec("estimate", 2.0, 1, team="ml"),
    rec("estimate", 1.0, 1, provider="huggingface", resource="endpoint/hf"),
    rec("estimate", 3.0, 1, provider="local", resource="training_job/fit", project="lab", currency="EUR"),
]


def test_report_groups_by_provider_with_estimate_beside_bill_and_totals_per_currency() -> None:
    rep = build_report(RECORDS, group_by=["provider"])
    rows = {r["provider"]: r for r in rep.rows}
    assert rows["sagemaker"] | {} == {"provider": "sagemaker", "currency": "USD", "estimate": 4.0, "billed": 2.5,
                                      "difference": -1.5, "records": 3}
    assert rows["huggingface"]["billed"] is None and rows["huggingface"]["difference"] is None
    assert {t["currency"]: t["estimate"] for t in rep.totals} == {"EUR": 3.0, "USD": 5.0}


@pytest.mark.parametrize(("keys", "expected"), [
    (["day"], 3), (["project"], 2), (["resource"], 3), (["tag:team"], 3), (["day", "provider"], 4)])
def test_report_group_keys(keys: list[str], expected: int) -> None:
    assert len(build_report(RECORDS, group_by=keys).rows) == expected


def test_report_rejects_unknown_group_key() -> None:
    with pytest.raises(ConfigError, match="cannot group by"):
        build_report(RECORDS, group_by=["colour"])


def test_report_period_filter() -> None:
    rep = build_report(RECORDS, group_by=["day"], since=T0 + timedelta(days=1), until=T0 + timedelta(days=2))
    assert {r["day"].day for r in rep.rows} == {2}


def test_report_formats_csv_json_html() -> None:
    rep = build_report(RECORDS, group_by=["provider"], since=T0, until=T0 + timedelta(days=30),
                       unknown=[{"resource": "vertex:endpoint/x", "note": "no sourced price"}])
    lines = list(csv.DictReader(io.StringIO(rep.to_csv())))
    assert lines[0].keys() >= {"provider", "currency", "estimate", "billed", "difference"}
    assert [r["provider"] for r in lines if r["provider"] == "TOTAL"] == ["TOTAL", "TOTAL"]
    assert next(r for r in lines if r["provider"] == "huggingface")["billed"] == ""
    data = json.loads(rep.to_json())
    assert data["group_by"] == ["provider"] and data["unknown"][0]["note"] == "no sourced price"
    page = rep.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page
    assert "unknown" in page and "EUR" in page and "http" not in page.split("<svg", 1)[1].split("</svg>")[0][:0]


def test_budgets_load_and_name_the_bad_field() -> None:
    with pytest.raises(ConfigError, match=r"budgets\[0\].amount"):
        load_budgets([{"name": "b", "amount": -1}])
    with pytest.raises(ConfigError, match="repeated"):
        load_budgets([{"name": "b", "amount": 1}, {"name": "b", "amount": 2}])


def test_budget_spend_uses_the_bill_where_there_is_one_and_forecasts_the_run_rate() -> None:
    budgets = load_budgets([{"name": "churn", "amount": 10, "project": "churn"},
                            {"name": "ml", "amount": 100, "tags": {"team": "ml"}, "provider": "sagemaker"}])
    now = T0 + timedelta(days=2)
    running = [({"provider": "sagemaker", "project": "churn", "tags": {"team": "ml"}}, 0.1, "USD")]
    churn, ml = evaluate_budgets(budgets, RECORDS, now=now, running_hourly=running)
    assert churn.spent == pytest.approx(2.5 + 2.0 + 1.0)  # billed day 0, estimates day 1
    hours_left = (datetime(2026, 12, 1, tzinfo=UTC) - now).total_seconds() / 3600
    assert churn.forecast == pytest.approx(5.5 + 0.1 * hours_left) and churn.forecast_over and not churn.over
    assert ml.spent == pytest.approx(4.5) and not ml.forecast_over


def test_plan_guard_refuses_an_apply_that_pushes_a_forecast_over() -> None:
    budgets = [Budget(name="churn", amount=100, project="churn")]
    now = T0 + timedelta(days=2)
    statuses = evaluate_budgets(budgets, RECORDS, now=now)
    ok = check_plan_against_budgets(statuses, [({"project": "churn"}, 0.05, "USD")], now=now)
    assert ok[0].forecast < 100
    with pytest.raises(BudgetExceeded, match="churn"):
        check_plan_against_budgets(statuses, [({"project": "churn"}, 1.0, "USD"), ({"project": "x"}, None, None)],
                                   now=now)


def test_webhook_alert_posts_the_statuses() -> None:
    statuses = evaluate_budgets([Budget(name="tiny", amount=1)], RECORDS, now=T0 + timedelta(days=2))
    with FakeServer({"POST /hook": lambda *a: (200, {"ok": True})}) as server:
        assert send_budget_alert(f"{server.url}/hook", statuses) == 200
        body = json.loads(server.requests[0]["body"])
    assert body["budgets"][0]["over"] is True and "tiny" in body["text"]


def test_cost_check_cli_exits_1_when_over_and_0_when_within(home: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from unifiedml.cli.cost import app

    store = StateStore(home / "state.db")
    store.add_event(provider="local", kind="endpoint", name="lab", event="endpoint_up",
                    ts=datetime.now(UTC) - timedelta(hours=5), attrs={"cores": 4, "gpus": 0, "replicas": 1})
    cfg = tmp_path / "unifiedml.yaml"
    env = {"UNIFIEDML_HOME": str(home), "UNIFIEDML_COST_CPU_CORE_HOUR": "1.0"}
    cfg.write_text("project: lab\nbudgets:\n  - {name: small, amount: 1, provider: local}\n")
    over = CliRunner().invoke(app, ["check", "-c", str(cfg), "-o", "json"], env=env)
    assert over.exit_code == 1, over.output
    assert json.loads(over.output)[0]["over"] is True
    cfg.write_text("project: lab\nbudgets:\n  - {name: big, amount: 100000, provider: local}\n")
    assert CliRunner().invoke(app, ["check", "-c", str(cfg)], env=env).exit_code == 0
    cfg.write_text("budgets:\n  - {name: bad}\n")
    bad = CliRunner().invoke(app, ["check", "-c", str(cfg)], env=env)
    assert bad.exit_code == 2


def test_report_cli_html_and_json(home: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from unifiedml.cli.cost import app

    store = StateStore(home / "state.db")
    store.add_event(provider="huggingface", kind="endpoint", name="web", event="endpoint_up",
                    ts=datetime.now(UTC) - timedelta(hours=30), attrs={"instance_type": "nvidia-t4-x1", "replicas": 1})
    env = {"UNIFIEDML_HOME": str(home)}
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", "--since", "7d", "-g", "day", "-o", "html", "--out", str(out)], env=env)
    assert res.exit_code == 0, res.output
    assert "<svg" in out.read_text()
    res = CliRunner().invoke(app, ["report", "--since", "7d", "-g", "provider", "-o", "json"], env=env)
    data = json.loads(res.stdout)
    assert data["rows"][0]["provider"] == "huggingface" and data["rows"][0]["estimate"] == pytest.approx(15, 0.01)
    assert CliRunner().invoke(app, ["report", "-g", "colour"], env=env).exit_code == 2


def test_local_run_summary_prices_local_and_each_cloud(home: Path) -> None:
    store = StateStore(home / "state.db")
    store.add_event(provider="local", kind="training_job", name="fit", event="job_start", ts=T0)
    store.add_event(provider="local", kind="training_job", name="fit", event="job_end", ts=T0 + timedelta(hours=2),
                    attrs={"status": "succeeded", "wall_seconds": 7200.0, "cpu_seconds": 7000.0, "cores": 2,
                           "gpus": 0, "max_rss_bytes": 1})
    summary = summarize_local_runs(store, settings=CostSettings(cpu_core_hour=0.05), catalog=Catalog([DATA_DIR]),
                                   now=T0 + timedelta(hours=3))
    (run,) = summary.runs
    assert (run.size, run.local["amount"]) == ("cpu-medium", pytest.approx(0.2))
    assert run.clouds["huggingface"]["amount"] == pytest.approx(0.06)  # cpu-upgrade $0.03/h x 2h
    assert run.clouds["sagemaker"]["amount"] is None and run.clouds["sagemaker"]["currency"] == "USD"
    assert summary.totals["local"]["amount"] == pytest.approx(0.2)
    assert summary.to_dict()["totals"]["vertex"]["known"] is False
    assert portable_size_for(3, 1) == "gpu-small" and portable_size_for(8, 0) == "cpu-large"
