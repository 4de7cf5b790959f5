"""``unifiedml.yaml``: the config-driven deploy file (models, endpoints, monitors, budgets)."""

from unifiedml.config.loader import DEFAULT_FILE, LoadedConfig, load_config, parse_config
from unifiedml.config.model import EndpointConfig, ModelConfig, MonitorConfig, ProjectConfig

__all__ = [
    "DEFAULT_FILE",
    "EndpointConfig",
    "LoadedConfig",
    "ModelConfig",
    "MonitorConfig",
    "ProjectConfig",
    "load_config",
    "parse_config",
]


def json_schema() -> dict:
    """The JSON Schema of the file, for editors (exported to docs/unifiedml.schema.json)."""
    schema = ProjectConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "unifiedml.yaml"
    return schema
