"""What both emulators share: the fault an API call gets, and settings that refuse unknown names.

Each call draws one number from the emulator's seeded generator; the configured
rates are stacked on [0, 1) in a fixed order, so a seed replays the same faults.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["Fault", "Settings", "choose_fault"]


class Fault(StrEnum):
    """``throttle`` and ``error`` answer before the call runs; ``error_after`` runs it, then loses the answer."""

    throttle = "throttle"
    error = "error"
    error_after = "error_after"


def choose_fault(roll: float, *, throttle: float, error: float, error_after: float) -> Fault | None:
    """The fault for a call whose draw is ``roll`` in [0, 1), or None."""
    if roll < throttle:
        return Fault.throttle
    if roll < throttle + error:
        return Fault.error
    if roll < throttle + error + error_after:
        return Fault.error_after
    return None


class Settings:
    """Mixin for an emulator's config dataclass: :meth:`update` sets known fields and refuses typos."""

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise KeyError(f"unknown emulator setting {key!r}")
            setattr(self, key, value)
