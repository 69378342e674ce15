#!/usr/bin/env python
"""Add distorted-geometry frames to the GFN1-xTB water dataset.

The Langevin frames of ``make_water_data.py`` never bring two hydrogens closer
than about 1.3 Å and never bend a molecule below about 85°, so a potential
trained on them alone has no information about the repulsive wall there. Models
trained on them alone drifted into collapsed molecules (H-H < 1 Å) after 1-3 ps
of MD at 350 K. This script takes MD frames spread over the run and, in each,
bends and stretches a few randomly chosen molecules far outside the thermal
range (HOH angle and O-H lengths drawn uniformly from ``--angle-range`` and
``--bond-range``), rattles every atom by a small Gaussian displacement, and
labels the result with a GFN1-xTB single point (same settings as the MD data).

The new frames are appended to the dataset file with ``config_type=distorted``;
the MD frames are tagged ``config_type=md`` and otherwise unchanged. Analyses
of the liquid use the ``md`` frames only (``nequip_mts.analysis.frames``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/augment_water_data.py

Units: Å, degrees, eV.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_water_data  # noqa: E402
from make_water_data import make_calculator, snapshot  # noqa: E402

LOG = logging.getLogger("augment_water_data")


def parse_args(argv=None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--dataset",
        type=Path,
        default=here.parent / "nequip_mts" / "data" / "water_gfn1.extxyz.gz",
        help="dataset to extend in place (made by make_water_data.py)",
    )
    p.add_argument("--n-frames", type=int, default=180, help="distorted frames to add")
    p.add_argument("--molecules-per-frame", type=int, default=4)
    p.add_argument("--angle-range", type=float, nargs=2, default=(60.0, 125.0), help="HOH angle, degrees")
    p.add_argument("--bond-range", type=float, nargs=2, default=(0.85, 1.15), help="O-H length, Å")
    p.add_argument("--rattle", type=float, default=0.03, help="Gaussian displacement of every atom, Å")
    p.add_argument("--seed", type=int, default=20261121)
    # tblite settings: make_water_data.py's own defaults, so both label alike
    md = make_water_data.parse_args([])
    p.add_argument("--method", default=md.method)
    p.add_argument("--accuracy", type=float, default=md.accuracy)
    p.add_argument("--electronic-temperature", type=float, default=md.electronic_temperature)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def distort_molecule(
    positions: np.ndarray, cell: np.ndarray, o: int, angle_deg: float, r1: float, r2: float
) -> None:
    """Rebuild the two H of the molecule whose O is atom ``o`` (atoms o, o+1, o+2).

    The H atoms stay in the molecular plane, symmetric about the old bisector,
    at distances ``r1``, ``r2`` from O and enclosing ``angle_deg``.
    """
    from ase.geometry import find_mic

    v, _ = find_mic(positions[o + 1 : o + 3] - positions[o], cell)
    e = v / np.linalg.norm(v, axis=1, keepdims=True)
    bisector = e[0] + e[1]
    bisector /= np.linalg.norm(bisector)
    across = e[0] - e[1]
    across -= across.dot(bisector) * bisector
    across /= np.linalg.norm(across)
    half = 0.5 * np.deg2rad(angle_deg)
    positions[o + 1] = positions[o] + r1 * (np.cos(half) * bisector + np.sin(half) * across)
    positions[o + 2] = positions[o] + r2 * (np.cos(half) * bisector - np.sin(half) * across)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    from ase.io import read, write
    from tqdm import tqdm

    frames = read(args.dataset, index=":")
    md = [f for f in frames if f.info.get("config_type", "md") == "md"]
    if len(md) != len(frames):
        raise SystemExit(f"{args.dataset} already holds {len(frames) - len(md)} augmented frames")
    symbols = md[0].get_chemical_symbols()
    oxygens = [i for i, s in enumerate(symbols) if s == "O"]
    if symbols != ["O", "H", "H"] * len(oxygens):
        raise SystemExit("expected molecules stored as O, H, H in order")

    rng = np.random.default_rng(args.seed)
    calc = make_calculator(args)
    bases = np.linspace(0, len(md) - 1, args.n_frames).round().astype(int)
    new = []
    t0 = time.perf_counter()
    for base in tqdm(bases, desc="distorted frames", disable=args.no_progress):
        atoms = md[base].copy()
        atoms.calc = None
        pos = atoms.get_positions()
        for o in rng.choice(oxygens, size=args.molecules_per_frame, replace=False):
            distort_molecule(
                pos,
                atoms.cell.array,
                o,
                rng.uniform(*args.angle_range),
                rng.uniform(*args.bond_range),
                rng.uniform(*args.bond_range),
            )
        pos += rng.normal(0.0, args.rattle, pos.shape)
        atoms.set_positions(pos)
        atoms.set_momenta(np.zeros_like(pos))
        atoms.calc = calc
        frame = snapshot(atoms)
        frame.info.update(config_type="distorted", base_frame=int(base))
        new.append(frame)
    LOG.info("%d single points in %.0f s", len(new), time.perf_counter() - t0)

    e_md = np.array([f.get_potential_energy() for f in md]) / len(symbols)
    e_new = np.array([f.get_potential_energy() for f in new]) / len(symbols)
    f_new = np.concatenate([f.get_forces() for f in new])
    LOG.info(
        "E/atom above the MD mean: median %.3f, max %.3f eV; max |F| %.1f eV/Å",
        np.median(e_new - e_md.mean()),
        (e_new - e_md.mean()).max(),
        np.abs(f_new).max(),
    )

    for f in md:
        f.info["config_type"] = "md"
    with gzip.open(args.dataset, "wt", compresslevel=9) as fh:
        write(fh, md + new, format="extxyz")
    LOG.info(
        "wrote %s: %d md + %d distorted frames (%.2f MB)",
        args.dataset,
        len(md),
        len(new),
        args.dataset.stat().st_size / 1e6,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
