#!/usr/bin/env python
"""Generate a GFN1-xTB reference dataset of a molecular liquid by Langevin MD.

A periodic cubic box of ``--n-molecules`` copies of one molecule
(``ase.build.molecule(--molecule)``, e.g. ``CH3OH``, ``H2O``, ``CH3CN``,
``CH3CH2OH``, ``NH3``) is filled at the requested density: the molecular centres
of mass sit on a cubic lattice (fcc, bcc or simple cubic, whichever has exactly
that many sites, fcc first; otherwise a random subset of the smallest fcc lattice
with enough sites) with uniformly random orientations.  The box is briefly relaxed
with FIRE, equilibrated with Langevin dynamics, and then sampled every
``--stride`` MD steps until ``--n-frames`` frames are stored.  Each frame carries
the GFN1-xTB energy (eV), forces (eV/Å) and stress (eV/Å^3, ASE sign convention)
through a ``SinglePointCalculator``, the momenta of the MD state,
``config_type=md`` and ``md_step`` (MD steps since the start of the
equilibration).

Frames are appended to a *work file*, one frame at a time, so a killed run keeps
its work.  A work file ending in ``.gz`` (the default) is a series of gzip members,
one per frame: compact enough to commit, and readable by ``gzip``/``ase.io.read``
as it stands.  A plain ``.extxyz`` work file is also accepted.  The equilibration
writes a checkpoint frame (``config_type=equilibration``) every
``--equil-checkpoint`` steps, so it resumes too.  ``--resume`` continues from the
last complete frame of the work file (dropping a truncated tail), or extends a
finished ``--output``.  When all frames are present, the ``md`` frames are
compressed into ``--output`` (``.extxyz.gz``) and the work file is removed.

Units: energies eV, forces eV/Å, time fs, temperature K, density g/cm^3.

Example (the command used for benchmarks/data/methanol_gfn1.extxyz.gz; its defaults
are this script's)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/make_liquid_data.py

``benchmarks/make_water_data.py`` is this module with water's settings and geometry.
Set ``OMP_NUM_THREADS`` explicitly: tblite uses OpenMP and oversubscribing the
cores makes it dramatically slower.
"""

from __future__ import annotations

import argparse
import gzip
import io
import logging
import os
import shutil
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator

LOG = logging.getLogger("make_liquid_data")

_AVOGADRO = 6.02214076e23
_HERE = Path(__file__).resolve().parent

#: defaults of this script: 16 methanol molecules (96 atoms) at 300 K
METHANOL_DEFAULTS = dict(
    description=__doc__.split("\n\n")[0],
    molecule="CH3OH",
    n_molecules=16,
    density=0.79,
    output=_HERE / "data" / "methanol_gfn1.extxyz.gz",
    workfile_suffix=".partial.extxyz.gz",
    temperature=300.0,
    timestep=0.5,
    equil_steps=4000,
    stride=10,
    n_frames=400,
    log_every=10,
    seed=20260701,
)


def build_parser(
    description: str,
    molecule: str,
    n_molecules: int,
    density: float,
    output: Path,
    workfile_suffix: str,
    temperature: float,
    timestep: float,
    equil_steps: int,
    stride: int,
    n_frames: int,
    log_every: int,
    seed: int,
    friction: float = 0.01,
    min_dist: float = 1.7,
    equil_checkpoint: int = 100,
) -> argparse.ArgumentParser:
    """The command line, with the defaults of one liquid (see :data:`METHANOL_DEFAULTS`)."""
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--output", type=Path, default=output, help="final gzipped extxyz file")
    p.add_argument(
        "--workfile",
        type=Path,
        default=None,
        help=f"incremental work file; .gz = one gzip member per frame (default: OUTPUT with {workfile_suffix})",
    )
    p.set_defaults(workfile_suffix=workfile_suffix)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last complete frame in the work file (or in OUTPUT "
        "if there is no work file, e.g. to extend a finished dataset)",
    )
    p.add_argument("--keep-workfile", action="store_true", help="keep the work file after compressing it")
    p.add_argument("--molecule", default=molecule, help="name for ase.build.molecule")
    p.add_argument(
        "--n-molecules",
        type=int,
        default=n_molecules,
        help="molecules; 4n^3, 2n^3 or n^3 fill a lattice exactly",
    )
    p.add_argument("--density", type=float, default=density, help="g/cm^3")
    p.add_argument(
        "--min-dist",
        type=float,
        default=min_dist,
        help="minimum intermolecular atom distance when placing molecules, Å",
    )
    p.add_argument("--method", default="GFN1-xTB", choices=["GFN1-xTB", "GFN2-xTB"])
    p.add_argument(
        "--accuracy", type=float, default=1.0, help="tblite accuracy (lower = tighter SCC convergence)"
    )
    p.add_argument(
        "--electronic-temperature", type=float, default=300.0, help="Fermi smearing temperature, K"
    )
    p.add_argument("--temperature", type=float, default=temperature, help="thermostat temperature, K")
    p.add_argument("--timestep", type=float, default=timestep, help="MD time step, fs")
    p.add_argument(
        "--friction",
        type=float,
        default=friction,
        help="Langevin friction, 1/fs (0.01 = 100 fs relaxation time)",
    )
    p.add_argument("--relax-steps", type=int, default=40, help="max FIRE pre-relaxation steps")
    p.add_argument("--relax-fmax", type=float, default=0.5, help="FIRE force threshold, eV/Å")
    p.add_argument(
        "--equil-steps", type=int, default=equil_steps, help="Langevin equilibration steps before sampling"
    )
    p.add_argument(
        "--equil-checkpoint",
        type=int,
        default=equil_checkpoint,
        help="write an equilibration checkpoint frame to the work file every N steps (0: none)",
    )
    p.add_argument("--stride", type=int, default=stride, help="MD steps between stored frames")
    p.add_argument("--n-frames", type=int, default=n_frames, help="number of frames to store")
    p.add_argument("--log-every", type=int, default=log_every, help="log a summary line every N frames")
    p.add_argument("--seed", type=int, default=seed)
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm bar")
    p.add_argument(
        "--summary", action="store_true", help="only print sanity statistics of an existing OUTPUT and exit"
    )
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser(**METHANOL_DEFAULTS).parse_args(argv)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation matrix (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def molecule_template(name: str) -> Atoms:
    """``ase.build.molecule(name)`` with its centre of mass at the origin."""
    from ase.build import molecule

    mol = molecule(name)
    mol.positions -= mol.get_center_of_mass()
    mol.set_cell(None)
    mol.pbc = False
    return mol


_LATTICES = {
    "fcc": (4, np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])),
    "bcc": (2, np.array([[0, 0, 0], [0.5, 0.5, 0.5]])),
    "sc": (1, np.array([[0, 0, 0]])),
}


def lattice_sites(n_molecules: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """Fractional lattice sites for ``n_molecules`` centres in a unit cube.

    The first of fcc (4n^3 sites), bcc (2n^3), simple cubic (n^3) with exactly
    ``n_molecules`` sites; else a random subset of the smallest fcc lattice with
    more sites (drawn from ``rng``).
    """
    if n_molecules < 1:
        raise ValueError(f"n_molecules must be >= 1, got {n_molecules}")
    for name, (per_cell, basis) in _LATTICES.items():
        n_cells = round((n_molecules / per_cell) ** (1 / 3))
        if per_cell * n_cells**3 == n_molecules:
            break
    else:
        name, (per_cell, basis) = "fcc subset", _LATTICES["fcc"]
        n_cells = 1
        while 4 * n_cells**3 < n_molecules:
            n_cells += 1
    grid = np.array([[i, j, k] for i in range(n_cells) for j in range(n_cells) for k in range(n_cells)])
    sites = ((grid[:, None, :] + basis[None]) / n_cells).reshape(-1, 3)
    if len(sites) > n_molecules:
        sites = sites[np.sort(rng.choice(len(sites), n_molecules, replace=False))]
    return name, sites


def build_box(
    template: Atoms,
    n_molecules: int,
    density: float,
    rng: np.random.Generator,
    min_dist: float = 1.7,
    max_tries: int = 1000,
) -> Atoms:
    """Cubic periodic box of randomly oriented copies of ``template`` at ``density`` (g/cm^3).

    ``template`` is one molecule centred on its centre of mass (its masses set the
    box size).  The centres sit on a lattice (:func:`lattice_sites`); a molecule
    whose atoms come closer than ``min_dist`` to an already placed one (minimum
    image) gets a new random orientation.  Atoms are ordered molecule by molecule,
    in the template's order.
    """
    mass_g = n_molecules * template.get_masses().sum() / _AVOGADRO
    length = (mass_g / density * 1e24) ** (1 / 3)  # cm^3 -> Å^3
    _, sites = lattice_sites(n_molecules, rng)
    centres = sites * length
    tmpl = template.positions
    cell = np.eye(3) * length

    placed: list[np.ndarray] = []
    for c in centres:
        for _ in range(max_tries):
            mol = c + tmpl @ random_rotation(rng).T
            if not placed:
                break
            others = np.concatenate(placed)
            d = mol[:, None, :] - others[None, :, :]
            d -= length * np.round(d / length)  # minimum image in a cubic box
            if np.sqrt((d**2).sum(-1)).min() >= min_dist:
                break
        else:
            raise RuntimeError(
                f"could not place molecule {len(placed)} without an intermolecular distance "
                f"below {min_dist} Å; lower --min-dist or --density"
            )
        placed.append(mol)
    symbols = template.get_chemical_symbols() * n_molecules
    atoms = Atoms(symbols, positions=np.concatenate(placed), cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def make_calculator(args):
    from tblite.ase import TBLite

    return TBLite(
        method=args.method,
        accuracy=args.accuracy,
        electronic_temperature=args.electronic_temperature,
        verbosity=0,
    )


def snapshot(atoms: Atoms) -> Atoms:
    """Copy of ``atoms`` with energy/forces/stress frozen in a SinglePointCalculator."""
    calc = atoms.calc
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if atoms.pbc.all() and "stress" in calc.results:
        results["stress"] = calc.results["stress"].copy()
    frame = atoms.copy()  # keeps momenta
    frame.set_constraint()
    frame.calc = SinglePointCalculator(frame, **results)
    return frame


# --------------------------------------------------------------------------- work file


def _complete_frames_text(text: str) -> tuple[str, int]:
    """The complete extxyz frames at the start of ``text`` and how many there are."""
    lines = text.splitlines(keepends=True)
    i = n_frames = 0
    while i < len(lines):
        try:
            n = int(lines[i].split()[0])
        except (ValueError, IndexError):
            break
        if i + 2 + n > len(lines):
            break
        i += 2 + n
        n_frames += 1
    return "".join(lines[:i]), n_frames


def _read_gzip_members(path: Path) -> tuple[str, int]:
    """Text of the complete gzip members of ``path`` and the byte length they fill."""
    data = path.read_bytes()
    parts, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        try:
            out = d.decompress(data[pos:])
        except zlib.error:
            break
        if not d.eof:
            break
        parts.append(out.decode())
        pos = len(data) - len(d.unused_data)
    return "".join(parts), pos


def read_complete_frames(path: Path, repair: bool = True) -> list[Atoms]:
    """Read a (possibly truncated) work file, dropping an incomplete tail.

    A ``.gz`` work file is a series of gzip members (one per frame); anything else
    is plain extxyz.  With ``repair`` the file itself is cut after its last complete
    frame (for a resume); without, it is only read (safe while a job writes to it).
    """
    from ase.io import read

    if not path.exists() or path.stat().st_size == 0:
        return []
    if path.suffix == ".gz":
        text, good_bytes = _read_gzip_members(path)
        good, n_frames = _complete_frames_text(text)
        if good != text:  # a member ending mid-frame: never written by append_frame
            raise RuntimeError(f"{path}: a gzip member holds an incomplete frame")
        if repair and good_bytes < path.stat().st_size:
            LOG.warning("dropping %d trailing bytes of an incomplete frame", path.stat().st_size - good_bytes)
            with open(path, "r+b") as fh:
                fh.truncate(good_bytes)
    else:
        text = path.read_text()
        good, n_frames = _complete_frames_text(text)
        if repair and good != text:
            LOG.warning(
                "dropping %d trailing lines of an incomplete frame", text.count("\n") - good.count("\n")
            )
            path.write_text(good)
    if not n_frames:
        return []
    return read(io.StringIO(good), index=":", format="extxyz")


def append_frame(path: Path, frame: Atoms) -> None:
    """Append one frame to the work file (a gzip member of its own for ``.gz``) and flush it."""
    from ase.io import write

    buf = io.StringIO()
    write(buf, frame, format="extxyz")
    if path.suffix == ".gz":
        data = gzip.compress(buf.getvalue().encode(), compresslevel=9, mtime=0)
        with open(path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    else:
        with open(path, "a") as fh:
            fh.write(buf.getvalue())
            fh.flush()


def _lock(work: Path):
    """An exclusive lock (``fcntl.flock``) on ``work.lock``, or SystemExit if another job holds it."""
    import fcntl

    fh = open(work.with_name(work.name + ".lock"), "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise SystemExit(f"another job is writing {work} (it holds {fh.name}); stop it first") from None
    return fh


def _config_type(frame: Atoms) -> str:
    return frame.info.get("config_type", "md")


# --------------------------------------------------------------------------- checks


def molecule_bonds(template: Atoms, bond_scale: float = 1.2) -> np.ndarray:
    """Covalent bonds (pairs of atom indices, i < j) of one molecule from natural cutoffs."""
    from ase.neighborlist import natural_cutoffs, neighbor_list

    i, j = neighbor_list("ij", template, np.asarray(natural_cutoffs(template, mult=bond_scale)))
    keep = i < j
    return np.stack([i[keep], j[keep]], axis=1)


def intactness(frame: Atoms, n_atoms_per_molecule: int, bonds: np.ndarray) -> dict:
    """Whether the molecules of ``frame`` (ordered molecule by molecule) are intact.

    Returns the bond lengths of every template bond in every molecule (``lengths``,
    shape (molecules, bonds)), the molecule count of the covalent graph
    (``n_molecules``, :func:`nequip_mts.analysis.molecules.find_molecules`), whether
    that graph is exactly the one of separate template molecules (``intact``), and how
    many H atoms are nearer to a heavy atom of another molecule than to every one of
    their own (``h_transfers``).
    """
    from ase.geometry import find_mic, get_distances

    from nequip_mts.analysis.molecules import find_molecules

    m = n_atoms_per_molecule
    n_mol = len(frame) // m
    base = (np.arange(n_mol) * m)[:, None]
    vec = frame.positions[base + bonds[:, 1]] - frame.positions[base + bonds[:, 0]]
    vec, _ = find_mic(vec.reshape(-1, 3), frame.cell, frame.pbc)
    lengths = np.linalg.norm(vec, axis=1).reshape(n_mol, len(bonds))
    mols = find_molecules(frame)
    own = np.arange(len(frame)) // m
    # intact: one graph component per molecule, each exactly one template block
    intact = mols.n_molecules == n_mol and all(len(set(mols.labels[own == k])) == 1 for k in range(n_mol))
    h = np.flatnonzero(frame.numbers == 1)
    heavy = np.flatnonzero(frame.numbers != 1)
    transfers = 0
    if len(h) and len(heavy):
        d = get_distances(frame.positions[h], frame.positions[heavy], cell=frame.cell, pbc=frame.pbc)[1]
        transfers = int(np.count_nonzero(own[heavy][d.argmin(axis=1)] != own[h]))
    return {"lengths": lengths, "n_molecules": mols.n_molecules, "intact": intact, "h_transfers": transfers}


def _pressure_bar(frame: Atoms) -> float:
    if "stress" not in frame.calc.results:
        return float("nan")
    return -frame.get_stress()[:3].mean() / units.bar


def summarize(path: Path, template: Atoms) -> dict:
    """Sanity statistics of a finished dataset (energies eV, forces eV/Å, T K, lengths Å).

    Assumes the molecule-by-molecule atom ordering of :func:`build_box`; the covalent
    bonds of ``template`` (one molecule) are the ones checked in every frame.
    """
    from ase.io import read

    if template is None:
        raise ValueError("summarize needs the molecule template")
    if ".partial." in path.name:  # a work file, maybe being written: read, never repair
        frames = read_complete_frames(path, repair=False)
    else:
        frames = read(path, index=":")
    n_distorted = sum(_config_type(f) == "distorted" for f in frames)
    n_equil = sum(_config_type(f) == "equilibration" for f in frames)
    frames = [f for f in frames if _config_type(f) == "md"]  # the MD frames
    if not frames:
        print(f"{path.name}: no md frames yet ({n_equil} equilibration checkpoints)")
        return {"frames": 0, "equilibration_frames": n_equil}
    n = len(frames[0])
    m = len(template)
    bonds = molecule_bonds(template)
    symbols = template.get_chemical_symbols()
    e = np.array([f.get_potential_energy() for f in frames]) / n
    f = np.concatenate([f.get_forces() for f in frames])
    temps = np.array([fr.get_temperature() for fr in frames])
    checks = [intactness(fr, m, bonds) for fr in frames]
    lengths = np.stack([c["lengths"] for c in checks])  # (frames, molecules, bonds)
    press = [_pressure_bar(fr) for fr in frames if "stress" in fr.calc.results]
    stats = {
        "frames": len(frames),
        "distorted_frames": n_distorted,
        "atoms": n,
        "molecules": n // m,
        "has_stress": all("stress" in fr.calc.results for fr in frames),
        "energy_per_atom_mean_eV": e.mean(),
        "energy_per_atom_std_eV": e.std(),
        "force_rms_eV_A": np.sqrt((f**2).mean()),
        "force_max_eV_A": np.abs(f).max(),
        "temperature_mean_K": temps.mean(),
        "temperature_std_K": temps.std(),
        "pressure_mean_bar": np.mean(press) if press else float("nan"),
        "pressure_std_bar": np.std(press) if press else float("nan"),
    }
    pairs: dict[str, list[int]] = {}
    for k, (a, b) in enumerate(bonds):
        name = "-".join(sorted([symbols[a], symbols[b]], key=lambda s: (s == "H", s)))
        pairs.setdefault(name, []).append(k)
    for name, ks in pairs.items():
        x = lengths[:, :, ks]
        stats[f"bond_{name}_min_A"] = x.min()
        stats[f"bond_{name}_mean_A"] = x.mean()
        stats[f"bond_{name}_max_A"] = x.max()
    stats["frames_not_intact"] = sum(not c["intact"] for c in checks)
    stats["H_nearer_to_other_molecule"] = sum(c["h_transfers"] for c in checks)
    stats["file_MB"] = path.stat().st_size / 1e6
    for k, v in stats.items():
        print(f"{k:28s} {v:.6g}" if isinstance(v, float) else f"{k:28s} {v}")
    return stats


# --------------------------------------------------------------------------- main


def work_path(args) -> Path:
    out = args.output
    return args.workfile or out.with_name(out.name.replace(".extxyz.gz", "") + args.workfile_suffix)


def main(
    argv=None, parser: argparse.ArgumentParser | None = None, template: Callable[[], Atoms] | None = None
):
    """Run the generator; ``parser`` and ``template`` (a function returning one molecule)
    let a wrapper set another liquid's defaults and geometry."""
    parser = parser or build_parser(**METHANOL_DEFAULTS)
    args = parser.parse_args(argv)
    mol = template() if template is not None else molecule_template(args.molecule)
    if args.summary:
        # the finished file, or else the MD frames stored so far in the work file
        summarize(args.output if args.output.exists() else work_path(args), mol)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.optimize import FIRE
    from tqdm import tqdm

    out = args.output
    work = work_path(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    LOG.info("OMP_NUM_THREADS=%s  settings: %s", os.environ.get("OMP_NUM_THREADS"), vars(args))
    lock = _lock(work)  # held until the process ends: one job per work file

    if args.resume and not work.exists() and out.exists():
        if "config_type=distorted" in gzip.open(out, "rt").read():
            raise SystemExit(
                f"{out} already holds distorted frames; extend the MD "
                "data first (from a copy without them), then augment again"
            )
        # extend a finished dataset: start again from its frames
        if work.suffix == ".gz":
            shutil.copyfile(out, work)  # a single gzip member is a valid work file
        else:
            with gzip.open(out, "rb") as src, open(work, "wb") as dst:
                shutil.copyfileobj(src, dst)
    existing = read_complete_frames(work) if args.resume else []
    if not args.resume and work.exists():
        work.unlink()
    rng = np.random.default_rng(args.seed + len(existing))
    bonds = molecule_bonds(mol)
    m = len(mol)

    def check_line(frame):
        c = intactness(frame, m, bonds)
        return (
            f"molecules {c['n_molecules']}/{len(frame) // m} "
            f"{'intact' if c['intact'] else 'NOT INTACT'}, bonds {c['lengths'].min():.3f}-"
            f"{c['lengths'].max():.3f} Å, H nearer to another molecule: {c['h_transfers']}"
        )

    n_md = sum(_config_type(f) == "md" for f in existing)
    step = 0
    if existing:
        atoms = existing[-1].copy()  # positions + momenta of the last stored state
        atoms.calc = make_calculator(args)
        last = existing[-1].info
        # frames without md_step (older water work files) were written after the equilibration
        step = int(last.get("md_step", args.equil_steps + n_md * args.stride))
        LOG.info("resuming after %d stored frames (%d md) at MD step %d", len(existing), n_md, step)
    else:
        atoms = build_box(mol, args.n_molecules, args.density, rng, args.min_dist)
        LOG.info(
            "%s: %d molecules, box %.4f Å, %d atoms, density %.3f g/cm^3, lattice %s",
            args.molecule,
            args.n_molecules,
            atoms.cell[0, 0],
            len(atoms),
            atoms.get_masses().sum() / units.mol / atoms.get_volume() * 1e24,
            lattice_sites(args.n_molecules, np.random.default_rng(0))[0],
        )
        atoms.calc = make_calculator(args)
        t0 = time.perf_counter()
        e0 = atoms.get_potential_energy()
        LOG.info(
            "initial E = %.4f eV (%.4f eV/atom), max|F| = %.3f eV/Å, P = %.0f bar, call %.2f s",
            e0,
            e0 / len(atoms),
            np.abs(atoms.get_forces()).max(),
            -atoms.get_stress()[:3].mean() / units.bar,
            time.perf_counter() - t0,
        )
        opt = FIRE(atoms, logfile=None)
        opt.run(fmax=args.relax_fmax, steps=args.relax_steps)
        LOG.info(
            "after %d FIRE steps: E = %.4f eV, max|F| = %.3f eV/Å, P = %.0f bar; %s",
            opt.nsteps,
            atoms.get_potential_energy(),
            np.abs(atoms.get_forces()).max(),
            -atoms.get_stress()[:3].mean() / units.bar,
            check_line(snapshot(atoms)),
        )
        thermalize_momenta(atoms, temperature_K=args.temperature, rng=rng)
        Stationary(atoms)

    # Fixed centre of mass via a constraint (ASE's recommended replacement for
    # Langevin(fixcm=True), which does not sample NVT exactly); stripped in snapshot().
    atoms.set_constraint(FixCom())

    dyn = Langevin(
        atoms,
        args.timestep * units.fs,
        temperature_K=args.temperature,
        friction=args.friction / units.fs,
        fixcm=False,
        rng=rng,
    )

    def store(config_type):
        frame = snapshot(atoms)
        frame.info["config_type"] = config_type
        frame.info["md_step"] = step
        append_frame(work, frame)
        return frame

    if step < args.equil_steps:
        t0, step0 = time.perf_counter(), step
        chunk = args.equil_checkpoint if args.equil_checkpoint > 0 else args.equil_steps
        bar = tqdm(total=args.equil_steps, initial=step, desc="equilibration", disable=args.no_progress)
        while step < args.equil_steps:
            n = min(chunk, args.equil_steps - step)
            dyn.run(n)
            step += n
            bar.update(n)
            if step < args.equil_steps and args.equil_checkpoint > 0:
                frame = store("equilibration")
                LOG.info(
                    "equilibration step %d/%d (%.0f fs): T = %.1f K, E = %.4f eV, P = %.0f bar, "
                    "%.2f s/step; %s",
                    step,
                    args.equil_steps,
                    step * args.timestep,
                    frame.get_temperature(),
                    frame.get_potential_energy(),
                    _pressure_bar(frame),
                    (time.perf_counter() - t0) / (step - step0),
                    check_line(frame),
                )
        bar.close()
        LOG.info(
            "equilibrated %d steps (%.1f fs) in %.0f s this run: T = %.1f K, E = %.4f eV",
            args.equil_steps,
            args.equil_steps * args.timestep,
            time.perf_counter() - t0,
            atoms.get_temperature(),
            atoms.get_potential_energy(),
        )

    n_have = n_md
    n_new = 0
    temps = [f.get_temperature() for f in existing if _config_type(f) == "md"]
    t_start = time.perf_counter()
    bar = tqdm(total=args.n_frames, initial=n_have, desc="frames", disable=args.no_progress)
    while n_have < args.n_frames:
        dyn.run(args.stride)
        step += args.stride
        frame = store("md")
        n_have += 1
        n_new += 1
        temps.append(frame.get_temperature())
        bar.update(1)
        if n_have % args.log_every == 0 or n_have == args.n_frames:
            el = time.perf_counter() - t_start
            e = frame.get_potential_energy()
            f = frame.get_forces()
            s_per_step = el / (n_new * args.stride)
            # t_sampled counts only MD run in this process (resumes restart the clock)
            LOG.info(
                "frame %4d/%d  t_sampled=%.0f fs  E=%.4f eV (%.5f eV/atom)  T=%.1f K "
                "(mean %.1f K)  F_rms=%.3f eV/Å  P=%.0f bar  %.2f s/step  ETA %.1f h; %s",
                n_have,
                args.n_frames,
                n_new * args.stride * args.timestep,
                e,
                e / len(frame),
                temps[-1],
                np.mean(temps),
                np.sqrt((f**2).mean()),
                _pressure_bar(frame),
                s_per_step,
                (args.n_frames - n_have) * args.stride * s_per_step / 3600,
                check_line(frame),
            )
    bar.close()

    frames = [f for f in read_complete_frames(work) if _config_type(f) == "md"]
    buf = io.StringIO()
    from ase.io import write

    write(buf, frames, format="extxyz")
    with (
        open(out, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0) as dst,
    ):
        dst.write(buf.getvalue().encode())
    if not args.keep_workfile:
        work.unlink()
    lock.close()
    Path(lock.name).unlink(missing_ok=True)
    LOG.info("wrote %s (%d frames, %.2f MB)", out, len(frames), out.stat().st_size / 1e6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
