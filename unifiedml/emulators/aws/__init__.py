"""AWS emulator: moto's server plus the SageMaker gaps it lacks. See :mod:`.server`.

Importing this package does not import moto; :class:`AwsEmulator` does on ``start()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unifiedml.emulators.aws.server import AwsEmulator
    from unifiedml.emulators.aws.state import EmulatorConfig, InvokeResult

__all__ = ["AwsEmulator", "EmulatorConfig", "InvokeResult"]


def __getattr__(name: str) -> Any:
    if name == "AwsEmulator":
        from unifiedml.emulators.aws.server import AwsEmulator

        return AwsEmulator
    if name in ("EmulatorConfig", "InvokeResult"):
        from unifiedml.emulators.aws import state

        return getattr(state, name)
    raise AttributeError(name)
