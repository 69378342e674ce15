"""The validation gate's bond and angle scans, run on the GFN1-xTB reference itself.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reference_bond_scans.py [--system methanol] [--index -1]

``nequip-mts validate`` scans one representative bond per bonded element pair of a
structure (:func:`nequip_mts.md.validate.representative_bonds`) from 0.7x to 1.8x its length
and reports where a model's energy falls. This script scans the same bonds of the same
structure (a frame of the system's bundled data, ``--index``) with the reference the data was
labelled with (GFN1-xTB, the data's tblite settings), so that a model's false minimum can be
told apart from a feature of the reference (a proton transfer to a neighbour, say). The angle scans
(:func:`nequip_mts.md.validate.angle_scan`) close each bonded angle type the same way. Writes
``benchmarks/results/<system>/reference_bond_scans.{md,json}``.
"""

import argparse
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import systems  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    systems.add_argument(parser)
    parser.add_argument("--calculator", default="gfn1", help="reference (nequip_mts.calculators spec)")
    parser.add_argument(
        "--index", type=int, default=0, help="frame of the bundled data (nequip-mts validate's default is -1)"
    )
    args = parser.parse_args(argv)
    system = systems.get(args.system)

    from ase.io import read

    from nequip_mts.calculators import reference_calculator
    from nequip_mts.md.validate import angle_scan, bond_scan, representative_angles, representative_bonds

    atoms = read(system.data(), index=args.index)
    atoms.calc = None
    calc = reference_calculator(args.calculator)
    rows, record = [], {}
    start = time.perf_counter()
    for pair, (fixed, moved) in representative_bonds(atoms).items():
        scan = bond_scan(atoms, calc, fixed, moved)
        minima = "; ".join(m.describe() for m in scan.false_minima) or "none"
        rows.append(
            f"| {pair} | {fixed}-{moved} | {scan.equilibrium_A:.3f} | {scan.compression_rise_eV:.2f} | "
            f"{minima} | {'pass' if scan.passed else 'FAIL'} |"
        )
        record[pair] = scan.to_dict()
        print(rows[-1], flush=True)
    angle_rows = []
    for name, (fixed, centre, moved) in representative_angles(atoms).items():
        scan = angle_scan(atoms, calc, fixed, centre, moved)
        minima = "; ".join(m.describe() for m in scan.false_minima) or "none"
        angle_rows.append(
            f"| {name} | {fixed}-{centre}-{moved} | {scan.angle_deg:.1f} | {scan.distances_A[-1]:.2f} | "
            f"{scan.closing_rise_eV:.2f} | {minima} | {'pass' if scan.passed else 'FAIL'} |"
        )
        record[name] = scan.to_dict()
        print(angle_rows[-1], flush=True)
    out = RESULTS / system.name
    out.mkdir(parents=True, exist_ok=True)
    cmd = "OMP_NUM_THREADS={} .venv/bin/python benchmarks/reference_bond_scans.py {}".format(
        os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:])
    ).strip()
    lines = [
        f"# Bond scans of the reference ({args.calculator}), {system.name}",
        "",
        f"Command: `{cmd}` ({time.perf_counter() - start:.0f} s)  ",
        f"The bonds and angles `nequip-mts validate` scans on frame {args.index} of the bundled data "
        "(bonds 0.7x to 1.8x their length, angles closed until the outer atoms are their covalent "
        "radii apart), with the reference calculator instead of a model.",
        "",
        "| pair | atoms | minimum (A) | rise under compression (eV) | false minima | verdict |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "| angle | atoms | angle (deg) | outer distance when closed (A) | rise when closed (eV) | "
        "false minima | verdict |",
        "|---|---|---|---|---|---|---|",
        *angle_rows,
    ]
    (out / "reference_bond_scans.md").write_text("\n".join(lines) + "\n")
    (out / "reference_bond_scans.json").write_text(json.dumps(record, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
