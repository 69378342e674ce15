"""Run MTS MD with logging, a trajectory, restart, blow-up guard and progress bar.

:func:`run_md` is what ``nequip-mts md`` runs once it has built the atoms and
their force provider; it works with any :class:`~nequip_mts.md.providers.MTSCalculator`.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
from ase import units
from ase.io import Trajectory

from nequip_mts.errors import InputError, MDInterrupted, MDWarning
from nequip_mts.files import check_output_path, refuse_existing, same_file
from nequip_mts.md.bussi import BussiRESPA
from nequip_mts.md.equipartition import ElementTemperatures
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


def check_outputs(trajectory, logfile, *, restart=False, overwrite=False, inputs=()):
    """Refuse output files that would lose data; create missing output directories.

    Parameters
    ----------
    trajectory, logfile : path, optional
        The run's outputs (``logfile`` ``'-'`` or a file object is not checked).
    restart : bool
        The run continues ``trajectory`` (appends to it and to the log).
    overwrite : bool
        The user agreed to replace an existing trajectory and log.
    inputs : iterable of path
        Files the run reads (the structure); no output may be one of them.

    Raises
    ------
    InputError
        An output is a directory, sits under a file, is one of ``inputs``, or exists
        without ``restart`` or ``overwrite``.

    Returns
    -------
    path or None
        The log file, if it is a file.
    """
    log = logfile if isinstance(logfile, (str, os.PathLike)) and str(logfile) != "-" else None
    outputs = {"--trajectory": trajectory, "--log": log}
    if trajectory is not None:
        outputs["the last-good frame file"] = last_good_path(trajectory)
    for what, path in outputs.items():
        if path is None:
            continue
        check_output_path(path, what)
        if restart and what == "--trajectory":
            continue  # appended to, not written over
        for source in inputs:
            if same_file(path, source):
                raise InputError(
                    f"{what} {path} is the input structure; nequip-mts md never writes over its "
                    f"input: give another {what}"
                )
    if not (restart or overwrite):
        refuse_existing(
            (trajectory, log), hint="pass --restart to continue that run, or --overwrite to replace it"
        )
    return log


def last_complete_frame(trajectory):
    """The last frame of an ASE trajectory that reads back whole.

    A writer killed in the middle of a frame leaves a truncated tail, on which ASE's
    reader fails. The complete frames before it are then copied into a new file that
    takes the trajectory's name; the damaged file is kept as ``<name>.damaged`` and an
    :class:`~nequip_mts.errors.MDWarning` says so.

    Raises
    ------
    FileNotFoundError
        No trajectory, or an empty one.
    InputError
        Not an ASE trajectory, or no frame reads back.
    """
    path = Path(trajectory)
    if not path.is_file() or path.stat().st_size == 0:
        raise FileNotFoundError(f"cannot restart: no trajectory at {path}")
    try:
        traj = Trajectory(str(path))
    except Exception as err:  # noqa: BLE001 - ulm/json errors of a damaged or foreign file
        raise InputError(
            f"cannot restart: {path} is not a readable ASE trajectory ({type(err).__name__}: {err})"
        ) from None
    with traj:
        n = len(traj)
        good, frame = n - 1, None
        while good >= 0 and frame is None:
            try:
                frame = traj[good]
            except Exception:  # noqa: BLE001 - a truncated frame fails in many ways
                good -= 1
        if frame is None:
            raise InputError(
                f"cannot restart: no frame of {path} reads back whole; start a new run "
                "(--overwrite replaces the file)"
            )
        if good == n - 1:
            return frame
        tmp = path.with_name(f".{path.name}.recovered.tmp")
        with Trajectory(str(tmp), "w") as out:
            out.set_description(dict(traj.description))
            for i in range(good + 1):
                out.write(traj[i])
    damaged = path.with_name(path.name + ".damaged")
    k = 1
    while damaged.exists():
        damaged, k = path.with_name(f"{path.name}.damaged.{k}"), k + 1
    os.replace(path, damaged)
    os.replace(tmp, path)
    warnings.warn(
        f"{path} ends in {n - good - 1} truncated frame(s) (a writer killed mid-frame?): kept its "
        f"{good + 1} complete frames, up to step {frame.info.get(STEP_KEY, '?')}; the damaged file "
        f"is now {damaged}",
        MDWarning,
        stacklevel=2,
    )
    return frame


def read_restart(atoms, trajectory):
    """Load the last complete frame of ``trajectory`` into ``atoms``; return its info dict.

    Positions, momenta and cell are taken from the frame; ``atoms`` keeps its
    calculator. A truncated tail is cut off first (:func:`last_complete_frame`).
    """
    frame = last_complete_frame(trajectory)
    if STEP_KEY not in frame.info:
        raise InputError(f"cannot restart from {trajectory}: its frames carry no {STEP_KEY!r}")
    if len(frame) != len(atoms) or (frame.numbers != atoms.numbers).any():
        raise InputError(f"cannot restart: {trajectory} holds a different system than the structure")
    atoms.set_cell(frame.cell)
    atoms.set_positions(frame.positions, apply_constraint=False)
    atoms.set_momenta(frame.get_momenta(), apply_constraint=False)
    return dict(frame.info)


def _settings_change_error(trajectory, changes, last_time_fs):
    listed = ", ".join(f"{option} {old} (trajectory) -> {new}" for option, old, new in changes)
    return InputError(
        f"cannot --restart {trajectory} with other settings than it ran with: {listed}; give the "
        "trajectory's values, or add --allow-settings-change to go on with the new ones (time then "
        f"continues from the last frame, {last_time_fs:g} fs)"
    )


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
    overwrite=False,
    allow_settings_change=False,
    inputs=(),
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
        The run ends at ``settings.steps`` x ``settings.timestep_fs`` of simulated time
        counted from the start of the first run (a restart runs only what is left); a
        restart reseeds the thermostat with ``(seed, step)``.
    trajectory : str, optional
        ASE trajectory file, written every ``settings.loginterval`` steps and at the end.
        Every frame records the step, the time and the settings a restart must keep
        (:meth:`MDSettings.record`).
    logfile : str, optional
        Log file (``'-'`` for stdout), see :class:`~nequip_mts.md.logger.MTSLogger`.
    max_temperature_K : float, optional
        Stop when the temperature exceeds this.
    max_drift_per_atom : float, optional
        Stop when the conserved energy drifts by more than this (eV/atom).
    restart : bool
        Continue from the last complete frame of ``trajectory`` (a truncated tail is cut
        off, see :func:`last_complete_frame`); otherwise velocities are drawn as
        :func:`initial_velocities` says.
    overwrite : bool
        Replace an existing trajectory and log; without it (and without ``restart``)
        they are refused (:func:`check_outputs`).
    allow_settings_change : bool
        Let a restart change the timestep, K, ensemble or thermostat that the
        trajectory records; time then continues from the last frame's time.
    inputs : iterable of path
        Files the run was read from; they are never written over.
    progress : bool
        Show a progress bar with ns/day.
    topology : nequip_mts.md.topology.TopologyWatch, optional
        Stop when a covalent bond of its reference structure breaks or forms (see
        :class:`~nequip_mts.md.safety.StabilityGuard`); build it from the starting
        structure, not from a restart frame.

    Returns
    -------
    dyn : nequip_mts.md.mts.MTSDynamics
        The integrator after the run. Its ``equipartition`` is the
        :class:`~nequip_mts.md.equipartition.EquipartitionSummary` of this run (``None``
        for runs too short or with one element); when two elements' kinetic temperatures
        differ beyond their noise, an :class:`~nequip_mts.errors.MDWarning` says so.

    Raises
    ------
    InputError
        Outputs that would lose data, or a restart with other settings.
    MDInstabilityError
        On non-finite forces, a blow-up or a changed bond topology; the message names
        the step (and the bonds), and the last good frame is saved next to the
        trajectory (``<name>.last_good.extxyz``).
    MDInterrupted
        On Ctrl-C; the message says how far the run got and how to continue.
    """
    settings.check("ase")
    if restart and trajectory is None:
        raise InputError("restart needs the trajectory of the run to continue")
    log = check_outputs(trajectory, logfile, restart=restart, overwrite=overwrite, inputs=inputs)
    if overwrite and not restart and log is not None and Path(log).is_file():
        Path(log).unlink()  # the logger appends; the trajectory is opened anew
    steps, loginterval, seed = settings.steps, settings.loginterval, settings.seed
    start_step, info = 0, {}
    if restart:
        info = read_restart(atoms, trajectory)
        start_step = int(info[STEP_KEY])
        last_time_fs = float(info.get(TIME_KEY, start_step * settings.timestep_fs))
        changes = settings.changes_from(info)
        if changes and not allow_settings_change:
            raise _settings_change_error(trajectory, changes, last_time_fs)
    else:
        initial_velocities(atoms, settings)
    settings.warn_outer_step(atoms)
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
    end_step = steps
    if restart:
        # nsteps > 0 also stops irun() from writing the restart frame a second time
        dyn.nsteps = start_step
        # time goes on from the last frame, also when the timestep changed
        dyn.time_origin = last_time_fs * units.fs - start_step * dyn.dt
        remaining_fs = steps * settings.timestep_fs - last_time_fs
        end_step = start_step + max(0, int(round(remaining_fs / settings.timestep_fs)))
        dyn.transferred_energy = float(info.get(TRANSFERRED_KEY, 0.0))
        dyn.conserved_energy_reference = info.get(REFERENCE_KEY)

    record = settings.record()

    def stamp():
        atoms.info[STEP_KEY] = int(dyn.nsteps)
        atoms.info[TIME_KEY] = float(dyn.get_time() / units.fs)
        dyn.get_conserved_energy_drift()  # fixes the reference on the first frame
        atoms.info[TRANSFERRED_KEY] = float(dyn.transferred_energy)
        atoms.info[REFERENCE_KEY] = float(dyn.conserved_energy_reference)
        atoms.info.update(record)

    # Observers run in order: check first, so a blown-up frame is never written.
    guard = StabilityGuard(dyn, max_temperature_K, max_drift_per_atom, topology=topology)
    dyn.insert_observer(stamp)
    dyn.insert_observer(guard)
    written = {"step": start_step if restart else None}
    if trajectory is not None:
        # after the trajectory writer: the step of the last frame known to be complete
        dyn.attach(lambda: written.update(step=int(dyn.nsteps)), interval=loginterval)
    bar = ProgressBar(dyn, end_step, start_step, progress)
    dyn.attach(bar, interval=loginterval)
    temperatures = ElementTemperatures(atoms)
    dyn.attach(temperatures, interval=loginterval)

    try:
        if end_step > start_step:
            last_good = last_good_path(trajectory) if trajectory is not None else None
            run_guarded(dyn, end_step - start_step, guard, last_good)
    except KeyboardInterrupt:
        raise _interrupted(dyn, end_step, trajectory, written["step"]) from None
    finally:
        bar.close()

    if trajectory is not None and dyn.nsteps > start_step and dyn.nsteps % loginterval != 0:
        # keep the final state, so a restart continues from the end
        stamp()
        with Trajectory(trajectory, "a") as traj:
            traj.write(atoms)
    dyn.equipartition = temperatures.summary()
    if dyn.equipartition is not None and dyn.equipartition.broken:
        warnings.warn(dyn.equipartition.warning(), MDWarning, stacklevel=2)
    return dyn


def _interrupted(dyn, end_step, trajectory, frame_step):
    done = f"stopped at step {dyn.nsteps} of {end_step}"
    if trajectory is None:
        message = f"{done}; no trajectory was written, so there is nothing to restart from"
    elif frame_step is None:
        message = f"{done}, before the first frame was written; start again with --overwrite"
    else:
        time_fs = (dyn.time_origin + frame_step * dyn.dt) / units.fs
        message = (
            f"{done}; {trajectory} is valid up to its frame of step {frame_step} ({time_fs:g} fs): "
            "run the same command with --restart to continue from there"
        )
    return MDInterrupted(message, steps_done=int(dyn.nsteps), last_frame_step=frame_step)
