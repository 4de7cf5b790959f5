"""Fixtures of the Vertex AI tests: the session's emulator, reset before each test."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.vertex.vertex_fixtures import fresh, gcp_env, vertex_emulator

__all__ = ["vertex_emulator"]


@pytest.fixture
def vertex(vertex_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    gcp_env(monkeypatch)
    return fresh(vertex_emulator)
