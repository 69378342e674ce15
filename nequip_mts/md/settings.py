"""MD settings shared by both engines (ASE and LAMMPS) and every front end.

:class:`MDSettings` is the one description of a run: ensemble, outer time step, inner
steps K, length, temperatures, thermostat time and seed, in the units of the field (fs,
K). :func:`add_arguments` puts the same options on any command line and
:meth:`MDSettings.from_args` reads them back, so ``nequip-mts md``,
``write-lammps-input`` and ``demo`` spell and check every setting the same way.

Import-light: no torch, no nequip, and ASE only inside the methods that convert units.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Optional

from nequip_mts.errors import InputError, MDWarning

# Langevin: BAOAB-RESPA (ASE) / fix langevin (LAMMPS); Bussi: stochastic velocity
# rescaling at the outer level (ASE BussiRESPA / fix temp/csvr); Nose-Hoover: fix nvt.
ENSEMBLES = ("nve", "langevin", "bussi", "nose-hoover")
ENGINE_ENSEMBLES = {"ase": ("nve", "langevin", "bussi"), "lammps": ENSEMBLES}
THERMOSTATS = tuple(e for e in ENSEMBLES if e != "nve")

DEFAULT_THERMOSTAT_TIME_FS = 100.0
DEFAULT_SEED = 0
DEFAULT_LOGINTERVAL = 10
#: skin (A) of the neighbour lists the ASE calculators keep across MD steps
#: (:class:`nequip_mts.md.neighbors.SkinNeighborList`); rebuilt when an atom moves half of it
DEFAULT_NEIGHBOR_SKIN = 0.5


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass(frozen=True)
class MDSettings:
    """One MD run, in fs and K.

    Parameters
    ----------
    ensemble : {'nve', 'langevin', 'bussi', 'nose-hoover'}
        Thermodynamic ensemble; 'nose-hoover' runs in LAMMPS only.
    timestep_fs : float
        Outer time step (the slow part's step); the single step when ``inner_steps`` is 1.
    inner_steps : int
        K, the fast steps per outer step; the inner step is ``timestep_fs / K``.
    steps : int
        Run length in outer steps.
    temperature_K : float, optional
        Thermostat target; required by every ensemble but NVE.
    init_temperature_K : float, optional
        Draw Maxwell-Boltzmann velocities at this temperature before the run.
    thermostat_time_fs : float
        Thermostat time constant: 1/friction for Langevin, tau for Bussi, Tdamp for
        Nose-Hoover.
    seed : int
        Seed of the initial velocities and of the thermostat's random numbers.
    loginterval : int
        Outer steps between log lines and trajectory frames.
    """

    ensemble: str
    timestep_fs: float
    inner_steps: int
    steps: int
    temperature_K: Optional[float] = None
    init_temperature_K: Optional[float] = None
    thermostat_time_fs: float = DEFAULT_THERMOSTAT_TIME_FS
    seed: int = DEFAULT_SEED
    loginterval: int = DEFAULT_LOGINTERVAL

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_options(
        cls,
        *,
        ensemble,
        timestep_fs,
        inner_steps=None,
        inner_timestep_fs=None,
        steps=None,
        time_ps=None,
        engine=None,
        **kwargs,
    ) -> "MDSettings":
        """Settings from the command-line form: K or the inner step, steps or ps.

        Exactly one of ``inner_steps`` and ``inner_timestep_fs``, and one of ``steps``
        and ``time_ps``, is given. The result is checked (:meth:`check`).
        """
        _check_positive("--timestep-fs", timestep_fs)
        if (inner_steps is None) == (inner_timestep_fs is None):
            raise InputError("give one of --inner-steps (K) and --inner-timestep-fs")
        if inner_steps is None:
            inner_steps = inner_steps_from_timesteps(timestep_fs, inner_timestep_fs)
        if (steps is None) == (time_ps is None):
            raise InputError("give one of --steps and --time-ps for the run length")
        if steps is None:
            if not _finite(time_ps) or time_ps < 0:
                raise InputError(f"--time-ps must be a length of time >= 0, got {time_ps}")
            steps = int(round(time_ps * 1000.0 / timestep_fs))
        settings = cls(
            ensemble=ensemble,
            timestep_fs=float(timestep_fs),
            inner_steps=inner_steps,
            steps=steps,
            **kwargs,
        )
        return settings.check(engine)

    @classmethod
    def from_args(cls, args, engine=None) -> "MDSettings":
        """Settings from an ``argparse`` namespace filled by :func:`add_arguments`."""
        # an option given on the command line overrides its exclusive partner's default
        explicit_inner = args.inner_timestep_fs is not None
        explicit_steps = args.steps is not None
        return cls.from_options(
            ensemble=args.ensemble,
            timestep_fs=args.timestep_fs,
            inner_steps=None if explicit_inner else args.inner_steps,
            inner_timestep_fs=args.inner_timestep_fs,
            steps=args.steps,
            time_ps=None if explicit_steps else args.time_ps,
            temperature_K=args.temperature_K,
            init_temperature_K=args.init_temperature_K,
            thermostat_time_fs=args.thermostat_time_fs,
            seed=args.seed,
            loginterval=args.loginterval,
            engine=engine,
        )

    def replace(self, **changes) -> "MDSettings":
        """A checked copy with some settings changed."""
        return dataclasses.replace(self, **changes).check()

    # ------------------------------------------------------------------ checks
    def check(self, engine=None) -> "MDSettings":
        """Raise :class:`~nequip_mts.errors.InputError` naming the first bad setting.

        ``engine`` ('ase' or 'lammps') also checks that the engine runs the ensemble.
        Returns ``self``.
        """
        allowed = ENGINE_ENSEMBLES[engine] if engine is not None else ENSEMBLES
        if self.ensemble not in allowed:
            where = f" in {engine}" if engine else ""
            raise InputError(f"ensemble {self.ensemble!r} is not available{where}; choose from {allowed}")
        _check_positive("--timestep-fs", self.timestep_fs)
        if not _is_int(self.inner_steps) or self.inner_steps < 1:
            raise InputError(f"--inner-steps (K) must be a whole number >= 1, got {self.inner_steps!r}")
        if not _is_int(self.steps) or self.steps < 0:
            raise InputError(f"the run length must be a whole number of steps >= 0, got {self.steps!r}")
        if self.ensemble in THERMOSTATS and self.temperature_K is None:
            raise InputError(f"--ensemble {self.ensemble} needs --temperature-K (the thermostat target)")
        if self.temperature_K is not None:
            _check_positive("--temperature-K", self.temperature_K)
        if self.init_temperature_K is not None and not (
            _finite(self.init_temperature_K) and self.init_temperature_K >= 0
        ):
            raise InputError(f"--init-temperature-K must be >= 0, got {self.init_temperature_K}")
        _check_positive("--thermostat-time-fs", self.thermostat_time_fs)
        if not _is_int(self.seed) or self.seed < 0:
            raise InputError(f"--seed must be a whole number >= 0, got {self.seed!r}")
        if not _is_int(self.loginterval) or self.loginterval < 1:
            raise InputError(f"--loginterval must be a whole number >= 1, got {self.loginterval!r}")
        return self

    # ------------------------------------------------------------------ run record
    def record(self) -> dict:
        """The settings a restart must continue with, as ``atoms.info`` entries.

        :func:`~nequip_mts.md.runner.run_md` stamps them on every trajectory frame;
        :meth:`changes_from` compares a restart's settings with them.
        """
        # NVE has no thermostat settings to record
        names = RECORDED if self.ensemble in THERMOSTATS else RECORDED[:3]
        return {RECORD_KEYS[name]: getattr(self, name) for name in names}

    def changes_from(self, info) -> list:
        """``(option, recorded, now)`` for each setting that differs from a frame's record.

        ``info`` is the ``atoms.info`` of a frame written by ``run_md``; settings it does
        not record are not compared.
        """
        mine = self.record()
        changes = []
        for name in RECORDED:
            key = RECORD_KEYS[name]
            if key not in info or key not in mine:
                continue
            old, new = info[key], mine[key]
            same = (
                math.isclose(float(old), float(new), rel_tol=1e-9)
                if isinstance(new, float) and isinstance(old, (int, float))
                else old == new
            )
            if not same:
                changes.append((OPTION_NAMES[name], old, new))
        return changes

    # ------------------------------------------------------------------ stability
    def outer_step_warning(self, atoms) -> Optional[str]:
        """A warning when the outer step is long for the fastest bond stretch of ``atoms``.

        The period of the fastest stretch is estimated from the bonded pairs of the
        structure (:func:`nequip_mts.md.structure.fastest_stretch`: a table of typical
        stretch frequencies, X-H about 3000-4200 cm^-1). Impulse MTS is unstable near
        half that period and inaccurate well before (docs/md.md, section "Resonance");
        an outer step longer than :data:`RESONANCE_FRACTION` of it gets a warning.

        Returns
        -------
        str or None
            The message, or ``None`` when the step is short enough or no atoms are bonded.
        """
        from nequip_mts.md.structure import fastest_stretch

        stretch = fastest_stretch(atoms)
        if stretch is None or self.timestep_fs <= RESONANCE_FRACTION * stretch.period_fs:
            return None
        step = "outer step" if self.inner_steps > 1 else "time step"
        return (
            f"the {step} of {self.timestep_fs:g} fs is more than a third of the period of the "
            f"fastest bond stretch, about {stretch.period_fs:.1f} fs ({'-'.join(stretch.pair)}, "
            f"~{stretch.wavenumber_cm:.0f} cm^-1, {stretch.source}); MD is likely to be "
            f"inaccurate or unstable: use --timestep-fs {_round_down(RESONANCE_FRACTION * stretch.period_fs)} "
            "or less, or check the step with `nequip-mts validate`, see docs/md.md (resonance)"
        )

    def warn_outer_step(self, atoms) -> Optional[str]:
        """Issue :meth:`outer_step_warning` as an :class:`~nequip_mts.errors.MDWarning`."""
        message = self.outer_step_warning(atoms)
        if message is not None:
            warnings.warn(message, MDWarning, stacklevel=2)
        return message

    # ------------------------------------------------------------------ derived
    @property
    def inner_timestep_fs(self) -> float:
        """The fast part's step, in fs."""
        return self.timestep_fs / self.inner_steps

    @property
    def time_ps(self) -> float:
        """Run length in ps."""
        return self.steps * self.timestep_fs / 1000.0

    @property
    def timestep(self) -> float:
        """Outer time step in ASE time units."""
        from ase import units

        return self.timestep_fs * units.fs

    @property
    def friction(self) -> float:
        """Langevin friction in ASE units (1 / thermostat time)."""
        from ase import units

        return 1.0 / (self.thermostat_time_fs * units.fs)

    @property
    def taut(self) -> float:
        """Bussi / Nose-Hoover time constant in ASE units."""
        from ase import units

        return self.thermostat_time_fs * units.fs

    @property
    def reference_temperature_K(self) -> Optional[float]:
        """The temperature the run should hold: the target, else the initial one."""
        return self.temperature_K if self.temperature_K is not None else self.init_temperature_K


# the settings a trajectory records for restarts, their atoms.info keys and options
RECORDED = ("timestep_fs", "inner_steps", "ensemble", "temperature_K", "thermostat_time_fs")
RECORD_KEYS = {name: f"md_{name}" for name in RECORDED}
OPTION_NAMES = {
    "timestep_fs": "--timestep-fs",
    "inner_steps": "--inner-steps",
    "ensemble": "--ensemble",
    "temperature_K": "--temperature-K",
    "thermostat_time_fs": "--thermostat-time-fs",
}

# warn when the outer step exceeds this fraction of the fastest stretch period
RESONANCE_FRACTION = 1.0 / 3.0


def _round_down(value: float) -> str:
    return f"{math.floor(value * 10.0) / 10.0:g}"


def _check_positive(name, value):
    if not _finite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number, got {value}")


def inner_steps_from_timesteps(timestep_fs: float, inner_timestep_fs: float) -> int:
    """K from the outer and inner steps; the inner step must divide the outer one."""
    _check_positive("--inner-timestep-fs", inner_timestep_fs)
    ratio = timestep_fs / inner_timestep_fs
    k = int(round(ratio))
    if k < 1 or abs(ratio - k) > 1e-9 * ratio:
        raise InputError(
            f"--inner-timestep-fs {inner_timestep_fs:g} does not divide --timestep-fs "
            f"{timestep_fs:g} into a whole number of inner steps"
        )
    return k


def add_arguments(parser, *, engine=None, defaults=None):
    """Add the MD settings to an ``argparse`` parser, the same for every command.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    engine : {'ase', 'lammps'}, optional
        Restricts ``--ensemble`` to what the engine runs.
    defaults : dict, optional
        Defaults for ``ensemble``, ``timestep_fs``, ``inner_steps``, ``time_ps``,
        ``temperature_K``; an option with a default is no longer required.
    """
    defaults = dict(defaults or {})
    group = parser.add_argument_group("MD settings (fs, K)")
    group.add_argument(
        "--ensemble",
        choices=ENGINE_ENSEMBLES[engine] if engine else ENSEMBLES,
        default=defaults.get("ensemble", "langevin"),
        help="nve, langevin (BAOAB), bussi (velocity rescaling)"
        + (", nose-hoover (fix nvt)" if engine != "ase" else "")
        + f"; default {defaults.get('ensemble', 'langevin')}",
    )
    group.add_argument(
        "--temperature-K",
        type=float,
        default=defaults.get("temperature_K"),
        help="thermostat target in K (required by every ensemble but nve)",
    )
    group.add_argument(
        "--init-temperature-K",
        type=float,
        help="draw initial velocities at this temperature in K (default: --temperature-K, "
        "unless the structure carries velocities)",
    )
    group.add_argument(
        "--timestep-fs",
        type=float,
        default=defaults.get("timestep_fs"),
        required="timestep_fs" not in defaults,
        help="outer time step in fs (the slow part's step)",
    )
    inner = group.add_mutually_exclusive_group(required="inner_steps" not in defaults)
    inner.add_argument(
        "--inner-steps",
        "-K",
        type=int,
        default=defaults.get("inner_steps"),
        help="K, fast steps per outer step (1: single-step MD)",
    )
    inner.add_argument(
        "--inner-timestep-fs", type=float, help="fast time step in fs; must divide --timestep-fs"
    )
    length = group.add_mutually_exclusive_group(required="time_ps" not in defaults)
    length.add_argument("--steps", type=int, help="run length in outer steps")
    length.add_argument("--time-ps", type=float, default=defaults.get("time_ps"), help="run length in ps")
    group.add_argument(
        "--thermostat-time-fs",
        type=float,
        default=DEFAULT_THERMOSTAT_TIME_FS,
        help="thermostat time constant in fs: 1/friction (Langevin), tau (Bussi), Tdamp "
        f"(Nose-Hoover); default {DEFAULT_THERMOSTAT_TIME_FS:g}",
    )
    group.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    group.add_argument(
        "--loginterval",
        type=int,
        default=DEFAULT_LOGINTERVAL,
        help=f"outer steps between log lines and frames (default {DEFAULT_LOGINTERVAL})",
    )
    return group
