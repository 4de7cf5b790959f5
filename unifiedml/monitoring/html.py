"""A self-contained HTML drift report: overview table and one inline SVG distribution plot per feature.

No scripts, fonts or images are fetched: the page works offline and can be
attached to an alert or archived as is.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unifiedml.monitoring.report import DriftReport, FeatureDrift

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
.drift{color:#b42318;font-weight:600}.ok{color:#067647}.muted{color:#667085}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600}
.b-drift{background:#fee4e2;color:#b42318}.b-ok{background:#dcfae6;color:#067647}.b-none{background:#eee}
.feature{display:inline-block;vertical-align:top;margin:8px 16px 16px 0}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4g}"


def _plot(f: FeatureDrift, width: int = 420, height: int = 160) -> str:
    h = f.histogram
    if h is None or not h.labels:
        return '<p class="muted">no plot</p>'
    ref_total = max(sum(h.reference), 1)
    cur_total = max(sum(h.current), 1)
    ref = [c / ref_total for c in h.reference]
    cur = [c / cur_total for c in h.current]
    top = max(max(ref), max(cur), 1e-9)
    n = len(h.labels)
    slot = (width - 40) / n
    bar = max(slot / 2 - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" role="img">']
    for i, (r, c, label) in enumerate(zip(ref, cur, h.labels, strict=True)):
        x = 30 + i * slot
        rh, ch = r / top * height, c / top * height
        parts.append(f'<rect x="{x:.1f}" y="{height - rh:.1f}" width="{bar:.1f}" height="{rh:.1f}" fill="#98a2b3">'
                     f"<title>{escape(label)}: reference {r:.3%}</title></rect>")
        parts.append(f'<rect x="{x + bar:.1f}" y="{height - ch:.1f}" width="{bar:.1f}" height="{ch:.1f}" '
                     f'fill="#2e90fa"><title>{escape(label)}: current {c:.3%}</title></rect>')
    parts.append(f'<line x1="28" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/>')
    parts.append(f'<text x="0" y="10" font-size="10" fill="#667085">{top:.0%}</text>')
    first, last = escape(h.labels[0]), escape(h.labels[-1])
    parts.append(f'<text x="30" y="{height + 14}" font-size="10" fill="#667085">{first}</text>')
    parts.append(f'<text x="{width}" y="{height + 28}" font-size="10" fill="#667085" text-anchor="end">{last}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: DriftReport, *, title: str = "unifiedml drift report") -> str:
    """The report as one HTML page (string)."""
    badge = {"drift": "b-drift", "no_drift": "b-ok"}.get(report.status, "b-none")
    rows = []
    for f in report.features:
        cls = "drift" if f.drifted else ("ok" if f.status == "checked" else "muted")
        verdict = "drift" if f.drifted else ("ok" if f.status == "checked" else f.status.replace("_", " "))
        rows.append(
            f"<tr><td>{escape(f.name)}</td><td>{f.kind}</td><td>{escape(f.method or '')}</td>"
            f"<td>{_fmt(f.score)}</td><td>{_fmt(f.threshold)}</td><td class='{cls}'>{verdict}</td>"
            f"<td>{f.n_reference}</td><td>{f.n_current}</td><td>{f.missing_current}</td>"
            f"<td class='muted'>{escape('; '.join(f.notes))}</td></tr>"
        )
    plots = []
    for f in report.features:
        if f.status != "checked":
            continue
        scores = ", ".join(f"{k} {_fmt(v)}" for k, v in f.scores.items())
        plots.append(
            f'<div class="feature"><h2 class="{"drift" if f.drifted else ""}">{escape(f.name)}</h2>'
            f'<div class="muted">{escape(scores)}</div>{_plot(f)}</div>'
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{escape(title)} <span class="badge {badge}">{escape(report.status.replace("_", " "))}</span></h1>
<p>{escape(report.summary())}</p>
<p class="muted">reference: {escape(str(report.reference.get("source")))} ({report.reference.get("rows")} rows);
current: {escape(str(report.current.get("source")))} ({report.current.get("rows")} rows);
default methods: numeric {escape(report.default_methods["numeric"])},
categorical {escape(report.default_methods["categorical"])}; checked {escape(report.created_at)}
in {report.duration_s:.2f} s</p>
<table><thead><tr><th>feature</th><th>kind</th><th>method</th><th>score</th><th>threshold</th><th>verdict</th>
<th>reference n</th><th>current n</th><th>current missing</th><th>notes</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<div class="legend muted" style="margin-top:16px">
<span style="background:#98a2b3"></span>reference <span style="background:#2e90fa"></span>current
(share of non-missing values per bin / category)</div>
{"".join(plots)}
</body></html>
"""
