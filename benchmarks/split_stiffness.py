"""How stiff is the slow force of an MTS split along the covalent bonds?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/split_stiffness.py STRUCTURES \
        --cotrained nequip_mts/pretrained/water_multiscale.nequip.zip \
        --teacher nequip_mts/pretrained/water_baseline.nequip.zip \
        --fast NAME=runs/distill_water/train_c0.0/best.ckpt ... [--out REPORT_STEM]

The outer step of r-RESPA can be long only if the slow force varies little along the
fast motions. For each covalent bond of a few frames (``TopologyWatch``'s bonds), one
end atom is moved along the bond by +-h and the slow force on it, projected on the bond,
gives the slow part's stretch stiffness ``k_slow = -dF/dr`` (eV/A^2) by central
differences. Slow parts: the co-trained model's own slow part, and ``teacher - fast``
for each distilled fast model (checkpoints or packages, evaluated eagerly). The full
model's own stretch stiffness is shown for scale. The report is ``<out>.md``.
"""

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def bond_stiffness(force_fn, frames, h=0.01, bonds_per_frame=12):
    """Stretch stiffness of ``force_fn`` along bonds of ``frames`` (one value per bond)."""
    from nequip_mts.md.topology import TopologyWatch

    values = []
    for atoms in frames:
        bonds = TopologyWatch(atoms).bonds[:bonds_per_frame]
        for i, j in bonds:
            # move the lighter end (the H of an X-H bond)
            moved, other = (j, i) if atoms[j].mass <= atoms[i].mass else (i, j)
            u = atoms.get_distance(other, moved, mic=True, vector=True)
            u /= np.linalg.norm(u)
            along = []
            for sign in (1.0, -1.0):
                pos = atoms.positions.copy()
                pos[moved] += sign * h * u
                along.append(force_fn(atoms, pos)[moved] @ u)
            values.append(-(along[0] - along[1]) / (2 * h))
    return np.array(values)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("structures", help="frames to scan (extxyz)")
    parser.add_argument("--every", type=int, default=100, help="take every n-th frame (default 100)")
    parser.add_argument("--frames", type=int, default=3, help="at most this many frames (default 3)")
    parser.add_argument("--cotrained", help="a co-trained multiscale package: its slow part")
    parser.add_argument("--teacher", help="the full model of the distilled splits")
    parser.add_argument("--fast", action="append", default=[], help="NAME=PATH of a distilled fast model")
    parser.add_argument("--out", type=pathlib.Path, help="report stem (<out>.md); default: print only")
    args = parser.parse_args(argv)

    from ase.io import read

    from nequip_mts.md.providers import saved_model_calculator

    frames = read(args.structures, f"::{args.every}")[: args.frames]

    def forces_of(calc):
        def fn(atoms, positions):
            work = atoms.copy()
            work.positions = positions
            work.calc = calc
            return work.get_forces()

        return fn

    rows = []

    def add(name, values):
        rows.append(
            (name, values.mean(), np.sqrt((values**2).mean()), values.min(), values.max(), len(values))
        )
        print(f"{name}: mean {values.mean():+.2f}, RMS {np.sqrt((values**2).mean()):.2f} eV/A^2", flush=True)

    if args.cotrained:
        add(
            "co-trained: slow part",
            bond_stiffness(forces_of(saved_model_calculator(args.cotrained, "slow")), frames),
        )
    if args.teacher:
        teacher = forces_of(saved_model_calculator(args.teacher))
        add("teacher (full model), for scale", bond_stiffness(teacher, frames))
        for spec in args.fast:
            name, _, path = spec.partition("=")
            fast = forces_of(saved_model_calculator(path))
            add(
                f"distilled {name}: teacher - fast",
                bond_stiffness(lambda a, p: teacher(a, p) - fast(a, p), frames),
            )
    if args.out is None:
        return
    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/split_stiffness.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    lines = [
        "# Stretch stiffness of the slow force along covalent bonds",
        "",
        f"Command: `{command}`  ",
        f"{len(frames)} frames of `{args.structures}`; one end of each bond moved by +-0.01 A along it; "
        "k = -dF/dr of the slow force on the moved atom (eV/A^2).",
        "",
        "| slow force | mean | RMS | min | max | bonds |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {m:+.2f} | {r:.2f} | {lo:+.2f} | {hi:+.2f} | {c} |" for n, m, r, lo, hi, c in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
