"""Multiple-time-step molecular dynamics in ASE.

Integrators follow :class:`ase.md.md.MolecularDynamics`; ``atoms.calc`` is an
:class:`MTSCalculator` that gives the fast and slow forces separately::

    from ase import units
    from nequip_mts.md import MTSCalculator, LangevinRESPA

    atoms.calc = MTSCalculator.from_deployed("deployed/")
    dyn = LangevinRESPA(atoms, 2 * units.fs, inner_steps=4, temperature_K=300,
                        friction=0.01 / units.fs, rng=0, logfile="-")
    dyn.run(1000)

This package runs deployed models or any ASE calculator; it never imports training code.
"""

from nequip_mts.md.bussi import BussiRESPA
from nequip_mts.md.langevin import LangevinRESPA
from nequip_mts.md.logger import MTSLogger
from nequip_mts.md.mts import MTSDynamics
from nequip_mts.md.providers import MTSCalculator
from nequip_mts.md.respa import RESPA
from nequip_mts.md.safety import MDInstabilityError, StabilityGuard
from nequip_mts.md.settings import MDSettings
from nequip_mts.md.topology import TopologyWatch

__all__ = [
    "BussiRESPA",
    "LangevinRESPA",
    "MDInstabilityError",
    "MDSettings",
    "MTSCalculator",
    "MTSDynamics",
    "MTSLogger",
    "RESPA",
    "StabilityGuard",
    "TopologyWatch",
]
