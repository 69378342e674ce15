"""Energy of closing one water molecule in the liquid: trained models against GFN1-xTB.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/short_range.py [--extra OLD.nequip.zip ...]

Takes the first dataset frame, bends its first molecule (O-H fixed at 0.97 Å) so that its
two H are ``d`` apart, for d from 1.7 down to 0.6 Å, and records the energy change from
d = 1.5 Å for GFN1-xTB (tblite, the data's settings) and for each model (the sum of a
multiscale package). A model without a repulsive wall here lets MD collapse molecules.
``--extra`` adds more packages, e.g. the first models from the git history. Writes
benchmarks/results/short_range.md and .png.
"""

import argparse
import os
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from nequip_mts.resources import bundled_model, water_data  # noqa: E402

DATA = water_data()
RESULTS = ROOT / "benchmarks" / "results"
R_OH = 0.97  # Å


def distort_molecule(
    positions: np.ndarray, cell: np.ndarray, o: int, angle_deg: float, r1: float, r2: float
) -> None:
    """Rebuild the two H of the molecule whose O is atom ``o`` (atoms o, o+1, o+2), in place.

    The H atoms stay in the molecular plane, symmetric about the old bisector, at distances
    ``r1``, ``r2`` from O and enclosing ``angle_deg`` (the geometry of the water data's
    distorted frames, made by the former benchmarks/augment_water_data.py).
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


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--extra", type=pathlib.Path, nargs="*", default=[], help="more .nequip.zip packages")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ase.io import read
    from make_water_data import make_calculator

    from nequip_mts.md.providers import saved_model_calculator

    start = read(DATA, index=0)
    distances = np.array([1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6])
    from make_water_data import parse_args as data_settings

    calcs = {"GFN1-xTB": make_calculator(data_settings([]))}  # the dataset's tblite settings
    for path in [bundled_model("baseline"), bundled_model("multiscale"), *args.extra]:
        calcs[path.name.replace(".nequip.zip", "")] = saved_model_calculator(path)

    curves = {}
    for name, calc in calcs.items():
        energies = []
        for d in distances:
            atoms = start.copy()
            pos = atoms.get_positions()
            distort_molecule(pos, atoms.cell.array, 0, np.degrees(2 * np.arcsin(d / (2 * R_OH))), R_OH, R_OH)
            atoms.set_positions(pos)
            atoms.calc = calc
            energies.append(atoms.get_potential_energy())
        energies = np.array(energies)
        curves[name] = energies - energies[distances == 1.5][0]

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, e in curves.items():
        ax.plot(
            distances, e, "o-" if name == "GFN1-xTB" else ".-", label=name, lw=2 if name == "GFN1-xTB" else 1
        )
    ax.axvspan(1.3, 1.8, color="0.9", label="H-H range of the MD data")
    ax.set_xlabel("H-H distance in the bent molecule (Å)")
    ax.set_ylabel("E - E(1.5 Å) (eV)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "short_range.png", dpi=120)

    cmd = " ".join(["benchmarks/short_range.py", *(["--extra", *map(str, args.extra)] if args.extra else [])])
    lines = [
        "# Closing one molecule: energy against the H-H distance",
        "",
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} .venv/bin/python {cmd}`",
        "",
        "First dataset frame (96 atoms); molecule 0 bent with both O-H at 0.97 Å; energies in eV relative to H-H = 1.5 Å.",
        "",
        "| H-H (Å) | " + " | ".join(curves) + " |",
        "|---|" + "---|" * len(curves),
    ]
    for i, d in enumerate(distances):
        lines.append(f"| {d:.1f} | " + " | ".join(f"{curves[k][i]:+.2f}" for k in curves) + " |")
    lines += ["", "Plot: `short_range.png`."]
    (RESULTS / "short_range.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
