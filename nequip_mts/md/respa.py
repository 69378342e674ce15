"""NVE r-RESPA: impulse multiple-time-step velocity Verlet."""

from __future__ import annotations

from nequip_mts.md.mts import MTSDynamics


class RESPA(MTSDynamics):
    """NVE molecular dynamics with the impulse r-RESPA integrator.

    One outer step of length ``timestep``: a half kick with the slow force, then
    ``inner_steps`` velocity-Verlet steps of ``timestep / inner_steps`` with the
    fast force, then a half kick with the slow force (Tuckerman, Berne and
    Martyna, J. Chem. Phys. 97, 1990 (1992)). With ``inner_steps=1`` it is
    velocity Verlet on the summed force.

    The integrator is symplectic and time reversible, but impulse MTS is unstable
    when the outer step approaches half the period of the fastest motion the slow
    force couples to (see docs/md.md).

    Parameters
    ----------
    atoms : ase.Atoms
        The atoms; ``atoms.calc`` is an MTS force provider
        (:class:`nequip_mts.md.providers.MTSCalculator`).
    timestep : float
        Outer time step in ASE time units.
    inner_steps : int
        Fast steps per outer step, K >= 1.
    **kwargs
        ``trajectory``, ``logfile``, ``loginterval`` and the rest of
        :class:`ase.md.md.MolecularDynamics`.

    Examples
    --------
    >>> atoms.calc = MTSCalculator.from_deployed("deployed/")          # doctest: +SKIP
    >>> dyn = RESPA(atoms, 2 * units.fs, inner_steps=4, logfile="-")   # doctest: +SKIP
    >>> dyn.run(1000)                                                  # doctest: +SKIP
    """

    def step(self):
        # The slow force at the start equals the one at the end of the last step;
        # the calculator returns it from its cache, so it costs nothing here.
        self._kick(self._slow_forces(), 0.5 * self.dt)
        self._respa_inner()
        self._kick(self._slow_forces(), 0.5 * self.dt)
