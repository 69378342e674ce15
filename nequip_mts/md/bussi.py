"""r-RESPA with Bussi stochastic velocity rescaling at the outer level."""

from __future__ import annotations

import math

import numpy as np
from ase import units

from nequip_mts.md.mts import check_thermostat_value
from nequip_mts.md.respa import RESPA


class BussiRESPA(RESPA):
    """NVT molecular dynamics: r-RESPA with the Bussi-Donadio-Parrinello thermostat.

    Each outer step is a thermostat half step (``timestep / 2``), an NVE r-RESPA
    step and another thermostat half step. The thermostat rescales all momenta
    by a stochastic factor (Bussi, Donadio and Parrinello, J. Chem. Phys. 126,
    014101 (2007)) and acts only at the outer level, so inner steps stay plain
    velocity Verlet. The kinetic energy it adds is accumulated in
    ``transferred_energy``, and :meth:`get_conserved_energy` is the effective
    energy of that paper.

    Parameters
    ----------
    atoms : ase.Atoms
        The atoms, with non-zero velocities; ``atoms.calc`` is an MTS force provider.
    timestep : float
        Outer time step in ASE time units.
    inner_steps : int
        Fast steps per outer step, K >= 1.
    temperature_K : float
        Target temperature in K.
    taut : float
        Thermostat time constant in ASE time units (as in ``ase.md.bussi.Bussi``).
    rng : numpy.random.Generator, int or None
        Random number generator, or a seed for ``numpy.random.default_rng``.
    **kwargs
        ``trajectory``, ``logfile``, ``loginterval`` and the rest of
        :class:`ase.md.md.MolecularDynamics`.
    """

    def __init__(self, atoms, timestep, inner_steps, *, temperature_K, taut, rng=None, **kwargs):
        # checked before the base class opens (and, when new, truncates) the trajectory
        temperature_K = check_thermostat_value("temperature_K", temperature_K)
        taut = check_thermostat_value("taut", taut, positive=True, unit="time")
        super().__init__(atoms, timestep, inner_steps, **kwargs)
        self.temperature_K = temperature_K
        self.taut = taut
        self.rng = rng if hasattr(rng, "standard_normal") else np.random.default_rng(rng)
        self.ndof = self.atoms.get_number_of_degrees_of_freedom()
        if self.atoms.get_kinetic_energy() <= 0.0:
            raise ValueError(
                "initial kinetic energy is zero; set velocities (e.g. with "
                "ase.md.velocitydistribution.MaxwellBoltzmannDistribution) before BussiRESPA"
            )

    def todict(self):
        d = super().todict()
        d.update(temperature_K=self.temperature_K, taut=self.taut)
        return d

    def step(self):
        self._rescale(0.5 * self.dt)
        super().step()
        self._rescale(0.5 * self.dt)

    def _rescale(self, dt):
        kinetic = self.atoms.get_kinetic_energy()
        alpha = self._scaling_factor(kinetic, dt)
        self.atoms.set_momenta(alpha * self.atoms.get_momenta())
        self.transferred_energy += (alpha**2 - 1.0) * kinetic

    def _scaling_factor(self, kinetic, dt):
        """Momentum scaling factor of Bussi et al. (2007), Eq. (A7) and its sign rule."""
        c = math.exp(-dt / self.taut)
        target = 0.5 * self.ndof * units.kB * self.temperature_K
        r1 = self.rng.standard_normal()
        rest = self.rng.chisquare(self.ndof - 1) if self.ndof > 1 else 0.0
        # new kinetic energy = (sqrt(c K) + sqrt((1-c) Kt/Nf) R1)^2 + (1-c) Kt/Nf sum_{i>1} R_i^2
        along = math.sqrt(c * kinetic) + math.sqrt((1.0 - c) * target / self.ndof) * r1
        new_kinetic = along**2 + (1.0 - c) * target / self.ndof * rest
        return math.copysign(math.sqrt(new_kinetic / kinetic), along)
