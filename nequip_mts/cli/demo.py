"""``nequip-mts demo``: the main job. Single-step MD and MTS MD side by side on water.

Loads the bundled models (or retrains both with a short schedule on the bundled
GFN1-xTB water data): the conventional single Allegro baseline and the multiscale
model. On a replicated water box it runs Langevin MD with the baseline at a 0.5 fs
step and MTS Langevin MD (BAOAB-RESPA, 0.5 fs inner step, K inner steps per outer
step) with the multiscale model, then prints the measured speedup and the
comparison of observables.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT / "benchmarks" / "data" / "water_gfn1.extxyz.gz"
MODELS = ROOT / "benchmarks" / "models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=pathlib.Path, default=MODELS / "water_baseline.nequip.zip", help="single-model checkpoint or package (default: bundled)")
    parser.add_argument("--multiscale", type=pathlib.Path, default=MODELS / "water_multiscale.nequip.zip", help="multiscale checkpoint or package (default: bundled)")
    parser.add_argument("--retrain", action="store_true", help="retrain both models from configs/ with a short schedule first")
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA, help="extxyz water data (default: bundled GFN1-xTB water)")
    parser.add_argument("--replicate", type=int, nargs=3, default=(2, 2, 1), help="box replication (default 2 2 1: 384 atoms)")
    parser.add_argument("--time-fs", type=float, default=300.0, help="simulated time per run in fs (default 300)")
    parser.add_argument("--inner-fs", type=float, default=0.5, help="single / inner time step in fs (default 0.5)")
    parser.add_argument("--inner-steps", type=int, default=6, help="K, inner steps per outer step (default 6: 3 fs outer)")
    parser.add_argument("--temperature-K", type=float, default=350.0, help="Langevin temperature in K (default 350)")
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("demo_out"), help="where trajectories and logs go (default demo_out)")


def _retrain(data: pathlib.Path, workdir: pathlib.Path):
    """Train both water configs briefly (8 epochs of 60 batches); returns their checkpoints."""
    checkpoints = []
    for name, extra in (("water_baseline", []), ("water_multiscale", ["stage1_epochs=2"])):
        out = (workdir / "train" / name).resolve()
        cmd = [
            str(pathlib.Path(sys.executable).parent / "nequip-train"),
            "-cp", str(ROOT / "configs"), "-cn", name,
            f"data_file={data.resolve()}", f"output_dir={out}", f"hydra.run.dir={out}",
            "max_epochs=8", "+trainer.limit_train_batches=60", "trainer.enable_progress_bar=false", *extra,
        ]
        print(f"retraining {name} (short schedule) ...", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f"{name}.log", "w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
        checkpoints.append(out / "last.ckpt")
    return checkpoints


def _water_box(data: pathlib.Path, replicate):
    from ase.io import read

    atoms = read(data, index=0)
    atoms = atoms.repeat(tuple(replicate))
    atoms.calc = None
    return atoms


def _timed_run(dyn, steps, label, workdir, max_temperature_K):
    from tqdm import tqdm

    from nequip_mts.md.safety import MDInstabilityError, StabilityGuard, run_guarded

    # first observer: a blown-up state is caught before anything records it
    guard = StabilityGuard(dyn, max_temperature_K=max_temperature_K)
    dyn.insert_observer(guard)
    bar = tqdm(total=steps, desc=label, unit="step", leave=True, mininterval=2)
    dyn.attach(lambda: bar.update(1) if dyn.nsteps > 0 else None, interval=1)
    start = time.perf_counter()
    try:
        run_guarded(dyn, steps, guard, workdir / f"{label.split()[0]}.last_good.extxyz")
    except MDInstabilityError as err:
        bar.close()
        print(
            f"nequip-mts demo: {label}: {err}. The model is not good enough for MD at this "
            "temperature; use the bundled models (no --retrain) or train longer "
            "(benchmarks/train_models.py).",
            file=sys.stderr,
        )
        sys.exit(3)
    bar.close()
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> None:
    import numpy as np
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from nequip.integrations.ase import NequIPCalculator

    from nequip_mts.analysis.rdf import partial_rdfs, rdf_max_abs_diff
    from nequip_mts.md import LangevinRESPA, MTSCalculator

    args.workdir.mkdir(parents=True, exist_ok=True)
    if not args.data.exists():
        sys.exit(f"nequip-mts demo: data file {args.data} not found")
    baseline, multiscale = _retrain(args.data, args.workdir) if args.retrain else (args.baseline, args.multiscale)
    for path in (baseline, multiscale):
        if not path.exists():
            sys.exit(f"nequip-mts demo: model {path} not found; pass --baseline/--multiscale or --retrain")

    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    atoms0 = _water_box(args.data, args.replicate)
    print(f"system: {len(atoms0)} atoms, cell {np.round(atoms0.cell.lengths(), 2).tolist()} A; models {baseline.name}, {multiscale.name}")
    MaxwellBoltzmannDistribution(atoms0, temperature_K=args.temperature_K, rng=np.random.default_rng(0))
    friction = 0.01 / units.fs
    inner = args.inner_fs * units.fs
    k = args.inner_steps
    single_steps = int(round(args.time_fs / args.inner_fs))
    outer_steps = int(round(args.time_fs / (args.inner_fs * k)))
    frame_every_fs = 3.0 * args.inner_fs * k

    results = {}
    # reference: the conventional model at every 0.5 fs step
    atoms = atoms0.copy()
    atoms.calc = NequIPCalculator._from_saved_model(str(baseline), device="cpu")
    frames = []
    dyn = Langevin(atoms, inner, temperature_K=args.temperature_K, friction=friction, fixcm=False, rng=np.random.default_rng(1))
    dyn.attach(lambda: frames.append(atoms.copy()), interval=max(1, int(round(frame_every_fs / args.inner_fs))))
    max_t = max(2000.0, 4 * args.temperature_K)
    wall = _timed_run(dyn, single_steps, f"baseline {args.inner_fs} fs", args.workdir, max_t)
    results["baseline"] = (wall, frames)

    atoms = atoms0.copy()
    atoms.calc = MTSCalculator.from_checkpoint(multiscale)
    frames = []
    dyn = LangevinRESPA(atoms, inner * k, inner_steps=k, temperature_K=args.temperature_K, friction=friction, rng=1)
    dyn.attach(lambda: frames.append(atoms.copy()), interval=3)
    wall = _timed_run(dyn, outer_steps, f"MTS {args.inner_fs} fs x {k}", args.workdir, max_t)
    results["mts"] = (wall, frames)

    print("\n=== result ===")
    for name, (wall, frames) in results.items():
        ns_day = args.time_fs * 1e-6 / (wall / 86400.0)
        temps = [f.get_temperature() for f in frames[len(frames) // 3:]]
        print(f"{name:>6}: {wall:7.1f} s for {args.time_fs:.0f} fs  ({ns_day:.3f} ns/day), mean T {np.mean(temps):.1f} K")
    speedup = results["baseline"][0] / results["mts"][0]
    print(f"speedup of MTS (outer step {args.inner_fs * k:.1f} fs) over single-step baseline MD: {speedup:.2f}x")
    equil = lambda frames: frames[len(frames) // 3:]  # noqa: E731
    r, g_single = partial_rdfs(equil(results["baseline"][1]), rmax=min(6.0, atoms0.cell.lengths().min() / 2))
    _, g_mts = partial_rdfs(equil(results["mts"][1]), rmax=min(6.0, atoms0.cell.lengths().min() / 2))
    # intermolecular structure only: the sharp intramolecular O-H/H-H peaks make
    # max |dg| there a measure of bond-length noise in a run this short
    diffs = rdf_max_abs_diff(g_single, g_mts, r=r, rmin=1.3)
    print("RDF max |dg| baseline vs MTS for r > 1.3 A: " + ", ".join(f"{k}: {v:.3f}" for k, v in diffs.items()))
    print("(short runs: RDF differences include sampling noise; benchmarks/ runs the long comparison)")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="the main job: single-step vs MTS MD on bundled water", description=__doc__)
    add_arguments(parser)
    parser.set_defaults(func=run)
