"""Run MTS MD with logging, a trajectory, restart, blow-up guard and progress bar.

:func:`run_md` is what ``nequip-mts md`` runs once it has built the atoms and
their force provider; it works with any :class:`~nequip_mts.md.providers.MTSCalculator`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import units
from ase.io import Trajectory, read

from nequip_mts.md.bussi import BussiRESPA
from nequip_mts.md.langevin import LangevinRESPA
from nequip_mts.md.respa import RESPA
from nequip_mts.md.safety import StabilityGuard, run_guarded

ENSEMBLES = ("nve", "langevin", "bussi")

# keys of atoms.info stamped on every trajectory frame, read back on restart
STEP_KEY = "md_step"
TIME_KEY = "md_time_fs"
TRANSFERRED_KEY = "mts_transferred_energy"
REFERENCE_KEY = "mts_conserved_reference"


def make_integrator(
    atoms,
    ensemble,
    timestep,
    inner_steps,
    *,
    temperature_K=None,
    friction=None,
    taut=None,
    rng=None,
    **kwargs,
):
    """Build the integrator for ``ensemble`` ('nve', 'langevin' or 'bussi').

    ``friction`` (Langevin) and ``taut`` (Bussi) are in ASE units; other keyword
    arguments go to :class:`ase.md.md.MolecularDynamics`.
    """
    if ensemble == "nve":
        return RESPA(atoms, timestep, inner_steps, **kwargs)
    if temperature_K is None:
        raise ValueError(f"ensemble {ensemble!r} needs temperature_K")
    if ensemble == "langevin":
        if friction is None:
            raise ValueError("ensemble 'langevin' needs friction")
        return LangevinRESPA(
            atoms,
            timestep,
            inner_steps,
            temperature_K=temperature_K,
            friction=friction,
            rng=rng,
            **kwargs,
        )
    if ensemble == "bussi":
        if taut is None:
            raise ValueError("ensemble 'bussi' needs taut")
        return BussiRESPA(
            atoms, timestep, inner_steps, temperature_K=temperature_K, taut=taut, rng=rng, **kwargs
        )
    raise ValueError(f"unknown ensemble {ensemble!r}; choose from {ENSEMBLES}")


def last_good_path(trajectory):
    """Where :func:`run_md` saves the last good frame: ``md.traj`` -> ``md.last_good.extxyz``."""
    trajectory = Path(trajectory)
    return trajectory.with_name(trajectory.stem + ".last_good.extxyz")


def read_restart(atoms, trajectory):
    """Load the last frame of ``trajectory`` into ``atoms``; return its info dict.

    Positions, momenta and cell are taken from the frame; ``atoms`` keeps its
    calculator.
    """
    trajectory = Path(trajectory)
    if not trajectory.is_file() or trajectory.stat().st_size == 0:
        raise FileNotFoundError(f"cannot restart: no trajectory at {trajectory}")
    frame = read(trajectory, index=-1)
    if STEP_KEY not in frame.info:
        raise ValueError(f"cannot restart from {trajectory}: its frames carry no {STEP_KEY!r}")
    if len(frame) != len(atoms) or (frame.numbers != atoms.numbers).any():
        raise ValueError(f"cannot restart: {trajectory} holds a different system")
    atoms.set_cell(frame.cell)
    atoms.set_positions(frame.positions, apply_constraint=False)
    atoms.set_momenta(frame.get_momenta(), apply_constraint=False)
    return dict(frame.info)


class _Progress:
    """tqdm bar over outer steps, showing simulated ns per wall-clock day."""

    def __init__(self, dyn, total, initial, enabled):
        from tqdm.auto import tqdm

        self.dyn = dyn
        self.bar = tqdm(total=total, initial=initial, unit="step", disable=not enabled)
        self.start_step = initial
        self.start_time = time.perf_counter()

    def __call__(self):
        self.bar.update(self.dyn.nsteps - self.bar.n)
        elapsed = time.perf_counter() - self.start_time
        simulated_ns = (self.dyn.nsteps - self.start_step) * self.dyn.dt / (1e6 * units.fs)
        if elapsed > 0 and simulated_ns > 0:
            self.bar.set_postfix_str(f"{simulated_ns / (elapsed / 86400.0):.3g} ns/day")

    def close(self):
        self()
        self.bar.close()


def run_md(
    atoms,
    *,
    ensemble="nve",
    timestep,
    inner_steps,
    steps,
    temperature_K=None,
    friction=None,
    taut=None,
    seed=None,
    trajectory=None,
    logfile=None,
    loginterval=10,
    max_temperature_K=None,
    max_drift_per_atom=None,
    restart=False,
    progress=False,
):
    """Run MTS molecular dynamics on ``atoms`` (whose calculator is an MTS force provider).

    Parameters
    ----------
    atoms : ase.Atoms
        The system, with velocities set; ``atoms.calc`` is an ``MTSCalculator``.
    ensemble : {'nve', 'langevin', 'bussi'}
        Integrator: :class:`RESPA`, :class:`LangevinRESPA` or :class:`BussiRESPA`.
    timestep : float
        Outer time step in ASE time units.
    inner_steps : int
        Fast steps per outer step.
    steps : int
        Total length of the run in outer steps, counted from the start of the
        first run (a restart runs only what is left).
    temperature_K, friction, taut : float, optional
        Thermostat settings (ASE units for ``friction`` and ``taut``).
    seed : int, optional
        Seed of the thermostat's random numbers; a restart reseeds with
        ``(seed, step)``.
    trajectory : str, optional
        ASE trajectory file, written every ``loginterval`` steps and at the end.
    logfile : str, optional
        Log file (``'-'`` for stdout), see :class:`~nequip_mts.md.logger.MTSLogger`.
    loginterval : int
        Outer steps between trajectory frames and log lines.
    max_temperature_K : float, optional
        Stop when the temperature exceeds this.
    max_drift_per_atom : float, optional
        Stop when the conserved energy drifts by more than this (eV/atom).
    restart : bool
        Continue from the last frame of ``trajectory``.
    progress : bool
        Show a progress bar with ns/day.

    Returns
    -------
    dyn : nequip_mts.md.mts.MTSDynamics
        The integrator after the run.

    Raises
    ------
    MDInstabilityError
        On non-finite forces or a blow-up; the message names the step, and the last
        good frame is saved next to the trajectory (``<name>.last_good.extxyz``).
    """
    start_step, info = 0, {}
    if restart:
        if trajectory is None:
            raise ValueError("restart needs the trajectory of the run to continue")
        info = read_restart(atoms, trajectory)
        start_step = int(info[STEP_KEY])
    rng = np.random.default_rng(None if seed is None else [seed, start_step])

    dyn = make_integrator(
        atoms,
        ensemble,
        timestep,
        inner_steps,
        temperature_K=temperature_K,
        friction=friction,
        taut=taut,
        rng=rng,
        trajectory=trajectory,
        logfile=logfile,
        loginterval=loginterval,
        append_trajectory=restart,
    )
    if restart:
        # nsteps > 0 also stops irun() from writing the restart frame a second time
        dyn.nsteps = start_step
        dyn.transferred_energy = float(info.get(TRANSFERRED_KEY, 0.0))
        dyn.conserved_energy_reference = info.get(REFERENCE_KEY)

    def stamp():
        atoms.info[STEP_KEY] = int(dyn.nsteps)
        atoms.info[TIME_KEY] = float(dyn.get_time() / units.fs)
        dyn.get_conserved_energy_drift()  # fixes the reference on the first frame
        atoms.info[TRANSFERRED_KEY] = float(dyn.transferred_energy)
        atoms.info[REFERENCE_KEY] = float(dyn.conserved_energy_reference)

    # Observers run in order: check first, so a blown-up frame is never written.
    guard = StabilityGuard(dyn, max_temperature_K, max_drift_per_atom)
    dyn.insert_observer(stamp)
    dyn.insert_observer(guard)
    bar = _Progress(dyn, steps, start_step, progress)
    dyn.attach(bar, interval=loginterval)

    try:
        if steps > start_step:
            last_good = last_good_path(trajectory) if trajectory is not None else None
            run_guarded(dyn, steps - start_step, guard, last_good)
    finally:
        bar.close()

    if trajectory is not None and dyn.nsteps > start_step and dyn.nsteps % loginterval != 0:
        # keep the final state, so a restart continues from the end
        stamp()
        with Trajectory(trajectory, "a") as traj:
            traj.write(atoms)
    return dyn
