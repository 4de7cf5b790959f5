"""Drift-engine plug-in: Vertex AI request-response logging (BigQuery) as a capture reader.

Registered under ``vertex`` in :mod:`unifiedml.monitoring.readers`, so
``unifiedml drift check --provider vertex --endpoint NAME --since 24h`` reads
the endpoint's logged requests. The provider is configured from the
environment (``GOOGLE_CLOUD_PROJECT``, application default credentials) and
queries run through :class:`unifiedml.providers.vertex.billing.BigQueryRunner`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["RequestLogReader"]


class RequestLogReader:
    """Reads one window of an endpoint's logged requests into the drift engine's frame (features only).

    Blocking: runs one BigQuery query for the window.
    """

    provider = "vertex"

    def __init__(self, provider: Any = None, runner: Any = None) -> None:
        if provider is None:
            from unifiedml.providers.vertex.provider import VertexProvider

            provider = VertexProvider(settings={})
        if runner is None:
            from unifiedml.providers.vertex.billing import BigQueryRunner

            runner = BigQueryRunner(project=provider.gcp_project)
        self._provider, self._runner = provider, runner

    def read(self, endpoint: str, *, since: datetime, until: datetime | None = None) -> Any:
        from unifiedml.monitoring.readers import rows_source

        rows = self._provider.capture_records(endpoint, runner=self._runner, since=since)
        return rows_source(rows, f"Vertex AI request-response log of {endpoint}", until=until)
