"""`import unifiedml` and `unifiedml --help` must not import any vendor SDK."""

from __future__ import annotations

import subprocess
import sys

VENDORS = ["tensorflow", "keras", "boto3", "botocore", "google.cloud.aiplatform", "azure.ai.ml",
           "huggingface_hub", "torch"]

BLOCKER = """
import sys, importlib.abc
VENDORS = {vendors!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == v or name.startswith(v + ".") for v in VENDORS):
            raise ImportError("blocked vendor SDK: " + name)
        return None
sys.meta_path.insert(0, Block())
"""


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_unifiedml_and_its_public_names_load_no_vendor_sdk() -> None:
    out = _run(
        "import sys, unifiedml\n"
        "for n in unifiedml.__all__: getattr(unifiedml, n)\n"
        f"print([v for v in {VENDORS!r} if v in sys.modules])"
    )
    assert out.strip() == "[]"


def test_cli_help_loads_no_vendor_sdk() -> None:
    out = _run(
        "import sys\n"
        "from unifiedml.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('VENDORS', [v for v in {VENDORS!r} if v in sys.modules])"
    )
    assert "VENDORS []" in out


def test_every_provider_module_imports_with_vendor_sdks_blocked() -> None:
    code = BLOCKER.format(vendors=VENDORS) + (
        "import importlib\n"
        "from unifiedml.providers.registry import BUILTIN\n"
        "for info in BUILTIN.values():\n"
        "    importlib.import_module(info.module)\n"
        "import unifiedml.cli.main, unifiedml.runtime, unifiedml.trainers.tabular\n"
        "print('ok')\n"
    )
    assert _run(code).strip() == "ok"
