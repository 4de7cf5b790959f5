"""Rebuild the price files from the providers' public price APIs (``unifiedml cost catalog refresh``).

One fetcher per provider, each returning sourced :class:`PriceRow` s:

* SageMaker - AWS Price List ``GetProducts`` (boto3 ``pricing`` client;
  ``endpoint_url`` injectable), ServiceCode ``AmazonSageMaker``, one query per
  region and instance type; the usage type (``...-Train:`` / ``...-Host:``)
  or the ``component`` attribute says training or hosting.
* Azure ML - the Azure Retail Prices API (``GET /api/retail/prices?$filter=``,
  JSON pages linked by ``NextPageLink``): Linux, on-demand, non-spot VM
  meters. Azure ML compute is billed as the VM (no surcharge), so one price
  serves training and hosting.
* Vertex AI - the Cloud Billing Catalog API (``GET
  /v1/services/{id}/skus``, pages linked by ``nextPageToken``): per-vCPU,
  per-GiB and per-GPU hourly SKUs whose description matches
  :data:`VERTEX_SKU_PATTERNS`; a machine type's price is vCPUs x core + GiB x
  RAM from its documented shape (``shapes.json``). Needs an API key.
* Hugging Face - the Jobs hardware listing (``GET /api/jobs/hardware``,
  ``unitCostUSD`` per ``unitLabel``). Inference Endpoints hardware rows are
  kept from the shipped documentation rows (their listing needs a token).

A refresh replaces, per provider, the rows of the services it fetched and
keeps the others; rows carry the API URL they came from and today's date.
Nothing is invented: a type the API does not price stays absent (unknown).
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unifiedml.cost.catalog import (
    COMBINE,
    PROVIDERS,
    Catalog,
    PriceRow,
    catalog_dirs,
    read_catalog_file,
    write_catalog_file,
)
from unifiedml.errors import ConfigError, ProviderError

logger = logging.getLogger(__name__)

__all__ = [
    "AZURE_PRICES_URL",
    "GCP_BILLING_URL",
    "HF_HUB_URL",
    "VERTEX_SERVICE_ID",
    "VERTEX_SKU_PATTERNS",
    "RefreshResult",
    "fetch_azure",
    "fetch_huggingface_jobs",
    "fetch_sagemaker",
    "fetch_vertex",
    "refresh_catalog",
]

AZURE_PRICES_URL = "https://prices.azure.com"
GCP_BILLING_URL = "https://cloudbilling.googleapis.com"
HF_HUB_URL = "https://huggingface.co"
#: The Cloud Billing Catalog id of the "Vertex AI" service.
VERTEX_SERVICE_ID = "C7E2-9256-1C43"
#: (service, component) -> pattern on the SKU description; ``{family}``/``{gpu}`` are filled in.
VERTEX_SKU_PATTERNS = {
    ("training", "core"): r"^(Vertex AI: )?Training.*\b{family}\b.*(Instance )?Core",
    ("training", "ram"): r"^(Vertex AI: )?Training.*\b{family}\b.*(Instance )?Ram",
    ("training", "gpu"): r"^(Vertex AI: )?Training.*{gpu}",
    ("hosting", "core"): r"^(Vertex AI: )?(Online )?Prediction.*\b{family}\b.*(Instance )?Core",
    ("hosting", "ram"): r"^(Vertex AI: )?(Online )?Prediction.*\b{family}\b.*(Instance )?Ram",
    ("hosting", "gpu"): r"^(Vertex AI: )?(Online )?Prediction.*{gpu}",
}
_GPU_WORDS = {"NVIDIA_TESLA_T4": "Tesla T4", "NVIDIA_L4": "L4", "NVIDIA_TESLA_A100": "A100"}

Getter = Callable[[str], dict[str, Any]]


def _http_get_json(url: str, *, timeout: float = 60.0) -> dict[str, Any]:
    import urllib.error

    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=timeout
        ) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        raise ProviderError(
            f"GET {url.split('?')[0]} failed ({exc.code})", status_code=exc.code, retryable=exc.code >= 500
        ) from exc
    except urllib.error.URLError as exc:
        raise ProviderError(f"cannot reach {url.split('?')[0]}: {exc.reason}", retryable=True) from exc


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _wanted_types(catalog: Catalog, provider: str) -> list[str]:
    """The concrete types to fetch: every part of every mapped size and every documented shape."""
    types = set()
    for mapping in catalog._provider(provider).get("portable", {}).values():
        for value in mapping.values():
            types |= set(value.split(COMBINE))
    types |= set(catalog._provider(provider).get("shapes", {}))
    return sorted(types)


# -- AWS -----------------------------------------------------------------------
def _aws_service(attrs: dict[str, Any]) -> str | None:
    comp = str(attrs.get("component", "")).lower()
    if comp in ("training", "hosting"):
        return comp
    usage = str(attrs.get("usagetype", ""))
    if "-Train:" in usage or usage.startswith("Train:"):
        return "training"
    if "-Host:" in usage or usage.startswith("Host:"):
        return "hosting"
    return None


def fetch_sagemaker(
    *, client: Any, regions: Sequence[str], instance_types: Sequence[str], today: str | None = None
) -> list[PriceRow]:
    """On-demand hourly SageMaker prices from ``GetProducts`` (``client`` is a boto3 ``pricing`` client)."""
    today = today or _today()
    rows: dict[tuple[str, str, str], PriceRow] = {}
    for region in regions:
        for itype in instance_types:
            token = None
            while True:
                kwargs: dict[str, Any] = {
                    "ServiceCode": "AmazonSageMaker",
                    "Filters": [
                        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
                        {"Type": "TERM_MATCH", "Field": "instanceName", "Value": itype},
                    ],
                    "FormatVersion": "aws_v1",
                    "MaxResults": 100,
                }
                if token:
                    kwargs["NextToken"] = token
                answer = client.get_products(**kwargs)
                for text in answer.get("PriceList", []):
                    item = json.loads(text) if isinstance(text, str) else text
                    attrs = item.get("product", {}).get("attributes", {})
                    service = _aws_service(attrs)
                    if service is None or attrs.get("instanceName") != itype:
                        continue
                    for term in (item.get("terms", {}).get("OnDemand") or {}).values():
                        for dim in term.get("priceDimensions", {}).values():
                            usd = dim.get("pricePerUnit", {}).get("USD")
                            if usd is None or dim.get("unit") not in ("Hrs", "Hours", "hour"):
                                continue
                            price = float(usd)
                            if price <= 0:
                                continue
                            rows[(service, region, itype)] = PriceRow(
                                provider="sagemaker",
                                service=service,
                                region=region,
                                instance_type=itype,
                                price_per_hour=price,
                                currency="USD",
                                source_url="https://api.pricing.us-east-1.amazonaws.com (GetProducts "
                                f"AmazonSageMaker sku {item.get('product', {}).get('sku', '?')})",
                                read_on=today,
                                vcpus=_float(attrs.get("vCpu")),
                                memory_gib=_float(attrs.get("memory")),
                            )
                token = answer.get("NextToken")
                if not token:
                    break
    return list(rows.values())


def _float(text: Any) -> float | None:
    if text is None:
        return None
    m = re.match(r"^\s*([\d.]+)", str(text))
    return float(m.group(1)) if m else None


# -- Azure ---------------------------------------------------------------------
def fetch_azure(
    *,
    regions: Sequence[str],
    skus: Sequence[str],
    base_url: str = AZURE_PRICES_URL,
    get: Getter = _http_get_json,
    today: str | None = None,
) -> list[PriceRow]:
    """Linux pay-as-you-go VM prices from the Retail Prices API, for both services."""
    today = today or _today()
    rows: list[PriceRow] = []
    for region in regions:
        for sku in skus:
            flt = (
                f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' "
                f"and armSkuName eq '{sku}' and priceType eq 'Consumption'"
            )
            url: str | None = f"{base_url.rstrip('/')}/api/retail/prices?" + urllib.parse.urlencode(
                {"$filter": flt}, quote_via=urllib.parse.quote
            )
            first_url = url
            best: dict[str, Any] | None = None
            while url:
                page = get(url)
                for item in page.get("Items", []):
                    name = (
                        f"{item.get('productName', '')} {item.get('meterName', '')} {item.get('skuName', '')}"
                    )
                    if "Windows" in name or "Spot" in name or "Low Priority" in name:
                        continue
                    if item.get("unitOfMeasure") != "1 Hour" or item.get("type") != "Consumption":
                        continue
                    if item.get("armSkuName") != sku or item.get("armRegionName") != region:
                        continue
                    if best is None or item.get("effectiveStartDate", "") > best.get(
                        "effectiveStartDate", ""
                    ):
                        best = item
                url = page.get("NextPageLink")
            if best is None:
                continue
            for service in ("training", "hosting"):
                rows.append(
                    PriceRow(
                        provider="azureml",
                        service=service,
                        region=region,
                        instance_type=sku,
                        price_per_hour=float(best["retailPrice"]),
                        currency=str(best.get("currencyCode", "USD")),
                        source_url=str(first_url),
                        read_on=today,
                    )
                )
    return rows


# -- GCP -----------------------------------------------------------------------
def _money(unit_price: dict[str, Any]) -> float:
    return int(unit_price.get("units") or 0) + int(unit_price.get("nanos") or 0) / 1e9


def fetch_vertex(
    *,
    api_key: str,
    regions: Sequence[str],
    catalog: Catalog,
    base_url: str = GCP_BILLING_URL,
    get: Getter = _http_get_json,
    today: str | None = None,
) -> list[PriceRow]:
    """Vertex AI machine and accelerator prices from the Cloud Billing Catalog API (needs an API key)."""
    today = today or _today()
    skus: list[dict[str, Any]] = []
    base = f"{base_url.rstrip('/')}/v1/services/{VERTEX_SERVICE_ID}/skus"
    token = ""
    while True:
        query = {"key": api_key, "currencyCode": "USD", **({"pageToken": token} if token else {})}
        page = get(base + "?" + urllib.parse.urlencode(query))
        skus += page.get("skus", [])
        token = page.get("nextPageToken") or ""
        if not token:
            break
    shapes = catalog._provider("vertex").get("shapes", {})

    def unit(
        service: str, comp: str, region: str, *, family: str = "", gpu: str = ""
    ) -> tuple[float, str] | None:
        pattern = re.compile(
            VERTEX_SKU_PATTERNS[(service, comp)].format(family=re.escape(family), gpu=re.escape(gpu)), re.I
        )
        for sku in skus:
            if region not in sku.get("serviceRegions", []):
                continue
            if (sku.get("category") or {}).get("usageType", "OnDemand") != "OnDemand":
                continue
            if not pattern.search(sku.get("description", "")):
                continue
            for info in sku.get("pricingInfo", [])[:1]:
                expr = info.get("pricingExpression", {})
                rates = expr.get("tieredRates", [])
                if expr.get("usageUnit") not in ("h", "GiBy.h") or not rates:
                    continue
                price = _money(rates[-1]["unitPrice"])
                if price > 0:
                    return price, sku.get("skuId", sku.get("name", "?"))
        return None

    rows = []
    for region in regions:
        for service in ("training", "hosting"):
            for itype, shape in shapes.items():
                if shape.get("kind") == "accelerator":
                    got = unit(service, "gpu", region, gpu=_GPU_WORDS.get(itype, itype))
                    if got:
                        rows.append(
                            PriceRow(
                                "vertex",
                                service,
                                region,
                                itype,
                                round(got[0], 6),
                                "USD",
                                f"{base} (sku {got[1]})",
                                today,
                                accelerator=itype,
                                accelerator_count=1,
                            )
                        )
                    continue
                family = itype.split("-")[0].upper()
                core = unit(service, "core", region, family=family)
                ram = unit(service, "ram", region, family=family)
                if not core or not ram or shape.get("accelerator"):
                    continue  # machines with built-in GPUs need their GPU SKU too: left unknown
                price = shape["vcpus"] * core[0] + shape["memory_gib"] * ram[0]
                rows.append(
                    PriceRow(
                        "vertex",
                        service,
                        region,
                        itype,
                        round(price, 6),
                        "USD",
                        f"{base} (skus {core[1]} x {shape['vcpus']} vCPU + {ram[1]} x "
                        f"{shape['memory_gib']} GiB)",
                        today,
                        vcpus=shape["vcpus"],
                        memory_gib=shape["memory_gib"],
                    )
                )
    return rows


# -- Hugging Face --------------------------------------------------------------
def fetch_huggingface_jobs(
    *, endpoint: str = HF_HUB_URL, get: Getter = _http_get_json, today: str | None = None
) -> list[PriceRow]:
    """Jobs hardware prices from ``GET /api/jobs/hardware`` (``unitCostUSD`` per ``unitLabel``)."""
    today = today or _today()
    url = f"{endpoint.rstrip('/')}/api/jobs/hardware"
    answer: Any = get(url)
    items = answer if isinstance(answer, list) else answer.get("hardware", answer.get("items", []))
    per = {"minute": 60.0, "hour": 1.0, "second": 3600.0}
    rows = []
    for hw in items:
        label = str(hw.get("unitLabel", "")).lower()
        if label not in per or hw.get("unitCostUSD") is None:
            continue
        acc = hw.get("accelerator") or {}
        rows.append(
            PriceRow(
                provider="huggingface",
                service="training",
                region="*",
                instance_type=hw["name"],
                price_per_hour=round(float(hw["unitCostUSD"]) * per[label], 6),
                currency="USD",
                source_url=url,
                read_on=today,
                vcpus=_float(hw.get("cpu")),
                memory_gib=_float(hw.get("ram")),
                accelerator=acc.get("model"),
                accelerator_count=int(acc.get("quantity") or 0),
            )
        )
    return rows


# -- orchestration -------------------------------------------------------------
@dataclass
class RefreshResult:
    """What one provider's refresh did."""

    provider: str
    rows: int = 0
    path: str | None = None
    services: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _merge_and_write(provider: str, fetched: list[PriceRow], out_dir: Path, sources: str) -> RefreshResult:
    """Replace the fetched services' rows in the provider's current file (shipped or refreshed)."""
    services = sorted({r.service for r in fetched})
    current: list[PriceRow] = []
    for d in [*catalog_dirs()[:1], out_dir]:
        path = d / f"{provider}.csv"
        if path.is_file():
            current = read_catalog_file(path).rows
    kept = [r for r in current if r.service not in services]
    path = out_dir / f"{provider}.csv"
    n = write_catalog_file(
        path,
        [*kept, *fetched],
        metadata={
            "sources": sources,
            "fetched": _today() + f" (refreshed services: {', '.join(services) or 'none'})",
        },
    )
    return RefreshResult(provider, n, str(path), services)


def refresh_catalog(
    providers: Iterable[str] = PROVIDERS,
    *,
    out_dir: Path | None = None,
    regions: dict[str, Sequence[str]] | None = None,
    aws_pricing_client: Any = None,
    aws_endpoint_url: str | None = None,
    azure_base_url: str = AZURE_PRICES_URL,
    gcp_base_url: str = GCP_BILLING_URL,
    gcp_api_key: str | None = None,
    hf_endpoint: str = HF_HUB_URL,
) -> list[RefreshResult]:
    """Fetch each provider's prices and write ``<out_dir>/<provider>.csv``. Blocking; network.

    A provider that fails (offline, no key, API error) keeps its previous
    file and reports the error; the others still refresh.
    """
    out_dir = out_dir or catalog_dirs()[-1]
    catalog = Catalog(catalog_dirs()[:1])
    results = []
    for provider in providers:
        if provider not in PROVIDERS:
            raise ConfigError(f"unknown provider {provider!r}", field="provider", hint=", ".join(PROVIDERS))
        regs = list(
            (regions or {}).get(provider)
            or [catalog.default_region(provider, "training"), catalog.default_region(provider, "hosting")]
        )
        regs = list(dict.fromkeys(regs))
        try:
            if provider == "sagemaker":
                client = aws_pricing_client
                if client is None:
                    import boto3

                    client = boto3.client("pricing", region_name="us-east-1", endpoint_url=aws_endpoint_url)
                rows = fetch_sagemaker(
                    client=client, regions=regs, instance_types=_wanted_types(catalog, provider)
                )
                sources = "AWS Price List API GetProducts (ServiceCode AmazonSageMaker)"
            elif provider == "azureml":
                rows = fetch_azure(
                    regions=regs, skus=_wanted_types(catalog, provider), base_url=azure_base_url
                )
                sources = f"Azure Retail Prices API {azure_base_url}/api/retail/prices"
            elif provider == "vertex":
                if not gcp_api_key:
                    raise ConfigError(
                        "the Cloud Billing Catalog API needs an API key",
                        field="gcp_api_key",
                        hint="pass --gcp-api-key or set GOOGLE_API_KEY",
                    )
                rows = fetch_vertex(api_key=gcp_api_key, regions=regs, catalog=catalog, base_url=gcp_base_url)
                sources = f"Cloud Billing Catalog API {gcp_base_url}/v1/services/{VERTEX_SERVICE_ID}/skus"
            else:
                rows = fetch_huggingface_jobs(endpoint=hf_endpoint)
                sources = (
                    f"{hf_endpoint}/api/jobs/hardware; Inference Endpoints rows kept from the shipped file"
                )
        except Exception as exc:  # one provider failing must not stop the others; reported, not swallowed
            logger.warning("price refresh for %s failed: %s", provider, exc)
            results.append(RefreshResult(provider, error=f"{type(exc).__name__}: {exc}"))
            continue
        results.append(_merge_and_write(provider, rows, out_dir, sources))
    return results
