"""``unifiedml plan``, ``apply``, ``destroy``, ``gc`` and the ``config`` group (schema, validate)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from unifiedml.cli.common import OUTPUT_OPTION, OutputFormat, emit_json, fail

if TYPE_CHECKING:
    from unifiedml.deploy import Plan, PlanItem

__all__ = ["apply", "config_app", "destroy", "gc", "plan"]

FILE_OPTION = typer.Option(None, "--file", "-f", help="config file (default ./unifiedml.yaml)")
ENV_OPTION = typer.Option(None, "--env", "-e", help="apply the environments.<name> overlay")

config_app = typer.Typer(help="Validate unifiedml.yaml and export its JSON Schema.", no_args_is_help=True)

_SYMBOL = {"create": "[green]+ create[/]", "update": "[yellow]~ update[/]", "replace": "[magenta]-/+ replace[/]",
           "delete": "[red]- delete[/]", "noop": "[dim]  no change[/]"}


def _money(value: float | None, currency: str | None) -> str:
    return "unknown" if value is None else f"{value:,.2f} {currency or ''}".strip()


def _print_plan(plan: Plan) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"plan for project {plan.project}", header_style="bold")
    for col in ("action", "resource", "provider", "why / what changes", "$/hour", "$/month"):
        table.add_column(col)
    for item in plan.items:
        detail = "; ".join(item.reasons)
        if item.changes:
            detail += "\n" + "\n".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in item.changes.items())
        cost = (_money(item.cost_per_hour, item.currency), _money(item.cost_per_month, item.currency)) \
            if item.kind == "endpoint" and item.action != "delete" else ("", "")
        table.add_row(_SYMBOL[item.action], f"{item.kind}/{item.name}", item.provider, detail, *cost)
    console.print(table)
    counts = plan.counts()
    total, unknown = plan.total_cost_per_hour()
    console.print(
        f"{counts['create']} to create, {counts['update']} to update, {counts['replace']} to replace, "
        f"{counts['delete']} to delete, {counts['noop']} unchanged. "
        f"Estimated serving cost: {total:,.2f}/hour, {total * 720:,.2f}/month"
        + (f" (+ {unknown} endpoint(s) with an unknown price)" if unknown else "")
    )
    if plan.budget_error:
        console.print(f"[bold red]over budget:[/] {plan.budget_error} (apply will refuse this plan)")


def _session(file: Path | None, env: str | None) -> Any:
    from unifiedml.deploy import DeploySession

    return DeploySession.from_file(file, env_name=env)


def plan(file: Path = FILE_OPTION, env: str = ENV_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Show what apply would change, and what it would cost. Exit 0: no changes, 2: changes pending, 1: error."""
    try:
        session = _session(file, env)
        result = session.plan()
    except Exception as exc:
        raise fail(exc) from None
    if output is OutputFormat.json:
        emit_json(result.to_dict())
    else:
        _print_plan(result)
    raise typer.Exit(2 if result.has_changes else 0)


def _progress_printer(quiet: bool) -> Any:
    from rich.console import Console

    console = Console(stderr=True)

    def progress(item: PlanItem, phase: str, message: str) -> None:
        if quiet:
            return
        style = {"start": "cyan", "done": "green", "failed": "red", "wait": "dim"}.get(phase, "")
        console.print(f"[{style}]{phase:>6}[/] {item.kind}/{item.name} ({item.provider}): {message}",
                      soft_wrap=True)

    return progress


def apply(
    file: Path = FILE_OPTION,
    env: str = ENV_OPTION,
    auto_approve: bool = typer.Option(False, "--auto-approve", "-y", help="do not ask for confirmation"),
    parallelism: int = typer.Option(4, "--parallelism", min=1, help="resources changed at once"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Make the resources match the file. Safe to re-run: an interrupted apply converges on the next one."""
    try:
        session = _session(file, env)
        the_plan = session.plan()
        if output is OutputFormat.table:
            _print_plan(the_plan)
        if not the_plan.has_changes:
            session.apply(the_plan)  # records anything adopted from an interrupted run
            if output is OutputFormat.json:
                emit_json({"applied": [], "failed": [], "plan": the_plan.to_dict()})
            else:
                typer.echo("nothing to do")
            return
        if not auto_approve:
            if not sys.stdin.isatty():
                from unifiedml.errors import ConfigError

                raise ConfigError("apply needs confirmation, and there is no terminal to ask",
                                  field="--auto-approve", hint="pass --auto-approve in scripts and CI")
            typer.confirm("apply these changes?", abort=True)
        result = session.apply(the_plan, parallelism=parallelism,
                               progress=_progress_printer(output is OutputFormat.json))
    except typer.Abort:
        typer.echo("nothing applied", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:
        raise fail(exc) from None
    _finish(result, output)


def _finish(result: Any, output: OutputFormat) -> None:
    from unifiedml.deploy.apply import describe_failure

    if output is OutputFormat.json:
        emit_json({
            "applied": [f"{i.kind}/{i.name}" for i in result.done],
            "failed": [{"resource": f"{i.kind}/{i.name}", **describe_failure(e)} for i, e in result.failed],
        })
    else:
        for item, exc in result.failed:
            from unifiedml.cli.common import print_error

            typer.echo(f"{item.kind}/{item.name} failed:", err=True)
            print_error(exc)
        if result.ok:
            typer.secho(f"done: {len(result.done)} change(s) applied", fg="green")
    if not result.ok:
        raise typer.Exit(1)


def destroy(
    file: Path = FILE_OPTION,
    env: str = ENV_OPTION,
    auto_approve: bool = typer.Option(False, "--auto-approve", "-y", help="do not ask for confirmation"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Remove everything apply created for this project, endpoints first."""
    try:
        session = _session(file, env)
        if not auto_approve:
            if not sys.stdin.isatty():
                from unifiedml.errors import ConfigError

                raise ConfigError("destroy needs confirmation, and there is no terminal to ask",
                                  field="--auto-approve", hint="pass --auto-approve in scripts and CI")
            typer.confirm(f"destroy every resource of project {session.project}?", abort=True)
        result = session.destroy(progress=_progress_printer(output is OutputFormat.json))
    except typer.Abort:
        typer.echo("nothing destroyed", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:
        raise fail(exc) from None
    _finish(result, output)


def gc(
    file: Path = FILE_OPTION,
    delete: bool = typer.Option(False, "--delete", help="delete the orphans found"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List (and with --delete remove) live resources tagged with this project that the state does not know."""
    try:
        session = _session(file, None)
        orphans = session.orphans()
        if delete:
            for orphan in orphans:
                session.delete_orphan(orphan)
    except Exception as exc:
        raise fail(exc) from None
    if output is OutputFormat.json:
        emit_json({"orphans": orphans, "deleted": delete})
        return
    from unifiedml.cli.common import emit_table

    emit_table([(o["provider"], o["kind"], o["name"], o["status"]) for o in orphans],
               ["provider", "kind", "name", "status"], title="orphans" + (" (deleted)" if delete else ""),
               empty="no orphaned resources")


@config_app.command("schema")
def config_schema(out: Path = typer.Option(None, "--out", help="write to this file instead of stdout")) -> None:
    """Print the JSON Schema of unifiedml.yaml (point your editor's YAML plugin at it)."""
    import json

    from unifiedml.config import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out:
        out.write_text(text)
    else:
        sys.stdout.write(text)


@config_app.command("validate")
def config_validate(file: Path = FILE_OPTION, env: str = ENV_OPTION) -> None:
    """Check the file (schema, references, providers, credentials by reference) without contacting anything."""
    try:
        from unifiedml.config import load_config

        loaded = load_config(file, env_name=env)
    except Exception as exc:
        raise fail(exc) from None
    c = loaded.config
    typer.echo(f"{loaded.path}: valid ({len(c.models)} models, {len(c.endpoints)} endpoints, "
               f"{len(c.monitors)} monitors)")
