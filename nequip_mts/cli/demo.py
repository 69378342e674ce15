"""``nequip-mts demo``: the main job. Single-step MD and MTS MD side by side on water.

Loads the bundled models (or retrains both with a short schedule on the bundled
GFN1-xTB water data): the conventional single Allegro baseline and the multiscale
model. On a replicated water box it runs MD with the baseline at the inner step
(0.5 fs) and MTS MD (0.5 fs inner step, K inner steps per outer step) with the
multiscale model, then prints the measured speedup and the intermolecular RDFs of
the two runs beside their sampling noise, and draws both in ``<workdir>/demo.png``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

from nequip_mts import resources
from nequip_mts.cli.md import add_model_arguments
from nequip_mts.errors import BuildError
from nequip_mts.md import settings as md_settings

DEFAULTS = dict(ensemble="langevin", timestep_fs=3.0, inner_steps=6, time_ps=0.3, temperature_K=350.0)
# an RDF comparison whose sampling noise exceeds this says nothing about the integrator
NOISE_TO_JUDGE = 0.1
RDF_RMIN_A = 1.3  # intermolecular structure only: covalent O-H lies below


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo", help="the main job: single-step vs MTS MD on the bundled water", description=__doc__
    )
    parser.add_argument(
        "--baseline",
        type=pathlib.Path,
        default=None,
        help="single-model checkpoint or package (default: the bundled water baseline)",
    )
    parser.add_argument(
        "--multiscale",
        type=pathlib.Path,
        default=None,
        help="multiscale checkpoint or package (default: the bundled water model)",
    )
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="retrain both models with a short schedule first (about 20 min)",
    )
    parser.add_argument(
        "--data",
        type=pathlib.Path,
        default=None,
        help="extxyz water data (default: the bundled GFN1-xTB water)",
    )
    parser.add_argument(
        "--replicate", type=int, nargs=3, default=(2, 2, 1), help="box replication (default 2 2 1: 384 atoms)"
    )
    md_settings.add_arguments(parser, engine="ase", defaults=DEFAULTS)
    parser.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=pathlib.Path("demo_out"),
        help="output folder (default demo_out)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_model_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _retrain(data: pathlib.Path, workdir: pathlib.Path):
    """Train both water configs briefly (8 epochs of 60 batches); returns their checkpoints."""
    checkpoints = []
    for name, extra in (("water_baseline", []), ("water_multiscale", ["stage1_epochs=2"])):
        out = (workdir / "train" / name).resolve()
        cmd = [
            str(pathlib.Path(sys.executable).parent / "nequip-train"),
            "-cp", resources.CONFIG_PATH, "-cn", name,
            f"data_file={data.resolve()}", f"hydra.run.dir={out}",
            "max_epochs=8", "+trainer.limit_train_batches=60", "trainer.enable_progress_bar=false", *extra,
        ]  # fmt: skip
        print(f"retraining {name} (short schedule; log in {out.parent / (name + '.log')}) ...", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f"{name}.log", "w") as log:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise BuildError(f"retraining {name} failed; see {out.parent / (name + '.log')}")
        checkpoints.append(out / "last.ckpt")
    return checkpoints


def _timed_run(dyn, steps, label, workdir, max_temperature_K, progress):
    """Run ``dyn`` for ``steps`` steps behind a blow-up guard; returns the wall time in s."""
    from nequip_mts.errors import MDInstabilityError
    from nequip_mts.md.runner import ProgressBar
    from nequip_mts.md.safety import StabilityGuard, run_guarded

    # first observer: a blown-up state is caught before anything records it
    guard = StabilityGuard(dyn, max_temperature_K=max_temperature_K)
    dyn.insert_observer(guard)
    bar = ProgressBar(dyn, steps, enabled=progress, desc=label)
    dyn.attach(bar, interval=max(1, steps // 200))
    start = time.perf_counter()
    try:
        run_guarded(dyn, steps, guard, workdir / f"{label.split()[0]}.last_good.extxyz")
    except MDInstabilityError as err:
        raise MDInstabilityError(
            err.step,
            f"{label}: {err.reason}. The model is not good enough for MD at this temperature; "
            "use the bundled models (no --retrain) or train longer (benchmarks/train_models.py)",
            err.last_good_file,
        ) from None
    finally:
        bar.close()
    return time.perf_counter() - start


def _rdf_comparison(runs, rmax):
    """Intermolecular RDFs of each run with their halves; max |dg| and its noise per pair."""
    from nequip_mts.analysis.rdf import rdf_halves

    halves = {
        name: rdf_halves(frames, rmax=rmax, nbins=120, intermolecular=True) for name, frames in runs.items()
    }
    first, second = halves.values()
    diff, noise = first.compare(second, RDF_RMIN_A)
    return halves, diff, noise


def _plot(path, results, halves, speedup):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = list(next(iter(halves.values())).g)
    fig, axes = plt.subplots(1, 1 + len(pairs), figsize=(3.6 * (1 + len(pairs)), 3.2))
    names = list(results)
    rates = [results[n]["ns_per_day"] for n in names]
    axes[0].bar(names, rates, color=["tab:gray", "tab:blue"])
    axes[0].set_ylabel("simulated ns / day")
    axes[0].set_title(f"speed: MTS {speedup:.2f}x")
    for ax, pair in zip(axes[1:], pairs):
        for name, color in zip(names, ("tab:gray", "tab:blue")):
            ax.plot(halves[name].r, halves[name].g[pair], color=color, label=name)
        ax.set_xlim(RDF_RMIN_A, halves[names[0]].r[-1])
        ax.set_xlabel("r (A)")
        ax.set_title(f"intermolecular g_{pair}")
    axes[1].legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args):
    import numpy as np
    from ase.io import read

    from nequip_mts.md import MTSCalculator
    from nequip_mts.md.memory import tune_malloc
    from nequip_mts.md.providers import model_calculator
    from nequip_mts.md.runner import initial_velocities, make_integrator, make_single_step_integrator

    tune_malloc()  # before the models allocate
    settings = md_settings.MDSettings.from_args(args, engine="ase")
    data = args.data or resources.water_data()
    if not data.is_file():
        raise FileNotFoundError(f"data file {data} not found; pass --data FILE.extxyz")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.retrain:
        baseline, multiscale = _retrain(data, args.workdir)
    else:
        baseline = args.baseline or resources.bundled_model("baseline")
        multiscale = args.multiscale or resources.bundled_model("multiscale")

    atoms0 = read(data, index=0).repeat(tuple(args.replicate))
    atoms0.calc = None
    initial_velocities(atoms0, settings)
    k = settings.inner_steps
    single = settings.replace(timestep_fs=settings.inner_timestep_fs, inner_steps=1, steps=settings.steps * k)
    frame_every_outer = 3  # frames for the RDFs every 3 outer steps (9 fs by default)
    max_T = max(2000.0, 4 * settings.temperature_K) if settings.temperature_K else 5000.0
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(
        f"system: {len(atoms0)} atoms, cell {np.round(atoms0.cell.lengths(), 2).tolist()} A; "
        f"{settings.ensemble} at {settings.temperature_K} K for {settings.time_ps:g} ps; "
        f"models {pathlib.Path(baseline).name}, {pathlib.Path(multiscale).name} "
        f"({'eager' if args.eager else 'compiled'})",
        flush=True,
    )
    compiled = dict(compiled=not args.eager, cache_dir=args.cache_dir)
    # compile (or find in the cache) both before either run starts
    calcs = {
        "baseline": model_calculator(baseline, **compiled),
        "MTS": MTSCalculator.from_checkpoint(multiscale, **compiled),
    }

    runs = {
        "baseline": dict(
            settings=single,
            calc=calcs["baseline"],
            integrator=make_single_step_integrator,
            label=f"baseline {single.timestep_fs:g} fs",
            stride=frame_every_outer * k,
        ),
        "MTS": dict(
            settings=settings,
            calc=calcs["MTS"],
            integrator=make_integrator,
            label=f"MTS {settings.inner_timestep_fs:g} fs x {k}",
            stride=frame_every_outer,
        ),
    }
    results, frames = {}, {}
    for seed_offset, (name, spec) in enumerate(runs.items()):
        atoms = atoms0.copy()
        atoms.calc = spec["calc"]
        run_settings = spec["settings"]
        rng = np.random.default_rng([settings.seed, seed_offset + 1])
        dyn = spec["integrator"](atoms, run_settings, rng=rng)
        frames[name] = []
        dyn.attach(lambda f=frames[name], a=atoms: f.append(a.copy()), interval=spec["stride"])
        wall = _timed_run(dyn, run_settings.steps, spec["label"], args.workdir, max_T, not args.no_progress)
        equilibrated = frames[name][len(frames[name]) // 3 :]
        frames[name] = equilibrated
        results[name] = dict(
            wall_s=wall,
            ns_per_day=settings.time_ps * 1e-3 / (wall / 86400.0),
            mean_T=float(np.mean([f.get_temperature() for f in equilibrated])),
        )

    print("\n=== result ===")
    for name, res in results.items():
        print(
            f"{name:>8}: {res['wall_s']:7.1f} s for {settings.time_ps * 1000:.0f} fs "
            f"({res['ns_per_day']:.3f} ns/day), mean T {res['mean_T']:.1f} K"
        )
    speedup = results["baseline"]["wall_s"] / results["MTS"]["wall_s"]
    print(
        f"speedup of MTS (outer step {settings.timestep_fs:g} fs) over single-step baseline MD: {speedup:.2f}x"
    )

    rmax = min(6.0, atoms0.cell.lengths().min() / 2)
    halves, diff, noise = _rdf_comparison(frames, rmax)
    if max(noise.values()) > NOISE_TO_JUDGE:
        print(
            f"RDFs: this run is too short to compare structure (sampling noise up to "
            f"{max(noise.values()):.2f} in g); run --time-ps 5 or benchmarks/md_physics.py"
        )
    else:
        print(
            f"intermolecular RDF max |dg|, baseline vs MTS (r > {RDF_RMIN_A} A), beside the sampling noise: "
            + ", ".join(f"{pair} {diff[pair]:.3f} (noise {noise[pair]:.3f})" for pair in diff)
        )
        if any(diff[pair] > 2 * noise[pair] for pair in diff):
            print(
                "(the baseline and the multiscale model are separately trained models whose liquids "
                "differ; the integrator alone is compared in benchmarks/results/md_physics.md)"
            )
    png = args.workdir / "demo.png"
    _plot(png, results, halves, speedup)
    print(f"figure: {png}")
