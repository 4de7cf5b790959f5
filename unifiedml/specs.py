"""What users ask for, in provider-neutral terms (pydantic v2 models).

Specs are plain data: building one never touches a provider. They reject
unknown fields (a typo such as ``replcas`` is an error, not a silent no-op) and
every validation failure becomes a :class:`~unifiedml.errors.ConfigError`
naming the field path (see :func:`validate_spec`).

Provider-only knobs go in the one escape hatch ``provider_options``, keyed by
provider name: ``spec.provider_options["sagemaker"] = {"VpcConfig": {...}}``.
The shared fields never grow a provider-specific parameter.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from unifiedml.errors import ConfigError

__all__ = [
    "PORTABLE_SIZES",
    "AutoMLSpec",
    "CaptureSpec",
    "DataRef",
    "DeploymentSpec",
    "Resources",
    "TrainingSpec",
    "parse_duration",
    "validate_name",
    "validate_spec",
]

#: Portable sizes: each provider maps them to its own instance/machine types.
PORTABLE_SIZES = ("cpu-small", "cpu-medium", "cpu-large", "gpu-small", "gpu-medium", "gpu-large")
PortableSize = Literal["cpu-small", "cpu-medium", "cpu-large", "gpu-small", "gpu-medium", "gpu-large"]

# The lowest common denominator of the providers' naming rules: SageMaker
# allows 63 alphanumerics and hyphens, Vertex labels need lowercase, Azure ML
# endpoint names must start with a letter. Providers may add stricter limits.
_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def validate_name(value: str, *, field: str = "name") -> str:
    """Check a resource name against the portable naming rule; raises ConfigError naming ``field``."""
    if not _NAME_RE.match(value):
        raise ConfigError(
            f"{value!r} is not a valid name",
            field=field,
            hint="use 1-63 lowercase letters, digits and hyphens, starting with a letter "
            "and not ending with a hyphen (e.g. 'penguins-classifier')",
        )
    return value


def parse_duration(value: Any) -> timedelta:
    """Parse ``90``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"`` or a timedelta into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    raise ValueError(f"{value!r} is not a duration; use seconds or a number with s, m, h, d (e.g. '30m')")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _name_validator(value: str | None) -> str | None:
    if value is None:
        return None
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use 1-63 lowercase letters, digits and hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    def options_for(self, provider: str) -> dict[str, Any]:
        """The escape-hatch options given for ``provider`` (empty when none)."""
        options: dict[str, dict[str, Any]] = getattr(self, "provider_options", {}) or {}
        return dict(options.get(provider, {}))


class Resources(_Spec):
    """Compute for a job or a deployment.

    ``size`` is portable and each provider maps it to its own type;
    ``instance_type`` is provider-native and wins over ``size`` when given.
    ``None`` for both means the provider's default.
    """

    size: PortableSize | None = None
    instance_type: str | None = None
    instance_count: int = Field(1, ge=1, le=1000)
    accelerator_type: str | None = None
    accelerator_count: int = Field(0, ge=0, le=16)

    @property
    def wants_gpu(self) -> bool:
        """True when a GPU size or an accelerator was asked for."""
        return bool(self.accelerator_count) or (self.size or "").startswith("gpu-")


class DataRef(_Spec):
    """Where data lives: a local path or a ``s3://``, ``gs://``, ``azureml://``, ``hf://`` URI."""

    uri: str = Field(min_length=1)
    format: Literal["auto", "csv", "parquet", "jsonl", "tfrecord"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            return {"uri": str(value)}
        return value

    @property
    def scheme(self) -> str:
        """``file`` for local paths, else the URI scheme (``s3``, ``gs`` ...)."""
        match = re.match(r"^([a-z][a-z0-9+.-]*)://", self.uri)
        return match.group(1) if match else "file"

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    def local_path(self) -> Path:
        """The local path (``file://`` stripped). Raises ConfigError for remote URIs."""
        if not self.is_local:
            raise ConfigError(f"{self.uri!r} is not a local path", field="uri")
        return Path(self.uri.removeprefix("file://")).expanduser()

    def resolved_format(self) -> str:
        """The data format, guessed from the file extension when ``format`` is ``auto``."""
        if self.format != "auto":
            return self.format
        suffix = self.uri.rsplit(".", 1)[-1].lower() if "." in self.uri else ""
        return {"csv": "csv", "parquet": "parquet", "pq": "parquet", "jsonl": "jsonl"}.get(suffix, "csv")


HyperValue = str | int | float | bool


class TrainingSpec(_Spec):
    """A custom training job: a script or module written against :mod:`unifiedml.runtime`.

    Exactly one of ``entry_point`` (a script path, relative to ``source_dir``
    when that is given) and ``module`` (run as ``python -m``) is required.
    ``inputs`` maps channel names to data; the script finds each at
    ``runtime.data_dir(channel)``. ``requirements`` is a list of pip
    requirement strings or the path of a requirements file.
    """

    name: str | None = None
    entry_point: str | None = None
    module: str | None = None
    source_dir: str | None = None
    requirements: list[str] | str | None = None
    args: list[str] = Field(default_factory=list)
    hyperparameters: dict[str, HyperValue] = Field(default_factory=dict)
    inputs: dict[str, DataRef] = Field(default_factory=dict)
    environment: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    max_runtime: Duration = timedelta(hours=24)
    spot: bool = False
    framework: Literal["tensorflow"] = "tensorflow"
    framework_version: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    provider_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    _check_name = field_validator("name")(classmethod(lambda cls, v: _name_validator(v)))

    @field_validator("inputs")
    @classmethod
    def _channel_names(cls, value: dict[str, DataRef]) -> dict[str, DataRef]:
        for channel in value:
            if not re.match(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$", channel):
                raise ValueError(
                    f"channel name {channel!r} must start with a letter and hold only letters, "
                    "digits, '_' and '-'"
                )
        return value

    @field_validator("max_runtime")
    @classmethod
    def _positive_runtime(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("max_runtime must be positive")
        return value

    @model_validator(mode="after")
    def _one_entry(self) -> TrainingSpec:
        if bool(self.entry_point) == bool(self.module):
            raise ValueError("give exactly one of entry_point (a script) or module (python -m)")
        return self

    @classmethod
    def tabular(
        cls,
        *,
        data: str | DataRef,
        target: str,
        task: Literal["classification", "regression"] | None = None,
        epochs: int = 30,
        name: str | None = None,
        validation_split: float = 0.2,
        resources: Resources | None = None,
        tags: dict[str, str] | None = None,
    ) -> TrainingSpec:
        """A spec for the built-in tabular trainer (:mod:`unifiedml.trainers.tabular`).

        CSV or Parquet plus a target column -> a Keras model with preprocessing
        layers, exported as a SavedModel whose signature takes raw columns.
        ``task=None`` infers classification for non-numeric or few-valued targets.
        """
        hps: dict[str, HyperValue] = {"target": target, "epochs": epochs, "validation_split": validation_split}
        if task:
            hps["task"] = task
        return cls(
            name=name,
            module="unifiedml.trainers.tabular",
            inputs={"train": DataRef.model_validate(data)},
            hyperparameters=hps,
            resources=resources or Resources(),
            tags=tags or {},
        )


class AutoMLSpec(_Spec):
    """A tabular AutoML search: data plus a target column, within a time budget."""

    name: str | None = None
    data: DataRef
    target: str = Field(min_length=1)
    task: Literal["classification", "regression"]
    objective: str | None = None
    time_budget: Duration = timedelta(hours=1)
    max_candidates: int | None = Field(None, ge=1)
    resources: Resources = Field(default_factory=Resources)
    tags: dict[str, str] = Field(default_factory=dict)
    provider_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    _check_name = field_validator("name")(classmethod(lambda cls, v: _name_validator(v)))


class CaptureSpec(_Spec):
    """Request/response capture for drift checks. ``destination`` defaults per provider."""

    enabled: bool = True
    sample_percent: int = Field(100, ge=1, le=100)
    destination: str | None = None


class DeploymentSpec(_Spec):
    """How to serve a model.

    ``auth_token`` (local backend) requires ``Authorization: Bearer <token>`` on
    every request; it is a secret and is never stored or logged. ``host``
    defaults to loopback: binding elsewhere is an explicit choice.
    """

    name: str | None = None
    resources: Resources = Field(default_factory=Resources)
    min_replicas: int = Field(1, ge=0, le=1000)
    max_replicas: int | None = Field(None, ge=1, le=1000)
    traffic: dict[str, int] | None = None
    capture: CaptureSpec = Field(default_factory=CaptureSpec)
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535)
    auth_token: SecretStr | None = None
    max_batch_size: int = Field(64, ge=1, le=4096)
    batch_timeout_ms: float = Field(2.0, ge=0, le=1000)
    tags: dict[str, str] = Field(default_factory=dict)
    provider_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    _check_name = field_validator("name")(classmethod(lambda cls, v: _name_validator(v)))

    @model_validator(mode="after")
    def _replicas(self) -> DeploymentSpec:
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be >= min_replicas")
        if self.traffic is not None:
            if any(v < 0 or v > 100 for v in self.traffic.values()) or sum(self.traffic.values()) != 100:
                raise ValueError("traffic percentages must each be 0-100 and add up to 100")
        return self


SpecT = TypeVar("SpecT", bound=BaseModel)


def validate_spec(model: type[SpecT], data: Any, *, where: str | None = None) -> SpecT:
    """Validate ``data`` into ``model``; the first problem becomes a ConfigError naming the field path.

    ``where`` prefixes the path (e.g. ``endpoints.web``) when the spec sits
    inside a larger document.
    """
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, where=where, model=model) from exc


def config_error_from(
    exc: ValidationError, *, where: str | None = None, model: type[BaseModel] | None = None
) -> ConfigError:
    """Turn pydantic's error into one ConfigError: the field path, what is wrong and the fix."""
    errors = exc.errors()
    first = errors[0]
    path = ".".join(str(p) for p in first["loc"] if p not in ("function-after", "function-before"))
    if where:
        # "file.yaml:" joins as "file.yaml:field"; "endpoints.web" as "endpoints.web.field"
        sep = "" if where.endswith(":") else "."
        path = f"{where}{sep}{path}" if path else where.rstrip(":")
    message = first["msg"].removeprefix("Value error, ")
    hint = None
    if first["type"] == "extra_forbidden":
        message = "unknown field"
        hint = _suggest_field(model or _MODELS_BY_TITLE.get(exc.title), first["loc"])
    elif first["type"] == "missing":
        message = "this field is required"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return ConfigError(message + more, field=path or None, hint=hint)


def _suggest_field(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> str | None:
    """Find the model that owns the unknown key (walking nested specs) and suggest the closest field."""
    import difflib
    import typing

    model: Any = root
    for part in loc[:-1]:
        if model is None:
            return None
        if isinstance(part, str) and part in getattr(model, "model_fields", {}):
            annotation = model.model_fields[part].annotation
            candidates = [annotation, *typing.get_args(annotation)]
            model = next(
                (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)),
                # dict[str, Model]: the next loc part is the key, then the model
                next(
                    (
                        a
                        for c in candidates
                        for a in typing.get_args(c)
                        if isinstance(a, type) and issubclass(a, BaseModel)
                    ),
                    None,
                ),
            )
    if model is None or not hasattr(model, "model_fields"):
        return None
    key = str(loc[-1])
    matches = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
    if matches:
        return f"did you mean {matches[0]!r}?"
    return "valid fields: " + ", ".join(sorted(model.model_fields))


_MODELS_BY_TITLE: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (Resources, DataRef, TrainingSpec, AutoMLSpec, CaptureSpec, DeploymentSpec)
}
