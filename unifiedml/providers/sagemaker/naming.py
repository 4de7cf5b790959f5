"""Deterministic native names and S3 locations.

A retried create must find what an earlier attempt made, so every native name
is a pure function of unifiedml's name (and, for endpoint configs, of what they
hold). SageMaker limits: training jobs, models, endpoints and endpoint configs
63 characters; AutoML jobs 32 (botocore's service model, ``AutoMLJobName``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["automl_job_name", "endpoint_config_name", "fit", "s3_join"]


def fit(name: str, limit: int) -> str:
    """``name`` when it fits in ``limit`` characters, else a prefix plus 8 hex digits of its hash (stable)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def automl_job_name(name: str) -> str:
    return fit(name, 32)


def endpoint_config_name(endpoint: str, content: dict[str, Any]) -> str:
    """``<endpoint>-<hash of the config's content>``: the same deploy maps to the same config."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{fit(endpoint, 52)}-{digest}"


def s3_join(*parts: str) -> str:
    head, *rest = parts
    return "/".join([head.rstrip("/"), *(p.strip("/") for p in rest if p.strip("/"))])
