"""Drift-engine plug-in: SageMaker DataCapture files on S3 as a capture reader.

Registered under ``sagemaker`` in :mod:`unifiedml.monitoring.readers`, so
``unifiedml drift check --provider sagemaker --endpoint NAME --since 24h`` (and
scheduled checks) read the endpoint's captured requests like the local log.
The provider is configured from the environment (``AWS_*`` variables or a
profile; ``UNIFIEDML_SAGEMAKER_ENDPOINT_URL`` points it at the emulator).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

__all__ = ["DataCaptureReader"]


class DataCaptureReader:
    """Reads one window of an endpoint's DataCapture JSONL into the drift engine's frame.

    One row per instance, one column per feature; the ``ts``, ``event_id`` and
    ``prediction`` columns of the capture are left out (they are not features).
    Blocking: lists and reads the window's S3 objects.
    """

    provider = "sagemaker"

    def __init__(self, provider: Any = None) -> None:
        if provider is None:
            from unifiedml.providers.sagemaker.provider import SageMakerProvider

            settings = {}
            if os.environ.get("UNIFIEDML_SAGEMAKER_ENDPOINT_URL"):
                settings["endpoint_url"] = os.environ["UNIFIEDML_SAGEMAKER_ENDPOINT_URL"]
            provider = SageMakerProvider(settings=settings)
        self._provider = provider

    def read(self, endpoint: str, *, since: datetime, until: datetime | None = None) -> Any:
        from unifiedml.monitoring.readers import rows_source

        rows = self._provider.capture_records(endpoint, since=since)
        return rows_source(rows, f"SageMaker DataCapture of {endpoint}", until=until)
