"""The drift step of the quickstart: check a local endpoint's recent traffic against its training data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unifiedml.monitoring.report import DriftReport

__all__ = ["quickstart_drift_check"]


def quickstart_drift_check(
    endpoint: str,
    reference: str | os.PathLike[str],
    *,
    since: str = "1h",
    provider: str = "local",
    html_path: str | os.PathLike[str] | None = None,
    columns: list[str] | None = None,
) -> DriftReport:
    """Check ``endpoint``'s captured requests of the last ``since`` against ``reference`` data.

    Blocking; never raises for drift (inspect ``report.drifted``); an endpoint
    without traffic yet gives ``report.status == "no_data"``. Writes the HTML
    report to ``html_path`` when given. The reference sketch is cached under
    the unifiedml home, so calling it again is cheap.
    """
    from unifiedml.monitoring.engine import check
    from unifiedml.monitoring.readers import get_reader, parse_since
    from unifiedml.monitoring.spec import cached_sketch

    sketch = cached_sketch(str(reference), columns=columns, categorical=[], bins=10)
    source = get_reader(provider).read(endpoint, since=parse_since(since))
    report = check(sketch, source, columns=columns)
    if html_path is not None:
        from unifiedml.monitoring.html import render_html

        Path(html_path).write_text(render_html(report, title=f"drift: {endpoint}"), encoding="utf-8")
    return report
