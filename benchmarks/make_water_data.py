#!/usr/bin/env python
"""Generate a GFN1-xTB liquid-water reference dataset by Langevin MD.

Water's case of ``benchmarks/make_liquid_data.py`` (the generator for any molecular
liquid; see its docstring for the procedure, the work file and ``--resume``), with
the settings and geometry of the data the package ships: 32 H2O (r_OH 0.9572 Å,
HOH 104.52°) on a 2x2x2 fcc lattice at 1.0 g/cm^3, Langevin MD at 350 K with a
1 fs step, 300 equilibration steps, 420 frames 2 steps apart, and a plain extxyz
work file ``water_gfn1.partial.extxyz`` (ignored by git).

Units: energies eV, forces eV/Å, time fs, temperature K, density g/cm^3.

Example (the command used for nequip_mts/data/water_gfn1.extxyz.gz, the data the package ships)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/make_water_data.py

Set ``OMP_NUM_THREADS`` explicitly: tblite uses OpenMP and oversubscribing the
cores makes it dramatically slower.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from ase import Atoms

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_liquid_data  # noqa: E402
from make_liquid_data import make_calculator, random_rotation, read_complete_frames, snapshot  # noqa: E402, F401

# Gas-phase-like water geometry used to build the initial molecules.
_OH = 0.9572  # Å
_HOH = np.deg2rad(104.52)
_MASSES = [15.9994, 1.00794, 1.00794]  # O, H, H in g/mol (set the box size and the centring)

WATER_DEFAULTS = dict(
    description=__doc__.split("\n\n")[0],
    molecule="H2O",
    n_molecules=32,
    density=1.0,
    output=Path(__file__).resolve().parent.parent / "nequip_mts" / "data" / "water_gfn1.extxyz.gz",
    workfile_suffix=".partial.extxyz",
    temperature=350.0,
    timestep=1.0,
    equil_steps=300,
    stride=2,
    n_frames=420,
    log_every=20,
    seed=20240611,
    equil_checkpoint=0,  # as when the shipped data were made: the 300 steps run in one go
)


def parse_args(argv=None) -> argparse.Namespace:
    return make_liquid_data.build_parser(**WATER_DEFAULTS).parse_args(argv)


def water_template() -> Atoms:
    """One H2O (O, H, H; r_OH 0.9572 Å, HOH 104.52°) with its centre of mass at the origin."""
    h = 0.5 * _HOH
    pos = np.array(
        [[0.0, 0.0, 0.0], [_OH * np.sin(h), 0.0, _OH * np.cos(h)], [-_OH * np.sin(h), 0.0, _OH * np.cos(h)]]
    )
    m = np.array(_MASSES)
    return Atoms("OH2", positions=pos - (m[:, None] * pos).sum(0) / m.sum(), masses=m)


def build_water_box(
    n_molecules: int, density: float, rng: np.random.Generator, min_dist: float = 1.7, max_tries: int = 1000
) -> Atoms:
    """Cubic periodic box of randomly oriented water molecules on a lattice (fcc for 4n^3)."""
    return make_liquid_data.build_box(water_template(), n_molecules, density, rng, min_dist, max_tries)


def summarize(path: Path) -> dict:
    """Sanity statistics of a finished water dataset (see ``make_liquid_data.summarize``)."""
    return make_liquid_data.summarize(path, water_template())


def main(argv=None) -> int:
    return make_liquid_data.main(
        argv, parser=make_liquid_data.build_parser(**WATER_DEFAULTS), template=water_template
    )


if __name__ == "__main__":
    sys.exit(main())
