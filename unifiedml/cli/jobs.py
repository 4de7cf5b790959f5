"""The ``jobs`` and ``models`` command groups."""

from __future__ import annotations

from pathlib import Path

import typer

from unifiedml.cli.common import (
    OUTPUT_OPTION,
    PROVIDER_OPTION,
    OutputFormat,
    emit,
    emit_table,
    fail,
    make_client,
    since_text,
)
from unifiedml.cli.serve import _flatten

__all__ = ["jobs_app", "models_app"]

jobs_app = typer.Typer(help="List, inspect, stop and delete training jobs.", no_args_is_help=True)
models_app = typer.Typer(help="List, import and delete deployable models.", no_args_is_help=True)


@jobs_app.command("list")
def jobs_list(provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """List training jobs, newest first."""
    try:
        items = make_client(provider).jobs()
    except Exception as exc:
        raise fail(exc) from None
    emit(
        [j.to_dict() for j in items],
        output,
        table=lambda: emit_table(
            [
                (
                    j.name,
                    j.status.value,
                    since_text(j.created_at),
                    f"{j.duration_s:.1f}s" if j.duration_s is not None else "",
                    j.model.name if j.model else "",
                )
                for j in items
            ],
            ["name", "status", "created (UTC)", "duration", "model"],
            empty="no training jobs",
        ),
    )


@jobs_app.command("describe")
def jobs_describe(
    name: str = typer.Argument(...), provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """Describe one training job."""
    try:
        job = make_client(provider).get_job(name)
    except Exception as exc:
        raise fail(exc) from None
    data = job.to_dict()
    emit(data, output, table=lambda: emit_table(_flatten(data), ["field", "value"], title=f"job {name}"))


@jobs_app.command("logs")
def jobs_logs(
    name: str = typer.Argument(...),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the job ends"),
    provider: str = PROVIDER_OPTION,
) -> None:
    """Print a training job's log."""
    try:
        for line in make_client(provider).logs(name, follow=follow):
            typer.echo(line)
    except Exception as exc:
        raise fail(exc) from None


@jobs_app.command("stop")
def jobs_stop(
    name: str = typer.Argument(...), provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """Ask a training job to stop (idempotent; does not wait: see `jobs describe`)."""
    try:
        job = make_client(provider).get_job(name)
        job.stop()
    except Exception as exc:
        raise fail(exc) from None
    emit({"stopping": name}, output, table=lambda: typer.echo(f"job {name}: stop requested"))


@jobs_app.command("delete")
def jobs_delete(
    name: str = typer.Argument(...), provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """Stop a training job if it runs and forget it; a model it produced stays (idempotent)."""
    try:
        make_client(provider).provider.delete_training_job(name)
    except Exception as exc:
        raise fail(exc) from None
    emit({"deleted": name}, output, table=lambda: typer.echo(f"job {name} deleted (its model, if any, stays)"))


@models_app.command("list")
def models_list(provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """List deployable models (local backend)."""
    try:
        client = make_client(provider)
        lister = getattr(client.provider, "list_models", None)
        if lister is None:
            from unifiedml.errors import CapabilityNotSupported

            raise CapabilityNotSupported(provider, "list_models", "this provider has no model listing yet")
        items = lister()
    except Exception as exc:
        raise fail(exc) from None
    emit(
        [m.to_dict() for m in items],
        output,
        table=lambda: emit_table(
            [(m.name, m.source_job or "", m.artifact_uri, since_text(m.created_at)) for m in items],
            ["name", "from job", "artifact", "created (UTC)"],
            empty="no models",
        ),
    )


@models_app.command("import")
def models_import(
    path: Path = typer.Argument(..., help="a SavedModel directory"),
    name: str = typer.Option(..., "--name", "-n", help="model name"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Register an existing SavedModel with the local backend so it can be deployed."""
    try:
        model = make_client("local").provider.import_model(str(path), name=name)
    except Exception as exc:
        raise fail(exc) from None
    emit(model.to_dict(), output, table=lambda: typer.echo(f"model {model.name} -> {model.artifact_uri}"))


@models_app.command("delete")
def models_delete(
    name: str = typer.Argument(...), provider: str = PROVIDER_OPTION, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """Delete a model (idempotent). Endpoints already serving it keep running."""
    try:
        make_client(provider).provider.delete_model(name)
    except Exception as exc:
        raise fail(exc) from None
    emit({"deleted": name}, output, table=lambda: typer.echo(f"model {name} deleted"))
