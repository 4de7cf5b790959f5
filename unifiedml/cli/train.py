"""``unifiedml train``: start a training job (a script, a module, or the built-in tabular trainer)."""

from __future__ import annotations

from pathlib import Path

import typer

from unifiedml.cli.common import (
    OUTPUT_OPTION,
    PROVIDER_OPTION,
    OutputFormat,
    emit,
    emit_json,
    fail,
    pairs,
    typed,
)

__all__ = ["train"]


def train(
    script: str = typer.Argument(None, help="training script written against unifiedml.runtime"),
    module: str = typer.Option(None, "--module", "-m", help="run a module with python -m instead of a script"),
    tabular: Path = typer.Option(None, "--tabular", help="CSV/Parquet file for the built-in tabular trainer"),
    target: str = typer.Option(None, "--target", help="target column (with --tabular)"),
    task: str = typer.Option(None, "--task", help="classification or regression (with --tabular; inferred)"),
    data: list[str] = typer.Option([], "--data", "-d", help="CHANNEL=PATH, or PATH for the 'train' channel"),
    hp: list[str] = typer.Option([], "--hp", help="hyperparameter KEY=VALUE (repeatable)"),
    source_dir: Path = typer.Option(None, "--source-dir", help="folder holding the script and its modules"),
    requirements: str = typer.Option(None, "--requirements", "-r", help="requirements file to pip install"),
    name: str = typer.Option(None, "--name", "-n", help="job name (default: derived, unique)"),
    size: str = typer.Option(None, "--size", help="cpu-small ... gpu-large (portable)"),
    instance_type: str = typer.Option(None, "--instance-type", help="provider-native type (wins over --size)"),
    max_runtime: str = typer.Option("24h", "--max-runtime", help="stop the job after this long (e.g. 2h)"),
    spec_file: Path = typer.Option(None, "--spec", help="YAML/JSON file with a whole TrainingSpec"),
    detach: bool = typer.Option(False, "--detach", help="return once started; do not wait or stream logs"),
    timeout: float = typer.Option(None, "--timeout", help="seconds to wait before giving up (job keeps running)"),
    provider: str = PROVIDER_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Start a training job and (unless --detach) stream its logs until it ends."""
    try:
        import yaml

        from unifiedml.cli.common import make_client
        from unifiedml.errors import ConfigError
        from unifiedml.specs import TrainingSpec, validate_spec

        if spec_file is not None:
            spec = validate_spec(TrainingSpec, yaml.safe_load(spec_file.read_text()), where=f"{spec_file}:")
        elif tabular is not None:
            if not target:
                raise ConfigError("--tabular needs --target (the column to predict)", field="target")
            spec = TrainingSpec.tabular(data=str(tabular), target=target, task=task, name=name)  # type: ignore[arg-type]
            extra = {k: typed(v) for k, v in pairs(hp, "hp").items()}
            spec.hyperparameters = {**spec.hyperparameters, **extra}
        else:
            if not script and not module:
                raise ConfigError(
                    "give a training script, --module, --tabular DATA or --spec FILE", field="script",
                    hint="e.g. `unifiedml train train.py --data train=data.csv --hp epochs=5`",
                )
            inputs: dict[str, str] = {}
            for item in data:
                channel, sep, path = item.partition("=")
                inputs[channel if sep else "train"] = path if sep else item
            spec = validate_spec(
                TrainingSpec,
                {
                    "name": name,
                    "entry_point": script,
                    "module": module,
                    "source_dir": str(source_dir) if source_dir else None,
                    "requirements": requirements,
                    "inputs": inputs,
                    "hyperparameters": {k: typed(v) for k, v in pairs(hp, "hp").items()},
                    "resources": {"size": size, "instance_type": instance_type},
                    "max_runtime": max_runtime,
                },
            )
        client = make_client(provider)
        job = client.train(spec)
        if detach:
            emit(job.to_dict(), output, table=lambda: typer.echo(f"started {job.name} ({job.status.value})"))
            return
        quiet = output is OutputFormat.json
        if not quiet:
            typer.secho(f"training job {job.name} started on {provider}", err=True, fg="cyan")
            for line in client.logs(job.name, follow=True):
                typer.echo(line, err=True)
        job.wait(timeout=timeout, progress=not quiet)
    except typer.Exit:
        raise
    except Exception as exc:
        raise fail(exc) from None
    if output is OutputFormat.json:
        emit_json(job.to_dict())
    else:
        took = f" in {job.duration_s:.1f}s" if job.duration_s else ""
        typer.secho(f"job {job.name} {job.status.value}{took}", fg="green")
        if job.metrics:
            typer.echo("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in job.metrics.items()))
        if job.model:
            typer.echo(f"model: {job.model.name} ({job.model.artifact_uri})")
            typer.echo(f"deploy it: unifiedml deploy {job.model.name} --provider {provider}")


def automl(
    data: str = typer.Argument(..., help="CSV (or Parquet, where the provider reads it) with the training rows"),
    target: str = typer.Option(..., "--target", help="the column to predict"),
    task: str = typer.Option(..., "--task", help="classification or regression"),
    objective: str = typer.Option(None, "--objective", help="what to optimise (provider's names; default per task)"),
    budget: str = typer.Option("1h", "--budget", help="time budget (e.g. 30m, 2h)"),
    max_candidates: int = typer.Option(None, "--max-candidates", min=1, help="stop after this many candidates"),
    name: str = typer.Option(None, "--name", "-n", help="job name (default: generated)"),
    option: list[str] = typer.Option([], "--option", help="provider option PROVIDER.KEY=VALUE (repeatable)"),
    detach: bool = typer.Option(False, "--detach", help="return once started; do not wait"),
    timeout: float = typer.Option(None, "--timeout", help="seconds to wait before giving up (the job keeps running)"),
    provider: str = PROVIDER_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Start an AutoML search and (unless --detach) wait for its leaderboard."""
    try:
        from unifiedml.cli.common import make_client, provider_options
        from unifiedml.specs import AutoMLSpec, validate_spec

        spec = validate_spec(AutoMLSpec, {"name": name, "data": data, "target": target, "task": task,
                                          "objective": objective, "time_budget": budget,
                                          "max_candidates": max_candidates,
                                          "provider_options": provider_options(option)})
        client = make_client(provider)
        job = client.automl(spec)
        if not detach:
            job.wait(timeout=timeout, progress=output is OutputFormat.table)  # refreshes the leaderboard too
    except typer.Exit:
        raise
    except Exception as exc:
        raise fail(exc) from None

    def table() -> None:
        typer.secho(f"AutoML job {job.name} {job.status.value}", fg="green" if job.model else None)
        for rank, c in enumerate(job.leaderboard, start=1):
            value = f"{c.objective_value:.6g}" if c.objective_value is not None else "-"
            typer.echo(f"{rank:3d}. {c.name}  {c.objective_metric}={value}")
        if job.model:
            typer.echo(f"best model: {job.model.name}; deploy it: unifiedml deploy {job.model.name} "
                       f"--provider {provider}")

    emit(job.to_dict(), output, table=table)
