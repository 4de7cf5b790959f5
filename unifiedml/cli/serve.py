"""``unifiedml deploy``, ``predict`` and the ``endpoints`` group."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from unifiedml.cli.common import (
    OUTPUT_OPTION,
    PROVIDER_OPTION,
    OutputFormat,
    emit,
    emit_table,
    fail,
    make_client,
    provider_options,
    since_text,
)

__all__ = ["deploy", "endpoints_app", "predict"]

endpoints_app = typer.Typer(help="List, describe and delete endpoints.", no_args_is_help=True)


def deploy(
    model: str = typer.Argument(..., help="model name (from `unifiedml train` or `unifiedml models list`)"),
    name: str = typer.Option(None, "--name", "-n", help="endpoint name (default: from the model)"),
    port: int = typer.Option(None, "--port", help="local backend: port to bind (default: a free one)"),
    host: str = typer.Option("127.0.0.1", "--host", help="local backend: address to bind"),
    token_env: str = typer.Option(
        None, "--auth-token-env", help="require a bearer token, read from this environment variable"
    ),
    size: str = typer.Option(None, "--size", help="cpu-small ... gpu-large (portable)"),
    instance_type: str = typer.Option(None, "--instance-type", help="provider-native type"),
    no_capture: bool = typer.Option(False, "--no-capture", help="do not log requests for drift checks"),
    replicas: int = typer.Option(1, "--replicas", min=0, help="replicas to run (the minimum, with --max-replicas)"),
    max_replicas: int = typer.Option(
        None, "--max-replicas", min=1, help="autoscale up to this many (SageMaker, Vertex AI; not local)"
    ),
    option: list[str] = typer.Option(
        [], "--option", help="provider option PROVIDER.KEY=VALUE (repeatable), "
        "e.g. sagemaker.invocations_per_instance=70"
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="block until the endpoint is in service"),
    timeout: float = typer.Option(600, "--timeout", help="seconds to wait"),
    provider: str = PROVIDER_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Deploy a model to an endpoint."""
    try:
        from unifiedml.errors import ConfigError

        spec: dict[str, Any] = {
            "name": name,
            "host": host,
            "port": port,
            "resources": {"size": size, "instance_type": instance_type},
            "capture": {"enabled": not no_capture},
            "min_replicas": replicas,
            "max_replicas": max_replicas,
            "provider_options": provider_options(option),
        }
        if token_env:
            token = os.environ.get(token_env)
            if not token:
                raise ConfigError(f"the environment variable {token_env} is not set", field="auth_token_env")
            spec["auth_token"] = token
        client = make_client(provider)
        endpoint = client.deploy(model, spec)
        if wait:
            endpoint.wait(timeout=timeout, progress=output is OutputFormat.table)
    except Exception as exc:
        raise fail(exc) from None
    emit(
        endpoint.to_dict(),
        output,
        table=lambda: typer.echo(
            f"endpoint {endpoint.name} {endpoint.status.value}" + (f" at {endpoint.url}" if endpoint.url else "")
        ),
    )


def _read_instances(data: str | None, csv_path: Path | None) -> Any:
    from unifiedml.errors import ConfigError

    if csv_path is not None:
        import csv

        with csv_path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        out = []
        for row in rows:
            item: dict[str, Any] = {}
            for key, value in row.items():
                try:
                    item[key] = float(value) if value not in ("", "NA") else None
                except ValueError:
                    item[key] = value
            out.append(item)
        return out
    if data is None:
        raise ConfigError("give --data JSON (or @file, or - for stdin) or --csv FILE", field="data")
    text = sys.stdin.read() if data == "-" else Path(data[1:]).read_text() if data.startswith("@") else data
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", field="data") from exc
    if isinstance(parsed, dict) and ("instances" in parsed or "inputs" in parsed):
        parsed = parsed.get("instances", parsed.get("inputs"))
    return parsed


def predict(
    endpoint: str = typer.Argument(..., help="endpoint name"),
    data: str = typer.Option(None, "--data", "-d", help="JSON rows (or @file.json, or - for stdin)"),
    csv_path: Path = typer.Option(None, "--csv", help="CSV file: one instance per row"),
    provider: str = PROVIDER_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Send instances to an endpoint and print the predictions."""
    try:
        instances = _read_instances(data, csv_path)
        result = make_client(provider).predict(endpoint, instances)
    except Exception as exc:
        raise fail(exc) from None

    def table() -> None:
        preds = result.predictions
        rows = [(i, json.dumps(p) if not isinstance(p, str) else p) for i, p in enumerate(preds)]
        emit_table(rows, ["#", "prediction"], title=f"{endpoint} ({result.latency_ms} ms)")

    emit(result.to_dict(), output, table=table)


@endpoints_app.command("list")
def endpoints_list(provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """List endpoints."""
    try:
        items = make_client(provider).endpoints()
    except Exception as exc:
        raise fail(exc) from None
    emit(
        [e.to_dict() for e in items],
        output,
        table=lambda: emit_table(
            [(e.name, e.status.value, e.model, e.url, since_text(e.created_at)) for e in items],
            ["name", "status", "model", "url", "created (UTC)"],
            empty="no endpoints",
        ),
    )


@endpoints_app.command("describe")
def endpoints_describe(
    name: str = typer.Argument(...), provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """Describe one endpoint."""
    try:
        endpoint = make_client(provider).get_endpoint(name)
    except Exception as exc:
        raise fail(exc) from None
    data = endpoint.to_dict()
    emit(data, output, table=lambda: emit_table(_flatten(data), ["field", "value"], title=f"endpoint {name}"))


@endpoints_app.command("delete")
def endpoints_delete(
    name: str = typer.Argument(...), provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """Delete an endpoint (idempotent: deleting a missing endpoint succeeds)."""
    try:
        make_client(provider).delete_endpoint(name)
    except Exception as exc:
        raise fail(exc) from None
    emit({"deleted": name}, output, table=lambda: typer.echo(f"endpoint {name} deleted"))


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            rows += _flatten(value, f"{prefix}{key}.")
        elif value not in (None, {}, []):
            rows.append((f"{prefix}{key}", json.dumps(value) if isinstance(value, list) else value))
    return rows
