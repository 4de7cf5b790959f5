"""``unifiedml providers``: which providers are installed and what each can do."""

from __future__ import annotations

from unifiedml.cli.common import OUTPUT_OPTION, OutputFormat, emit, fail

__all__ = ["providers"]


def providers(output: OutputFormat = OUTPUT_OPTION) -> None:
    """List providers, whether their SDK is installed, and their capabilities (with reasons for gaps)."""
    try:
        from unifiedml.errors import MissingDependency
        from unifiedml.providers.base import Capability
        from unifiedml.providers.registry import BUILTIN, available, load

        report = []
        for name in available():
            entry: dict[str, object] = {"name": name, "installed": True, "capabilities": {}}
            try:
                cls = load(name)
                entry["capabilities"] = cls.describe_capabilities()
            except MissingDependency as exc:
                entry["installed"] = False
                entry["hint"] = exc.hint
            info = BUILTIN.get(name)
            entry["extra"] = info.extra if info else None
            report.append(entry)
    except Exception as exc:
        raise fail(exc) from None

    def table() -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        t = Table(title="providers and capabilities", header_style="bold")
        t.add_column("capability")
        for entry in report:
            t.add_column(str(entry["name"]) + ("" if entry["installed"] else " (not installed)"))
        for cap in Capability:
            cells = []
            for entry in report:
                caps = entry["capabilities"]
                if not caps:
                    cells.append("?")
                    continue
                c = caps[cap.value]  # type: ignore[index]
                cells.append("[green]yes[/]" if c["supported"] else "[red]no[/]")
            t.add_row(cap.value, *cells)
        console.print(t)
        for entry in report:
            caps = entry["capabilities"] or {}
            gaps = [(k, v["reason"]) for k, v in caps.items() if not v["supported"]]  # type: ignore[union-attr]
            if gaps:
                console.print(f"\n[bold]{entry['name']}[/] does not support:")
                for cap_name, reason in gaps:
                    console.print(f"  {cap_name}: {reason}")
            if not entry["installed"]:
                console.print(f"\n[bold]{entry['name']}[/]: {entry.get('hint')}")

    emit(report, output, table=table)
