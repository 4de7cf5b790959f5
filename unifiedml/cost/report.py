"""Cost reports: estimate and bill side by side per group, with totals, as table, CSV, JSON or HTML.

The HTML page is self-contained (inline CSS and an inline SVG chart of spend
per day by group; no script, no network). A figure that is not known prints
as ``unknown``, never as 0, and every amount column names its currency.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from unifiedml.cost.aggregate import aggregate, filter_period, records_to_table
from unifiedml.cost.records import CostRecord

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CostReport", "build_report"]

_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


@dataclass
class CostReport:
    """Grouped rows, totals per currency, a per-day series for the chart, and what could not be priced."""

    group_by: list[str]
    since: datetime | None
    until: datetime | None
    rows: list[dict[str, Any]]
    totals: list[dict[str, Any]]
    series: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: v.isoformat() if isinstance(v, date) else v for k, v in r.items()} for r in rows]

        return {
            "group_by": self.group_by,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "rows": clean(self.rows),
            "totals": clean(self.totals),
            "unknown": self.unknown,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_csv(self) -> str:
        """One line per group (and a ``TOTAL`` line per currency); unknown amounts are empty cells."""
        buf = io.StringIO()
        cols = [*self.group_by, "currency", "estimate", "billed", "difference", "records"]
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for row in [*self.rows, *({**t, **dict.fromkeys(self.group_by, "TOTAL")} for t in self.totals)]:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in cols])
        return buf.getvalue()

    def table_rows(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows as text (for rich tables): unknown shown as 'unknown'."""
        header = [*self.group_by, "currency", "estimate", "billed", "billed - estimate"]
        out = []
        for row in self.rows:
            out.append(
                [str(row.get(k) if row.get(k) is not None else "-") for k in self.group_by]
                + [row["currency"], _fmt(row["estimate"]), _fmt(row["billed"]), _fmt(row["difference"])]
            )
        for t in self.totals:
            out.append(
                ["TOTAL"]
                + [""] * (len(self.group_by) - 1)
                + [t["currency"], _fmt(t["estimate"]), _fmt(t["billed"]), _fmt(t["difference"])]
            )
        return header, out

    def to_html(self, *, title: str = "unifiedml cost report") -> str:
        """A self-contained page: the chart, then the table."""
        header, rows = self.table_rows()
        period = (
            f"{self.since:%Y-%m-%d} to {self.until:%Y-%m-%d}" if self.since and self.until else "all time"
        )
        th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        trs = "\n".join(
            "<tr"
            + (' class="total"' if r[0] == "TOTAL" else "")
            + ">"
            + "".join(f"<td>{html.escape(c)}</td>" for c in r)
            + "</tr>"
            for r in rows
        )
        unknown = ""
        if self.unknown:
            items = "".join(
                f"<li>{html.escape(str(u.get('resource')))}: {html.escape(str(u.get('note')))}</li>"
                for u in self.unknown
            )
            unknown = f"<h2>Not priced (unknown, not zero)</h2><ul>{items}</ul>"
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}
td:first-child,th:first-child{{text-align:left}}
tr.total td{{font-weight:bold;border-top:2px solid #888}}
.legend span{{display:inline-block;margin-right:1em}}
.sw{{display:inline-block;width:10px;height:10px;margin-right:4px}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Period: {html.escape(period)}. Grouped by {html.escape(", ".join(self.group_by) or "nothing")}.
Estimates are price x uptime; billed figures come from the providers' billing data.</p>
{self._svg()}
<table><thead><tr>{th}</tr></thead><tbody>
{trs}
</tbody></table>
{unknown}
</body></html>
"""

    def _svg(self) -> str:
        """Stacked bars of spend per day by group (billed where known, else estimate), per currency."""
        if not self.series:
            return "<p>No spend in this period.</p>"
        parts = []
        for currency in sorted({s["currency"] for s in self.series}):
            pts = [s for s in self.series if s["currency"] == currency]
            days = sorted({s["day"] for s in pts})
            groups = sorted({str(s["group"]) for s in pts})
            colour = {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(groups)}
            stacks: dict[Any, float] = {}
            for s in pts:
                stacks[s["day"]] = stacks.get(s["day"], 0.0) + s["amount"]
            top = max(stacks.values()) or 1.0
            width, height, pad = 760, 240, 40
            bar_w = max(1.0, (width - pad) / max(1, len(days)) - 1)
            rects = []
            offsets: dict[Any, float] = {}
            x_of = {d: pad + i * (bar_w + 1) for i, d in enumerate(days)}
            for s in sorted(pts, key=lambda p: (p["day"], str(p["group"]))):
                h = (height - pad) * s["amount"] / top
                y = height - pad - offsets.get(s["day"], 0.0) - h
                offsets[s["day"]] = offsets.get(s["day"], 0.0) + h
                label = html.escape(f"{s['day']} {s['group']}: {s['amount']:.2f} {currency}")
                rects.append(
                    f'<rect x="{x_of[s["day"]]:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                    f'fill="{colour[str(s["group"])]}"><title>{label}</title></rect>'
                )
            axis = (
                f'<text x="2" y="12" font-size="11">{top:,.2f} {html.escape(currency)}</text>'
                f'<text x="{pad}" y="{height - 22}" font-size="11">{html.escape(str(days[0]))}</text>'
                f'<text x="{width - 80}" y="{height - 22}" font-size="11">{html.escape(str(days[-1]))}</text>'
                f'<line x1="{pad}" y1="{height - pad}" x2="{width}" y2="{height - pad}" stroke="#888"/>'
            )
            legend = "".join(
                f'<span><i class="sw" style="background:{colour[g]}"></i>{html.escape(g)}</span>'
                for g in groups
            )
            parts.append(
                f"<h2>Spend per day ({html.escape(currency)})</h2>"
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
                f'{axis}{"".join(rects)}</svg><div class="legend">{legend}</div>'
            )
        return "\n".join(parts)


def build_report(
    data: Iterable[CostRecord] | pa.Table,
    *,
    group_by: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    unknown: Sequence[dict[str, Any]] = (),
) -> CostReport:
    """Group ``data`` (records or an Arrow table in the records layout) over ``[since, until)``."""
    import pyarrow as pa

    table = data if isinstance(data, pa.Table) else records_to_table(data)
    table = filter_period(table, since=since, until=until)
    grouped = aggregate(table, list(group_by)).to_pylist()
    totals = aggregate(table, []).to_pylist()
    series: list[dict[str, Any]] = []
    chart_key = next((g for g in group_by if g != "day"), "provider")
    for r in aggregate(table, ["day", chart_key]).to_pylist():
        amount = r["billed"] if r["billed"] is not None else r["estimate"]
        if amount is not None:
            series.append(
                {"day": r["day"], "group": r[chart_key], "currency": r["currency"], "amount": amount}
            )
    return CostReport(list(group_by), since, until, grouped, totals, series, list(unknown))
