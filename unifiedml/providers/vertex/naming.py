"""Vertex AI labels and deterministic names.

Label rules (the ``labels`` documentation of ``google.cloud.aiplatform_v1``
types): keys and values of lowercase letters, digits, ``_`` and ``-``; keys
start with a letter. The documentation allows 64 characters; unifiedml keeps
to 63, the Google Cloud label limit, so a label is valid everywhere in GCP.

unifiedml's ``unifiedml-resource`` tag is ``kind/name``, but ``/`` is not
allowed in a label value, so it is stored as ``kind--name`` (kinds hold no
hyphen, so the first ``--`` splits it back); a value over 63 characters keeps
a prefix and 8 hex digits of its hash, and reads back as written.
"""

from __future__ import annotations

import hashlib
import re

from unifiedml.errors import ConfigError
from unifiedml.providers.base import TAG_RESOURCE

__all__ = ["check_labels", "fit", "from_labels", "gcs_join", "to_labels"]

MAX = 63
_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def fit(name: str, limit: int = MAX) -> str:
    """``name`` when it fits in ``limit`` characters, else a prefix plus 8 hex digits of its hash (stable)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-_')}-{digest}"


def check_labels(tags: dict[str, str], *, field: str = "tags") -> None:
    """Raise ConfigError naming ``tags.<key>`` for a user tag Vertex AI would refuse. Called before any create."""
    if len(tags) > 64:
        raise ConfigError("Vertex AI allows at most 64 labels per resource", field=field, provider="vertex")
    for key, value in tags.items():
        if not _KEY.match(key):
            raise ConfigError(
                f"{key!r} is not a valid Vertex AI label key", field=f"{field}.{key}", provider="vertex",
                hint="start with a lowercase letter; use lowercase letters, digits, '_' and '-'; at most 63",
            )
        if not _VALUE.match(str(value)):
            raise ConfigError(
                f"{value!r} is not a valid Vertex AI label value", field=f"{field}.{key}", provider="vertex",
                hint="use lowercase letters, digits, '_' and '-'; at most 63 characters",
            )


def to_labels(tags: dict[str, str]) -> dict[str, str]:
    """unifiedml tags -> Vertex labels (the resource tag re-encoded; the rest as given, already checked)."""
    out = dict(tags)
    if TAG_RESOURCE in out:
        out[TAG_RESOURCE] = fit(out[TAG_RESOURCE].replace("/", "--", 1))
    return out


def from_labels(labels: dict[str, str]) -> dict[str, str]:
    """Vertex labels -> unifiedml tags (``kind--name`` back to ``kind/name``)."""
    out = dict(labels)
    value = out.get(TAG_RESOURCE)
    if value and "--" in value:
        out[TAG_RESOURCE] = value.replace("--", "/", 1)
    return out


def gcs_join(*parts: str) -> str:
    head, *rest = parts
    return "/".join([head.rstrip("/"), *(p.strip("/") for p in rest if p.strip("/"))])
