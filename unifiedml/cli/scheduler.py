"""``unifiedml scheduler``: the long-running process that runs stored drift schedules."""

from __future__ import annotations

import typer

from unifiedml.cli.common import print_error

__all__ = ["scheduler"]


def scheduler(
    once: bool = typer.Option(False, "--once", help="run what is due now, then exit"),
    missed: str = typer.Option("latest", "--missed", help="missed runs: latest (run once), all, or skip"),
    poll: float = typer.Option(30.0, "--poll", help="seconds between looks at the schedules, at most"),
    metrics_port: int = typer.Option(None, "--metrics-port", help="serve Prometheus metrics on this port"),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", help="address for the metrics server"),
) -> None:
    """Run due drift checks until interrupted: one run per schedule at a time, every result recorded."""
    import logging
    import signal

    try:
        from unifiedml.errors import ConfigError
        from unifiedml.monitoring import db
        from unifiedml.monitoring.alerts import DriftMetrics, MetricsServer
        from unifiedml.monitoring.scheduler import Scheduler

        if missed not in ("latest", "all", "skip"):
            raise ConfigError(f"unknown missed-run policy {missed!r}", field="missed", hint="latest, all or skip")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        metrics = DriftMetrics()
        store = db.open_store()
        for record in db.list_schedules(store):  # the latest results survive a restart
            last = db.results(store, schedule=record.name, limit=1)
            if last and last[0].report:
                metrics.update(record.name, str(record.spec.get("endpoint", "")), last[0].report,
                               ts=last[0].finished_at.timestamp())
        server = MetricsServer(metrics, host=metrics_host, port=metrics_port).start() if metrics_port else None
        sched = Scheduler(store, missed=missed, metrics=metrics, poll_interval=poll)  # type: ignore[arg-type]
        if once:
            for outcome in sched.run_pending():
                typer.echo(f"{outcome.schedule} due {outcome.due_at.isoformat()}: {outcome.status}")
            return
        signal.signal(signal.SIGTERM, lambda *_: sched.stop())
        try:
            sched.run_forever()
        except KeyboardInterrupt:
            sched.stop()
        finally:
            if server is not None:
                server.stop()
    except typer.Exit:
        raise
    except Exception as exc:
        print_error(exc)
        raise typer.Exit(2) from None
