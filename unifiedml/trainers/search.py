"""Local AutoML: a small, stated search over the built-in tabular trainer, best candidate exported.

Run as a training module (the local backend's ``automl()`` does), so it gets
the job supervisor's logs, stop, time limit and model registration. It reads
the table once, infers the schema like :mod:`unifiedml.trainers.tabular`, and
fits candidates from :data:`SEARCH_SPACE` in order, every one on the same
training rows and judged on the same validation rows (``validation_split``,
``seed``). It stops at ``max_candidates`` or when the next candidate would
likely overrun ``time_budget_s`` (judged by the slowest candidate so far; the
first always runs). The best candidate by the objective is exported as the
job's SavedModel (same signature as the tabular trainer's: raw columns in,
``probabilities``/``label`` or ``value`` out).

This is a grid over the network's width and learning rate, not a model-family
search: it exists so the local backend can run the same AutoML call as the
clouds, on data that fits in memory.

Outputs: ``output_dir()/leaderboard.json`` (candidates, best first: name,
hyperparameters, validation metrics, objective value, seconds) and
``output_dir()/metrics.json`` (the best candidate's metrics, plus
``objective_value`` and ``candidates``).

Objectives (validation metric, direction): classification ``log_loss``
(default: ``val_loss``, min) or ``accuracy`` (``val_accuracy``, max);
regression ``mse`` (default: ``val_loss``, min), ``rmse`` (its square root,
min) or ``mae`` (``val_mae``, min).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from unifiedml import runtime

logger = logging.getLogger("unifiedml.trainers.search")

__all__ = ["OBJECTIVES", "SEARCH_SPACE", "main"]

#: Candidates in the order they are tried: the tabular trainer's defaults first, then wider/narrower
#: networks with slower/faster learning rates.
SEARCH_SPACE: list[dict[str, float | int]] = [
    {"hidden_units": 32, "learning_rate": 0.01},
    {"hidden_units": 64, "learning_rate": 0.003},
    {"hidden_units": 16, "learning_rate": 0.03},
    {"hidden_units": 128, "learning_rate": 0.001},
    {"hidden_units": 64, "learning_rate": 0.01},
    {"hidden_units": 32, "learning_rate": 0.003},
    {"hidden_units": 128, "learning_rate": 0.003},
    {"hidden_units": 16, "learning_rate": 0.01},
]

#: objective -> (Keras history key, direction: -1 minimise / +1 maximise, transform of the value)
OBJECTIVES: dict[str, dict[str, tuple[str, int, str]]] = {
    "classification": {"log_loss": ("val_loss", -1, "identity"), "accuracy": ("val_accuracy", 1, "identity")},
    "regression": {"mse": ("val_loss", -1, "identity"), "rmse": ("val_loss", -1, "sqrt"),
                   "mae": ("val_mae", -1, "identity")},
}
DEFAULT_OBJECTIVE = {"classification": "log_loss", "regression": "mse"}


def objective_value(metrics: dict[str, float], task: str, objective: str) -> float:
    """The objective's value from a candidate's metrics (NaN when the metric is missing)."""
    key, _, transform = OBJECTIVES[task][objective]
    value = float(metrics.get(key, math.nan))
    return math.sqrt(value) if transform == "sqrt" and value >= 0 else value


def _better(a: float, b: float, direction: int) -> bool:
    """Whether ``a`` beats ``b`` (NaN never wins)."""
    if math.isnan(a):
        return False
    return math.isnan(b) or (a < b if direction < 0 else a > b)


def main(argv: list[str] | None = None) -> int:
    """Entry point: search, export the best, write the leaderboard. Returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from unifiedml.trainers import tabular

    hp = runtime.hyperparameters(argv=argv)
    loaded = tabular.load_for_job(hp)
    if loaded is None:
        return 2
    table, schema = loaded
    objective = str(hp.get("objective") or DEFAULT_OBJECTIVE[schema.task])
    if objective not in OBJECTIVES[schema.task]:
        logger.error("%r is not a local %s objective: one of %s", objective, schema.task,
                     ", ".join(sorted(OBJECTIVES[schema.task])))
        return 2
    _, direction, _ = OBJECTIVES[schema.task][objective]
    budget = float(hp.get("time_budget_s", 3600))
    limit = min(int(hp.get("max_candidates") or len(SEARCH_SPACE)), len(SEARCH_SPACE))
    base = {"epochs": int(hp.get("epochs", 30)), "batch_size": int(hp.get("batch_size", 32)),
            "validation_split": float(hp.get("validation_split", 0.2)), "seed": int(hp.get("seed", 7))}
    if base["validation_split"] <= 0:
        logger.error("validation_split must be above 0: candidates are compared on the validation rows")
        return 2
    logger.info("searching up to %d candidates for a %s model (%s), %.0f s budget, on %d rows",
                limit, schema.task, objective, budget, table.num_rows)

    started = time.monotonic()
    slowest = 0.0
    board: list[dict[str, Any]] = []
    best_model: Any = None
    best_value = math.nan
    for i, params in enumerate(SEARCH_SPACE[:limit], start=1):
        elapsed = time.monotonic() - started
        if board and elapsed + slowest > budget:
            logger.info("stopping after %d candidates: the next would likely overrun the budget", len(board))
            break
        t0 = time.monotonic()
        model, metrics = tabular.fit(table, schema, hp={**base, **params})
        seconds = time.monotonic() - t0
        slowest = max(slowest, seconds)
        value = objective_value(metrics, schema.task, objective)
        name = f"candidate-{i:02d}"
        board.append({"name": name, "hyperparameters": {**base, **params}, "metrics": metrics,
                      "objective_value": value, "seconds": round(seconds, 2)})
        logger.info("%s %s: %s = %.6g (%.1f s)", name, params, objective, value, seconds)
        if best_model is None or _better(value, best_value, direction):
            best_model, best_value = model, value

    board.sort(key=lambda c: (math.isnan(c["objective_value"]), -direction * c["objective_value"]))
    best = board[0]
    tabular.export(best_model, schema, model_dir=runtime.savedmodel_dir(), metrics=best["metrics"])
    summary = {**best["metrics"], "objective_value": best["objective_value"], "candidates": len(board)}
    try:
        out = runtime.output_dir()
        os.makedirs(out, exist_ok=True)
        Path(out, "leaderboard.json").write_text(json.dumps(
            {"task": schema.task, "objective": objective, "candidates": board}, indent=2))
        Path(out, "metrics.json").write_text(json.dumps(summary, indent=2))
    except RuntimeError:
        pass
    logger.info("best: %s (%s = %.6g) of %d candidates", best["name"], objective, best["objective_value"],
                len(board))
    return 0


if __name__ == "__main__":
    sys.exit(main())
