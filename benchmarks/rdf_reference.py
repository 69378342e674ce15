"""Liquid structure of the physics runs against the GFN1-xTB reference frames.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rdf_reference.py

``md_physics.py`` compares MTS with the baseline; when the two trained models disagree,
this says which one is nearer to the electronic-structure method they were trained on.
It reads the NVT trajectories that ``md_physics.py`` leaves in ``runs/physics_*.extxyz``
(``--runs-dir`` elsewhere)
and the ``config_type=md`` frames of the bundled dataset (Langevin MD with GFN1-xTB at
350 K, 840 fs), and writes ``benchmarks/results/rdf_reference.md`` and ``.png``.
"""

import argparse
import os
import pathlib
import sys

from nequip_mts.resources import water_data

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = water_data()
RUNS = ROOT / "runs"
RESULTS = ROOT / "benchmarks" / "results"
RMAX, NBINS, RMIN_INTER = 6.0, 120, 1.7  # as in md_physics.py


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs-dir",
        type=pathlib.Path,
        default=RUNS,
        help="where md_physics.py wrote physics_*.extxyz (default runs/)",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=RESULTS / "rdf_reference",
        help="report stem: <out>.md and <out>.png (default benchmarks/results/rdf_reference)",
    )
    args = parser.parse_args(argv)

    from ase.io import read

    from nequip_mts.analysis.plots import plot_rdfs
    from nequip_mts.analysis.rdf import first_peak, rdf_halves, rdf_max_abs_diff

    reference = [f for f in read(DATA, index=":") if f.info.get("config_type", "md") == "md"]
    runs = {label: args.runs_dir / f"physics_{label}.extxyz" for label in ("baseline", "MTS", "control")}
    runs = {label: read(path, index=":") for label, path in runs.items() if path.exists()}
    if not runs:
        raise SystemExit(f"no {args.runs_dir}/physics_*.extxyz: run benchmarks/md_physics.py first")

    # the same RDF code as md_physics.py and `nequip-mts analyze`; the halves give the noise
    halves = {"GFN1-xTB reference": rdf_halves(reference, rmax=RMAX, nbins=NBINS)}
    halves.update({label: rdf_halves(frames, rmax=RMAX, nbins=NBINS) for label, frames in runs.items()})
    rdfs = {label: (h.r, h.g) for label, h in halves.items()}
    r, g_ref = rdfs["GFN1-xTB reference"]
    # the reference is by far the shortest run, so its own noise dominates the comparison
    noise = halves["GFN1-xTB reference"].noise(RMIN_INTER)

    labels = list(runs)
    lines = [
        "# Liquid structure against the GFN1-xTB reference",
        "",
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} .venv/bin/python benchmarks/rdf_reference.py{''.join(' ' + x for x in (sys.argv[1:] if argv is None else argv))}` "
        "(after `benchmarks/md_physics.py`, whose NVT trajectories it reads).  ",
        f"Reference: the {len(reference)} MD frames of `nequip_mts/data/water_gfn1.extxyz.gz` (96 atoms, Langevin "
        f"350 K, {2 * len(reference)} fs). Runs: {', '.join(f'{k} {len(v)} frames of {len(v[0])} atoms' for k, v in runs.items())}.",
        "",
        f"Max |g_model - g_reference| for r > {RMIN_INTER} A (intermolecular), and the first-peak position (A) / height.",
        "Reference noise: its first half against its second half / sqrt(2).",
        "",
        "| pair | reference noise | "
        + " | ".join(f"{k} max abs diff" for k in labels)
        + " | "
        + " | ".join(f"first peak: {k}" for k in ["reference", *labels])
        + " |",
        "|---|---|" + "---|" * (2 * len(labels) + 1),
    ]
    peak_window = {"OO": (2.3, 3.5), "OH": (1.5, 2.3), "HH": (2.0, 3.2)}
    for pair in ("OO", "OH", "HH"):
        diffs = [rdf_max_abs_diff(g_ref, rdfs[k][1], r=r, rmin=RMIN_INTER)[pair] for k in labels]
        peaks = [first_peak(r, rdfs[k][1][pair], *peak_window[pair]) for k in ["GFN1-xTB reference", *labels]]
        lines.append(
            f"| g_{pair} | {noise[pair]:.3f} | "
            + " | ".join(f"{d:.3f}" for d in diffs)
            + " | "
            + " | ".join(f"{p:.2f} / {h:.2f}" for p, h in peaks)
            + " |"
        )
    lines += ["", f"Plot: `{args.out.with_suffix('.png').name}`."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_rdfs(rdfs, args.out.with_suffix(".png"))
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
