"""Shared fixtures for SageMaker tests: one AWS emulator per session, reset per test, real boto3 over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from unifiedml import Client
from unifiedml.emulators.aws import AwsEmulator

ROLE = "arn:aws:iam::123456789012:role/UnifiedMLTests"
BUCKET = "uml-tests"
REGION = "us-east-1"
DEFAULTS: dict[str, Any] = {
    "training_delay": 0.3,
    "automl_delay": 0.3,
    "endpoint_delay": 0.2,
    "run_training": False,
    "serve_models": False,
    "fault_rate": 0.0,
    "error_rate": 0.0,
    "error_after_rate": 0.0,
    "fault_seed": 1234,
    "monitoring_interval": 0.2,
}


@pytest.fixture(scope="session")
def aws_emulator() -> Iterator[AwsEmulator]:
    pytest.importorskip("moto")
    emulator = AwsEmulator(**DEFAULTS).start()
    yield emulator
    emulator.stop()


def aws_env(monkeypatch: pytest.MonkeyPatch, emulator: AwsEmulator) -> None:
    """Fake keys (moto accepts any); no profile or endpoint variables leaking in from the machine."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def fresh(emulator: AwsEmulator, **config: Any) -> AwsEmulator:
    """Reset moto and the emulator, apply ``config`` over the defaults, create the test bucket."""
    import boto3

    emulator.reset()
    emulator.configure(**{**DEFAULTS, **config})
    boto3.client(
        "s3",
        endpoint_url=emulator.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    return emulator


def sagemaker_client(emulator: AwsEmulator, project: str = "tests", **settings: Any) -> Client:
    options: dict[str, Any] = {
        "region": REGION,
        "role_arn": ROLE,
        "bucket": BUCKET,
        "endpoint_url": emulator.url,
        "poll_initial": 0.05,
        "poll_cap": 0.2,
        "log_poll": 0.05,
    }
    options.update(settings)
    return Client("sagemaker", project=project, **options)


def boto(emulator: AwsEmulator, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=emulator.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
