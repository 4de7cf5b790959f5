"""The local backend passes the shared provider contract, for real (TensorFlow training and serving)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.contract.suite import PenguinRows, ProviderContract, train_quickstart
from unifiedml import Client, Model
from unifiedml.providers.local.layout import read_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def _module_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-home")


@pytest.fixture(scope="module")
def _trained_model(_module_home: Path) -> Model:
    """Train once for the module: the quickstart script, through the runtime contract."""
    return train_quickstart(Client("local", project="contract", home=_module_home))


class TestLocalContract(PenguinRows, ProviderContract):
    endpoint_prefix = "local-contract"

    @pytest.fixture
    def client(self, _module_home: Path, monkeypatch: pytest.MonkeyPatch) -> Client:
        monkeypatch.setenv("UNIFIEDML_HOME", str(_module_home))
        return Client("local", project="contract")

    @pytest.fixture
    def trained_model(self, _trained_model: Model) -> Model:
        return _trained_model

    @pytest.fixture
    def native_tags(self, _module_home: Path) -> Any:
        def read(handle: Any) -> dict[str, str]:
            root = _module_home / "local"
            path = root / ("jobs" if handle.kind == "training_job" else "endpoints") / handle.name
            data = read_json(path / ("job.json" if handle.kind == "training_job" else "endpoint.json"))
            return data["tags"]

        return read
