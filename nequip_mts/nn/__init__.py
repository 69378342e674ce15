"""Torch modules of nequip-mts (packaged into model archives: torch and nequip only)."""

from ._keys import (
    FAST_ENERGY_KEY,
    FAST_FORCES_KEY,
    SLOW_ENERGY_KEY,
    SLOW_FORCES_KEY,
    STIFFNESS_PROBE_KEY,
    STIFFNESS_RESPONSE_KEY,
)
from .multiscale import MultiscaleSum, PruneEdges, ZeroInitEnergyGate

__all__ = [
    "FAST_ENERGY_KEY",
    "FAST_FORCES_KEY",
    "SLOW_ENERGY_KEY",
    "SLOW_FORCES_KEY",
    "STIFFNESS_PROBE_KEY",
    "STIFFNESS_RESPONSE_KEY",
    "MultiscaleSum",
    "PruneEdges",
    "ZeroInitEnergyGate",
]
