"""``catalog refresh`` against local fakes answering in each price API's documented format."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.cost.fakes import FakeServer
from unifiedml.cost.catalog import DATA_DIR, Catalog
from unifiedml.cost.refresh import VERTEX_SERVICE_ID, refresh_catalog


def _aws_product(region: str, itype: str, usage: str, usd: str) -> str:
    sku = f"SKU{abs(hash((region, itype, usage))) % 10**8}"
    term = f"{sku}.JRTCKXETXF"
    return json.dumps({
        "product": {"productFamily": "ML Instance", "sku": sku, "attributes": {
            "regionCode": region, "instanceName": itype, "usagetype": usage, "vCpu": "2", "memory": "8 GiB",
            "servicecode": "AmazonSageMaker"}},
        "serviceCode": "AmazonSageMaker",
        "terms": {"OnDemand": {term: {"priceDimensions": {f"{term}.6YS6EN2CT7": {
            "unit": "Hrs", "pricePerUnit": {"USD": usd}, "description": "test"}}, "sku": sku}}},
        "version": "20261101", "publicationDate": "2026-11-01T00:00:00Z",
    })


def test_sagemaker_refresh_reads_get_products_over_http(tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    seen: list[dict[str, Any]] = []

    def get_products(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        assert headers["X-Amz-Target"] == "AWSPriceListService.GetProducts"
        req = json.loads(body)
        seen.append(req)
        f = {x["Field"]: x["Value"] for x in req["Filters"]}
        if f["instanceName"] != "ml.m5.large":
            return 200, {"FormatVersion": "aws_v1", "PriceList": []}
        if "NextToken" not in req:
            return 200, {"FormatVersion": "aws_v1", "NextToken": "p2",
                         "PriceList": [
                             _aws_product(f["regionCode"], "ml.m5.large", "USE1-Train:ml.m5.large", "0.115")]}
        return 200, {"FormatVersion": "aws_v1", "PriceList": [
            _aws_product(f["regionCode"], "ml.m5.large", "USE1-Host:ml.m5.large", "0.1150000000"),
            _aws_product(f["regionCode"], "ml.m5.large", "USE1-Notebk:ml.m5.large", "0.1150")]}

    with FakeServer({"POST /": get_products}) as server:
        client = boto3.client("pricing", region_name="us-east-1", endpoint_url=server.url,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        (res,) = refresh_catalog(["sagemaker"], out_dir=tmp_path, aws_pricing_client=client)
    assert res.error is None and res.services == ["hosting", "training"]
    cat = Catalog([DATA_DIR, tmp_path])
    q = cat.lookup("sagemaker", "ml.m5.large", service="training")
    assert q.price_per_hour == 0.115 and "GetProducts" in q.sources[0]
    assert cat.lookup("sagemaker", "ml.m5.xlarge", service="training").price_per_hour is None
    assert seen[0]["ServiceCode"] == "AmazonSageMaker"


def test_azure_refresh_follows_next_page_link_and_skips_windows_and_spot(tmp_path: Path) -> None:
    def item(**kw: Any) -> dict[str, Any]:
        base = {"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": 0.229, "unitPrice": 0.229,
                "armRegionName": "eastus", "location": "US East", "effectiveStartDate": "2024-01-01T00:00:00Z",
                "meterId": "m", "meterName": "DS3 v2", "productId": "p", "skuId": "s",
                "productName": "Virtual Machines DSv2 Series", "skuName": "DS3 v2", "serviceName": "Virtual Machines",
                "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": "1 Hour",
                "type": "Consumption", "isPrimaryMeterRegion": True, "armSkuName": "Standard_DS3_v2"}
        return base | kw

    def prices(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        flt = query.get("$filter", [""])[0]
        if "Standard_DS3_v2" not in flt or "eastus" not in flt:
            return 200, {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                         "Items": [], "NextPageLink": None, "Count": 0}
        if "page" not in query:
            return 200, {"BillingCurrency": "USD", "Items": [
                item(productName="Virtual Machines DSv2 Series Windows", retailPrice=0.5),
                item(meterName="DS3 v2 Spot", skuName="DS3 v2 Spot", retailPrice=0.03)],
                "NextPageLink": f"{server.url}/api/retail/prices?page=2&$filter="
                + urllib.parse.quote(flt), "Count": 2}
        return 200, {"BillingCurrency": "USD", "Items": [item()], "NextPageLink": None, "Count": 1}

    with FakeServer({"GET /api/retail/prices": prices}) as server:
        (res,) = refresh_catalog(["azureml"], out_dir=tmp_path, azure_base_url=server.url)
    assert res.error is None
    cat = Catalog([DATA_DIR, tmp_path])
    for service in ("training", "hosting"):
        assert cat.lookup("azureml", "Standard_DS3_v2", service=service).price_per_hour == 0.229
    assert cat.lookup("azureml", "Standard_DS4_v2", service="training").price_per_hour is None


def test_vertex_refresh_prices_machines_from_core_and_ram_skus(tmp_path: Path) -> None:
    def sku(sku_id: str, desc: str, unit: str, nanos: int, units: str = "0") -> dict[str, Any]:
        return {"name": f"services/{VERTEX_SERVICE_ID}/skus/{sku_id}", "skuId": sku_id, "description": desc,
                "category": {"serviceDisplayName": "Vertex AI", "resourceFamily": "Compute",
                             "resourceGroup": "N1Standard", "usageType": "OnDemand"},
                "serviceRegions": ["us-central1"],
                "pricingInfo": [{"effectiveTime": "2026-11-01T00:00:00Z", "pricingExpression": {
                    "usageUnit": unit, "displayQuantity": 1, "baseUnit": "s",
                    "tieredRates": [{"startUsageAmount": 0, "unitPrice": {"currencyCode": "USD", "units": units,
                                                                          "nanos": nanos}}]}}],
                "serviceProviderName": "Google"}

    pages = {
        "": {"skus": [sku("A1", "Vertex AI: Training on N1 Predefined Instance Core running in Americas", "h",
                          30_000_000),
                      sku("A2", "Vertex AI: Training on N1 Predefined Instance Ram running in Americas", "GiBy.h",
                          4_000_000)],
             "nextPageToken": "t2"},
        "t2": {"skus": [sku("A3", "Vertex AI: Training on Nvidia Tesla T4 GPU running in Americas", "h",
                            350_000_000)], "nextPageToken": ""},
    }

    def skus(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        assert query["key"] == ["k"]
        return 200, pages[query.get("pageToken", [""])[0]]

    with FakeServer({f"GET /v1/services/{VERTEX_SERVICE_ID}/skus": skus}) as server:
        (res,) = refresh_catalog(["vertex"], out_dir=tmp_path, gcp_base_url=server.url, gcp_api_key="k")
    assert res.error is None
    cat = Catalog([DATA_DIR, tmp_path])
    q = cat.lookup("vertex", "n1-standard-4", service="training")
    assert q.price_per_hour == pytest.approx(4 * 0.03 + 15 * 0.004)
    gpu = cat.lookup("vertex", "n1-standard-4+NVIDIA_TESLA_T4", service="training")
    assert gpu.price_per_hour == pytest.approx(0.18 + 0.35)
    assert cat.lookup("vertex", "n1-standard-4", service="hosting").price_per_hour is None


def test_vertex_refresh_without_api_key_fails_that_provider_only(tmp_path: Path) -> None:
    (res,) = refresh_catalog(["vertex"], out_dir=tmp_path)
    assert res.error and "API key" in res.error and not (tmp_path / "vertex.csv").exists()


def test_huggingface_refresh_reads_jobs_hardware_and_keeps_endpoint_rows(tmp_path: Path) -> None:
    hardware = [
        {"name": "cpu-basic", "prettyName": "CPU Basic", "cpu": "2 vCPU", "ram": "16 GB", "accelerator": None,
         "unitCostMicroUSD": 167, "unitCostUSD": 0.000167, "unitLabel": "minute"},
        {"name": "t4-small", "prettyName": "Nvidia T4 - small", "cpu": "4 vCPU", "ram": "15 GB",
         "accelerator": {"type": "gpu", "model": "T4", "quantity": "1", "vram": "16 GB", "manufacturer": "Nvidia"},
         "unitCostMicroUSD": 6667, "unitCostUSD": 0.006667, "unitLabel": "minute"},
    ]
    with FakeServer({"GET /api/jobs/hardware": lambda *a: (200, hardware)}) as server:
        (res,) = refresh_catalog(["huggingface"], out_dir=tmp_path, hf_endpoint=server.url)
    assert res.services == ["training"]
    cat = Catalog([DATA_DIR, tmp_path])
    assert cat.lookup("huggingface", "t4-small", service="training").price_per_hour == pytest.approx(0.40002)
    assert cat.lookup("huggingface", "a100-large", service="training").price_per_hour is None
    assert cat.lookup("huggingface", "nvidia-t4-x1", service="hosting").price_per_hour == 0.5
    assert cat.rows(provider="huggingface", instance_type="cpu-basic")[0].accelerator_count == 0


def test_refresh_cli_reports_failures_with_exit_code_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from unifiedml.cli.cost import app

    result = CliRunner().invoke(app, ["catalog", "refresh", "-p", "vertex", "--out-dir", str(tmp_path),
                                      "-o", "json"], env={"GOOGLE_API_KEY": ""})
    assert result.exit_code == 1 and "API key" in result.output
