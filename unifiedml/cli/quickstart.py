"""``unifiedml quickstart``: train, deploy, predict, check drift, report cost and tear down, locally.

Everything runs on this machine with the local backend: no cloud account. The
assets (a training script written against ``unifiedml.runtime`` and the Palmer
penguins CSV) ship with the package (``examples/quickstart`` in the repository).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from unifiedml.cli.common import OUTPUT_OPTION, OutputFormat, emit_json, fail

__all__ = ["find_assets", "quickstart"]


def find_assets() -> Path:
    """The quickstart folder: inside the installed package, or the repository's examples/quickstart."""
    import unifiedml

    package_dir = Path(unifiedml.__file__).parent
    for candidate in (package_dir / "_examples" / "quickstart", package_dir.parent / "examples" / "quickstart"):
        if (candidate / "train.py").exists():
            return candidate
    raise FileNotFoundError("the quickstart assets are missing from this installation")


def _rows(csv_path: Path) -> list[dict[str, Any]]:
    import csv

    out = []
    with csv_path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            item: dict[str, Any] = {}
            for key in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
                item[key] = float(row[key]) if row[key] != "NA" else None
            item["island"] = row["island"]
            item["sex"] = row["sex"] if row["sex"] != "NA" else ""
            item["species"] = row["species"]
            out.append(item)
    return out


def _money(fig: dict[str, Any]) -> str:
    if not fig.get("known"):
        return "unknown"
    return f"{fig['amount']:.6f} {fig['currency']}"


def _cost_step(console: Any, client: Any, *, job: str, endpoint: str) -> dict[str, Any]:
    """Price what this run used: configured local rates, and the catalog's price of each cloud's
    matching size for the same hours. Unknown prices are shown as unknown, never as zero."""
    from rich.table import Table

    from unifiedml.cost.summary import summarize_local_runs

    result = summarize_local_runs(client.state)
    train = [r for r in result.runs if r.kind == "training_job" and r.name == job]
    serve = [r for r in result.runs if r.kind == "endpoint" and r.name == endpoint][-1:]  # this run's interval
    runs = train + serve
    providers = sorted({p for r in runs for p in r.clouds})
    table = Table(header_style="bold")
    for col in ("where", "as", *(f"{r.kind.replace('_job', '')} ({r.hours * 3600:.0f}s)" for r in runs)):
        table.add_column(col)
    table.add_row("this machine", f"{runs[0].cores:g} cores" if runs else "", *(_money(r.local) for r in runs))
    for p in providers:
        kinds = " / ".join(dict.fromkeys(str(r.clouds[p].get("instance_type") or "?") for r in runs))
        table.add_row(p, kinds, *(_money(r.clouds[p]) for r in runs))
    console.print(table)
    if runs and not runs[0].local.get("known"):
        console.print("   [dim]local cost is unknown until rates are set: UNIFIEDML_COST_CPU_CORE_HOUR, "
                      "UNIFIEDML_COST_GPU_HOUR (see docs/cost.md)[/]")
    unknown = [p for p in providers if not all(r.clouds[p].get("known") for r in runs)]
    if unknown:
        console.print(f"   [dim]no shipped price for {', '.join(unknown)} (shown as unknown, never as zero); "
                      "`unifiedml cost catalog refresh` fetches them when online[/]")
    return {"runs": [r.to_dict() for r in runs]}


def quickstart(
    epochs: int = typer.Option(40, "--epochs", help="training epochs"),
    keep: bool = typer.Option(False, "--keep", help="leave the endpoint running at the end"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Train, deploy, predict, check drift and report cost with the local backend (about a minute)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=output is OutputFormat.json)
    summary: dict[str, Any] = {}
    started = time.monotonic()
    endpoint = None
    client = None
    try:
        from unifiedml.client import Client
        from unifiedml.specs import DeploymentSpec, TrainingSpec

        assets = find_assets()
        data_csv = assets / "data" / "penguins.csv"
        client = Client("local", project="quickstart")
        console.rule("[bold]unifiedml quickstart[/] (local backend, no cloud account)")

        console.print(f"[bold cyan]1/6 train[/]  {assets / 'train.py'} on {data_csv.name}")
        job = client.train(
            TrainingSpec(
                name=client.provider.new_name("penguins"),
                entry_point=str(assets / "train.py"),
                inputs={"train": str(data_csv)},
                hyperparameters={"epochs": epochs},
                max_runtime="15m",
            )
        )
        with console.status("training") as status:
            for line in client.logs(job.name, follow=True):
                if line.strip():
                    status.update(f"training: {line.strip()[:100]}")
        job.wait(progress=False)
        console.print(
            f"   job {job.name} {job.status.value} in {job.duration_s:.1f}s, "
            f"accuracy {job.metrics.get('accuracy', float('nan')):.3f}"
        )
        summary["training_job"] = job.to_dict()

        console.print("[bold cyan]2/6 deploy[/] the SavedModel to a local endpoint")
        with console.status("starting the endpoint (loading TensorFlow)"):
            endpoint = client.deploy(job.model, DeploymentSpec(name="penguins-quickstart")).wait(timeout=180,
                                                                                                  progress=False)
        console.print(f"   endpoint {endpoint.name} in service at {endpoint.url}")
        summary["endpoint"] = endpoint.to_dict()

        console.print("[bold cyan]3/6 predict[/] five penguins")
        rows = _rows(data_csv)
        sample = [rows[i] for i in (0, 60, 160, 230, 300)]
        classes = sorted({r["species"] for r in rows})
        result = endpoint.predict([{k: v for k, v in r.items() if k != "species"} for r in sample])
        table = Table(header_style="bold")
        for col in ("island", "bill_length_mm", "flipper_length_mm", "true species", "predicted", "p"):
            table.add_column(col)
        correct = 0
        for row, probs in zip(sample, result.predictions, strict=True):
            best = max(range(len(probs)), key=probs.__getitem__)
            correct += classes[best] == row["species"]
            table.add_row(row["island"], str(row["bill_length_mm"]), str(row["flipper_length_mm"]), row["species"],
                          classes[best], f"{probs[best]:.2f}")
        console.print(table)
        console.print(f"   {correct}/5 correct, round trip {result.latency_ms} ms")
        summary["predictions"] = {"correct": correct, "of": len(sample), "latency_ms": result.latency_ms}

        console.print("[bold cyan]4/6 drift[/] [dim]not part of this build yet[/]")
        console.print("[bold cyan]5/6 cost[/] of this run: local rates, and the same hours on each cloud")
        summary["cost"] = _cost_step(console, client, job=job.name, endpoint=endpoint.name)
    except Exception as exc:
        raise fail(exc) from None
    finally:
        if endpoint is not None and client is not None and not keep:
            console.print("[bold cyan]6/6 tear down[/] the endpoint")
            client.delete_endpoint(endpoint.name)
    summary["seconds"] = round(time.monotonic() - started, 1)
    console.rule(f"[green]done in {summary['seconds']}s[/]")
    if keep and endpoint is not None:
        console.print(f"endpoint {endpoint.name} is still running; delete it with "
                      f"`unifiedml endpoints delete {endpoint.name}`")
    if output is OutputFormat.json:
        emit_json(summary)
