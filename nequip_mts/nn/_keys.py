"""Output fields of the multiscale model, registered with nequip's field registry.

Registering them lets nequip's metrics, data statistics and batching treat them
like its own fields (e.g. ``MappedFieldModifier("fast_forces", "forces")``).
"""

from typing import Final

# the submodule, not `nequip.data`: nequip-package follows `from nequip.data import ...` into
# nequip/data/__init__.py, whose ase/torchmetrics/lightning imports make packaging fail
from nequip.data._key_registry import register_fields

FAST_ENERGY_KEY: Final[str] = "fast_total_energy"
FAST_FORCES_KEY: Final[str] = "fast_forces"
SLOW_ENERGY_KEY: Final[str] = "slow_total_energy"
SLOW_FORCES_KEY: Final[str] = "slow_forces"

# distillation labels (per atom, 3-vectors): a random probe direction v (unit-variance
# Gaussian components, dimensionless) and the teacher's force change along it,
# dF/de at x + e v (eV/A^2), i.e. -H v; the fast model is trained to match it
STIFFNESS_PROBE_KEY: Final[str] = "stiffness_probe"
STIFFNESS_RESPONSE_KEY: Final[str] = "stiffness_response"

register_fields(
    graph_fields=[FAST_ENERGY_KEY, SLOW_ENERGY_KEY],
    node_fields=[FAST_FORCES_KEY, SLOW_FORCES_KEY, STIFFNESS_PROBE_KEY, STIFFNESS_RESPONSE_KEY],
)
