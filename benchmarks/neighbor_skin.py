"""What the kept neighbour list buys in MTS MD: r-RESPA with and without it, side by side.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/neighbor_skin.py [--k 6] [--time-fs 30] [--rounds 3]

The bundled water models' compiled fast and slow parts (model cache, no stress) on the
96-atom box replicated 2x2x2 (768 atoms), NVE r-RESPA at a 0.5 fs inner step. Each round
runs the same trajectory once with the calculators' default kept neighbour list
(``nequip_mts.md.neighbors.SkinNeighborList``, skin ``DEFAULT_NEIGHBOR_SKIN``) and once
with ``neighbor_skin=0`` (nequip's list, built at every call), in alternating order; the
median round is kept. It also counts the list builds of the fast part, and checks that the
two runs end at the same positions. Writes benchmarks/results/neighbor_skin.md.
"""

import argparse
import os
import pathlib
import platform
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def calculator(skin):
    from nequip_mts.deploy.cache import deployed
    from nequip_mts.manifest import FAST, SLOW, read_manifest
    from nequip_mts.md import MTSCalculator
    from nequip_mts.md.providers import compiled_model_calculator
    from nequip_mts.resources import bundled_model

    manifest = read_manifest(deployed(bundled_model("multiscale", "water"), (FAST, SLOW), stress=False))
    parts = [
        compiled_model_calculator(manifest[p]["path"], stress=False, neighbor_skin=skin) for p in (FAST, SLOW)
    ]
    return MTSCalculator.from_calculators(*parts)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--time-fs", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from ase import units
    from ase.io import read
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from nequip_mts.md import RESPA
    from nequip_mts.md.memory import tune_malloc
    from nequip_mts.md.settings import DEFAULT_NEIGHBOR_SKIN
    from nequip_mts.resources import water_data

    tune_malloc()
    atoms0 = read(water_data(), index=0).repeat((2, 2, 2))
    atoms0.calc = None
    MaxwellBoltzmannDistribution(atoms0, temperature_K=350.0, rng=np.random.default_rng(0))
    settings = {"kept list": DEFAULT_NEIGHBOR_SKIN, "new list every call": 0}
    calcs = {name: calculator(skin) for name, skin in settings.items()}
    steps = int(round(args.time_fs / (0.5 * args.k)))
    walls, finals = {name: [] for name in settings}, {}
    for rnd in range(args.rounds):
        for name in list(settings) if rnd % 2 == 0 else list(settings)[::-1]:
            atoms = atoms0.copy()
            atoms.calc = calcs[name]
            dyn = RESPA(atoms, 0.5 * args.k * units.fs, inner_steps=args.k)
            start = time.perf_counter()
            dyn.run(steps)
            walls[name].append(time.perf_counter() - start)
            finals[name] = atoms.positions.copy()
            print(f"round {rnd}: {name} {walls[name][-1]:.2f} s", flush=True)
    fast_nl = calcs["kept list"].fast_calc.transforms[-1]
    deviation = float(np.abs(finals["kept list"] - finals["new list every call"]).max())
    med = {name: float(np.median(w)) for name, w in walls.items()}
    ns_day = {name: args.time_fs * 1e-6 / (w / 86400.0) for name, w in med.items()}
    cmd = "OMP_NUM_THREADS={} .venv/bin/python benchmarks/neighbor_skin.py {}".format(
        os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:] if argv is None else argv)
    ).strip()
    lines = [
        "# Kept neighbour lists in MTS MD (water)",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} vCPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; bundled water models, compiled (no stress).  ",
        f"System: {len(atoms0)} atoms, NVE r-RESPA, 0.5 fs x {args.k}, {args.time_fs:g} fs per run, median of "
        f"{args.rounds} rounds in alternating order.",
        "",
        "| neighbour lists | wall (s) | ns/day | speed-up |",
        "|---|---|---|---|",
    ]
    ref = med["new list every call"]
    for name in settings:
        lines.append(f"| {name} | {med[name]:.2f} | {ns_day[name]:.3f} | {ref / med[name]:.2f}x |")
    lines += [
        "",
        f"The fast part's kept list (skin {DEFAULT_NEIGHBOR_SKIN} A) was built {fast_nl.builds} times in "
        f"{fast_nl.calls} calls. Largest difference of the final positions between the two runs: "
        f"{deviation:.1e} A (float32 models; the edges are the same, their order is not).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "neighbor_skin.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
