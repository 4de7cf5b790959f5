"""Shared CLI plumbing: building a client, printing results, turning errors into one line and an exit code."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from unifiedml.client import Client

__all__ = ["OutputFormat", "emit", "emit_table", "fail", "make_client", "print_error"]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


OUTPUT_OPTION = typer.Option(OutputFormat.table, "--output", "-o", help="table for people, json for scripts")
PROVIDER_OPTION = typer.Option("local", "--provider", "-p", help="which backend (see `unifiedml providers`)")


def debug_enabled() -> bool:
    return os.environ.get("UNIFIEDML_DEBUG") == "1"


def make_client(provider: str = "local") -> Client:
    """A Client for ``provider`` with the home/project chosen on the command line (or the environment)."""
    from unifiedml.client import Client

    return Client(provider)


def print_error(exc: BaseException) -> None:
    """One clear line (plus a hint) on stderr; the traceback only with --debug."""
    from rich.console import Console
    from rich.markup import escape

    from unifiedml.errors import UnifiedMLError

    console = Console(stderr=True, highlight=False)
    if debug_enabled():
        console.print_exception()
    if isinstance(exc, UnifiedMLError):
        first, _, rest = str(exc).partition("\n")
        console.print(f"[bold red]error:[/] {escape(first)}", soft_wrap=True)
        if rest:
            console.print(escape(rest), style="dim", soft_wrap=True)
        if exc.hint:
            console.print(f"[yellow]hint:[/] {escape(exc.hint)}", soft_wrap=True)
    else:
        console.print(f"[bold red]error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}", soft_wrap=True)
        if not debug_enabled():
            console.print("[yellow]hint:[/] run again with --debug for the traceback")


def fail(exc: BaseException, code: int = 1) -> typer.Exit:
    """Print ``exc`` and return the Exit to raise: ``raise fail(exc)``."""
    print_error(exc)
    return typer.Exit(code)


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def emit_json(data: Any) -> None:
    """Print JSON to stdout (for --output json); never mixed with other text."""
    sys.stdout.write(json.dumps(data, indent=2, default=_default) + "\n")


def emit_table(
    rows: Iterable[Sequence[Any]], columns: Sequence[str], *, title: str | None = None, empty: str = "nothing found"
) -> None:
    """Print rows as a rich table (or ``empty`` when there are none)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows = list(rows)
    if not rows:
        console.print(f"[dim]{empty}[/]")
        return
    table = Table(title=title, header_style="bold")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def emit(
    data: Any,
    output: OutputFormat,
    *,
    table: Callable[[], None],
) -> None:
    """JSON for --output json, else call ``table()`` to render for people."""
    if output is OutputFormat.json:
        emit_json(data)
    else:
        table()


def since_text(ts: Any) -> str:
    """A timestamp as 'YYYY-mm-dd HH:MM:SS' UTC, or '' when missing."""
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def pairs(items: list[str] | None, what: str, *, label: str = "KEY", allow_empty: bool = True) -> dict[str, str]:
    """``LABEL=VALUE`` options as a dict (names and values stripped); a malformed one is a ConfigError on ``what``."""
    from unifiedml.errors import ConfigError

    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or (not value and not allow_empty):
            raise ConfigError(f"expected {label}=VALUE, got {item!r}", field=what)
        out[key] = value
    return out


def typed(value: str) -> str | int | float | bool:
    """A command-line value as the JSON scalar it spells (``70`` -> 70, ``true`` -> True), else the string."""
    import json

    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str | int | float | bool) else value


def provider_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--option sagemaker.invocations_per_instance=70`` as ``{"sagemaker": {"invocations_per_instance": 70}}``."""
    from unifiedml.errors import ConfigError

    out: dict[str, dict[str, Any]] = {}
    for key, value in pairs(items, "option", label="PROVIDER.KEY").items():
        provider, dot, name = key.partition(".")
        if not dot or not provider or not name:
            raise ConfigError(f"expected PROVIDER.KEY=VALUE, got {key}={value}", field="option",
                              hint="e.g. --option sagemaker.invocations_per_instance=70")
        out.setdefault(provider, {})[name] = typed(value)
    return out
