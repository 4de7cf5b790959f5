"""Shared fixtures: every test gets its own unifiedml home and a clean environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def _no_leaked_endpoint_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A failing test may leave a local endpoint process behind: stop every one started under this
    session's temporary directories when the session ends, so runs never pile processes up."""
    yield
    import signal

    base = str(tmp_path_factory.getbasetemp()).encode()
    for entry in Path("/proc").glob("[0-9]*/cmdline") if Path("/proc").is_dir() else []:
        try:
            argv = entry.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"unifiedml.providers.local.server" in argv and any(a.startswith(base) for a in argv):
            try:
                os.kill(int(entry.parent.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
