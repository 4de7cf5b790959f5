"""Packaging code and data for Vertex AI custom training.

* The **training package** is a Python source distribution, which the prebuilt
  training containers ``pip install`` before running ``python -m <module>``
  (``pythonPackageSpec``). It holds the entry point's folder as the package
  ``unifiedml_job`` with a launcher ``unifiedml_job._entry`` that runs the
  script as ``__main__`` from its own folder, plus ``unifiedml/runtime.py``
  (standard library only), so ``from unifiedml import runtime`` works where
  unifiedml is not installed. It is built deterministically (sorted members,
  zero mtimes), so its hash names its GCS key and an unchanged folder is not
  uploaded twice.
* **Local data** goes to ``<root>/data/<sha256>/`` with a ``.complete`` marker
  written last; the same content is not uploaded again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unifiedml.errors import ConfigError, NotFound
from unifiedml.providers.content import (
    builtin_module_files,
    content_hash,
    data_files,
    job_source,
    runtime_files,
    source_files,
)
from unifiedml.providers.vertex.errors import PROVIDER, call
from unifiedml.providers.vertex.naming import gcs_join
from unifiedml.specs import TrainingSpec

logger = logging.getLogger(__name__)

__all__ = ["PACKAGE_MODULE", "TrainingPackage", "build_package", "check_gcs_uri", "split_gcs", "upload_data",
           "upload_if_absent"]

PACKAGE_MODULE = "unifiedml_job._entry"
_DIST = "unifiedml-job-0.0.0"

_SETUP = """from setuptools import setup

setup(
    name="unifiedml-job",
    version="0.0.0",
    packages=["unifiedml", "unifiedml_job"],
    include_package_data=True,
    package_data={{"unifiedml_job": ["**/*"]}},
    install_requires={requires!r},
)
"""
_ENTRY = """import os, runpy, sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = {program!r}
MODULE = {module!r}
sys.path.insert(0, HERE)
if MODULE:
    sys.argv[0] = MODULE
    runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
else:
    script = os.path.join(HERE, PROGRAM)
    sys.argv[0] = script
    sys.path.insert(0, os.path.dirname(script))
    runpy.run_path(script, run_name="__main__")
"""


@dataclass(frozen=True)
class TrainingPackage:
    data: bytes
    sha256: str
    filename: str = f"{_DIST}.tar.gz"
    module: str = PACKAGE_MODULE


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(f"{_DIST}/{name}")
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def build_package(spec: TrainingSpec, *, cwd: Path | None = None) -> TrainingPackage:
    """Build the sdist for ``spec``; ConfigError naming ``entry_point``/``source_dir``/``requirements``."""
    source = job_source(spec, cwd=cwd, provider=PROVIDER)
    root = source.root
    files: dict[str, bytes] = {}
    module = None
    program = source.program or ""
    if source.program is None:
        module = str(spec.module)
        # A built-in trainer: ship its module (it depends only on the runtime contract).
        for rel, data in builtin_module_files(module, provider=PROVIDER).items():
            files["unifiedml_job/" + rel] = data
    for rel, data in source_files(root, provider=PROVIDER,
                                  hint="keep data out of the source folder: pass it as an input"):
        files.setdefault(f"unifiedml_job/{rel}", data)
    requires: list[str] = []
    if isinstance(spec.requirements, list):
        requires = list(spec.requirements)
    elif spec.requirements is not None:
        req = Path(spec.requirements).expanduser()
        req = req if req.is_absolute() else root / req
        if not req.is_file():
            raise ConfigError(f"the requirements file {str(req)!r} does not exist", field="requirements",
                              provider=PROVIDER)
        requires = [ln.strip() for ln in req.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    files.update(runtime_files())
    files.setdefault("unifiedml_job/__init__.py", b"")
    files["unifiedml_job/_entry.py"] = _ENTRY.format(program=program, module=module).encode()
    files["setup.py"] = _SETUP.format(requires=requires).encode()
    files["PKG-INFO"] = b"Metadata-Version: 2.1\nName: unifiedml-job\nVersion: 0.0.0\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for name in sorted(files):
            _add(tar, name, files[name])
    raw = buf.getvalue()
    data = raw[:4] + b"\0\0\0\0" + raw[8:]  # zero the gzip mtime: equal folders give equal bytes
    return TrainingPackage(data=data, sha256=hashlib.sha256(data).hexdigest())


def split_gcs(uri: str, *, field: str = "uri") -> tuple[str, str]:
    if not uri.startswith("gs://") or not uri[5:].split("/", 1)[0]:
        raise ConfigError(f"{uri!r} is not a gs://bucket/path URI", field=field, provider=PROVIDER)
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def check_gcs_uri(storage: Any, uri: str, *, field: str) -> None:
    """Raise ConfigError naming ``field`` when nothing exists at (or under) ``uri``. Blocking."""
    bucket, key = split_gcs(uri, field=field)
    try:
        blobs = call(lambda: list(storage.list_blobs(bucket, prefix=key, max_results=1)), what=f"list {uri}")
    except NotFound as exc:
        raise ConfigError(f"the bucket of {uri!r} does not exist", field=field, provider=PROVIDER) from exc
    if not blobs:
        raise ConfigError(f"nothing exists at {uri!r}", field=field, provider=PROVIDER)


def _exists(storage: Any, uri: str) -> bool:
    bucket, key = split_gcs(uri)
    return bool(call(lambda: storage.bucket(bucket).blob(key).exists(), what=f"stat {uri}"))


def upload_if_absent(storage: Any, uri: str, data: bytes) -> bool:
    """Put ``data`` at ``uri`` unless an object is there (content-addressed keys). True if uploaded."""
    if _exists(storage, uri):
        return False
    bucket, key = split_gcs(uri)
    call(lambda: storage.bucket(bucket).blob(key).upload_from_string(data), what=f"upload {uri}")
    return True


def upload_data(storage: Any, path: Path, *, data_root: str) -> tuple[str, bool]:
    """Upload a local file or folder under ``<data_root>/<sha256>/``; returns (gs:// prefix, uploaded?)."""
    sha = content_hash(path)
    prefix = gcs_join(data_root, sha) + "/"
    marker = gcs_join(data_root, sha + ".complete")
    if _exists(storage, marker):
        logger.info("data %s already in GCS at %s (same content); not uploading", path, prefix)
        return prefix, False
    for item, rel in data_files(path):
        bucket, key = split_gcs(prefix + rel)
        call(lambda b=bucket, k=key, i=item: storage.bucket(b).blob(k).upload_from_filename(str(i)),
             what=f"upload {item}")
    bucket, key = split_gcs(marker)
    call(lambda: storage.bucket(bucket).blob(key).upload_from_string(b""), what="upload marker")
    logger.info("uploaded %s to %s", path, prefix)
    return prefix, True
