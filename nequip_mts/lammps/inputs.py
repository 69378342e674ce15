"""Write LAMMPS inputs for deployed nequip-mts models.

:func:`write_data_file` turns an ASE structure into a LAMMPS data file whose atom types
follow the deploy step's ``type_names``.  :func:`lammps_input` writes an input script
that runs either

* ``respa``: for a co-trained deploy (split ``fast+slow``), the fast and slow models as
  two ``allegro/mts`` instances under ``pair_style hybrid/overlay`` and
  ``run_style respa 2 K hybrid 1 2`` (fast force on the inner level, slow force on the
  outer level); for a distilled deploy (split ``full-fast``, slow = full - fast), three
  instances under ``pair_style hybrid/scaled 1.0 ... -1.0 ... 1.0 ...`` and
  ``run_style respa 2 K hybrid 1 2 2`` (fast +1 on the inner level; fast -1 and full +1
  on the outer level), or
* ``verlet``: the single-step model (:func:`~nequip_mts.manifest.single_step_part`: the
  ``sum``, or the ``full`` model of a distilled deploy; a co-trained deploy without a sum
  gets the fast and slow models overlaid) with ordinary velocity Verlet,

in any ensemble of :class:`~nequip_mts.md.settings.MDSettings`: NVE (``fix nve``),
Langevin (``fix langevin`` + ``fix nve``), Bussi (``fix temp/csvr`` + ``fix nve``) or
Nose-Hoover (``fix nvt``). Only light imports here (no torch).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from nequip_mts.errors import InputError
from nequip_mts.files import atomic_write, check_output_path, refuse_existing
from nequip_mts.manifest import FAST, FULL, FULL_MINUS_FAST, SLOW, read_manifest, single_step_part, split_of
from nequip_mts.md.settings import MDSettings

__all__ = [
    "integrator_name",
    "lammps_input",
    "read_deploy",
    "respa_levels",
    "suggest_skin",
    "write_data_file",
    "write_lammps_input",
]


def read_deploy(path: Union[str, os.PathLike]) -> Dict:
    """Read a deploy manifest (or its directory) written for LAMMPS (target pair_allegro)."""
    return read_manifest(path, target="pair_allegro")


def write_data_file(
    atoms,
    path: Union[str, os.PathLike],
    type_names: Sequence[str],
    velocities: Optional[bool] = None,
) -> Path:
    """Write ``atoms`` as a LAMMPS ``atom_style atomic`` data file in metal units.

    LAMMPS type ``k`` (1-based) is ``type_names[k-1]``; every type name gets a type and a
    mass even if no atom of it is present, so the same ``pair_coeff`` line works for any
    structure.  Type names must be chemical symbols.  Velocities (from the atoms'
    momenta) are written when ``velocities`` is True, or when None and momenta are set.
    The structure needs a cell (LAMMPS needs a box). The file is written under a
    temporary name and renamed, so a failure leaves no partial file.
    """
    import numpy as np
    from ase.data import chemical_symbols
    from ase.io.lammpsdata import write_lammps_data

    type_names = list(type_names)
    bad = [t for t in type_names if t not in chemical_symbols]
    if bad:
        raise ValueError(f"type names {bad} are not chemical symbols; cannot assign masses")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(type_names))
    if unknown:
        raise ValueError(f"structure has elements {unknown} that the model does not know ({type_names})")
    if atoms.cell.rank < 3:
        raise InputError(
            "the structure has no full cell, and a LAMMPS data file needs a box: give it one "
            "(e.g. atoms.center(vacuum=10.0) in ASE, or a lattice in the file)"
        )
    if velocities is None:
        velocities = bool(np.any(atoms.get_momenta() != 0.0))
    path = check_output_path(path, "the data file")
    with atomic_write(path) as fd:
        write_lammps_data(
            fd,
            atoms,
            specorder=type_names,
            masses=True,
            velocities=velocities,
            units="metal",
            atom_style="atomic",
        )
    return path


def suggest_skin(timestep_fs: float, max_speed_A_per_fs: float = 0.1, floor: float = 1.0) -> float:
    """Neighbour skin that an outer step cannot outrun.

    Lists are checked and rebuilt only at outer steps, so between two checks an atom may
    move one outer step's worth beyond the ``skin/2`` trigger.  ``0.1 A/fs`` is about
    four times the thermal speed of hydrogen at 300 K.
    """
    return max(floor, round(4.0 * max_speed_A_per_fs * timestep_fs + 0.5, 1))


def _rel(path: Union[str, os.PathLike], start: Path) -> str:
    path = Path(path).resolve()
    try:
        rel = os.path.relpath(path, start.resolve())
    except ValueError:
        return str(path)
    return rel if not rel.startswith("../../..") else str(path)


def _pair_lines(meta: Dict, respa: bool, relative_to: Optional[Path]) -> str:
    names = " ".join(meta["type_names"])

    def model(part):
        p = meta[part]["path"]
        return _rel(p, relative_to) if relative_to is not None else str(Path(p).resolve())

    def r_max(part):
        return f"r_max {meta[part]['r_max']} A"

    def overlay():
        return (
            "pair_style      hybrid/overlay allegro/mts allegro/mts\n"
            f"pair_coeff      * * allegro/mts 1 {model(FAST)} {names}\n"
            f"pair_coeff      * * allegro/mts 2 {model(SLOW)} {names}\n"
        )

    if respa and split_of(meta) == FULL_MINUS_FAST:
        return (
            "# distilled deploy (split full-fast): slow force = full - fast, three hybrid/scaled sub-styles:\n"
            f"#   1: fast model ({r_max(FAST)}), scale +1, inner level (every inner step)\n"
            f"#   2: fast model ({r_max(FAST)}), scale -1, outer level\n"
            f"#   3: full model ({r_max(FULL)}), scale +1, outer level\n"
            "pair_style      hybrid/scaled 1.0 allegro/mts -1.0 allegro/mts 1.0 allegro/mts\n"
            f"pair_coeff      * * allegro/mts 1 {model(FAST)} {names}\n"
            f"pair_coeff      * * allegro/mts 2 {model(FAST)} {names}\n"
            f"pair_coeff      * * allegro/mts 3 {model(FULL)} {names}\n"
        )
    if respa:
        return (
            f"# fast model ({r_max(FAST)}) = hybrid sub-style 1, slow model "
            f"({r_max(SLOW)}) = sub-style 2\n" + overlay()
        )
    single = single_step_part(meta)
    if single is not None:
        note = f"# the full model ({r_max(FULL)}) alone: the whole potential\n" if single == FULL else ""
        return note + f"pair_style      allegro/mts\npair_coeff      * * {model(single)} {names}\n"
    return "# no sum model deployed: the two parts overlaid give the same force\n" + overlay()


def respa_levels(meta: Dict) -> str:
    """The ``hybrid`` levels of ``run_style respa 2 K``: ``1 2`` (fast, slow) for a
    co-trained deploy, ``1 2 2`` (fast +1, fast -1, full) for a distilled one."""
    return "1 2 2" if split_of(meta) == FULL_MINUS_FAST else "1 2"


def integrator_name(settings: MDSettings) -> str:
    """``respa`` for K > 1; ``verlet`` (one step, the sum or full model) for K = 1."""
    return "respa" if settings.inner_steps > 1 else "verlet"


def lammps_input(
    meta: Dict,
    data_file: Union[str, os.PathLike],
    settings: MDSettings,
    plugin: Optional[Union[str, os.PathLike]] = None,
    relative_to: Optional[Union[str, os.PathLike]] = None,
    periodic: Sequence[bool] = (True, True, True),
    *,
    skin: Optional[float] = None,
    dump_every: int = 0,
    dump_file: str = "traj.lammpstrj",
    newton: bool = True,
) -> str:
    """The text of a LAMMPS input script (see module docstring).

    Parameters
    ----------
    meta : dict
        The deploy manifest (:func:`read_deploy`).
    data_file : path
        The LAMMPS data file the script reads.
    settings : MDSettings
        The run; K = 1 gives plain verlet on the sum (or full) model, K > 1 r-RESPA.
    plugin : path, optional
        Plugin file for ``plugin load``; else LAMMPS_PLUGIN_PATH must provide it.
    relative_to : path, optional
        Write file paths relative to this directory (where LAMMPS will run).
    periodic : three bools
        Boundary conditions.
    skin : float, optional
        Neighbour skin in A (default :func:`suggest_skin` of the outer step).
    dump_every : int
        Steps between dump frames (0: no dump).
    newton : bool
        ``newton on`` (required by the pair style; off only to test its error).
    """
    settings.check("lammps")
    respa = integrator_name(settings) == "respa"
    rel = Path(relative_to) if relative_to is not None else None
    dt_ps = settings.timestep_fs / 1000.0
    skin = skin if skin is not None else suggest_skin(settings.timestep_fs)
    boundary = " ".join("p" if p else "f" for p in periodic)
    data = _rel(data_file, rel) if rel is not None else str(Path(data_file).resolve())

    lines = [
        f"# nequip-mts: {integrator_name(settings)} {settings.ensemble} with allegro/mts",
        "# written by nequip-mts write-lammps-input; run with OMP_NUM_THREADS=1 (see docs/lammps.md)",
        "units           metal",
        "atom_style      atomic",
        f"boundary        {boundary}",
        f"newton          {'on' if newton else 'off'}",
        f"read_data       {data}",
        "",
    ]
    if plugin:
        lines += [f"plugin          load {plugin}", ""]
    else:
        lines += ["# allegro/mts is loaded from LAMMPS_PLUGIN_PATH (or add: plugin load <path>)", ""]
    lines += [_pair_lines(meta, respa, rel).rstrip("\n"), ""]

    lines += [
        "# lists are rebuilt only at outer steps: the skin must cover one outer step of motion"
        if respa
        else "# neighbour skin (A); lists are checked every step",
        f"neighbor        {skin:g} bin",
        "neigh_modify    every 1 delay 0 check yes",
        "",
        f"timestep        {dt_ps:.10g}",
    ]
    if respa:
        k = settings.inner_steps
        slow = "full - fast" if split_of(meta) == FULL_MINUS_FAST else "slow model"
        lines += [
            f"# inner step = {settings.inner_timestep_fs:g} fs (fast model), outer step = "
            f"{settings.timestep_fs:g} fs ({slow})",
            f"run_style       respa 2 {k} hybrid {respa_levels(meta)}",
        ]
    else:
        lines += ["run_style       verlet"]
    lines += [""]

    # LAMMPS seeds must be positive
    velocity_seed, thermostat_seed = settings.seed + 1, settings.seed + 2
    if settings.init_temperature_K is not None:
        lines += [
            f"velocity        all create {settings.init_temperature_K:g} {velocity_seed} "
            "mom yes rot no dist gaussian",
        ]
    t = settings.temperature_K
    damp_ps = settings.thermostat_time_fs / 1000.0
    if settings.ensemble == "nose-hoover":
        lines += [f"fix             integrate all nvt temp {t:g} {t:g} {damp_ps:g}"]
    else:
        lines += ["fix             integrate all nve"]
    if settings.ensemble == "langevin":
        lines += [
            f"fix             thermostat all langevin {t:g} {t:g} {damp_ps:g} {thermostat_seed} zero yes"
        ]
    elif settings.ensemble == "bussi":
        lines += [f"fix             thermostat all temp/csvr {t:g} {t:g} {damp_ps:g} {thermostat_seed}"]
    lines += [
        "",
        "thermo_style    custom step time temp pe ke etotal press",
        "thermo_modify   format float %.10g",
        f"thermo          {settings.loginterval}",
    ]
    if dump_every:
        lines += [
            # the element column lets ase.io.read (and so nequip-mts analyze) name the atoms
            f"# frames every {dump_every * settings.timestep_fs:g} fs: "
            f"nequip-mts analyze {dump_file} --dt-fs {dump_every * settings.timestep_fs:g}",
            f"dump            traj all custom {dump_every} {dump_file} id type element xu yu zu vx vy vz fx fy fz",
            f"dump_modify     traj sort id element {' '.join(meta['type_names'])} format float %.12g",
        ]
    lines += ["", f"run             {settings.steps}", ""]
    return "\n".join(lines)


def write_lammps_input(
    deploy: Union[str, os.PathLike],
    structure,
    outdir: Union[str, os.PathLike],
    settings: MDSettings,
    plugin: Optional[Union[str, os.PathLike]] = None,
    input_name: Optional[str] = None,
    data_name: str = "system.data",
    index: Union[int, str] = -1,
    overwrite: bool = False,
    **script_options,
) -> Dict[str, Path]:
    """Write ``<outdir>/<data_name>`` and the input script; return their paths.

    ``structure`` is an ``ase.Atoms`` or a file readable by ``ase.io.read`` (frame
    ``index``). Model paths in the script are relative to ``outdir`` when close by.
    ``script_options`` (``skin``, ``dump_every``, ...) go to :func:`lammps_input`.
    Existing files are refused unless ``overwrite``; each file is written under a
    temporary name and renamed, so a failure leaves no partial file. An outer step long
    for the structure's fastest bond gets a warning
    (:meth:`~nequip_mts.md.settings.MDSettings.warn_outer_step`).
    """
    from nequip_mts.md.structure import read_structure

    settings.check("lammps")
    meta = read_deploy(deploy)
    atoms = structure if hasattr(structure, "get_positions") else read_structure(structure, index)
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"the output directory {outdir} is a file")
    name = input_name or f"in.{integrator_name(settings)}_{settings.ensemble}"
    script, data = outdir / name, outdir / data_name
    for path, what in ((script, "the input script"), (data, "the data file")):
        check_output_path(path, what)
    if not overwrite:
        refuse_existing((script, data))
    settings.warn_outer_step(atoms)
    text = lammps_input(
        meta,
        data,
        settings,
        plugin=plugin,
        relative_to=outdir,
        periodic=tuple(bool(p) for p in atoms.pbc),
        **script_options,
    )
    write_data_file(atoms, data, meta["type_names"])
    with atomic_write(script) as fd:
        fd.write(text)
    return {"input": script, "data": data}
