"""Helpers every cloud provider's packaging shares: content hashes for content-addressed uploads."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["content_hash", "data_files"]


def content_hash(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (relative names and contents, in sorted order).

    Unchanged data hashes the same, so providers upload it under ``<root>/<hash>/`` once and find it
    there on every later job.
    """
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(path)).encode() + b"\0" + content_hash(item).encode())
    return digest.hexdigest()


def data_files(path: Path) -> list[tuple[Path, str]]:
    """The files to upload for a local file or folder, each with its name relative to the upload prefix."""
    if path.is_file():
        return [(path, path.name)]
    return [(item, str(item.relative_to(path))) for item in sorted(p for p in path.rglob("*") if p.is_file())]
