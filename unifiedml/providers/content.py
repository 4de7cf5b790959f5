"""Helpers every cloud provider's packaging shares: what a job's source is, and content-addressed uploads."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from unifiedml.errors import ConfigError
from unifiedml.specs import DataRef, TrainingSpec

__all__ = ["JobSource", "builtin_module_files", "content_hash", "data_files", "job_source", "resolve_inputs",
           "runtime_files", "source_files"]

#: Folders never shipped with a job's source.
SKIP_DIRS = frozenset({"__pycache__", ".git", ".venv", "venv", ".unifiedml", ".mypy_cache", ".pytest_cache",
                       ".ruff_cache"})
#: A source folder past this size is refused: data belongs in the job's inputs.
MAX_SOURCE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class JobSource:
    """The folder shipped with a job and, for a script, its path inside it (None for a module)."""

    root: Path
    program: str | None


def job_source(spec: TrainingSpec, *, cwd: Path | None, provider: str) -> JobSource:
    """Resolve ``source_dir`` and ``entry_point`` against ``cwd``; ConfigError naming the field when wrong."""
    base = cwd or Path.cwd()
    source_dir = Path(spec.source_dir).expanduser() if spec.source_dir else None
    if source_dir is not None:
        source_dir = source_dir if source_dir.is_absolute() else (base / source_dir).resolve()
        if not source_dir.is_dir():
            raise ConfigError(f"{str(source_dir)!r} is not a directory", field="source_dir", provider=provider)
    if not spec.entry_point:
        return JobSource(source_dir or base, None)
    script = Path(spec.entry_point).expanduser()
    if not script.is_absolute():
        script = (source_dir or base) / script
    if not script.is_file():
        raise ConfigError(f"the entry point {str(script)!r} does not exist", field="entry_point", provider=provider)
    script = script.resolve()
    root = source_dir or script.parent
    try:
        return JobSource(root, str(script.relative_to(root)))
    except ValueError as exc:
        raise ConfigError("the entry point must be inside source_dir", field="entry_point",
                          provider=provider) from exc


def builtin_module_files(module: str, *, provider: str) -> dict[str, bytes]:
    """For a ``unifiedml.*`` module (a built-in trainer): its file and package ``__init__``s, by relative path.

    Other modules are the user's own, found in the source folder: nothing to add.
    """
    if not module.startswith("unifiedml."):
        return {}
    found = importlib.util.find_spec(module)
    if found is None or not found.origin:
        raise ConfigError(f"no module named {module!r}", field="module", provider=provider)
    parts = module.split(".")
    files = {"/".join(parts[:i]) + "/__init__.py": b"" for i in range(2, len(parts))}
    files["/".join(parts) + ".py"] = Path(found.origin).read_bytes()
    return files


def runtime_files() -> dict[str, bytes]:
    """``unifiedml/runtime.py`` (stdlib only) and its package marker: shipped with every job's source."""
    runtime = importlib.util.find_spec("unifiedml.runtime")
    return {"unifiedml/__init__.py": b"",
            "unifiedml/runtime.py": Path(runtime.origin).read_bytes() if runtime and runtime.origin else b""}


def source_files(root: Path, *, provider: str, hint: str) -> Iterator[tuple[Path, bytes]]:
    """Every file under ``root`` (relative path, bytes) in sorted order, skipping tool folders.

    Raises ConfigError (``source_dir``) once the total passes MAX_SOURCE_BYTES.
    """
    total = 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS for part in rel.parts) or not path.is_file():
            continue
        data = path.read_bytes()
        total += len(data)
        if total > MAX_SOURCE_BYTES:
            raise ConfigError(f"{str(root)!r} holds more than {MAX_SOURCE_BYTES >> 20} MiB", field="source_dir",
                              provider=provider, hint=hint)
        yield rel, data


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


def resolve_inputs(inputs: Mapping[str, DataRef], *, field: str, scheme: str, platform: str, provider: str,
                   check_remote: Callable[[str, str], None]) -> dict[str, tuple[str, Path | None]]:
    """Check every input before any upload or create: local paths exist, remote URIs hold objects.

    Returns channel -> (remote URI, None) or ("", local path). ``check_remote(uri, field)``
    raises for a ``scheme://`` URI that holds nothing; any other scheme is a ConfigError.
    """
    out: dict[str, tuple[str, Path | None]] = {}
    for channel, ref in inputs.items():
        where = f"{field}.{channel}" if channel else field
        if ref.is_local:
            path = ref.local_path().resolve()
            if not path.exists():
                raise ConfigError(f"{str(path)!r} does not exist", field=where, provider=provider)
            out[channel] = ("", path)
        elif ref.scheme == scheme:
            check_remote(ref.uri, where)
            out[channel] = (ref.uri, None)
        else:
            raise ConfigError(f"{platform} reads {scheme}:// URIs or local paths, not {ref.uri!r}", field=where,
                              provider=provider)
    return out
