"""Vertex AI emulator: the REST API the provider uses, with state, GCS and fault injection. See :mod:`.server`.

Importing this package imports no Google library; :class:`VertexEmulator` does on ``start()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unifiedml.emulators.vertex.server import VertexEmulator
    from unifiedml.emulators.vertex.state import EmulatorConfig, PredictResult

__all__ = ["EmulatorConfig", "PredictResult", "VertexEmulator"]


def __getattr__(name: str) -> Any:
    if name == "VertexEmulator":
        from unifiedml.emulators.vertex.server import VertexEmulator

        return VertexEmulator
    if name in ("EmulatorConfig", "PredictResult"):
        from unifiedml.emulators.vertex import state

        return getattr(state, name)
    raise AttributeError(name)
