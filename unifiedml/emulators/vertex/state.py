"""What the Vertex emulator holds: its knobs, its resources, its operations and its counters.

Resources are stored as the camelCase JSON dicts the REST API speaks (parsed
and checked through the proto-plus types of ``google.cloud.aiplatform_v1`` on
the way in), keyed by their full resource name. One lock guards everything:
the HTTP server answers on many threads.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from unifiedml.emulators.faults import Settings

__all__ = ["EmulatorConfig", "EmulatorState", "PredictResult"]


@dataclass
class EmulatorConfig(Settings):
    """Knobs of the emulator (seconds are wall-clock seconds).

    * ``job_delay``: the least time a CustomJob stays PENDING/RUNNING.
    * ``run_training``: really run the job's Python package (``python -m`` its
      module with the ``AIP_*`` variables) and upload what it writes to
      ``AIP_MODEL_DIR``; else write a placeholder ``saved_model.pb``.
    * ``automl_delay``: how long a TrainingPipeline runs before it succeeds.
    * ``operation_delay``: how long a long-running operation stays ``done=false``.
    * ``deploy_delay``: how long ``deployModel`` takes (the deployed model
      appears on the endpoint when its operation completes, as on Vertex AI).
    * ``serve_models``: answer ``:predict`` with the deployed model's real
      SavedModel (read from its ``artifactUri`` in the emulated GCS and served
      by unifiedml's local TF Serving-compatible server); else a stub answers
      (the mean of each instance's numbers). Scripted answers come first either way.
    * ``latency``: seconds added to every API call.
    * ``throttle_rate``: share of calls answered 429 RESOURCE_EXHAUSTED before
      they run; ``error_rate``: share answered 503 before; ``error_after_rate``:
      share *executed* and then answered 503 (the response is lost, so a retried
      create must find what the first attempt made).
    """

    job_delay: float = 0.3
    run_training: bool = True
    automl_delay: float = 0.5
    operation_delay: float = 0.0
    deploy_delay: float = 0.3
    serve_models: bool = False
    latency: float = 0.0
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    error_after_rate: float = 0.0
    fault_seed: int = 1234
    python: str | None = None


@dataclass
class PredictResult:
    """A scripted ``:predict`` answer: ``predictions`` for 200, else ``status`` with ``message``."""

    predictions: list[Any] | None = None
    status: int = 200
    message: str = ""


@dataclass
class Operation:
    name: str
    ready_at: float
    response: dict[str, Any] | None = None
    response_type: str | None = None
    error: dict[str, Any] | None = None
    on_done: Any = None  # callable run once when the operation completes
    finished: bool = False


@dataclass
class EmulatorState:
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    lock: threading.RLock = field(default_factory=threading.RLock)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    #: (collection, display name or id) -> successful creates, to prove no resource is made twice.
    creates: Counter[tuple[str, str]] = field(default_factory=Counter)
    scripted: dict[str, list[PredictResult]] = field(default_factory=dict)
    logs: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    predictions_log: list[dict[str, Any]] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(1234))
    ids: Any = field(default_factory=lambda: itertools.count(1000))
    workers: dict[str, threading.Thread] = field(default_factory=dict)

    def next_id(self) -> str:
        """A numeric id, as Vertex AI gives jobs, datasets, operations and deployed models."""
        with self.lock:
            return str(next(self.ids))

    def reset(self) -> None:
        """Forget every resource, operation, counter and script (the config stays)."""
        with self.lock:
            self.resources.clear()
            self.operations.clear()
            self.calls.clear()
            self.faults.clear()
            self.creates.clear()
            self.scripted.clear()
            self.logs.clear()
            self.predictions_log.clear()
            self.rng = random.Random(self.config.fault_seed)

    def log(self, job: str, line: str) -> None:
        with self.lock:
            self.logs.setdefault(job, []).append((time.time(), line))

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "total_calls": sum(self.calls.values()),
                "faults": dict(self.faults),
                "creates": {f"{k}/{n}": c for (k, n), c in self.creates.items()},
            }
