"""Fixtures of the SageMaker tests: the session's AWS emulator, reset before each test."""

from __future__ import annotations

import pytest

from tests.providers.sagemaker.aws_fixtures import aws_emulator, aws_env, fresh
from unifiedml.emulators.aws import AwsEmulator

__all__ = ["aws_emulator"]


@pytest.fixture
def aws(aws_emulator: AwsEmulator, monkeypatch: pytest.MonkeyPatch) -> AwsEmulator:
    aws_env(monkeypatch, aws_emulator)
    return fresh(aws_emulator)
