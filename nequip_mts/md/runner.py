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
from nequip_mts.md.settings import MDSettings

# keys of atoms.info stamped on every trajectory frame, read back on restart
STEP_KEY = "md_step"
TIME_KEY = "md_time_fs"
TRANSFERRED_KEY = "mts_transferred_energy"
REFERENCE_KEY = "mts_conserved_reference"


def make_integrator(atoms, settings: MDSettings, rng=None, **kwargs):
    """The MTS integrator that runs ``settings.ensemble`` on ``atoms``.

    Parameters
    ----------
    atoms : ase.Atoms
        The system; ``atoms.calc`` is an MTS force provider.
    settings : MDSettings
        Ensemble, outer step, K and thermostat.
    rng : numpy.random.Generator, optional
        Random numbers of the thermostat.
    **kwargs
        Passed to :class:`ase.md.md.MolecularDynamics` (trajectory, logfile, ...).
    """
    settings.check("ase")
    k, dt = settings.inner_steps, settings.timestep
    if settings.ensemble == "nve":
        return RESPA(atoms, dt, k, **kwargs)
    if settings.ensemble == "langevin":
        return LangevinRESPA(
            atoms,
            dt,
            k,
            temperature_K=settings.temperature_K,
            friction=settings.friction,
            rng=rng,
            **kwargs,
        )
    return BussiRESPA(
        atoms, dt, k, temperature_K=settings.temperature_K, taut=settings.taut, rng=rng, **kwargs
    )


def make_single_step_integrator(atoms, settings: MDSettings, rng=None, **kwargs):
    """ASE's own integrator for a conventional single-step run of ``settings.ensemble``.

    The reference a user would run without MTS: :class:`ase.md.VelocityVerlet`,
    :class:`ase.md.langevinbaoab.LangevinBAOAB` (the K = 1 limit of
    :class:`LangevinRESPA`) or :class:`ase.md.bussi.Bussi`, at ``settings.timestep_fs``
    with any ASE calculator. ``settings.inner_steps`` must be 1.
    """
    settings.check("ase")
    if settings.inner_steps != 1:
        raise ValueError(f"a single-step run needs inner_steps = 1, got {settings.inner_steps}")
    if settings.ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, settings.timestep, **kwargs)
    if settings.ensemble == "langevin":
        from ase.md.langevinbaoab import LangevinBAOAB

        return LangevinBAOAB(
            atoms,
            settings.timestep,
            temperature_K=settings.temperature_K,
            T_tau=settings.taut,
            rng=rng,
            **kwargs,
        )
    from ase.md.bussi import Bussi

    return Bussi(atoms, settings.timestep, settings.temperature_K, settings.taut, rng=rng, **kwargs)


def initial_velocities(atoms, settings: MDSettings):
    """Draw Maxwell-Boltzmann velocities for a new run, as ``settings`` asks.

    At ``settings.init_temperature_K`` if given; otherwise at the thermostat target,
    unless the structure already carries velocities (which are then kept). The centre
    of mass is put at rest. The generator is seeded with ``settings.seed``.
    """
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    temperature_K = settings.init_temperature_K
    if temperature_K is None and not atoms.get_momenta().any():
        temperature_K = settings.temperature_K
    if temperature_K is not None:
        thermalize_momenta(atoms, temperature_K=temperature_K, rng=np.random.default_rng(settings.seed))
        Stationary(atoms)


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


class ProgressBar:
    """Observer that shows a tqdm bar over (outer) steps, with simulated ns per day.

    Attach it to any ASE integrator: ``dyn.attach(ProgressBar(dyn, steps), interval=10)``.
    """

    def __init__(self, dyn, total, initial=0, enabled=True, desc=None):
        from tqdm.auto import tqdm

        self.dyn = dyn
        # simulated time per wall-clock time is what MD users compare, not steps/s
        self.bar = tqdm(
            total=total,
            initial=initial,
            unit="step",
            disable=not enabled,
            desc=desc,
            mininterval=1.0,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} steps [{elapsed}<{remaining}{postfix}]",
        )
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
    settings: MDSettings,
    *,
    trajectory=None,
    logfile=None,
    max_temperature_K=None,
    max_drift_per_atom=None,
    restart=False,
    progress=False,
    topology=None,
):
    """Run MTS molecular dynamics on ``atoms`` (whose calculator is an MTS force provider).

    Parameters
    ----------
    atoms : ase.Atoms
        The system, with velocities set; ``atoms.calc`` is an ``MTSCalculator``.
    settings : MDSettings
        Ensemble ('nve', 'langevin' or 'bussi': :class:`RESPA`, :class:`LangevinRESPA`,
        :class:`BussiRESPA`), outer step, K, thermostat, seed and log interval.
        ``settings.steps`` is the total length counted from the start of the first run
        (a restart runs only what is left); a restart reseeds the thermostat with
        ``(seed, step)``.
    trajectory : str, optional
        ASE trajectory file, written every ``settings.loginterval`` steps and at the end.
    logfile : str, optional
        Log file (``'-'`` for stdout), see :class:`~nequip_mts.md.logger.MTSLogger`.
    max_temperature_K : float, optional
        Stop when the temperature exceeds this.
    max_drift_per_atom : float, optional
        Stop when the conserved energy drifts by more than this (eV/atom).
    restart : bool
        Continue from the last frame of ``trajectory``; otherwise velocities are drawn
        as :func:`initial_velocities` says.
    progress : bool
        Show a progress bar with ns/day.
    topology : nequip_mts.md.topology.TopologyWatch, optional
        Stop when a covalent bond of its reference structure breaks or forms (see
        :class:`~nequip_mts.md.safety.StabilityGuard`); build it from the starting
        structure, not from a restart frame.

    Returns
    -------
    dyn : nequip_mts.md.mts.MTSDynamics
        The integrator after the run.

    Raises
    ------
    MDInstabilityError
        On non-finite forces, a blow-up or a changed bond topology; the message names
        the step (and the bonds), and the last good frame is saved next to the
        trajectory (``<name>.last_good.extxyz``).
    """
    settings.check("ase")
    steps, loginterval, seed = settings.steps, settings.loginterval, settings.seed
    start_step, info = 0, {}
    if restart:
        if trajectory is None:
            raise ValueError("restart needs the trajectory of the run to continue")
        info = read_restart(atoms, trajectory)
        start_step = int(info[STEP_KEY])
    else:
        initial_velocities(atoms, settings)
    rng = np.random.default_rng(None if seed is None else [seed, start_step])

    dyn = make_integrator(
        atoms,
        settings,
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
    guard = StabilityGuard(dyn, max_temperature_K, max_drift_per_atom, topology=topology)
    dyn.insert_observer(stamp)
    dyn.insert_observer(guard)
    bar = ProgressBar(dyn, steps, start_step, progress)
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
