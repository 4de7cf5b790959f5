"""``unifiedml cost``: price catalog, estimates, reports and budget checks.

Imports stay light at module level (typer only); pyarrow, boto3 and the cost
package load inside the commands.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from unifiedml.cli.common import emit_json, emit_table, fail

__all__ = ["app"]

app = typer.Typer(help="Price catalog, estimates, cost reports and budgets.", no_args_is_help=True)
catalog_app = typer.Typer(
    help="Look prices up, or refresh them from the providers' price APIs.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


class TableOrJson(StrEnum):
    table = "table"
    json = "json"


def _price(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.4f}"


@catalog_app.command("show")
def catalog_show(
    provider: str = typer.Option(None, "--provider", "-p", help="sagemaker, vertex, azureml, huggingface"),
    instance_type: str = typer.Option(None, "--instance-type", "-t", help="exact type, or a part of one"),
    service: str = typer.Option(None, "--service", "-s", help="training or hosting"),
    region: str = typer.Option(None, "--region", "-r"),
    size: str = typer.Option(None, "--size", help="a portable size: show what it maps to and costs"),
    output: TableOrJson = typer.Option(TableOrJson.table, "--output", "-o"),
) -> None:
    """Show catalog prices (currency and source on every row; unknown prices say so)."""
    try:
        from unifiedml.cost.catalog import PROVIDERS, default_catalog
        from unifiedml.errors import ConfigError

        cat = default_catalog()
        if size or (instance_type and provider and region):
            if not provider:
                raise ConfigError("--size needs --provider", field="provider")
            services = [service] if service else ["training", "hosting"]
            quotes = []
            for svc in services:
                itype = cat.portable_instance(provider, size, svc) if size else instance_type
                quotes.append(cat.lookup(provider, itype, service=svc, region=region))
            if output is TableOrJson.json:
                emit_json([q.to_dict() for q in quotes])
                return
            emit_table(
                [
                    [
                        q.provider,
                        q.service,
                        q.region,
                        q.instance_type,
                        _price(q.price_per_hour),
                        q.currency,
                        "; ".join(q.sources) or (q.note or ""),
                    ]
                    for q in quotes
                ],
                ["provider", "service", "region", "instance type", "per hour", "currency", "source / note"],
            )
            return
        if provider:
            cat._provider(provider)  # unknown provider -> NotFound with close matches
        if (
            instance_type
            and provider
            and instance_type not in cat.instance_types(provider)
            and not cat.rows(provider=provider, instance_type=instance_type)
        ):
            cat.lookup(provider, instance_type, service=service or "training", region=region)
        rows = cat.rows(provider=provider, service=service, region=region, instance_type=instance_type)
        if output is TableOrJson.json:
            emit_json(
                {"rows": [r.to_dict() for r in rows], "files": {p: f.metadata for p, f in cat.files.items()}}
            )
            return
        emit_table(
            [
                [
                    r.provider,
                    r.service,
                    r.region,
                    r.instance_type,
                    _price(r.price_per_hour),
                    r.currency,
                    r.read_on,
                    r.source_url,
                ]
                for r in rows
            ],
            ["provider", "service", "region", "instance type", "per hour", "currency", "read on", "source"],
            empty="no priced rows match (prices not in the catalog are unknown; "
            "`unifiedml cost catalog refresh` fetches them when online)",
        )
        if not provider:
            missing = [p for p in PROVIDERS if not cat.rows(provider=p)]
            if missing:
                typer.echo(f"no sourced prices yet for: {', '.join(missing)} (unknown, not zero)", err=True)
    except Exception as exc:
        raise fail(exc, code=2) from None


@catalog_app.command("refresh")
def catalog_refresh(
    provider: list[str] = typer.Option(None, "--provider", "-p", help="repeatable; default all"),
    out_dir: Path = typer.Option(None, "--out-dir", help="default $UNIFIEDML_HOME/cost/catalog"),
    aws_endpoint_url: str = typer.Option(None, "--aws-endpoint-url", envvar="AWS_ENDPOINT_URL_PRICING"),
    azure_base_url: str = typer.Option("https://prices.azure.com", "--azure-base-url"),
    gcp_base_url: str = typer.Option("https://cloudbilling.googleapis.com", "--gcp-base-url"),
    gcp_api_key: str = typer.Option(None, "--gcp-api-key", envvar="GOOGLE_API_KEY"),
    hf_endpoint: str = typer.Option("https://huggingface.co", "--hf-endpoint", envvar="HF_ENDPOINT"),
    output: TableOrJson = typer.Option(TableOrJson.table, "--output", "-o"),
) -> None:
    """Rebuild the price files from the public price APIs (exit 1 when a provider failed)."""
    try:
        from unifiedml.cost.catalog import PROVIDERS
        from unifiedml.cost.refresh import refresh_catalog

        results = refresh_catalog(
            provider or PROVIDERS,
            out_dir=out_dir,
            aws_endpoint_url=aws_endpoint_url,
            azure_base_url=azure_base_url,
            gcp_base_url=gcp_base_url,
            gcp_api_key=gcp_api_key,
            hf_endpoint=hf_endpoint,
        )
    except Exception as exc:
        raise fail(exc, code=2) from None
    if output is TableOrJson.json:
        emit_json([r.to_dict() for r in results])
    else:
        emit_table(
            [[r.provider, r.rows, ", ".join(r.services), r.path or "", r.error or "ok"] for r in results],
            ["provider", "rows", "services", "file", "status"],
        )
    if any(r.error for r in results):
        raise typer.Exit(1)


def _since(text: str):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from unifiedml.specs import parse_duration

    try:
        return (
            datetime.fromisoformat(text).replace(tzinfo=UTC)
            if "-" in text
            else datetime.now(UTC) - parse_duration(text)
        )
    except ValueError as exc:
        from unifiedml.errors import ConfigError

        raise ConfigError(f"{text!r} is neither a duration (30d) nor a date", field="since") from exc


@app.command("report")
def report(
    since: str = typer.Option("30d", "--since", help="a duration back from now (30d, 12h) or a date"),
    group_by: list[str] = typer.Option(
        ["provider"], "--group-by", "-g", help="provider|project|resource|service|day|tag:<key> (repeatable)"
    ),
    output: ReportFormat = typer.Option(ReportFormat.table, "--output", "-o"),
    out: Path = typer.Option(None, "--out", help="write to this file instead of stdout"),
    records: list[Path] = typer.Option(None, "--records", help="extra CostRecords (Parquet/CSV/JSONL)"),
    project: str = typer.Option(None, "--project", envvar="UNIFIEDML_PROJECT"),
) -> None:
    """Estimated and billed cost side by side per group, with totals."""
    try:
        from datetime import UTC, datetime

        import pyarrow as pa

        from unifiedml.cost.aggregate import read_records, records_to_table
        from unifiedml.cost.readers.estimated import LifecycleEstimateReader
        from unifiedml.cost.report import build_report
        from unifiedml.cost.snapshots import load_records
        from unifiedml.state.store import StateStore

        keys = []
        for g in group_by:
            keys += [k.strip() for k in g.split(",") if k.strip()]
        start, until = _since(since), datetime.now(UTC)
        store = StateStore()
        reader = LifecycleEstimateReader(store=store, now=until)
        recs = list(reader.read(since=start, until=until, project=project))
        recs += load_records(store, since=start, until=until, project=project)
        tables = [records_to_table(recs)] + [read_records(str(p)) for p in records or []]
        table = pa.concat_tables(tables)
        unknown = [
            {"resource": f"{u.interval.provider}:{u.interval.kind}/{u.interval.name}", "note": u.price.note}
            for u in reader.unknown
        ]
        rep = build_report(table, group_by=keys, since=start, until=until, unknown=unknown)
    except Exception as exc:
        raise fail(exc, code=2) from None
    if output is ReportFormat.table and out is None:
        header, rows = rep.table_rows()
        emit_table(
            rows, header, title=f"cost since {start:%Y-%m-%d}", empty="no cost recorded in this period"
        )
        for u in rep.unknown:
            typer.echo(f"unknown price: {u['resource']}: {u['note']}", err=True)
        return
    text = {"json": rep.to_json, "csv": rep.to_csv, "html": rep.to_html, "table": rep.to_csv}[output.value]()
    if out is not None:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
    else:
        sys.stdout.write(text)


@app.command("check")
def check(
    config: Path = typer.Option(Path("unifiedml.yaml"), "--config", "-c", help="file with a budgets: list"),
    alert: bool = typer.Option(True, "--alert/--no-alert", help="POST to each over-budget webhook"),
    output: TableOrJson = typer.Option(TableOrJson.table, "--output", "-o"),
) -> None:
    """Check budgets for this month: exit 1 when spend or forecast is over a budget, 0 otherwise."""
    try:
        from datetime import UTC, datetime

        import yaml

        from unifiedml.cost.budgets import current_statuses, load_budgets, send_budget_alert
        from unifiedml.errors import ConfigError
        from unifiedml.state.store import StateStore

        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read {config}: {exc.strerror}", field="config") from exc
        budgets = load_budgets(data.get("budgets"), where=f"{config}:budgets")
        now = datetime.now(UTC)
        statuses = current_statuses(StateStore(), budgets, now=now)
    except Exception as exc:
        raise fail(exc, code=2) from None
    if output is TableOrJson.json:
        emit_json([s.to_dict() for s in statuses])
    else:
        emit_table(
            [
                [
                    s.budget.name,
                    f"{s.budget.amount:,.2f}",
                    f"{s.spent:,.2f}",
                    f"{s.forecast:,.2f}",
                    s.budget.currency,
                    "OVER" if s.over else ("forecast over" if s.forecast_over else "ok"),
                ]
                for s in statuses
            ],
            ["budget", "amount", "spent", "forecast", "currency", "status"],
            empty="no budgets configured",
        )
    bad = [s for s in statuses if s.over or s.forecast_over]
    if alert:
        for url in {s.budget.webhook for s in bad if s.budget.webhook}:
            try:
                send_budget_alert(url, statuses)
            except OSError as exc:
                typer.echo(f"alert to webhook failed: {exc}", err=True)
    if bad:
        raise typer.Exit(1)
