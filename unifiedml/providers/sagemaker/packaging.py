"""Packaging code and data for SageMaker: the source archive and content-addressed data uploads.

* The **source archive** is ``sourcedir.tar.gz`` holding the entry point's
  folder plus ``unifiedml/__init__.py`` (empty) and ``unifiedml/runtime.py``,
  so ``from unifiedml import runtime`` works in the training container, where
  unifiedml is not installed. The archive is built deterministically (sorted
  members, zero mtimes), so its hash names its S3 key and an unchanged folder
  is not uploaded twice.
* **Local data** goes to ``<prefix>/data/<sha256>/``: a file or folder whose
  content is already there (a ``<sha256>.complete`` marker is written last) is not
  uploaded again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
from collections.abc import Callable
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
from unifiedml.providers.sagemaker.errors import call
from unifiedml.providers.sagemaker.naming import s3_join
from unifiedml.specs import TrainingSpec

logger = logging.getLogger(__name__)

__all__ = ["SourceArchive", "build_source_archive", "check_s3_uri", "upload_data", "upload_if_absent"]

LAUNCHER = "_unifiedml_entry.py"


@dataclass(frozen=True)
class SourceArchive:
    data: bytes
    sha256: str
    program: str  # the script the container runs, relative to the archive root


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def build_source_archive(spec: TrainingSpec, *, cwd: Path | None = None) -> SourceArchive:
    """Build ``sourcedir.tar.gz`` for ``spec``; raises ConfigError naming the field for missing paths."""
    source = job_source(spec, cwd=cwd, provider="sagemaker")
    root = source.root
    files: dict[str, bytes] = {}
    if source.program is not None:
        program = source.program
    else:
        program = LAUNCHER
        files[LAUNCHER] = (
            "import runpy, sys\n"
            f"sys.argv[0] = {spec.module!r}\n"
            f"runpy.run_module({spec.module!r}, run_name='__main__', alter_sys=True)\n"
        ).encode()
        # A built-in trainer: ship its module (it depends only on the runtime contract).
        files.update(builtin_module_files(str(spec.module), provider="sagemaker"))
    for rel, data in source_files(root, provider="sagemaker",
                                  hint="keep data out of the source folder: pass it as an input channel"):
        files[str(rel)] = data
    files.update(runtime_files())
    if spec.requirements is not None:
        if isinstance(spec.requirements, list):
            files["requirements.txt"] = ("\n".join(spec.requirements) + "\n").encode()
        else:
            req = Path(spec.requirements).expanduser()
            req = req if req.is_absolute() else root / req
            if not req.is_file():
                raise ConfigError(
                    f"the requirements file {str(req)!r} does not exist",
                    field="requirements",
                    provider="sagemaker",
                )
            files["requirements.txt"] = req.read_bytes()
    buf = io.BytesIO()
    # mtime=0 in the gzip header too, so equal folders give equal bytes (and one S3 object).
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for name in sorted(files):
            _add_bytes(tar, name, files[name])
    data = _normalize_gzip_mtime(buf.getvalue())
    return SourceArchive(data=data, sha256=hashlib.sha256(data).hexdigest(), program=program)


def _normalize_gzip_mtime(data: bytes) -> bytes:
    # Bytes 4-7 of a gzip header hold the mtime; zero them for reproducible archives.
    return data[:4] + b"\0\0\0\0" + data[8:]


def _split(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def check_s3_uri(s3: Any, uri: str, *, field: str) -> None:
    """Raise ConfigError naming ``field`` when nothing exists at (or under) ``uri``."""
    bucket, key = _split(uri)
    if not bucket:
        raise ConfigError(f"{uri!r} is not an s3://bucket/key URI", field=field, provider="sagemaker")
    try:
        found = call(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1), what=f"list {uri}")
    except NotFound as exc:
        raise ConfigError(f"the bucket of {uri!r} does not exist", field=field, provider="sagemaker") from exc
    if not found.get("KeyCount"):
        raise ConfigError(f"nothing exists at {uri!r}", field=field, provider="sagemaker")


def _exists(s3: Any, uri: str) -> bool:
    bucket, key = _split(uri)
    try:
        call(lambda: s3.head_object(Bucket=bucket, Key=key), what=f"head {uri}")
    except NotFound:
        return False
    return True


def upload_if_absent(s3: Any, uri: str, data: bytes | Callable[[], bytes]) -> bool:
    """Put ``data`` at ``uri`` unless an object is there (content-addressed keys). True if uploaded."""
    if _exists(s3, uri):
        return False
    bucket, key = _split(uri)
    body = data() if callable(data) else data
    call(lambda: s3.put_object(Bucket=bucket, Key=key, Body=body), what=f"upload {uri}")
    return True


def upload_data(s3: Any, path: Path, *, data_root: str) -> tuple[str, bool]:
    """Upload a local file or folder under ``<data_root>/<sha256>/``; returns (S3 prefix, uploaded?).

    Idempotent and content-addressed: unchanged data is found by its marker and not re-uploaded.
    """
    sha = content_hash(path)
    prefix = s3_join(data_root, sha) + "/"
    # The marker sits beside the prefix, not in it, so the channel holds only the data.
    marker = s3_join(data_root, sha + ".complete")
    if _exists(s3, marker):
        logger.info("data %s already in S3 at %s (same content); not uploading", path, prefix)
        return prefix, False
    for item, rel in data_files(path):
        bucket, key = _split(prefix + rel)
        call(
            lambda b=bucket, k=key, i=item: s3.put_object(Bucket=b, Key=k, Body=i.read_bytes()),
            what=f"upload {item}",
        )
    bucket, key = _split(marker)
    call(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b""), what="upload marker")
    logger.info("uploaded %s to %s", path, prefix)
    return prefix, True
