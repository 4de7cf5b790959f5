"""``unifiedml drift``: one-off checks (exit 0 no drift, 1 drift, 2 error), sketches and schedules.

Heavy imports (NumPy, pyarrow, SciPy) happen inside the commands, so
``unifiedml --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from unifiedml.cli.common import OUTPUT_OPTION, OutputFormat, emit_json, emit_table, pairs, print_error

__all__ = ["app"]

app = typer.Typer(help="Drift checks of captured traffic against reference data, and their schedules.",
                  no_args_is_help=True)
schedule_app = typer.Typer(help="Cron schedules run by `unifiedml scheduler`.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")

EXIT_NO_DRIFT, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def _csv(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _spec_kwargs(columns: str | None, categorical: str | None, numeric_method: str | None,
                 categorical_method: str | None, method: list[str] | None, threshold: list[str] | None,
                 min_drift_share: float, bins: int) -> dict[str, Any]:
    from unifiedml.errors import ConfigError

    thresholds: dict[str, float] = {}
    for name, value in pairs(threshold, "threshold", label="FEATURE", allow_empty=False).items():
        try:
            thresholds[name] = float(value)
        except ValueError as exc:
            raise ConfigError(f"threshold for {name!r} is not a number: {value!r}", field="threshold") from exc
    kwargs: dict[str, Any] = {
        "columns": _csv(columns),
        "categorical": _csv(categorical) or [],
        "methods": pairs(method, "method", label="FEATURE", allow_empty=False),
        "thresholds": thresholds,
        "min_drift_share": min_drift_share,
        "bins": bins,
    }
    if numeric_method:
        kwargs["numeric_method"] = numeric_method
    if categorical_method:
        kwargs["categorical_method"] = categorical_method
    return kwargs


def _print_report(report: Any) -> None:
    from rich.console import Console

    rows = []
    for f in report.features:
        verdict = "DRIFT" if f.drifted else ("ok" if f.status == "checked" else f.status.replace("_", " "))
        score = "" if f.score is None else f"{f.score:.4g}"
        threshold = "" if f.threshold is None else f"{f.threshold:g}"
        comparator = "" if f.method is None else ("<" if f.method in ("ks", "chi_square") else ">")
        rows.append((f.name, f.kind, f.method or "", score, f"{comparator} {threshold}".strip(), verdict,
                     f.n_current, "; ".join(f.notes)[:60]))
    emit_table(rows, ["feature", "kind", "method", "score", "drift if", "verdict", "current n", "notes"],
               title="drift check", empty="no features")
    Console().print(("[bold red]" if report.drifted else "[bold]") + report.summary() + "[/]",
                    highlight=False, soft_wrap=True)


@app.command("check")
def check_cmd(
    reference: str = typer.Option(..., "--reference", "-r", help="reference Parquet/CSV (file, dir, glob) or sketch"),
    current: str = typer.Option(None, "--current", "-c", help="current Parquet/CSV (file, dir, glob)"),
    endpoint: str = typer.Option(None, "--endpoint", "-e", help="read the endpoint's captured traffic instead"),
    since: str = typer.Option("24h", "--since", help="capture window for --endpoint: 24h, 30m, 7d or ISO time"),
    provider: str = typer.Option("local", "--provider", "-p", help="whose capture reader to use"),
    columns: str = typer.Option(None, "--columns", help="comma-separated features to check (default: all)"),
    categorical: str = typer.Option(None, "--categorical", help="comma-separated columns to treat as categories"),
    numeric_method: str = typer.Option(None, "--numeric-method", help="psi, ks, wasserstein or jensen_shannon"),
    categorical_method: str = typer.Option(None, "--categorical-method", help="psi, jensen_shannon, chi_square, linf"),
    method: list[str] = typer.Option(None, "--method", help="FEATURE=METHOD (repeatable)"),
    threshold: list[str] = typer.Option(None, "--threshold", help="FEATURE=VALUE (repeatable)"),
    min_drift_share: float = typer.Option(0.0, "--min-drift-share", help="dataset drift needs this share (0-1)"),
    bins: int = typer.Option(10, "--bins", help="quantile bins for PSI and Jensen-Shannon on numeric columns"),
    html: Path = typer.Option(None, "--html", help="also write a self-contained HTML report here"),
    fail_on_no_data: bool = typer.Option(False, "--fail-on-no-data", help="exit 2 when the window is empty"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Check drift once. Exit code: 0 no drift, 1 drift, 2 error (or no data with --fail-on-no-data)."""
    try:
        from unifiedml.errors import ConfigError
        from unifiedml.monitoring.engine import check

        kwargs = _spec_kwargs(columns, categorical, numeric_method, categorical_method, method, threshold,
                              min_drift_share, bins)
        if (current is None) == (endpoint is None):
            raise ConfigError("give exactly one of --current and --endpoint", field="current",
                              hint="--current FILE compares files; --endpoint NAME --since 24h reads capture")
        if endpoint is not None:
            from unifiedml.monitoring.readers import get_reader, parse_since
            from unifiedml.monitoring.spec import cached_sketch

            sketch = cached_sketch(reference, columns=kwargs["columns"], categorical=kwargs["categorical"],
                                   bins=bins)
            source: Any = get_reader(provider).read(endpoint, since=parse_since(since))
            report = check(sketch, source, **kwargs)
        else:
            report = check(reference, current, **kwargs)
        if html is not None:
            from unifiedml.monitoring.html import render_html

            html.write_text(render_html(report), encoding="utf-8")
    except typer.Exit:
        raise
    except Exception as exc:
        print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    if output is OutputFormat.json:
        emit_json(report.to_dict())
    else:
        _print_report(report)
    if report.status == "no_data":
        raise typer.Exit(EXIT_ERROR if fail_on_no_data else EXIT_NO_DRIFT)
    raise typer.Exit(EXIT_DRIFT if report.drifted else EXIT_NO_DRIFT)


@app.command("sketch")
def sketch_cmd(
    reference: str = typer.Option(..., "--reference", "-r", help="reference Parquet/CSV (file, dir, glob)"),
    out: Path = typer.Option(..., "--out", "-o", help="directory to write the sketch to"),
    columns: str = typer.Option(None, "--columns", help="comma-separated columns (default: all)"),
    categorical: str = typer.Option(None, "--categorical", help="comma-separated columns to treat as categories"),
    bins: int = typer.Option(10, "--bins", help="quantile bins for PSI and Jensen-Shannon"),
) -> None:
    """Reduce reference data to a sketch once; pass the directory as --reference afterwards."""
    try:
        from unifiedml.monitoring.sketching import build_sketch

        sketch = build_sketch(reference, columns=_csv(columns), categorical=_csv(categorical) or [], bins=bins)
        sketch.save(out)
    except Exception as exc:
        print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    typer.echo(f"sketched {len(sketch.columns)} columns of {sketch.n_rows} rows into {out}")


@schedule_app.command("add")
def schedule_add(
    name: str = typer.Argument(..., help="schedule name"),
    cron: str = typer.Option(..., "--cron", help="five-field cron expression, UTC (e.g. '0 * * * *')"),
    reference: str = typer.Option(..., "--reference", "-r", help="reference Parquet/CSV or sketch directory"),
    endpoint: str = typer.Option(..., "--endpoint", "-e", help="endpoint whose capture is checked"),
    provider: str = typer.Option("local", "--provider", "-p", help="whose capture reader to use"),
    window: str = typer.Option("24h", "--since", "--window", help="how far back each run reads"),
    webhook: str = typer.Option(None, "--webhook", help="POST a JSON alert here when drift is found"),
    columns: str = typer.Option(None, "--columns", help="comma-separated features to check"),
    categorical: str = typer.Option(None, "--categorical", help="comma-separated columns to treat as categories"),
    numeric_method: str = typer.Option(None, "--numeric-method"),
    categorical_method: str = typer.Option(None, "--categorical-method"),
    method: list[str] = typer.Option(None, "--method", help="FEATURE=METHOD (repeatable)"),
    threshold: list[str] = typer.Option(None, "--threshold", help="FEATURE=VALUE (repeatable)"),
    min_drift_share: float = typer.Option(0.0, "--min-drift-share"),
    replace: bool = typer.Option(False, "--replace", help="overwrite a schedule of the same name"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Store a cron schedule (the cron expression is validated now)."""
    try:
        from datetime import UTC, datetime

        from pydantic import ValidationError

        from unifiedml.errors import ConfigError
        from unifiedml.monitoring import db
        from unifiedml.monitoring.spec import MonitorSpec, validate_cron

        validate_cron(cron)
        kwargs = _spec_kwargs(columns, categorical, numeric_method, categorical_method, method, threshold,
                              min_drift_share, 10)
        try:
            spec = MonitorSpec(reference=reference, name=name, schedule=cron, window=window, webhook=webhook,
                               **kwargs)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(first["msg"], field=".".join(str(p) for p in first["loc"])) from exc
        record = db.add_schedule(db.open_store(), name=name, cron=cron, now=datetime.now(UTC), replace=replace,
                                 spec={"endpoint": endpoint, "provider": provider,
                                       "spec": spec.model_dump(mode="json")})
    except Exception as exc:
        print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    if output is OutputFormat.json:
        emit_json({"name": record.name, "cron": record.cron, **record.spec})
    else:
        typer.echo(f"added drift schedule {record.name!r} ({record.cron}) for endpoint {endpoint!r}")


@schedule_app.command("list")
def schedule_list(output: OutputFormat = OUTPUT_OPTION) -> None:
    """List stored schedules with their next due time and last result."""
    try:
        from croniter import croniter

        from unifiedml.monitoring import db

        store = db.open_store()
        rows = []
        for r in db.list_schedules(store):
            last = db.results(store, schedule=r.name, limit=1)
            nxt = croniter(r.cron, r.last_due_at or r.created_at).get_next(type(r.created_at))
            rows.append({"name": r.name, "cron": r.cron, "endpoint": r.spec.get("endpoint"),
                         "provider": r.spec.get("provider"), "next_due": nxt.isoformat(),
                         "last_status": last[0].status if last else None,
                         "last_run": last[0].finished_at.isoformat() if last else None})
    except Exception as exc:
        print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    if output is OutputFormat.json:
        emit_json(rows)
    else:
        emit_table([tuple(r.values()) for r in rows], ["name", "cron", "endpoint", "provider", "next due",
                                                      "last status", "last run"], empty="no drift schedules")


@schedule_app.command("remove")
def schedule_remove(name: str = typer.Argument(..., help="schedule name")) -> None:
    """Remove a schedule (idempotent: removing a missing one is not an error)."""
    try:
        from unifiedml.monitoring import db

        removed = db.remove_schedule(db.open_store(), name)
    except Exception as exc:
        print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    typer.echo(f"removed drift schedule {name!r}" if removed else f"no drift schedule named {name!r}")


@app.command("results")
def results_cmd(
    schedule: str = typer.Option(None, "--schedule", "-s", help="only this schedule"),
    limit: int = typer.Option(20, "--limit", "-n"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Recorded drift results, newest first."""
    try:
        from unifiedml.monitoring import db

        found = db.results(db.open_store(), schedule=schedule, limit=limit)
    except Exception as exc:
        print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    rows = [{"id": r.id, "schedule": r.schedule, "due_at": r.due_at.isoformat() if r.due_at else None,
             "finished_at": r.finished_at.isoformat(), "status": r.status, "drift_share": r.drift_share,
             "n_drifted": r.n_drifted, "n_checked": r.n_checked, "error": r.error} for r in found]
    if output is OutputFormat.json:
        emit_json(rows)
    else:
        emit_table([(r["id"], r["schedule"], r["finished_at"][:19], r["status"], r["n_drifted"], r["n_checked"],
                     (r["error"] or "")[:60]) for r in rows],
                   ["id", "schedule", "finished", "status", "drifted", "checked", "error"], empty="no results")
