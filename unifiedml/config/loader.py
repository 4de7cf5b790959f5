"""Loading ``unifiedml.yaml``: environment overlays, ``${ENV}`` interpolation, validation with line numbers.

Order of work, and why:

1. parse the YAML keeping each node's line (``yaml.compose``) so every error
   can say ``file:line``;
2. reject literal credentials under secret-looking keys in ``providers``
   *before* interpolation (after it, a referenced secret looks literal too);
3. deep-merge ``environments.<env>`` over the base document (``--env prod``);
4. replace ``${VAR}`` and ``${VAR:-default}`` in string values (a missing
   variable without a default is an error naming it);
5. validate with the pydantic models (unknown keys suggest the right one),
   then check cross-references (endpoint -> model, monitor -> endpoint) and
   provider names.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from unifiedml.config.model import ProjectConfig
from unifiedml.errors import ConfigError
from unifiedml.specs import config_error_from

__all__ = ["DEFAULT_FILE", "LoadedConfig", "load_config", "parse_config"]

DEFAULT_FILE = "unifiedml.yaml"

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEY = re.compile(r"(?i)(secret|password|passwd|token|api[_-]?key|access[_-]?key|credential|sas)")
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")


class LoadedConfig:
    """A validated config plus where it came from (for messages and relative paths)."""

    def __init__(self, config: ProjectConfig, *, path: Path | None, env: str | None) -> None:
        self.config = config
        self.path = path
        self.env = env

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file (scripts, data, artifacts) resolve against the file's folder."""
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, value: str) -> str:
        """Resolve a local path relative to the file; URIs pass through unchanged."""
        if re.match(r"^[a-z][a-z0-9+.-]*://", value):
            return value
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (self.base_dir / path).resolve())


def _lines(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each key path in the document to its 1-based line."""
    out = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            out.update({k: v for k, v in _lines(value_node, (*path, key)).items() if k != (*path, key)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_lines(item, (*path, i)))
    return out


def _line_for(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    loc = tuple(p for p in loc if p not in ("function-after", "function-before"))
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None


def _where(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line else source


def _deep_merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = _deep_merge(base.get(key), value) if key in base else value
        return merged
    return overlay


def _interpolate(value: Any, env: Mapping[str, str], path: tuple[Any, ...], on_missing: Any) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            on_missing(name, path)
            return match.group(0)

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, env, (*path, k), on_missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, (*path, i), on_missing) for i, v in enumerate(value)]
    return value


def parse_config(
    text: str,
    *,
    source: str = DEFAULT_FILE,
    env_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProjectConfig:
    """Parse and validate config text. Raises ConfigError naming ``source:line`` and the field path."""
    environ = os.environ if environ is None else environ
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", field=_where(source, line)) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("the file must be a mapping (project:, models:, endpoints: ...)", field=source)
    lines = _lines(node) if node is not None else {}

    for provider, settings in (raw.get("providers") or {}).items():
        for key, item in (settings or {}).items() if isinstance(settings, dict) else []:
            if _SECRET_KEY.search(str(key)) and isinstance(item, str) and not _ENV_REF.match(item.strip()):
                raise ConfigError(
                    "a credential must be given by reference, not written in the file",
                    field=f"{_where(source, _line_for(lines, ('providers', provider, key)))}: "
                    f"providers.{provider}.{key}",
                    hint=f"write '${{{str(key).upper()}}}' and set that environment variable, or use a profile",
                )

    if env_name is not None:
        overlays = raw.get("environments") or {}
        if env_name not in overlays:
            known = ", ".join(sorted(overlays)) or "none defined"
            raise ConfigError(f"unknown environment {env_name!r} (known: {known})", field="--env")
        raw = _deep_merge(raw, overlays[env_name] or {})

    missing: list[tuple[str, tuple[Any, ...]]] = []
    raw = _interpolate(raw, environ, (), lambda name, path: missing.append((name, path)))
    if missing:
        name, path = missing[0]
        raise ConfigError(
            f"the environment variable {name} is not set",
            field=f"{_where(source, _line_for(lines, path))}: {'.'.join(map(str, path))}",
            hint=f"export {name}=..., or write ${{{name}:-default}} in the file",
        )

    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        err = config_error_from(exc, model=ProjectConfig)
        loc = exc.errors()[0]["loc"]
        raise ConfigError(
            err.message.split(": ", 1)[-1] if err.field else err.message,
            field=f"{_where(source, _line_for(lines, loc))}: {err.field}" if err.field else source,
            hint=err.hint,
        ) from exc
    _check_references(config, source, lines)
    if config.budgets:
        from unifiedml.cost.budgets import load_budgets

        load_budgets(config.budgets, where=f"{source}:budgets")
    return config


def _suggest(name: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"defined: {', '.join(sorted(known))}" if known else None


def _check_references(config: ProjectConfig, source: str, lines: Mapping[tuple[Any, ...], int]) -> None:
    from unifiedml.providers.registry import available

    for name, ep in config.endpoints.items():
        if ep.model not in config.models:
            raise ConfigError(
                f"endpoint {name!r} serves model {ep.model!r}, which the file does not define",
                field=f"{_where(source, _line_for(lines, ('endpoints', name, 'model')))}: endpoints.{name}.model",
                hint=_suggest(ep.model, list(config.models)),
            )
    for name, mon in config.monitors.items():
        if mon.endpoint not in config.endpoints:
            raise ConfigError(
                f"monitor {name!r} watches endpoint {mon.endpoint!r}, which the file does not define",
                field=f"{_where(source, _line_for(lines, ('monitors', name, 'endpoint')))}: "
                f"monitors.{name}.endpoint",
                hint=_suggest(mon.endpoint, list(config.endpoints)),
            )
    if config.monitors:
        from pydantic import ValidationError as _VE

        from unifiedml.monitoring.spec import MonitorSpec

        for name, mon in config.monitors.items():
            try:
                MonitorSpec.model_validate(mon.monitor_spec(name, mon.reference))
            except _VE as exc:
                err = config_error_from(exc, model=MonitorSpec)
                raise ConfigError(
                    err.message.split(": ", 1)[-1] if err.field else err.message,
                    field=f"{_where(source, _line_for(lines, ('monitors', name, *exc.errors()[0]['loc'])))}: "
                    f"monitors.{name}"
                    + (f".{err.field}" if err.field else ""),
                    hint=err.hint,
                ) from exc
    valid = available()
    used: list[tuple[tuple[str, ...], str]] = [(("providers", p), p) for p in config.providers]
    used += [(("models", n, "provider"), m.provider) for n, m in config.models.items() if m.provider]
    used += [(("endpoints", n, "provider"), e.provider) for n, e in config.endpoints.items() if e.provider]
    for path, provider in used:
        if provider not in valid:
            raise ConfigError(
                f"unknown provider {provider!r}",
                field=f"{_where(source, _line_for(lines, path))}: {'.'.join(path)}",
                hint=_suggest(provider, valid) or "valid providers: " + ", ".join(valid),
            )
    _check_capabilities(config, source, lines)


def _check_capabilities(config: ProjectConfig, source: str, lines: Mapping[tuple[Any, ...], int]) -> None:
    """An endpoint that asks its provider for what it declares unsupported fails here, naming the line.

    Autoscaling (``autoscaling.max_replicas`` above ``min_replicas``) and a
    traffic split between models; the provider's own reason is the hint. Only
    the provider classes are loaded (no vendor SDK).
    """
    from unifiedml.providers.base import Capability, serving_needs
    from unifiedml.providers.registry import load
    from unifiedml.specs import DeploymentSpec

    keys = {Capability.AUTOSCALING: "autoscaling", Capability.TRAFFIC_SPLIT: "traffic"}
    for name, ep in config.endpoints.items():
        cls = load(config.endpoint_provider(name))
        for capability in serving_needs(DeploymentSpec.model_validate(ep.deployment_spec(name))):
            key = keys[capability]
            if capability not in cls.capabilities:
                raise ConfigError(
                    f"endpoint {name!r} asks {cls.name} for {capability.value}, which it does not support",
                    field=f"{_where(source, _line_for(lines, ('endpoints', name, key)))}: endpoints.{name}.{key}",
                    hint=cls.UNSUPPORTED.get(capability),
                )


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read and validate a config file (default ``./unifiedml.yaml``)."""
    file = Path(path) if path is not None else Path.cwd() / DEFAULT_FILE
    try:
        text = file.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no config file at {file}",
            field="--file",
            hint="create unifiedml.yaml (see docs/config.md) or pass --file PATH",
        ) from exc
    config = parse_config(text, source=str(file.name if file.parent == Path.cwd() else file), env_name=env_name,
                          environ=environ)
    return LoadedConfig(config, path=file.resolve(), env=env_name)
