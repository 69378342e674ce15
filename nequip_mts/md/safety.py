"""Blow-up detection for MTS molecular dynamics."""

from __future__ import annotations

import numpy as np
from ase import units
from ase.calculators.singlepoint import SinglePointCalculator

from nequip_mts.errors import MDInstabilityError

__all__ = ["MDInstabilityError", "StabilityGuard", "run_guarded"]


class StabilityGuard:
    """Observer that stops MD when it blows up, and keeps the last good frame.

    Attach it before the trajectory writer so that a bad frame is never written::

        guard = StabilityGuard(dyn, max_temperature_K=3000)
        dyn.insert_observer(guard)

    Non-finite forces met inside a step raise :class:`MDInstabilityError` from the
    integrator itself; :meth:`save_last_good` then writes the frame this guard kept.

    Parameters
    ----------
    dyn : nequip_mts.md.mts.MTSDynamics
        The integrator.
    max_temperature_K : float, optional
        Stop when the instantaneous temperature exceeds this.
    max_drift_per_atom : float, optional
        Stop when the conserved quantity has drifted by more than this, in eV/atom.
    topology : nequip_mts.md.topology.TopologyWatch, optional
        Stop when a covalent bond of the starting structure breaks or a new one forms,
        checked every ``topology.interval`` steps. Between two checks a bond may already
        have changed, so on a topology stop the last good frame is the one of the last
        check that passed (its step is in the saved frame's ``md_step``).
    """

    def __init__(self, dyn, max_temperature_K=None, max_drift_per_atom=None, topology=None):
        self.dyn = dyn
        self.atoms = dyn.atoms
        self.max_temperature_K = max_temperature_K
        self.max_drift_per_atom = max_drift_per_atom
        self.topology = topology
        self.last_good = None
        self.last_good_step = None
        # the last frame whose bond topology was checked and found intact
        self._last_intact = None

    def check(self):
        """Return a message describing the blow-up, or ``None`` if the state is sound."""
        atoms = self.atoms
        if not np.isfinite(atoms.positions).all():
            return "non-finite positions"
        if not np.isfinite(atoms.get_momenta()).all():
            return "non-finite velocities"
        if not np.isfinite(atoms.get_forces()).all():
            return "non-finite forces"
        epot = atoms.get_potential_energy()
        if not np.isfinite(epot):
            return "non-finite potential energy"
        temperature = atoms.get_temperature()
        if self.max_temperature_K is not None and temperature > self.max_temperature_K:
            return f"temperature {temperature:.1f} K exceeds {self.max_temperature_K:g} K"
        if self.max_drift_per_atom is not None:
            drift = self.dyn.get_conserved_energy_drift() / len(atoms)
            if not abs(drift) <= self.max_drift_per_atom:
                return (
                    f"conserved energy drifted by {drift * 1000:.3g} meV/atom "
                    f"(limit {self.max_drift_per_atom * 1000:g} meV/atom)"
                )
        return None

    def _topology_due(self):
        return self.topology is not None and self.dyn.nsteps % self.topology.interval == 0

    def __call__(self):
        reason = self.check()
        if reason is not None:
            raise MDInstabilityError(self.dyn.nsteps, reason)
        if self._topology_due():
            reason = self.topology.check(self.atoms)
            if reason is not None:
                if self._last_intact is not None:
                    self.last_good = self._last_intact
                    self.last_good_step = int(self._last_intact.info["md_step"])
                    reason += f" (intact at step {self.last_good_step})"
                raise MDInstabilityError(self.dyn.nsteps, reason)
        snapshot = self.atoms.copy()
        snapshot.calc = SinglePointCalculator(
            snapshot,
            energy=self.atoms.get_potential_energy(),
            forces=self.atoms.get_forces(),
        )
        snapshot.info["md_step"] = int(self.dyn.nsteps)
        snapshot.info["md_time_fs"] = float(self.dyn.get_time() / units.fs)
        self.last_good = snapshot
        self.last_good_step = int(self.dyn.nsteps)
        if self._topology_due():
            self._last_intact = snapshot

    def save_last_good(self, filename):
        """Write the last good frame (extended XYZ); return the file name or ``None``."""
        if self.last_good is None:
            return None
        from ase.io import write

        write(filename, self.last_good, format="extxyz")
        return str(filename)


def run_guarded(dyn, steps, guard, last_good_file=None):
    """Run ``dyn`` for ``steps`` steps; on a blow-up keep the last good frame.

    ``guard`` must already be attached to ``dyn``. When it (or the integrator)
    raises :class:`MDInstabilityError`, the frame it kept is written to
    ``last_good_file`` (if given) and the error is raised again naming that file.
    """
    try:
        dyn.run(steps)
    except MDInstabilityError as err:
        saved = guard.save_last_good(last_good_file) if last_good_file is not None else None
        raise MDInstabilityError(err.step, err.reason, saved) from None
