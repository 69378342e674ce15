"""Model builders of nequip-mts, reached from configs by ``_target_``."""

from .multiscale import (
    FAST_KEY,
    SLOW_KEY,
    SUM_KEY,
    MultiscaleConfigError,
    MultiscaleGraphModel,
    MultiscaleModel,
)

__all__ = [
    "MultiscaleModel",
    "MultiscaleGraphModel",
    "MultiscaleConfigError",
    "SUM_KEY",
    "FAST_KEY",
    "SLOW_KEY",
]
