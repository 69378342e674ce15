"""Common base of the multiple-time-step (r-RESPA) integrators."""

from __future__ import annotations

import math
import numbers

import numpy as np
from ase.md.md import MolecularDynamics

from nequip_mts.md.logger import MTSLogger
from nequip_mts.md.safety import MDInstabilityError


class MTSDynamics(MolecularDynamics):
    """Base class for r-RESPA integrators: an outer step split into ``inner_steps`` fast steps.

    ``atoms.calc`` must provide the fast and slow forces separately, as
    :class:`nequip_mts.md.providers.MTSCalculator` does. The slow force is
    evaluated once per outer step and the fast force once per inner step: the
    forces at the end of a step are cached by the calculators and reused at the
    start of the next one, and by ASE's logger, trajectory and observers.

    Parameters
    ----------
    atoms : ase.Atoms
        The atoms; ``atoms.calc`` is an MTS force provider.
    timestep : float
        The outer time step in ASE time units (e.g. ``2 * ase.units.fs``).
    inner_steps : int
        Number of fast (inner) steps per outer step, K >= 1.
    trajectory : str or Trajectory, optional
        Trajectory to write frames to.
    logfile : str or file, optional
        Log file ('-' for stdout); see :class:`nequip_mts.md.logger.MTSLogger`.
    loginterval : int
        Write the trajectory and log every ``loginterval`` outer steps.
    **kwargs
        Passed to :class:`ase.md.md.MolecularDynamics`.
    """

    def __init__(
        self,
        atoms,
        timestep,
        inner_steps,
        *,
        trajectory=None,
        logfile=None,
        loginterval=1,
        **kwargs,
    ):
        _check_timestep(timestep)
        self.inner_steps = _check_inner_steps(inner_steps)
        calc = atoms.calc
        if not (hasattr(calc, "get_fast_forces") and hasattr(calc, "get_slow_forces")):
            raise TypeError(
                f"{type(self).__name__} needs fast and slow forces: attach an MTS force "
                "provider, e.g. atoms.calc = MTSCalculator.from_calculators(fast, slow)"
            )
        if hasattr(calc, "check_species"):
            calc.check_species(atoms)  # fail now, not deep inside the first step
        super().__init__(
            atoms, timestep, trajectory=trajectory, logfile=None, loginterval=loginterval, **kwargs
        )
        # Energy added to the atoms by a thermostat; zero for NVE.
        self.transferred_energy = 0.0
        # Time at step 0 (ASE units): a restart that changes the timestep sets it so that
        # time continues from the last frame instead of jumping to nsteps x the new step.
        self.time_origin = 0.0
        self.conserved_energy_reference = None
        if logfile:
            logger = self.closelater(MTSLogger(self, atoms, logfile, comm=self.comm))
            self.attach(logger, loginterval)

    def todict(self):
        d = super().todict()
        d["inner_steps"] = self.inner_steps
        return d

    def get_time(self):
        """Simulated time in ASE units: ``time_origin + nsteps * timestep``."""
        return self.time_origin + self.nsteps * self.dt

    # ------------------------------------------------------------------ conserved quantity
    def get_conserved_energy(self):
        """Total energy minus the energy a thermostat put in (eV); constant up to integration error."""
        atoms = self.atoms
        return atoms.get_potential_energy() + atoms.get_kinetic_energy() - self.transferred_energy

    def get_conserved_energy_drift(self):
        """Change of the conserved energy (eV) since the first call in this run."""
        energy = self.get_conserved_energy()
        if self.conserved_energy_reference is None:
            self.conserved_energy_reference = energy
        return energy - self.conserved_energy_reference

    # ------------------------------------------------------------------ building blocks
    def _fast_forces(self):
        forces = self.atoms.calc.get_fast_forces(self.atoms)
        return self._md_forces(forces, "fast", potential_terms=True)

    def _slow_forces(self):
        forces = self.atoms.calc.get_slow_forces(self.atoms)
        return self._md_forces(forces, "slow", potential_terms=False)

    def _md_forces(self, forces, part, potential_terms):
        # Check every force we integrate with: a non-finite value would be
        # smeared over positions and momenta before any observer could see it.
        if not np.isfinite(forces).all():
            bad = np.flatnonzero(~np.isfinite(forces).all(axis=1))
            raise MDInstabilityError(
                self.nsteps + 1, f"non-finite {part} forces on atoms {bad[:10].tolist()}"
            )
        # Same treatment as Atoms.get_forces(md=True): holonomic constraints act
        # on positions and momenta, but constraints that add a potential (Hookean,
        # ...) add a force. That force is cheap, so it joins the fast part.
        for constraint in self.atoms.constraints:
            if hasattr(constraint, "redistribute_forces_md"):
                constraint.redistribute_forces_md(self.atoms, forces)
            if potential_terms and hasattr(constraint, "adjust_potential_energy"):
                constraint.adjust_forces(self.atoms, forces)
        return forces

    def _kick(self, forces, dt):
        # set_momenta applies the constraints' adjust_momenta (FixAtoms, FixCom, ...)
        self.atoms.set_momenta(self.atoms.get_momenta() + dt * forces)

    def _drift(self, dt):
        atoms = self.atoms
        r = atoms.get_positions()
        atoms.set_positions(r + dt * atoms.get_momenta() / self.masses)
        if atoms.constraints:
            # first half of RATTLE, as in ase.md.VelocityVerlet: momenta consistent
            # with the constrained displacement
            p = (atoms.get_positions() - r) * self.masses / dt
            atoms.set_momenta(p, apply_constraint=False)

    def _respa_inner(self, half_step=None):
        """K velocity-Verlet steps with the fast force, each ``timestep / K`` long.

        ``half_step``, if given, is called with the inner step length between the two
        position half-drifts (the stochastic step of BAOAB).
        """
        h = self.dt / self.inner_steps
        forces = self._fast_forces()
        for _ in range(self.inner_steps):
            self._kick(forces, 0.5 * h)
            if half_step is None:
                self._drift(h)
            else:
                self._drift(0.5 * h)
                half_step(h)
                self._drift(0.5 * h)
            forces = self._fast_forces()
            self._kick(forces, 0.5 * h)


def _check_inner_steps(inner_steps):
    if isinstance(inner_steps, bool) or not isinstance(inner_steps, numbers.Integral):
        raise TypeError(
            f"inner_steps must be an integer >= 1 (the number of fast steps per outer "
            f"step), got {inner_steps!r}"
        )
    if inner_steps < 1:
        raise ValueError(f"inner_steps must be >= 1, got {inner_steps}")
    return int(inner_steps)


def _check_timestep(timestep):
    if not isinstance(timestep, numbers.Real) or not math.isfinite(timestep) or timestep <= 0:
        raise ValueError(
            f"timestep must be a positive number in ASE time units (e.g. 2 * ase.units.fs), got {timestep!r}"
        )


def check_thermostat_value(name, value, *, positive=False, unit=None):
    """Check a thermostat parameter given in ASE units; the message also shows fs units.

    ``unit`` is ``'time'`` (shown in fs), ``'rate'`` (shown in 1/fs) or ``None`` (K).
    Returns ``float(value)``.
    """
    from ase import units

    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0)
    if not ok:
        shown = ""
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if unit == "time":
                shown = f" (= {value / units.fs:g} fs)"
            elif unit == "rate":
                shown = f" (= {value * units.fs:g} /fs)"
        where = {
            "time": " in ASE time units, e.g. 100 * ase.units.fs",
            "rate": " in inverse ASE time units, e.g. 0.01 / ase.units.fs",
        }.get(unit, "")
        raise ValueError(
            f"{name} must be a finite number {'>' if positive else '>='} 0{where}, got {value!r}{shown}"
        )
    return float(value)
