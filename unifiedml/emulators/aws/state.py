"""What the AWS emulator knows beyond moto: its knobs, its counters and its scripted answers.

One :class:`EmulatorState` per server process (the moto patches in
:mod:`.patches` read it through :func:`current`). Everything here is guarded by
one lock because the werkzeug server answers requests on many threads.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from unifiedml.emulators.faults import Settings

__all__ = ["EmulatorConfig", "EmulatorState", "InvokeResult", "current", "install"]


@dataclass
class EmulatorConfig(Settings):
    """Knobs of the emulator. Delays are seconds of simulated cloud time, measured on the wall clock.

    * ``training_delay``: the least time a training job stays ``InProgress``.
    * ``run_training``: really run the uploaded entry point with SageMaker's
      ``SM_*`` variables and upload its ``model.tar.gz`` (else a placeholder artifact).
    * ``automl_delay``: how long an AutoML job stays ``InProgress``.
    * ``endpoint_delay``: how long an endpoint stays ``Creating`` / ``Updating``.
    * ``serve_models``: answer ``invoke_endpoint`` with the real SavedModel of the
      endpoint's model (started with unifiedml's local TF Serving-compatible server)
      when its artifact holds one; else a stub answers (one prediction per instance).
    * ``fault_rate``: share of AWS API calls answered with throttling before
      they reach moto; ``error_rate``: share answered HTTP 500 before;
      ``error_after_rate``: share *executed* and then answered HTTP 500 (the
      response is lost; a retried create must find what the first one made).
    * ``monitoring_interval``: seconds between synthetic monitoring executions.
    * ``latency``: seconds added to every AWS API call (a far-away region; used by
      the apply benchmark to show independent deployments overlap).
    """

    training_delay: float = 0.5
    run_training: bool = False
    automl_delay: float = 0.5
    endpoint_delay: float = 0.2
    serve_models: bool = False
    fault_rate: float = 0.0
    error_rate: float = 0.0
    error_after_rate: float = 0.0
    fault_seed: int = 1234
    monitoring_interval: float = 1.0
    latency: float = 0.0
    python: str | None = None


@dataclass
class InvokeResult:
    """A scripted ``invoke_endpoint`` answer. ``status`` other than 200 becomes a ModelError."""

    body: Any
    status: int = 200
    content_type: str = "application/json"


@dataclass
class EmulatorState:
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    lock: threading.RLock = field(default_factory=threading.RLock)
    calls: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    #: (kind, name) -> successful creates, to prove that no resource is created twice.
    creates: Counter[tuple[str, str]] = field(default_factory=Counter)
    scripted: dict[str, list[InvokeResult]] = field(default_factory=dict)
    prices: dict[tuple[str, str], float] = field(default_factory=dict)
    monitoring_schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(1234))

    def reset(self) -> None:
        """Forget everything but the config (moto's own state is reset through /moto-api/reset)."""
        with self.lock:
            for worker in list(self.workers.values()):
                stop = getattr(worker, "stop", None)
                if stop is not None:
                    stop()
            self.workers.clear()
            self.calls.clear()
            self.faults.clear()
            self.creates.clear()
            self.scripted.clear()
            self.monitoring_schedules.clear()
            self.rng = random.Random(self.config.fault_seed)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "total_calls": sum(self.calls.values()),
                "faults": dict(self.faults),
                "creates": {f"{k}/{n}": c for (k, n), c in self.creates.items()},
            }


_STATE: EmulatorState | None = None


def install(state: EmulatorState) -> None:
    """Make ``state`` the one the moto patches of this process read."""
    global _STATE
    _STATE = state


def current() -> EmulatorState:
    if _STATE is None:
        raise RuntimeError("the AWS emulator is not started in this process")
    return _STATE
