"""Reading and writing moto's S3 and CloudWatch Logs from inside the server process."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from moto.logs.exceptions import ResourceAlreadyExistsException
from moto.logs.models import logs_backends
from moto.s3.models import s3_backends

__all__ = ["LogWriter", "get_bytes", "list_keys", "put_bytes", "split_s3"]


def split_s3(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.lstrip("/")


def _s3(account: str):
    return s3_backends[account]["aws"]


def get_bytes(account: str, uri: str) -> bytes:
    bucket, key = split_s3(uri)
    obj = _s3(account).get_object(bucket, key)
    if obj is None:
        raise FileNotFoundError(uri)
    return bytes(obj.value)


def put_bytes(account: str, uri: str, data: bytes) -> None:
    bucket, key = split_s3(uri)
    backend = _s3(account)
    try:
        backend.get_bucket(bucket)
    except Exception:  # the bucket does not exist: SageMaker would fail; the emulator creates it
        backend.create_bucket(bucket, "us-east-1")
    backend.put_object(bucket, key, data)


def list_keys(account: str, uri: str) -> list[str]:
    """Keys under the prefix of ``uri`` (the object itself when ``uri`` names one)."""
    bucket, prefix = split_s3(uri)
    found = _s3(account).get_bucket(bucket)
    return sorted(k for k in list(found.keys.keys()) if k.startswith(prefix))


class LogWriter:
    """Appends lines to one CloudWatch Logs stream in moto's logs backend."""

    def __init__(self, account: str, region: str, group: str, stream: str) -> None:
        self.backend = logs_backends[account][region]
        self.group, self.stream = group, stream
        try:
            self.backend.create_log_group(group, {})
        except ResourceAlreadyExistsException:
            pass
        try:
            self.backend.create_log_stream(group, stream)
        except ResourceAlreadyExistsException:
            pass

    def write(self, line: str) -> None:
        self.backend.put_log_events(
            self.group, self.stream, [{"timestamp": int(time.time() * 1000), "message": line.rstrip("\n")}]
        )
