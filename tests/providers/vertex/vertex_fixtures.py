"""Shared fixtures for Vertex AI tests: one emulator per session, reset per test, the real GAPIC clients over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from unifiedml import Client

BUCKET = "uml-vertex-tests"
GCP_PROJECT = "uml-emulated"
REGION = "us-central1"
DEFAULTS: dict[str, Any] = {
    "job_delay": 0.3,
    "run_training": True,
    "automl_delay": 0.3,
    "operation_delay": 0.0,
    "deploy_delay": 0.2,
    "serve_models": False,
    "latency": 0.0,
    "throttle_rate": 0.0,
    "error_rate": 0.0,
    "error_after_rate": 0.0,
    "fault_seed": 1234,
}


@pytest.fixture(scope="session")
def vertex_emulator() -> Iterator[Any]:
    pytest.importorskip("google.cloud.aiplatform_v1")
    pytest.importorskip("google.cloud.storage")
    pytest.importorskip("gcp_storage_emulator")
    from unifiedml.emulators.vertex import VertexEmulator

    emulator = VertexEmulator(**DEFAULTS).start()
    yield emulator
    emulator.stop()


def gcp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Google credentials or project variables leaking in from the machine."""
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(var, raising=False)


def fresh(emulator: Any, **config: Any) -> Any:
    """Reset the emulator, apply ``config`` over the defaults, create the test bucket."""
    emulator.reset()
    emulator.configure(**{**DEFAULTS, **config})
    emulator.create_bucket(BUCKET)
    return emulator


def settings(emulator: Any, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "gcp_project": GCP_PROJECT,
        "region": REGION,
        "staging_bucket": f"gs://{BUCKET}",
        "api_endpoint": emulator.url,
        "storage_endpoint": emulator.gcs_url,
        "logging_endpoint": emulator.url,
        "credentials": "anonymous",
        "poll_initial": 0.05,
        "poll_cap": 0.2,
        "log_poll": 0.05,
    }
    options.update(overrides)
    return options


def vertex_client(emulator: Any, project: str = "tests", **overrides: Any) -> Client:
    home = overrides.pop("home", None)
    return Client("vertex", project=project, home=home, **settings(emulator, **overrides))


def gapic(emulator: Any, service: str) -> Any:
    """A raw GAPIC REST client on the emulator (to read what the provider created)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    cls = {"job": aiplatform_v1.JobServiceClient, "endpoint": aiplatform_v1.EndpointServiceClient,
           "model": aiplatform_v1.ModelServiceClient, "pipeline": aiplatform_v1.PipelineServiceClient}[service]
    return cls(transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": emulator.url})


PARENT = f"projects/{GCP_PROJECT}/locations/{REGION}"
