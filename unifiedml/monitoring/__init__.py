"""Drift monitoring: one engine with the same meaning on every provider.

``check(reference, current, ...)`` compares two datasets feature by feature
and returns a typed :class:`DriftReport`; ``build_sketch`` reduces reference
data once; ``MonitorSpec`` + ``monitor()`` watch an endpoint's captured
traffic (once, or on a cron schedule run by ``unifiedml scheduler``). See
docs/drift.md for methods, defaults, exactness and their sources.

Importing this package loads NumPy and pyarrow; ``import unifiedml`` does not import it.
"""

from unifiedml.monitoring.engine import check
from unifiedml.monitoring.methods import DEFAULT_THRESHOLDS, Method
from unifiedml.monitoring.readers import CaptureReader, get_reader, register_reader
from unifiedml.monitoring.report import DriftReport, FeatureDrift
from unifiedml.monitoring.sketch import ReferenceSketch
from unifiedml.monitoring.sketching import build_sketch
from unifiedml.monitoring.spec import EndpointMonitor, MonitorSpec, monitor, run_monitor

__all__ = [
    "DEFAULT_THRESHOLDS",
    "CaptureReader",
    "DriftReport",
    "EndpointMonitor",
    "FeatureDrift",
    "Method",
    "MonitorSpec",
    "ReferenceSketch",
    "build_sketch",
    "check",
    "get_reader",
    "monitor",
    "register_reader",
    "run_monitor",
]
