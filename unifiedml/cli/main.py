"""The ``unifiedml`` typer app: global options, command registration and the entry point."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from unifiedml.cli.cost import app as cost_app
from unifiedml.cli.deploy_cmds import apply, config_app, destroy, gc, plan
from unifiedml.cli.drift import app as drift_app
from unifiedml.cli.jobs import jobs_app, models_app
from unifiedml.cli.providers import providers
from unifiedml.cli.quickstart import quickstart
from unifiedml.cli.scheduler import scheduler
from unifiedml.cli.serve import deploy, endpoints_app, predict
from unifiedml.cli.train import automl, train

__all__ = ["app", "main"]

app = typer.Typer(
    name="unifiedml",
    help="One interface over Vertex AI, SageMaker, Azure ML, Hugging Face and a local TensorFlow backend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from unifiedml import __version__

        typer.echo(f"unifiedml {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    home: Path = typer.Option(None, "--home", envvar="UNIFIEDML_HOME", help="state directory (./.unifiedml)"),
    project: str = typer.Option(None, "--project", envvar="UNIFIEDML_PROJECT", help="project tag (default)"),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks and debug logs"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """Global options apply to every command (they travel as environment variables to the SDK)."""
    if home is not None:
        os.environ["UNIFIEDML_HOME"] = str(home)
    if project is not None:
        os.environ["UNIFIEDML_PROJECT"] = project
    if debug:
        import logging

        os.environ["UNIFIEDML_DEBUG"] = "1"
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


app.command()(train)
app.command()(automl)
app.command()(deploy)
app.command()(predict)
app.command()(providers)
app.command()(quickstart)
app.command()(plan)
app.command()(apply)
app.command()(destroy)
app.command()(gc)
app.add_typer(endpoints_app, name="endpoints")
app.add_typer(jobs_app, name="jobs")
app.add_typer(models_app, name="models")
app.add_typer(config_app, name="config")
app.add_typer(cost_app, name="cost")
app.add_typer(drift_app, name="drift")
app.command()(scheduler)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
