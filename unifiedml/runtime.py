"""The write-once training contract: one script, every backend.

A training script asks this module where things are instead of hard-coding a
platform's paths::

    from unifiedml import runtime

    hp = runtime.hyperparameters()          # {"epochs": 10, ...}
    train_csv = runtime.data_dir("train")   # a directory holding the channel's files
    model.export(runtime.model_dir())       # a SavedModel goes here

Each function reads, in order, the local backend's ``UML_*`` variables,
SageMaker's ``SM_*`` (script mode), Vertex AI's ``AIP_*`` and Azure ML's
``AZURE_ML_*`` bindings, so the same script runs unchanged everywhere. The
local backend sets all of them, so a script written for SageMaker script mode
also runs locally.

This module is standard-library only and never imports the rest of
unifiedml: cloud providers ship it inside the training source archive, where
unifiedml itself is not installed.

Platform variables used (public documentation of each platform):

* SageMaker: ``SM_MODEL_DIR``, ``SM_OUTPUT_DATA_DIR``, ``SM_CHANNEL_<NAME>``,
  ``SM_HPS`` (JSON), hyperparameters also passed as ``--key value`` arguments.
* Vertex AI custom training: ``AIP_MODEL_DIR``, ``AIP_CHECKPOINT_DIR``,
  ``AIP_TRAINING_DATA_URI`` / ``AIP_VALIDATION_DATA_URI`` /
  ``AIP_TEST_DATA_URI`` (managed datasets); arguments passed on the command line.
* Azure ML command jobs: inputs and outputs bound as ``AZURE_ML_INPUT_<name>``
  and ``AZURE_ML_OUTPUT_<name>``; unifiedml's Azure provider names its
  outputs ``model_dir`` and ``output_dir``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "channels",
    "data_dir",
    "hyperparameters",
    "model_dir",
    "output_dir",
    "platform",
    "savedmodel_dir",
]

# Vertex AI exposes managed-dataset splits, not named channels.
_VERTEX_SPLITS = {
    "train": "AIP_TRAINING_DATA_URI",
    "training": "AIP_TRAINING_DATA_URI",
    "validation": "AIP_VALIDATION_DATA_URI",
    "eval": "AIP_VALIDATION_DATA_URI",
    "test": "AIP_TEST_DATA_URI",
}


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def platform(env: Mapping[str, str] | None = None) -> str:
    """Which platform's variables are present: ``local``, ``sagemaker``, ``vertex``, ``azureml`` or ``unknown``."""
    e = _env(env)
    if "UML_MODEL_DIR" in e:
        return "local"
    if "SM_MODEL_DIR" in e or "SM_HPS" in e:
        return "sagemaker"
    if "AIP_MODEL_DIR" in e:
        return "vertex"
    if any(k.startswith("AZURE_ML_OUTPUT_") or k.startswith("AZURE_ML_INPUT_") for k in e):
        return "azureml"
    return "unknown"


def model_dir(env: Mapping[str, str] | None = None) -> str:
    """Where the script must write its model (a SavedModel directory or a URI such as ``gs://...``).

    Raises RuntimeError when no platform variable is set, rather than writing
    somewhere the platform will not pick up.
    """
    e = _env(env)
    for key in ("UML_MODEL_DIR", "SM_MODEL_DIR", "AIP_MODEL_DIR", "AZURE_ML_OUTPUT_model_dir"):
        if e.get(key):
            return e[key]
    raise RuntimeError(
        "no model directory is set: run this script through unifiedml (`unifiedml train ...`), "
        "or set UML_MODEL_DIR to a directory"
    )


def savedmodel_dir(version: int = 1, env: Mapping[str, str] | None = None) -> str:
    """Where to export a TensorFlow SavedModel so the platform's TF serving container finds it.

    SageMaker's TensorFlow Serving container loads numbered version folders
    (``model_dir()/1/saved_model.pb``); Vertex AI's prebuilt TF prediction
    containers, Azure ML and the local backend load the SavedModel at the root
    of ``model_dir()``. The local backend accepts both layouts.
    """
    base = model_dir(env)
    if platform(env) == "sagemaker":
        return base.rstrip("/") + f"/{version}"
    return base


def output_dir(env: Mapping[str, str] | None = None) -> str:
    """Where other outputs go (metrics, plots): kept with the job's artifacts.

    On Vertex AI, which has no separate output location, this is ``output``
    beside the model directory under the job's base output directory.
    """
    e = _env(env)
    for key in ("UML_OUTPUT_DIR", "SM_OUTPUT_DATA_DIR", "AZURE_ML_OUTPUT_output_dir"):
        if e.get(key):
            return e[key]
    if e.get("AIP_MODEL_DIR"):
        base = e["AIP_MODEL_DIR"].rstrip("/")
        return base.rsplit("/", 1)[0] + "/output" if "/" in base else "output"
    raise RuntimeError("no output directory is set: run this script through unifiedml or set UML_OUTPUT_DIR")


def data_dir(channel: str = "train", env: Mapping[str, str] | None = None) -> str:
    """The location of a data channel (a directory, or a URI on Vertex AI managed datasets).

    Raises KeyError naming the channels that are available when ``channel`` is not.
    """
    e = _env(env)
    upper = channel.upper().replace("-", "_")
    for key in (f"UML_CHANNEL_{upper}", f"SM_CHANNEL_{upper}", f"AZURE_ML_INPUT_{channel}"):
        if e.get(key):
            return e[key]
    split = _VERTEX_SPLITS.get(channel.lower())
    if split and e.get(split):
        return e[split]
    raise KeyError(f"no data channel {channel!r}; available: {', '.join(channels(e)) or 'none'}")


def channels(env: Mapping[str, str] | None = None) -> list[str]:
    """Names of the data channels the platform provides."""
    e = _env(env)
    found: set[str] = set()
    for key in e:
        for prefix in ("UML_CHANNEL_", "SM_CHANNEL_"):
            if key.startswith(prefix):
                found.add(key[len(prefix) :].lower())
        if key.startswith("AZURE_ML_INPUT_"):
            found.add(key[len("AZURE_ML_INPUT_") :])
    for name, key in _VERTEX_SPLITS.items():
        if e.get(key) and name in ("train", "validation", "test"):
            found.add(name)
    return sorted(found)


def _coerce(text: str) -> Any:
    """Command-line values arrive as strings: decode JSON literals (numbers, booleans, lists), else keep text."""
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text


def _parse_args(argv: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and len(arg) > 2:
            key, sep, value = arg[2:].partition("=")
            if not sep:
                if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                    value = argv[i + 1]
                    i += 1
                else:
                    value = "true"
            out[key.replace("-", "_")] = _coerce(value)
        i += 1
    return out


def hyperparameters(
    env: Mapping[str, str] | None = None, argv: Sequence[str] | None = None
) -> dict[str, Any]:
    """The job's hyperparameters as a dict of decoded values.

    Merged from ``UML_HYPERPARAMETERS`` / ``SM_HPS`` (JSON objects) and
    ``--key value`` / ``--key=value`` command-line arguments, which win (the
    way Vertex AI and Azure ML pass them). Values that parse as JSON are
    decoded: ``"3"`` -> 3, ``"0.1"`` -> 0.1, ``"true"`` -> True.
    """
    e = _env(env)
    params: dict[str, Any] = {}
    for key in ("SM_HPS", "UML_HYPERPARAMETERS"):
        raw = e.get(key)
        if raw:
            try:
                decoded = json.loads(raw)
            except ValueError as exc:
                raise RuntimeError(f"{key} is not valid JSON: {exc}") from exc
            if isinstance(decoded, dict):
                params.update(
                    {str(k): _coerce(v) if isinstance(v, str) else v for k, v in decoded.items()}
                )
    params.update(_parse_args(sys.argv[1:] if argv is None else argv))
    return params
