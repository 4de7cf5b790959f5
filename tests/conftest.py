"""Shared fixtures: every test gets its own unifiedml home and a clean environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart"
PENGUINS = QUICKSTART / "data" / "penguins.csv"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point UNIFIEDML_HOME at a fresh directory and drop variables that would leak between tests."""
    home = tmp_path_factory.mktemp("uml-home")
    monkeypatch.setenv("UNIFIEDML_HOME", str(home))
    for var in list(os.environ):
        if var.startswith(("UML_", "SM_", "AIP_", "AZURE_ML_")) or var in (
            "UNIFIEDML_PROJECT",
            "UNIFIEDML_DEBUG",
            "UNIFIEDML_LOCAL_TOKEN",
        ):
            monkeypatch.delenv(var, raising=False)
    # Keep TensorFlow's C++ start-up chatter out of job logs asserted on in tests.
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return home


@pytest.fixture
def home() -> Path:
    return Path(os.environ["UNIFIEDML_HOME"])


@pytest.fixture
def python() -> str:
    return sys.executable
