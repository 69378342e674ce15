#!/usr/bin/env python
"""Generate a GFN1-xTB liquid-water reference dataset by Langevin MD.

A periodic cubic box of ``--n-molecules`` rigidly-built H2O molecules is placed
on an fcc lattice (32 sites for 2x2x2 conventional cells) with random
orientations at the requested density, briefly relaxed with FIRE, equilibrated
with Langevin dynamics, and then sampled every ``--stride`` MD steps until
``--n-frames`` frames are stored.  Each frame carries the GFN1-xTB energy (eV),
forces (eV/Å) and stress (eV/Å^3, ASE sign convention) through a
``SinglePointCalculator``, plus the momenta of the MD state.

Frames are appended to a plain extxyz *work file* (flushed after every frame,
so a killed run keeps its work); ``--resume`` continues from the last complete
frame in that file (or extends a finished ``--output``).  When all frames are
present the work file is compressed to ``--output`` (``.extxyz.gz``;
``ase.io.read`` reads it directly) and removed.

Units: energies eV, forces eV/Å, time fs, temperature K, density g/cm^3.

Example (the command used for nequip_mts/data/water_gfn1.extxyz.gz, the data the package ships)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/make_water_data.py

Set ``OMP_NUM_THREADS`` explicitly: tblite uses OpenMP and oversubscribing the
cores makes it dramatically slower.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator

LOG = logging.getLogger("make_water_data")

# Gas-phase-like water geometry used to build the initial molecules.
_OH = 0.9572  # Å
_HOH = np.deg2rad(104.52)
_WATER_MASS_G_PER_MOL = 2 * 1.00794 + 15.9994
_AVOGADRO = 6.02214076e23


def parse_args(argv=None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--output",
        type=Path,
        default=here.parent / "nequip_mts" / "data" / "water_gfn1.extxyz.gz",
        help="final gzipped extxyz file",
    )
    p.add_argument(
        "--workfile",
        type=Path,
        default=None,
        help="incremental plain extxyz file (default: OUTPUT with .partial.extxyz)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last complete frame in the work file (or in OUTPUT "
        "if there is no work file, e.g. to extend a finished dataset)",
    )
    p.add_argument(
        "--keep-workfile", action="store_true", help="keep the plain extxyz work file after compressing it"
    )
    p.add_argument(
        "--n-molecules", type=int, default=32, help="number of H2O; must be 4*n^3 (fcc lattice of n^3 cells)"
    )
    p.add_argument("--density", type=float, default=1.0, help="g/cm^3")
    p.add_argument(
        "--min-dist",
        type=float,
        default=1.7,
        help="minimum intermolecular atom distance when placing molecules, Å",
    )
    p.add_argument("--method", default="GFN1-xTB", choices=["GFN1-xTB", "GFN2-xTB"])
    p.add_argument(
        "--accuracy", type=float, default=1.0, help="tblite accuracy (lower = tighter SCC convergence)"
    )
    p.add_argument(
        "--electronic-temperature", type=float, default=300.0, help="Fermi smearing temperature, K"
    )
    p.add_argument("--temperature", type=float, default=350.0, help="thermostat temperature, K")
    p.add_argument("--timestep", type=float, default=1.0, help="MD time step, fs")
    p.add_argument(
        "--friction", type=float, default=0.01, help="Langevin friction, 1/fs (0.01 = 100 fs relaxation time)"
    )
    p.add_argument("--relax-steps", type=int, default=40, help="max FIRE pre-relaxation steps")
    p.add_argument("--relax-fmax", type=float, default=0.5, help="FIRE force threshold, eV/Å")
    p.add_argument(
        "--equil-steps", type=int, default=300, help="Langevin equilibration steps before sampling"
    )
    p.add_argument("--stride", type=int, default=2, help="MD steps between stored frames")
    p.add_argument("--n-frames", type=int, default=420, help="number of frames to store")
    p.add_argument("--log-every", type=int, default=20, help="log a summary line every N frames")
    p.add_argument("--seed", type=int, default=20240611)
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm bar")
    p.add_argument(
        "--summary", action="store_true", help="only print sanity statistics of an existing OUTPUT and exit"
    )
    return p.parse_args(argv)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation matrix (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def water_template() -> np.ndarray:
    """O, H, H coordinates (Å) with the centre of mass near the origin."""
    h = 0.5 * _HOH
    pos = np.array(
        [[0.0, 0.0, 0.0], [_OH * np.sin(h), 0.0, _OH * np.cos(h)], [-_OH * np.sin(h), 0.0, _OH * np.cos(h)]]
    )
    m = np.array([15.9994, 1.00794, 1.00794])
    return pos - (m[:, None] * pos).sum(0) / m.sum()


def build_water_box(
    n_molecules: int, density: float, rng: np.random.Generator, min_dist: float = 1.7, max_tries: int = 1000
) -> Atoms:
    """Cubic periodic box of randomly oriented water molecules on an fcc lattice.

    The fcc lattice maximises the nearest-neighbour distance for a given
    density (3.48 Å for 32 molecules at 1 g/cm^3), so random orientations
    rarely clash; clashes (intermolecular atoms closer than ``min_dist``,
    minimum image) are resolved by redrawing that molecule's orientation.
    """
    n_cells = round((n_molecules / 4) ** (1 / 3))
    if 4 * n_cells**3 != n_molecules:
        raise ValueError(f"n_molecules must be 4*n^3 (4, 32, 108, ...), got {n_molecules}")
    mass_g = n_molecules * _WATER_MASS_G_PER_MOL / _AVOGADRO
    length = (mass_g / density * 1e24) ** (1 / 3)  # cm^3 -> Å^3
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.array([[i, j, k] for i in range(n_cells) for j in range(n_cells) for k in range(n_cells)])
    centres = ((grid[:, None, :] + basis[None]) / n_cells).reshape(-1, 3) * length
    tmpl = water_template()
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
            raise RuntimeError("could not place a molecule without overlap")
        placed.append(mol)
    atoms = Atoms("OH2" * n_molecules, positions=np.concatenate(placed), cell=cell, pbc=True)
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


def read_complete_frames(path: Path) -> list[Atoms]:
    """Read a (possibly truncated) extxyz work file, dropping an incomplete tail."""
    from ase.io import read

    if not path.exists() or path.stat().st_size == 0:
        return []
    lines = path.read_text().splitlines(keepends=True)
    frames, i, good_end = [], 0, 0
    while i < len(lines):
        try:
            n = int(lines[i].split()[0])
        except (ValueError, IndexError):
            break
        if i + 2 + n > len(lines):
            break
        i += 2 + n
        good_end = i
    if good_end < len(lines):
        LOG.warning("dropping %d trailing lines of an incomplete frame", len(lines) - good_end)
        path.write_text("".join(lines[:good_end]))
    if good_end:
        frames = read(path, index=":", format="extxyz")
    return frames


def summarize(path: Path) -> dict:
    """Sanity statistics of a finished dataset (energies eV, forces eV/Å, T K, lengths Å).

    Assumes the O, H, H atom ordering written by :func:`build_water_box`; the
    nearest-O check flags any proton that left its molecule.
    """
    from ase.geometry import get_distances
    from ase.io import read

    frames = read(path, index=":")
    n_distorted = sum(f.info.get("config_type") == "distorted" for f in frames)
    frames = [f for f in frames if f.info.get("config_type", "md") == "md"]  # the MD frames
    n = len(frames[0])
    e = np.array([f.get_potential_energy() for f in frames]) / n
    f = np.concatenate([f.get_forces() for f in frames])
    temps = np.array([fr.get_temperature() for fr in frames])
    oh, transfers = [], 0
    for fr in frames:
        o = np.flatnonzero(fr.numbers == 8)
        h = np.flatnonzero(fr.numbers == 1)
        d = get_distances(fr.positions[h], fr.positions[o], cell=fr.cell, pbc=fr.pbc)[1]
        own = (h - 1) // 3  # molecule index of each H in O,H,H ordering
        oh.append(d[np.arange(len(h)), own])
        transfers += int(np.count_nonzero(d.argmin(axis=1) != own))
    oh = np.concatenate(oh)
    press = [-fr.get_stress()[:3].mean() / units.bar for fr in frames if "stress" in fr.calc.results]
    stats = {
        "frames": len(frames),
        "distorted_frames": n_distorted,
        "atoms": n,
        "has_stress": all("stress" in fr.calc.results for fr in frames),
        "energy_per_atom_mean_eV": e.mean(),
        "energy_per_atom_std_eV": e.std(),
        "force_rms_eV_A": np.sqrt((f**2).mean()),
        "force_max_eV_A": np.abs(f).max(),
        "temperature_mean_K": temps.mean(),
        "temperature_std_K": temps.std(),
        "pressure_mean_bar": np.mean(press) if press else float("nan"),
        "pressure_std_bar": np.std(press) if press else float("nan"),
        "OH_bond_min_A": oh.min(),
        "OH_bond_mean_A": oh.mean(),
        "OH_bond_max_A": oh.max(),
        "H_nearer_to_other_O": transfers,
        "file_MB": path.stat().st_size / 1e6,
    }
    for k, v in stats.items():
        print(f"{k:28s} {v:.6g}" if isinstance(v, float) else f"{k:28s} {v}")
    return stats


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.summary:
        summarize(args.output)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    from ase.constraints import FixCom
    from ase.io import write
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.optimize import FIRE
    from tqdm import tqdm

    out = args.output
    work = args.workfile or out.with_name(out.name.replace(".extxyz.gz", "") + ".partial.extxyz")
    out.parent.mkdir(parents=True, exist_ok=True)
    LOG.info("OMP_NUM_THREADS=%s  settings: %s", os.environ.get("OMP_NUM_THREADS"), vars(args))

    if args.resume and not work.exists() and out.exists():
        if "config_type=distorted" in gzip.open(out, "rt").read():
            raise SystemExit(
                f"{out} already holds augment_water_data.py frames; extend the MD "
                "data first (from a copy without them), then augment again"
            )
        # extend a finished dataset: start again from its decompressed frames
        with gzip.open(out, "rb") as src, open(work, "wb") as dst:
            shutil.copyfileobj(src, dst)
    existing = read_complete_frames(work) if args.resume else []
    if not args.resume and work.exists():
        work.unlink()
    rng = np.random.default_rng(args.seed + len(existing))

    if existing:
        atoms = existing[-1].copy()  # positions + momenta of the last stored state
        atoms.calc = make_calculator(args)
        LOG.info("resuming after %d stored frames", len(existing))
    else:
        atoms = build_water_box(args.n_molecules, args.density, rng, args.min_dist)
        LOG.info(
            "box %.4f Å, %d atoms, density %.3f g/cm^3",
            atoms.cell[0, 0],
            len(atoms),
            atoms.get_masses().sum() / units.mol / atoms.get_volume() * 1e24,
        )
        atoms.calc = make_calculator(args)
        t0 = time.perf_counter()
        e0 = atoms.get_potential_energy()
        LOG.info(
            "initial E = %.4f eV (%.4f eV/atom), max|F| = %.3f eV/Å, call %.2f s",
            e0,
            e0 / len(atoms),
            np.abs(atoms.get_forces()).max(),
            time.perf_counter() - t0,
        )
        opt = FIRE(atoms, logfile=None)
        opt.run(fmax=args.relax_fmax, steps=args.relax_steps)
        LOG.info(
            "after %d FIRE steps: E = %.4f eV, max|F| = %.3f eV/Å",
            opt.nsteps,
            atoms.get_potential_energy(),
            np.abs(atoms.get_forces()).max(),
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

    if not existing and args.equil_steps > 0:
        t0 = time.perf_counter()
        bar = tqdm(total=args.equil_steps, desc="equilibration", disable=args.no_progress)
        dyn.attach(lambda: bar.update(1), interval=1)
        dyn.run(args.equil_steps)
        bar.close()
        dyn.observers.clear()
        LOG.info(
            "equilibrated %d steps (%.1f fs) in %.0f s: T = %.1f K, E = %.4f eV",
            args.equil_steps,
            args.equil_steps * args.timestep,
            time.perf_counter() - t0,
            atoms.get_temperature(),
            atoms.get_potential_energy(),
        )

    n_have = len(existing)
    temps = [f.get_temperature() for f in existing]
    t_start = time.perf_counter()
    bar = tqdm(total=args.n_frames, initial=n_have, desc="frames", disable=args.no_progress)
    with open(work, "a") as fh:
        while n_have < args.n_frames:
            dyn.run(args.stride)
            frame = snapshot(atoms)
            write(fh, frame, format="extxyz")
            fh.flush()
            n_have += 1
            temps.append(atoms.get_temperature())
            bar.update(1)
            if n_have % args.log_every == 0 or n_have == args.n_frames:
                el = time.perf_counter() - t_start
                e = frame.get_potential_energy()
                f = frame.get_forces()
                # t_sampled counts only MD run in this process (resumes restart the clock)
                LOG.info(
                    "frame %4d/%d  t_sampled=%.0f fs  E=%.4f eV (%.5f eV/atom)  T=%.1f K "
                    "(mean %.1f K)  F_rms=%.3f eV/Å  P=%.0f bar  %.2f s/step",
                    n_have,
                    args.n_frames,
                    (n_have - len(existing)) * args.stride * args.timestep,
                    e,
                    e / len(frame),
                    temps[-1],
                    np.mean(temps),
                    np.sqrt((f**2).mean()),
                    -frame.get_stress()[:3].mean() / units.bar if "stress" in frame.calc.results else np.nan,
                    el / ((n_have - len(existing)) * args.stride),
                )
    bar.close()

    with open(work, "rb") as src, gzip.open(out, "wb", compresslevel=9) as dst:
        shutil.copyfileobj(src, dst)
    if not args.keep_workfile:
        work.unlink()
    LOG.info("wrote %s (%d frames, %.2f MB)", out, n_have, out.stat().st_size / 1e6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
