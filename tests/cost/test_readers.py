"""Every billed-cost reader maps real-format answers to CostRecords (over HTTP where there is an API)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.cost.fakes import FakeServer
from unifiedml.cost.catalog import DATA_DIR, Catalog
from unifiedml.cost.readers import BillingReader, billing_reader, register_billing_reader, registered_readers
from unifiedml.cost.readers.aws import cost_explorer_request
from unifiedml.cost.readers.estimated import split_by_day
from unifiedml.cost.readers.gcp import billing_query, map_billing_row
from unifiedml.cost.settings import CostSettings
from unifiedml.cost.snapshots import load_records, sync_billed
from unifiedml.errors import ConfigError, NotFound, Throttled
from unifiedml.state.store import ResourceRecord, StateStore

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 3, tzinfo=UTC)

CE_ANSWER = {
    "GroupDefinitions": [{"Type": "TAG", "Key": "unifiedml-resource"}],
    "ResultsByTime": [
        {
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
            "Total": {},
            "Groups": [
                {
                    "Keys": ["unifiedml-resource$endpoint/web"],
                    "Metrics": {"UnblendedCost": {"Amount": "2.76", "Unit": "USD"}},
                },
                {"Keys": ["unifiedml-resource$"], "Metrics": {"UnblendedCost": {"Amount": "0.5", "Unit": "USD"}}},
                {
                    "Keys": ["unifiedml-resource$training_job/fit"],
                    "Metrics": {"UnblendedCost": {"Amount": "0", "Unit": "USD"}},
                },
            ],
            "Estimated": False,
        },
        {
            "TimePeriod": {"Start": "2026-11-02", "End": "2026-11-03"},
            "Total": {},
            "Groups": [
                {
                    "Keys": ["unifiedml-resource$endpoint/web"],
                    "Metrics": {"UnblendedCost": {"Amount": "2.76", "Unit": "USD"}},
                }
            ],
            "Estimated": True,
        },
    ],
    "DimensionValueAttributes": [],
}


def test_cost_explorer_request_filters_sagemaker_and_project() -> None:
    req = cost_explorer_request(since=SINCE, until=UNTIL, project="churn")
    assert req["TimePeriod"] == {"Start": "2026-11-01", "End": "2026-11-03"}
    assert req["GroupBy"] == [{"Type": "TAG", "Key": "unifiedml-resource"}]
    assert {"Tags": {"Key": "unifiedml-project", "Values": ["churn"]}} in req["Filter"]["And"]


def test_cost_explorer_reader_over_the_wire_with_moto() -> None:
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    import urllib.request

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        req = urllib.request.Request(
            f"{url}/moto-api/static/ce/cost-and-usage-results",
            method="POST",
            data=json.dumps({"results": [CE_ANSWER]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req).read()
        client = boto3.client(
            "ce",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        records = list(billing_reader("sagemaker", client=client).read(since=SINCE, until=UNTIL, project="churn"))
    finally:
        server.stop()
    assert [(r.resource, r.amount, r.currency, r.start.date()) for r in records] == [
        ("endpoint/web", 2.76, "USD", date(2026, 11, 1)),
        (None, 0.5, "USD", date(2026, 11, 1)),
        ("endpoint/web", 2.76, "USD", date(2026, 11, 2)),
    ]
    assert all(r.kind == "billed" and r.provider == "sagemaker" and r.project == "churn" for r in records)
    assert "estimated by AWS" in records[-1].source


# -- GCP: the SQL and the row mapping ----------------------------------------------------------
class FakeRunner:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def run(self, sql: str, params: Any) -> list[dict[str, Any]]:
        self.calls.append((sql, dict(params)))
        return self.rows


def test_billing_query_filters_vertex_by_label_with_parameters() -> None:
    sql = billing_query("proj.billing.gcp_billing_export_resource_v1_0123AB_CDEF45")
    assert "service.description = 'Vertex AI'" in sql
    assert "key = 'unifiedml-project' AND value = @project" in sql
    assert "@since" in sql and "@until" in sql and "UNNEST(credits)" in sql
    with pytest.raises(ConfigError):
        billing_query("x`; DROP TABLE y; --")


def test_bigquery_reader_maps_aggregated_rows_net_of_credits() -> None:
    rows = [
        {
            "usage_date": date(2026, 11, 1),
            "service": "Vertex AI",
            "gcp_project": "acme-ml",
            "uml_project": "churn",
            "uml_resource": "endpoint/web",
            "currency": "USD",
            "cost": Decimal("4.20"),
            "credits": Decimal("-0.20"),
            "usage_amount": 24.0,
            "usage_unit": "hour",
        }
    ]
    runner = FakeRunner(rows)
    reader = billing_reader("vertex", runner=runner, table="proj.ds.gcp_billing_export_v1_0123AB_CDEF45")
    (rec,) = list(reader.read(since=SINCE, until=UNTIL, project="churn"))
    assert (rec.resource, rec.project, rec.amount, rec.currency) == ("endpoint/web", "churn", 4.0, "USD")
    assert rec.tags["gcp-project"] == "acme-ml" and rec.end - rec.start == timedelta(days=1)
    assert runner.calls[0][1] == {"since": SINCE, "until": UNTIL, "project": "churn"}


def test_raw_export_rows_map_labels_and_credits() -> None:
    raw = {
        "billing_account_id": "0123AB-CDEF45-678901",
        "service": {"id": "C7E2-9256-1C43", "description": "Vertex AI"},
        "sku": {"id": "AB12-CD34-EF56", "description": "Vertex AI: Online/Batch Prediction N1 Core"},
        "usage_start_time": datetime(2026, 11, 2, 10, tzinfo=UTC),
        "usage_end_time": datetime(2026, 11, 2, 11, tzinfo=UTC),
        "project": {"id": "acme-ml", "name": "acme-ml", "labels": []},
        "labels": [
            {"key": "unifiedml-project", "value": "churn"},
            {"key": "unifiedml-resource", "value": "endpoint/web"},
        ],
        "cost": 0.5,
        "currency": "EUR",
        "usage": {"amount": 3600, "unit": "seconds", "amount_in_pricing_units": 1.0, "pricing_unit": "hour"},
        "credits": [{"name": "FreeTrial", "amount": -0.1, "type": "FREE_TIER"}],
    }
    rec = map_billing_row(raw)
    assert (rec.project, rec.resource, rec.currency) == ("churn", "endpoint/web", "EUR")
    assert rec.amount == pytest.approx(0.4) and rec.start == datetime(2026, 11, 2, tzinfo=UTC)


# -- Azure: the Cost Management query over HTTP ------------------------------------------------
def _azure_page(rows: list[list[Any]], next_link: str | None) -> dict[str, Any]:
    return {
        "id": "subscriptions/0000/providers/Microsoft.CostManagement/query/abc",
        "name": "abc",
        "type": "Microsoft.CostManagement/query",
        "properties": {
            "nextLink": next_link,
            "columns": [
                {"name": "Cost", "type": "Number"},
                {"name": "UsageDate", "type": "Number"},
                {"name": "TagKey", "type": "String"},
                {"name": "TagValue", "type": "String"},
                {"name": "ServiceName", "type": "String"},
                {"name": "Currency", "type": "String"},
            ],
            "rows": rows,
        },
    }


def test_cost_management_reader_pages_and_maps_rows() -> None:
    pages: list[dict[str, Any]] = []

    def query(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        assert headers["Authorization"] == "Bearer tok"
        q = json.loads(body)
        assert q["dataset"]["grouping"][0] == {"type": "TagKey", "name": "unifiedml-resource"}
        assert q["dataset"]["filter"]["tags"]["values"] == ["churn"]
        return 200, pages[len([p for p in server.requests if p["method"] == "POST"]) - 1]

    with FakeServer({"POST /subscriptions/0000/providers/Microsoft.CostManagement/query": query}) as server:
        base = server.url
        pages += [
            _azure_page(
                [
                    [1.25, 20261101, "unifiedml-resource", "endpoint/web", "Azure Machine Learning", "USD"],
                    [0.0, 20261101, "unifiedml-resource", "endpoint/idle", "Azure Machine Learning", "USD"],
                ],
                f"{base}/subscriptions/0000/providers/Microsoft.CostManagement/query?page=2",
            ),
            _azure_page([[2.5, 20261102, "", "", "Virtual Machines", "USD"]], None),
        ]
        reader = billing_reader("azureml", scope="/subscriptions/0000", token_provider=lambda: "tok", base_url=base)
        records = list(reader.read(since=SINCE, until=UNTIL, project="churn"))
    assert [(r.resource, r.amount, r.service, r.start.day) for r in records] == [
        ("endpoint/web", 1.25, "Azure Machine Learning", 1),
        (None, 2.5, "Virtual Machines", 2),
    ]
    assert all(r.kind == "billed" and r.currency == "USD" for r in records)


def test_cost_management_throttling_is_translated() -> None:
    def limited(*_: Any) -> tuple[int, Any]:
        return 429, {"error": {"code": "429", "message": "Too many requests"}}

    with FakeServer({"POST /": limited}) as server:
        reader = billing_reader("azureml", scope="subscriptions/0000", token_provider=lambda: "t", base_url=server.url)
        with pytest.raises(Throttled):
            list(reader.read(since=SINCE, until=UNTIL))


# -- estimates as records: Hugging Face and local ----------------------------------------------
def test_huggingface_reader_is_hardware_price_times_duration_labelled_estimate(home: Path) -> None:
    store = StateStore(home / "state.db")
    store.record_resource(ResourceRecord("huggingface", "endpoint", "web", "churn", tags={"team": "ml"}))
    store.add_event(
        provider="huggingface",
        kind="endpoint",
        name="web",
        event="endpoint_up",
        ts=SINCE + timedelta(hours=20),
        attrs={"instance_type": "nvidia-t4-x1", "replicas": 1},
    )
    store.add_event(
        provider="huggingface", kind="endpoint", name="web", event="endpoint_down", ts=SINCE + timedelta(hours=28)
    )
    reader = billing_reader("huggingface", store=store, catalog=Catalog([DATA_DIR]), settings=CostSettings())
    records = list(reader.read(since=SINCE, until=UNTIL, project="churn"))
    assert [(r.start.day, round(r.amount, 6)) for r in records] == [(1, 2.0), (2, 2.0)]
    assert all(r.kind == "estimate" and "no billing API" in r.source for r in records)
    assert records[0].tags == {"team": "ml", "unifiedml-resource": "endpoint/web"}


def test_local_reader_without_rates_reports_unknown_instead_of_zero(home: Path) -> None:
    store = StateStore(home / "state.db")
    store.add_event(
        provider="local",
        kind="training_job",
        name="fit",
        event="job_end",
        ts=SINCE + timedelta(hours=1),
        attrs={
            "status": "succeeded",
            "wall_seconds": 1800.0,
            "cpu_seconds": 1700.0,
            "cores": 2,
            "gpus": 0,
            "max_rss_bytes": 1,
        },
    )
    reader = billing_reader("local", store=store, settings=CostSettings())
    assert list(reader.read(since=SINCE, until=UNTIL)) == []
    assert len(reader.unknown) == 1 and "not configured" in (reader.unknown[0].price.note or "")
    priced = billing_reader("local", store=store, settings=CostSettings(cpu_core_hour=0.1))
    (rec,) = list(priced.read(since=SINCE, until=UNTIL))
    assert rec.amount == pytest.approx(2 * 0.1 * 0.5)


def test_split_by_day_cuts_at_midnight() -> None:
    parts = list(split_by_day(SINCE + timedelta(hours=22), SINCE + timedelta(days=2, hours=1)))
    assert [b - a for a, b in parts] == [timedelta(hours=2), timedelta(days=1), timedelta(hours=1)]


def test_registry_lists_readers_and_accepts_provider_registrations(home: Path) -> None:
    with pytest.raises(NotFound, match="no billed-cost reader"):
        billing_reader("oracle")

    class Static:
        name = "static"

        def read(self, *, since: datetime, until: datetime, project: str | None = None):  # type: ignore[no-untyped-def]
            from unifiedml.cost.records import CostRecord

            yield CostRecord(
                provider="x", kind="billed", start=since, end=until, amount=1.0, currency="USD", source="static"
            )

    register_billing_reader("x", Static)
    assert "x" in registered_readers()
    reader = billing_reader("x")
    assert isinstance(reader, BillingReader)
    store = StateStore(home / "state.db")
    assert sync_billed(store, reader, since=SINCE, until=UNTIL) == 1
    assert sync_billed(store, reader, since=SINCE, until=UNTIL) == 1  # idempotent
    assert [r.amount for r in load_records(store, since=SINCE, until=UNTIL)] == [1.0]
