"""Write LAMMPS inputs for deployed nequip-mts models.

:func:`write_data_file` turns an ASE structure into a LAMMPS data file whose atom types
follow the deploy step's ``type_names``.  :func:`lammps_input` writes an input script
that runs either

* ``respa``: the fast and slow models as two ``allegro/mts`` instances under
  ``pair_style hybrid/overlay`` and ``run_style respa 2 K hybrid 1 2`` (fast force on
  the inner level, slow force on the outer level), or
* ``verlet``: the single ``sum`` model (or, if none was deployed, the fast and slow
  models overlaid) with ordinary velocity Verlet,

in the NVE, NVT (``fix nvt``) or Langevin (``fix langevin`` + ``fix nve``) ensemble.
Only light imports here (no torch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

__all__ = [
    "ENSEMBLES",
    "INTEGRATORS",
    "MDSettings",
    "read_deploy",
    "write_data_file",
    "lammps_input",
    "write_lammps_input",
    "suggest_skin",
]

ENSEMBLES = ("nve", "nvt", "langevin")
INTEGRATORS = ("respa", "verlet")


def read_deploy(path: Union[str, os.PathLike]) -> Dict:
    """Read ``mts_deploy.json`` (or its directory) and check it is a LAMMPS deploy."""
    from nequip_mts.deploy.metadata import read_metadata

    meta = read_metadata(path)
    if meta.get("target") != "pair_allegro":
        raise ValueError(
            f"{path}: deploy target is {meta.get('target')!r}; LAMMPS needs models compiled with "
            "`nequip-mts-deploy ... --target pair_allegro`"
        )
    for part in ("fast", "slow", "sum"):
        if part in meta and not Path(meta[part]["path"]).exists():
            raise FileNotFoundError(f"{path}: {part} model file {meta[part]['path']} is missing")
    return meta


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
    if velocities is None:
        velocities = bool(np.any(atoms.get_momenta() != 0.0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fd:
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


@dataclass
class MDSettings:
    """What the input script runs.  Times in fs, temperatures in K."""

    integrator: str = "respa"  # respa | verlet
    ensemble: str = "nve"  # nve | nvt | langevin
    timestep_fs: float = 2.0  # outer step for respa, the step for verlet
    inner_steps: int = 4  # K: fast steps per outer step (respa only)
    steps: int = 1000  # number of (outer) steps
    temperature_K: float = 300.0  # thermostat target (nvt, langevin)
    init_temperature_K: Optional[float] = None  # draw velocities if set
    tdamp_fs: float = 100.0  # nvt Tdamp / langevin damp
    seed: int = 12345
    skin: Optional[float] = None  # neighbour skin in A (None: suggest_skin)
    thermo_every: int = 10
    dump_every: int = 0  # 0 = no dump
    dump_file: str = "traj.lammpstrj"
    newton: bool = True  # only for testing the error message

    def check(self):
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {INTEGRATORS}")
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"ensemble must be one of {ENSEMBLES}")
        if self.inner_steps < 1:
            raise ValueError("inner_steps must be >= 1")
        if self.timestep_fs <= 0:
            raise ValueError("timestep_fs must be positive")


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


def _pair_lines(meta: Dict, settings: MDSettings, relative_to: Optional[Path]) -> str:
    names = " ".join(meta["type_names"])

    def model(part):
        p = meta[part]["path"]
        return _rel(p, relative_to) if relative_to is not None else str(Path(p).resolve())

    def overlay():
        return (
            "pair_style      hybrid/overlay allegro/mts allegro/mts\n"
            f"pair_coeff      * * allegro/mts 1 {model('fast')} {names}\n"
            f"pair_coeff      * * allegro/mts 2 {model('slow')} {names}\n"
        )

    if settings.integrator == "respa":
        return (
            f"# fast model (r_max {meta['fast']['r_max']} A) = hybrid sub-style 1, slow model "
            f"(r_max {meta['slow']['r_max']} A) = sub-style 2\n" + overlay()
        )
    if "sum" in meta:
        return f"pair_style      allegro/mts\npair_coeff      * * {model('sum')} {names}\n"
    return "# no sum model deployed: the two parts overlaid give the same force\n" + overlay()


def lammps_input(
    meta: Dict,
    data_file: Union[str, os.PathLike],
    settings: MDSettings,
    plugin: Optional[Union[str, os.PathLike]] = None,
    relative_to: Optional[Union[str, os.PathLike]] = None,
    periodic: Sequence[bool] = (True, True, True),
) -> str:
    """The text of a LAMMPS input script (see module docstring)."""
    settings.check()
    rel = Path(relative_to) if relative_to is not None else None
    dt_ps = settings.timestep_fs / 1000.0
    skin = settings.skin if settings.skin is not None else suggest_skin(settings.timestep_fs)
    boundary = " ".join("p" if p else "f" for p in periodic)
    data = _rel(data_file, rel) if rel is not None else str(Path(data_file).resolve())

    lines = [
        f"# nequip-mts: {settings.integrator} {settings.ensemble} with allegro/mts",
        "# written by nequip_mts.lammps.inputs; run with OMP_NUM_THREADS=1 (see docs/lammps.md)",
        "units           metal",
        "atom_style      atomic",
        f"boundary        {boundary}",
        f"newton          {'on' if settings.newton else 'off'}",
        f"read_data       {data}",
        "",
    ]
    if plugin:
        lines += [f"plugin          load {plugin}", ""]
    else:
        lines += ["# allegro/mts is loaded from LAMMPS_PLUGIN_PATH (or add: plugin load <path>)", ""]
    lines += [_pair_lines(meta, settings, rel).rstrip("\n"), ""]

    lines += [
        "# lists are rebuilt only at outer steps: the skin must cover one outer step of motion"
        if settings.integrator == "respa"
        else "# neighbour skin (A); lists are checked every step",
        f"neighbor        {skin:g} bin",
        "neigh_modify    every 1 delay 0 check yes",
        "",
        f"timestep        {dt_ps:.10g}",
    ]
    if settings.integrator == "respa":
        k = settings.inner_steps
        lines += [
            f"# inner step = {settings.timestep_fs / k:g} fs (fast model), outer step = "
            f"{settings.timestep_fs:g} fs (slow model)",
            f"run_style       respa 2 {k} hybrid 1 2",
        ]
    else:
        lines += ["run_style       verlet"]
    lines += [""]

    if settings.init_temperature_K is not None:
        lines += [
            f"velocity        all create {settings.init_temperature_K:g} {settings.seed} "
            "mom yes rot no dist gaussian",
        ]
    t = settings.temperature_K
    damp_ps = settings.tdamp_fs / 1000.0
    if settings.ensemble == "nve":
        lines += ["fix             integrate all nve"]
    elif settings.ensemble == "nvt":
        lines += [f"fix             integrate all nvt temp {t:g} {t:g} {damp_ps:g}"]
    else:
        lines += [
            "fix             integrate all nve",
            f"fix             thermostat all langevin {t:g} {t:g} {damp_ps:g} {settings.seed + 1} zero yes",
        ]
    lines += [
        "",
        "thermo_style    custom step time temp pe ke etotal press",
        "thermo_modify   format float %.10g",
        f"thermo          {settings.thermo_every}",
    ]
    if settings.dump_every:
        lines += [
            f"dump            traj all custom {settings.dump_every} {settings.dump_file} "
            "id type xu yu zu vx vy vz fx fy fz",
            "dump_modify     traj sort id format float %.12g",
        ]
    lines += ["", f"run             {settings.steps}", ""]
    return "\n".join(lines)


def write_lammps_input(
    deploy: Union[str, os.PathLike],
    structure,
    outdir: Union[str, os.PathLike],
    settings: Optional[MDSettings] = None,
    plugin: Optional[Union[str, os.PathLike]] = None,
    input_name: Optional[str] = None,
    data_name: str = "system.data",
    index: Union[int, str] = -1,
) -> Dict[str, Path]:
    """Write ``<outdir>/<data_name>`` and the input script; return their paths.

    ``structure`` is an ``ase.Atoms`` or a file readable by ``ase.io.read`` (frame
    ``index``).  Model paths in the script are relative to ``outdir`` when close by.
    """
    import ase.io

    settings = settings or MDSettings()
    meta = read_deploy(deploy)
    atoms = structure if hasattr(structure, "get_positions") else ase.io.read(structure, index=index)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    data = write_data_file(atoms, outdir / data_name, meta["type_names"])
    text = lammps_input(
        meta, data, settings, plugin=plugin, relative_to=outdir, periodic=tuple(bool(p) for p in atoms.pbc)
    )
    name = input_name or f"in.{settings.integrator}_{settings.ensemble}"
    script = outdir / name
    script.write_text(text)
    return {"input": script, "data": data}
