"""The validation gate's bond scans, run on the GFN1-xTB reference itself.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reference_bond_scans.py [--system methanol]

``nequip-mts validate`` scans one representative bond per bonded element pair of a
structure (:func:`nequip_mts.md.validate.representative_bonds`) from 0.7x to 1.8x its length
and reports where a model's energy falls. This script scans the same bonds of the same
structure (the first frame of the system's bundled data) with the reference the data was
labelled with (GFN1-xTB, the data's tblite settings), so that a model's false minimum can be
told apart from a feature of the reference (a proton transfer to a neighbour, say). Writes
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
    args = parser.parse_args(argv)
    system = systems.get(args.system)

    from ase.io import read

    from nequip_mts.calculators import reference_calculator
    from nequip_mts.md.validate import bond_scan, representative_bonds

    atoms = read(system.data(), index=0)
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
    out = RESULTS / system.name
    out.mkdir(parents=True, exist_ok=True)
    cmd = "OMP_NUM_THREADS={} .venv/bin/python benchmarks/reference_bond_scans.py {}".format(
        os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:])
    ).strip()
    lines = [
        f"# Bond scans of the reference ({args.calculator}), {system.name}",
        "",
        f"Command: `{cmd}` ({time.perf_counter() - start:.0f} s)  ",
        "The bonds `nequip-mts validate` scans on the first frame of the bundled data, 0.7x to 1.8x "
        "their length, with the reference calculator instead of a model.",
        "",
        "| pair | atoms | minimum (A) | rise under compression (eV) | false minima | verdict |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    (out / "reference_bond_scans.md").write_text("\n".join(lines) + "\n")
    (out / "reference_bond_scans.json").write_text(json.dumps(record, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
