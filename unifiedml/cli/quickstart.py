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


_FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "island", "sex"]


def _batch(rows: list[dict[str, Any]], n: int, seed: int, shift: bool) -> list[dict[str, Any]]:
    """``n`` complete rows drawn with a fixed seed; ``shift`` makes the penguins 25% heavier and
    their flippers 15 mm longer (what a broken scale or a new colony would look like)."""
    import random

    complete = [r for r in rows if all(r[k] not in (None, "") for k in _FEATURES)]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        row = {k: v for k, v in rng.choice(complete).items() if k in _FEATURES}
        if shift:
            row["body_mass_g"] *= 1.25
            row["flipper_length_mm"] += 15.0
        out.append(row)
    return out


def _drift_step(console: Any, endpoint: Any, rows: list[dict[str, Any]], reference: Path) -> dict[str, Any]:
    """Send each batch through the endpoint (so it lands in the capture log), then check the
    capture log's window for that batch against the reference data."""
    from datetime import UTC, datetime

    from rich.table import Table

    from unifiedml.monitoring.engine import check
    from unifiedml.monitoring.readers import get_reader
    from unifiedml.monitoring.spec import cached_sketch

    sketch = cached_sketch(str(reference), columns=_FEATURES, categorical=[], bins=10)
    out: dict[str, Any] = {}
    table = Table(header_style="bold")
    for col in ("batch", "rows", "drifted features", "drift share", "verdict"):
        table.add_column(col)
    for label, shift in (("clean", False), ("shifted", True)):
        since = datetime.now(UTC)
        batch = _batch(rows, 200, seed=7 if shift else 3, shift=shift)
        for i in range(0, len(batch), 20):
            endpoint.predict(batch[i : i + 20])
        time.sleep(0.5)  # the server writes its capture log from a background thread
        # Tests, not distances: 200 rows is a small sample, and a p-value accounts for sample size
        # where a distance threshold would flag sampling noise.
        report = check(sketch, get_reader("local").read(endpoint.name, since=since), columns=_FEATURES,
                       numeric_method="ks", categorical_method="chi_square")
        drifted = [f for f in report.features if f.drifted]
        names = ", ".join(f"{f.name} ({f.method} p={f.score:.1e})" for f in drifted) or "none"
        verdict = "[red]drift[/]" if report.drifted else "[green]no drift[/]"
        table.add_row(label, str(len(batch)), names, f"{report.drift_share:.0%}", verdict)
        out[label] = report.to_dict()
    console.print(table)
    console.print("   the same check runs from cron: "
                  f"`unifiedml drift check --endpoint {endpoint.name} --reference {reference} --since 1h "
                  "--numeric-method ks --categorical-method chi_square`",
                  soft_wrap=True)
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

        console.print("[bold cyan]4/6 drift[/] a clean batch, then a shifted one, against the training data")
        summary["drift"] = _drift_step(console, endpoint, rows, data_csv)
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
