"""Prebuilt container URIs, machine types and accelerators for Vertex AI, with their public sources.

* Training images: "Prebuilt containers for custom training"
  (https://cloud.google.com/vertex-ai/docs/training/pre-built-containers):
  ``{us|europe|asia}-docker.pkg.dev/vertex-ai/training/tf-{cpu|gpu}.2-14.py310:latest``.
* Prediction images: "Prebuilt containers for inference"
  (https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers), also listed in the
  installed ``google.cloud.aiplatform.constants.prediction``:
  ``{us|europe|asia}-docker.pkg.dev/vertex-ai/prediction/tf2-{cpu|gpu}.2-14:latest``. The page says
  only the ``latest`` tag is supported.
* Machine types: the families of "Configure compute resources for custom training"
  (https://cloud.google.com/vertex-ai/docs/training/configure-compute); checked by pattern, so a
  typo such as ``n1-standrd-4`` fails before anything is created, while a new size of a known
  family passes. ``n1-standard-4`` is the aiplatform SDK's default worker machine.
* Accelerators: the ``AcceleratorType`` enum of the installed ``google.cloud.aiplatform_v1``.
"""

from __future__ import annotations

import re

from unifiedml.errors import ConfigError

__all__ = [
    "ACCELERATORS",
    "PORTABLE",
    "check_accelerator",
    "check_machine_type",
    "prediction_image",
    "training_image",
]

#: AcceleratorType names of google.cloud.aiplatform_v1 (2.7.0), minus UNSPECIFIED.
ACCELERATORS = frozenset(
    {
        "NVIDIA_TESLA_K80", "NVIDIA_TESLA_P100", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_T4",
        "NVIDIA_TESLA_A100", "NVIDIA_A100_80GB", "NVIDIA_L4", "NVIDIA_H100_80GB", "NVIDIA_H100_MEGA_80GB",
        "NVIDIA_H200_141GB", "NVIDIA_B200", "NVIDIA_GB200", "NVIDIA_RTX_PRO_6000",
        "TPU_V2", "TPU_V3", "TPU_V4_POD", "TPU_V5_LITEPOD",
    }
)
_MACHINE = re.compile(
    r"^(?:(?:n1|n2|n2d|e2|c2|c2d|c3|m1|m2|g2)-(?:standard|highmem|highcpu|ultramem|megamem)-\d+"
    r"|a2-(?:highgpu|ultragpu|megagpu)-\d+g|a3-(?:highgpu|megagpu|ultragpu|edgegpu)-\d+g"
    r"|ct5lp-hightpu-\d+t|cloud-tpu)$"
)
#: Portable size -> (machine type, accelerator type, accelerator count).
PORTABLE: dict[str, tuple[str, str | None, int]] = {
    "cpu-small": ("n1-standard-4", None, 0),
    "cpu-medium": ("n1-standard-8", None, 0),
    "cpu-large": ("n1-standard-16", None, 0),
    "gpu-small": ("n1-standard-8", "NVIDIA_TESLA_T4", 1),
    "gpu-medium": ("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1),
    "gpu-large": ("a2-highgpu-4g", "NVIDIA_TESLA_A100", 4),
}
_TF_TRAINING_VERSIONS = ("2.11", "2.12", "2.13", "2.14")
_TF_PREDICTION_VERSIONS = ("2.11", "2.12", "2.13", "2.14", "2.15")


def _multi_region(region: str) -> str:
    if region.startswith("europe"):
        return "europe"
    if region.startswith(("asia", "australia")):
        return "asia"
    return "us"


def _version(version: str, known: tuple[str, ...], *, field: str) -> str:
    if version not in known:
        raise ConfigError(
            f"no prebuilt Vertex AI TensorFlow image for version {version!r}", field=field, provider="vertex",
            hint="one of " + ", ".join(known) + " (or give the image URI explicitly)",
        )
    return version.replace(".", "-")


def training_image(region: str, version: str, *, gpu: bool) -> str:
    """The prebuilt TensorFlow training image nearest ``region``."""
    tag = _version(version, _TF_TRAINING_VERSIONS, field="framework_version")
    kind = "gpu" if gpu else "cpu"
    return f"{_multi_region(region)}-docker.pkg.dev/vertex-ai/training/tf-{kind}.{tag}.py310:latest"


def prediction_image(region: str, version: str, *, gpu: bool) -> str:
    """The prebuilt TensorFlow prediction image nearest ``region``."""
    tag = _version(version, _TF_PREDICTION_VERSIONS, field="framework_version")
    kind = "gpu" if gpu else "cpu"
    return f"{_multi_region(region)}-docker.pkg.dev/vertex-ai/prediction/tf2-{kind}.{tag}:latest"


def check_machine_type(machine_type: str, *, field: str) -> str:
    if not _MACHINE.match(machine_type):
        raise ConfigError(
            f"{machine_type!r} is not a Vertex AI machine type", field=field, provider="vertex",
            hint="e.g. n1-standard-4, e2-standard-8, a2-highgpu-1g; or a portable size (cpu-small ... gpu-large)",
        )
    return machine_type


def check_accelerator(accelerator: str, *, field: str) -> str:
    if accelerator not in ACCELERATORS:
        raise ConfigError(
            f"{accelerator!r} is not a Vertex AI accelerator type", field=field, provider="vertex",
            hint="one of " + ", ".join(sorted(ACCELERATORS)),
        )
    return accelerator


def machine_for(
    size: str | None, machine_type: str | None, accelerator_type: str | None, accelerator_count: int,
    *, default: str, field: str,
) -> tuple[str, str | None, int]:
    """(machine type, accelerator, count) from a portable size or explicit values; ConfigError naming ``field``."""
    if machine_type:
        machine = check_machine_type(machine_type, field=f"{field}.instance_type")
        accel, count = None, 0
    elif size:
        machine, accel, count = PORTABLE[size]
    else:
        machine, accel, count = default, None, 0
    if accelerator_type:
        accel = check_accelerator(accelerator_type, field=f"{field}.accelerator_type")
        count = accelerator_count or max(count, 1)
    elif accelerator_count and not accel:
        raise ConfigError("give accelerator_type with accelerator_count", field=f"{field}.accelerator_type",
                          provider="vertex")
    elif accelerator_count:
        count = accelerator_count
    return machine, accel, count
