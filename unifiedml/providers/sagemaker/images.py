"""Instance types and TensorFlow container images.

**Instance types** are validated against botocore's service model (the enums
``TrainingInstanceType`` and ``ProductionVariantInstanceType``): it is the
authoritative list of what the API accepts, shipped with the installed SDK.

**Images**: when the optional ``sagemaker`` (3.x) package is installed,
``sagemaker.core.image_uris.retrieve`` resolves the framework image offline.
That is the only thing unifiedml would use it for, so it is not a dependency:
without it a built-in table gives the same URIs for the versions listed below.
Source of the table: the SageMaker Python SDK's
``src/sagemaker/image_uri_config/tensorflow.json`` (registries per region,
repositories ``tensorflow-training`` / ``tensorflow-inference``, version
aliases) and AWS Deep Learning Containers' ``available_images.md`` (tag format
``<version>-<cpu|gpu>-<py>`` for training, ``<version>-<cpu|gpu>`` for
inference). Any other version: pass ``training_image`` / ``serving_image``.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

from unifiedml.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["PORTABLE", "check_instance_type", "instance_for", "is_gpu", "tensorflow_image"]

#: Portable size -> (training instance, serving instance). Our choice: the smallest current
#: general-purpose / GPU types SageMaker offers for both (see the enums in botocore's model).
PORTABLE: dict[str, tuple[str, str]] = {
    "cpu-small": ("ml.m5.large", "ml.m5.large"),
    "cpu-medium": ("ml.m5.xlarge", "ml.m5.xlarge"),
    "cpu-large": ("ml.m5.4xlarge", "ml.m5.4xlarge"),
    "gpu-small": ("ml.g4dn.xlarge", "ml.g4dn.xlarge"),
    "gpu-medium": ("ml.g5.2xlarge", "ml.g5.2xlarge"),
    "gpu-large": ("ml.p3.8xlarge", "ml.p3.8xlarge"),
}

#: Deep Learning Containers registry account per region (tensorflow.json, TF 2.x entries).
_REGISTRIES = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-northeast-1": "763104351884",
    "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884",
    "ap-south-2": "772153158452",
    "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ca-central-1": "763104351884",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-central-1": "763104351884",
    "eu-central-2": "380420809688",
    "eu-north-1": "763104351884",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-west-1": "763104351884",
    "eu-west-2": "763104351884",
    "eu-west-3": "763104351884",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "sa-east-1": "763104351884",
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
    "us-west-1": "763104351884",
    "us-west-2": "763104351884",
}
#: version alias -> (training full version, py version, inference full version), from tensorflow.json.
_VERSIONS = {
    "2.11": ("2.11.0", "py39", "2.11.1"),
    "2.12": ("2.12.0", "py310", "2.12.1"),
}


@cache
def _enum(shape: str) -> frozenset[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for(shape).enum or [])


def check_instance_type(value: str, *, scope: str, field: str) -> str:
    """Raise ConfigError naming ``field`` unless SageMaker accepts ``value`` for ``scope``."""
    valid = _enum("TrainingInstanceType" if scope == "training" else "ProductionVariantInstanceType")
    if value not in valid:
        import difflib

        close = difflib.get_close_matches(value, sorted(valid), n=3)
        raise ConfigError(
            f"{value!r} is not a SageMaker {scope} instance type",
            field=field,
            provider="sagemaker",
            hint=("did you mean " + ", ".join(close) + "?")
            if close
            else "see the SageMaker pricing page for types",
        )
    return value


def instance_for(size: str | None, instance_type: str | None, *, scope: str, default: str, field: str) -> str:
    """The native instance type: explicit type > portable size > the provider default; validated."""
    if instance_type:
        return check_instance_type(instance_type, scope=scope, field=f"{field}.instance_type")
    if size:
        pair = PORTABLE[size]
        return pair[0] if scope == "training" else pair[1]
    return check_instance_type(default, scope=scope, field=field)


def is_gpu(instance_type: str) -> bool:
    family = instance_type.split(".")[1] if instance_type.count(".") >= 2 else ""
    return family.startswith(("p", "g"))


def tensorflow_image(*, region: str, version: str, scope: str, instance_type: str) -> str:
    """The TensorFlow DLC image URI for ``scope`` (``training`` or ``inference``)."""
    processor = "gpu" if is_gpu(instance_type) else "cpu"
    try:
        image_uris = importlib.import_module("sagemaker.core.image_uris")
    except ImportError:
        image_uris = None
    if image_uris is not None:
        try:
            row = _VERSIONS.get(version)
            return str(
                image_uris.retrieve(
                    "tensorflow",
                    region,
                    version=version,
                    py_version=row[1] if row else None,
                    instance_type=instance_type,
                    image_scope=scope,
                )
            )
        except Exception as exc:  # its own validation error: fall back to the table, say so
            logger.debug("sagemaker.core.image_uris could not resolve %s %s: %s", version, scope, exc)
    if version not in _VERSIONS:
        raise ConfigError(
            f"no built-in TensorFlow image for version {version!r}",
            field="framework_version",
            provider="sagemaker",
            hint=f"use one of {sorted(_VERSIONS)}, install the optional 'sagemaker' package, or set "
            "the provider setting training_image / serving_image",
        )
    account = _REGISTRIES.get(region)
    if account is None:
        raise ConfigError(
            f"no TensorFlow image registry known for region {region!r}",
            field="region",
            provider="sagemaker",
            hint="set training_image / serving_image explicitly",
        )
    train_version, py, serve_version = _VERSIONS[version]
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    if scope == "training":
        return f"{account}.dkr.ecr.{region}.{domain}/tensorflow-training:{train_version}-{processor}-{py}"
    return f"{account}.dkr.ecr.{region}.{domain}/tensorflow-inference:{serve_version}-{processor}"
