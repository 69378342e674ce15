"""Langevin MTS: BAOAB-RESPA with the stochastic step in the inner loop."""

from __future__ import annotations

import numpy as np
from ase import units

from nequip_mts.md.mts import MTSDynamics, check_thermostat_value


class LangevinRESPA(MTSDynamics):
    """NVT molecular dynamics with BAOAB-RESPA.

    One outer step: a half kick with the slow force; ``inner_steps`` BAOAB steps
    of length ``h = timestep / inner_steps`` with the fast force (half kick, half
    drift, Ornstein-Uhlenbeck step over ``h``, half drift, half kick); a half kick
    with the slow force. This is the splitting of OpenMM's
    ``MTSLangevinIntegrator``; with ``inner_steps=1`` it is BAOAB (Leimkuhler and
    Matthews, J. Chem. Phys. 138, 174102 (2013)).

    The energy the Ornstein-Uhlenbeck steps add is accumulated in
    ``transferred_energy``, so :meth:`get_conserved_energy` measures the
    integration error alone.

    Parameters
    ----------
    atoms : ase.Atoms
        The atoms; ``atoms.calc`` is an MTS force provider.
    timestep : float
        Outer time step in ASE time units.
    inner_steps : int
        Fast steps per outer step, K >= 1.
    temperature_K : float
        Target temperature in K.
    friction : float
        Friction coefficient in inverse ASE time units, e.g. ``0.01 / ase.units.fs``.
    rng : numpy.random.Generator, int or None
        Random number generator (anything with ``standard_normal``), or a seed for
        ``numpy.random.default_rng``. The same seed gives the same trajectory.
    **kwargs
        ``trajectory``, ``logfile``, ``loginterval`` and the rest of
        :class:`ase.md.md.MolecularDynamics`.
    """

    def __init__(
        self,
        atoms,
        timestep,
        inner_steps,
        *,
        temperature_K,
        friction,
        rng=None,
        **kwargs,
    ):
        # checked before the base class opens (and, when new, truncates) the trajectory
        check_thermostat_value("temperature_K", temperature_K)
        check_thermostat_value("friction", friction, unit="rate")
        super().__init__(atoms, timestep, inner_steps, **kwargs)
        self.rng = rng if hasattr(rng, "standard_normal") else np.random.default_rng(rng)
        self.set_temperature(temperature_K)
        self.set_friction(friction)

    def todict(self):
        d = super().todict()
        d.update(temperature_K=self.temperature_K, friction=self.friction)
        return d

    def set_temperature(self, temperature_K):
        self.temperature_K = check_thermostat_value("temperature_K", temperature_K)

    def set_friction(self, friction):
        self.friction = check_thermostat_value("friction", friction, unit="rate")

    def step(self):
        self._kick(self._slow_forces(), 0.5 * self.dt)
        self._respa_inner(half_step=self._ornstein_uhlenbeck)
        self._kick(self._slow_forces(), 0.5 * self.dt)

    def _ornstein_uhlenbeck(self, h):
        """Exact solution of dp = -friction p dt + sqrt(2 friction m kT) dW over ``h``."""
        atoms = self.atoms
        p = atoms.get_momenta()
        kinetic_before = atoms.get_kinetic_energy()
        decay = np.exp(-self.friction * h)
        noise = self.rng.standard_normal(size=p.shape)
        kT = units.kB * self.temperature_K
        p = decay * p + np.sqrt((1.0 - decay**2) * kT * self.masses) * noise
        # constraints project the noise too (FixAtoms: no kicks on fixed atoms,
        # FixCom: no net momentum); in mass-weighted coordinates that is an
        # orthogonal projection, so the allowed subspace is still thermalised
        atoms.set_momenta(p)
        self.transferred_energy += atoms.get_kinetic_energy() - kinetic_before
