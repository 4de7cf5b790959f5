"""Azure ML billed cost: the Cost Management ``query`` API, grouped by the ``unifiedml-resource`` tag.

``POST {base}/{scope}/providers/Microsoft.CostManagement/query?api-version=...``
with an ``ActualCost`` daily query; the answer is a table (``columns`` and
``rows``) paged by ``nextLink``. The provider supplies the scope
(``subscriptions/<id>`` or ``.../resourceGroups/<rg>``) and a
``token_provider`` returning a bearer token (azure-identity's
``credential.get_token("https://management.azure.com/.default").token``).
Plain HTTP(S) through urllib: no Azure SDK is needed to read costs.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from unifiedml.cost.records import CostRecord
from unifiedml.errors import AuthenticationError, PermissionDenied, ProviderError, Throttled

logger = logging.getLogger(__name__)

__all__ = ["API_VERSION", "CostManagementReader", "cost_query_body", "map_query_result"]

API_VERSION = "2023-03-01"
RESOURCE_TAG = "unifiedml-resource"


def cost_query_body(*, since: datetime, until: datetime, project: str | None) -> dict[str, Any]:
    """The query definition: daily ActualCost, summed, grouped by the resource tag (and service)."""
    dataset: dict[str, Any] = {
        "granularity": "Daily",
        "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
        "grouping": [{"type": "TagKey", "name": RESOURCE_TAG}, {"type": "Dimension", "name": "ServiceName"}],
    }
    if project:
        dataset["filter"] = {"tags": {"name": "unifiedml-project", "operator": "In", "values": [project]}}
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {"from": since.astimezone(UTC).isoformat(), "to": until.astimezone(UTC).isoformat()},
        "dataset": dataset,
    }


def _usage_day(value: Any) -> datetime:
    text = str(value)
    if text.isdigit() and len(text) == 8:  # 20261124
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:]), tzinfo=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def map_query_result(result: dict[str, Any], *, project: str | None) -> Iterator[CostRecord]:
    """Rows of a query answer -> records; columns are found by name, so their order does not matter."""
    props = result.get("properties", result)
    names = [c["name"] for c in props.get("columns", [])]
    idx = {n.lower(): i for i, n in enumerate(names)}
    cost_col = next((idx[k] for k in ("cost", "costusd", "pretaxcost", "totalcost") if k in idx), None)
    if cost_col is None:
        raise ProviderError(f"cost query answer has no cost column (columns: {names})", provider="azureml")
    for row in props.get("rows", []):
        amount = float(row[cost_col])
        if amount == 0:
            continue
        day = _usage_day(row[idx["usagedate"]])
        tag_value = row[idx["tagvalue"]] if "tagvalue" in idx else None
        tag_key = row[idx["tagkey"]] if "tagkey" in idx else RESOURCE_TAG
        resource = tag_value if tag_key == RESOURCE_TAG and tag_value else None
        yield CostRecord(
            provider="azureml",
            project=project,
            resource=resource,
            service=row[idx["servicename"]] if "servicename" in idx else None,
            kind="billed",
            start=day,
            end=day + timedelta(days=1),
            amount=amount,
            currency=str(row[idx["currency"]]) if "currency" in idx else "USD",
            source="azure-cost-management",
            tags={RESOURCE_TAG: resource} if resource else {},
        )


class CostManagementReader:
    """Billed Azure cost per tagged resource per day for ``scope``."""

    name = "azure-cost-management"

    def __init__(
        self,
        *,
        scope: str,
        token_provider: Callable[[], str],
        base_url: str = "https://management.azure.com",
        timeout: float = 60.0,
    ) -> None:
        self.scope = scope.strip("/")
        self.token_provider = token_provider
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def read(self, *, since: datetime, until: datetime, project: str | None = None) -> Iterator[CostRecord]:
        """Blocking; follows ``nextLink`` (POSTing the same body, as the API requires)."""
        url: str | None = (
            f"{self.base_url}/{self.scope}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}"
        )
        body = json.dumps(cost_query_body(since=since, until=until, project=project)).encode()
        while url:
            result = self._post(url, body)
            yield from map_query_result(result, project=project)
            url = (result.get("properties") or {}).get("nextLink")

    def _post(self, url: str, body: bytes) -> dict[str, Any]:

        req = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.token_provider()}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")[:500]
            if exc.code == 401:
                raise AuthenticationError(f"cost query refused: {text}", provider="azureml") from exc
            if exc.code == 403:
                raise PermissionDenied(
                    f"cost query not allowed: {text}",
                    provider="azureml",
                    hint="grant the Cost Management Reader role on the scope",
                ) from exc
            if exc.code == 429:
                retry = exc.headers.get(
                    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after"
                ) or exc.headers.get("Retry-After")
                raise Throttled(
                    "cost query throttled", provider="azureml", retry_after=float(retry) if retry else None
                ) from exc
            raise ProviderError(
                f"cost query failed ({exc.code}): {text}",
                provider="azureml",
                status_code=exc.code,
                retryable=exc.code >= 500,
            ) from exc
