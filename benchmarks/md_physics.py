"""Physics of MTS vs single-step MD on a bundled liquid's models: RDFs, VDOS, diffusion, NVE drift.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/md_physics.py [--system water] [--production-ps 6] [--replicate 2 1 1] [--control]

``--system`` (``benchmarks/systems.py``) picks the liquid: its bundled data and models,
its temperature (water 350 K, methanol 300 K) and its RDF pairs, VDOS bands and
diffusing atoms.

1. NVT (Bussi thermostat, the system's temperature, weak coupling) from the same start, after an
   equilibration: the baseline with a 0.5 fs step, MTS with a 0.5 fs inner step and
   K = 6 (3 fs outer step; ``--k``). Frames every 3 fs give the RDFs, the VDOS
   (from velocities) and the self-diffusion (MSD). Every frame's covalent bonds are
   compared with the start's (:class:`nequip_mts.md.topology.TopologyWatch`).
2. NVE from the equilibrated state: the baseline at 0.5 fs and MTS with outer steps of
   1, 2, 3 and 4 fs (K = 2, 4, 6, 8); the drift of the conserved energy in
   meV/atom/ps from a linear fit.
3. With ``--control``, the multiscale model's sum at a single 0.5 fs step as well: the
   same model as MTS under the baseline's integrator, which separates the integrator's
   effect from the difference between the two trained models.

The start is the first dataset frame, replicated by ``--replicate`` with fresh
Maxwell-Boltzmann velocities (identical copies would otherwise stay in step).

The NVT trajectories (frames stamped with ``md_time_fs``, as ``nequip-mts md`` writes
them) and the NVE logs (``MTSLogger``) go to ``--runs-dir`` (default ``runs/``); every
number of the report is computed from those files by ``nequip_mts.analysis.report``, the
code behind ``nequip-mts analyze``, and the report prints the ``nequip-mts analyze``
command that reproduces them.

The models are compiled (once, into the model cache: ``nequip_mts.deploy.cache``) unless
``--eager``; the physics is the same either way, only the wall times differ.

Results go to benchmarks/results/md_physics.md (water) or
benchmarks/results/<system>/physics.md, and PNG plots beside it.
"""

import argparse
import os
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import systems  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "runs"
INNER_FS = 0.5
FRAME_FS = 3.0
TAUT_FS = 100.0  # production thermostat time constant (default of --taut-fs); 50 fs in equilibration


def stamped_copy(atoms, dyn):
    """A copy of ``atoms`` with the time and step in ``info``, as ``nequip-mts md`` writes frames."""
    from ase import units

    from nequip_mts.md.runner import STEP_KEY, TIME_KEY

    frame = atoms.copy()
    frame.info[TIME_KEY] = float(dyn.get_time() / units.fs)
    frame.info[STEP_KEY] = int(dyn.nsteps)
    return frame


def run_collect(dyn, atoms, total_fs, step_fs, every_fs, label):
    """Run ``total_fs`` of ``dyn``, keeping a frame (with momenta and time) every ``every_fs``."""
    from tqdm import tqdm

    frames = []
    interval = max(1, int(round(every_fs / step_fs)))
    dyn.attach(lambda: frames.append(stamped_copy(atoms, dyn)), interval=interval)
    steps = int(round(total_fs / step_fs))
    bar = tqdm(total=steps, desc=label, unit="step", mininterval=5)
    dyn.attach(lambda: bar.update(1), interval=1)
    start = time.perf_counter()
    dyn.run(steps)
    bar.close()
    return frames[1:], time.perf_counter() - start


def run_logged(dyn, atoms, total_fs, step_fs, log_path):
    """Run ``total_fs`` of NVE, logging every step with ``MTSLogger`` to ``log_path``."""
    from nequip_mts.md import MTSLogger

    log_path.unlink(missing_ok=True)
    logger = MTSLogger(dyn, atoms, str(log_path), mode="w")
    dyn.attach(logger, interval=1)
    dyn.run(int(round(total_fs / step_fs)))
    logger.close()
    return log_path


def verlet_with_conserved_energy(atoms, timestep):
    """ASE velocity Verlet that reports its conserved (total) energy, for ``MTSLogger``."""
    from ase.md.verlet import VelocityVerlet

    class Verlet(VelocityVerlet):
        reference = None

        def get_conserved_energy(self):
            return self.atoms.get_total_energy()

        def get_conserved_energy_drift(self):
            if self.reference is None:
                self.reference = self.get_conserved_energy()
            return self.get_conserved_energy() - self.reference

    return Verlet(atoms, timestep)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    systems.add_argument(parser)
    parser.add_argument("--k", type=int, default=6, help="inner steps per outer step of the NVT MTS run")
    parser.add_argument("--equilibration-ps", type=float, default=0.3)
    parser.add_argument("--production-ps", type=float, default=6.0)
    parser.add_argument("--nve-ps", type=float, default=1.0)
    parser.add_argument("--nve-ks", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--replicate", type=int, nargs=3, default=[1, 1, 1], help="box repetitions")
    parser.add_argument("--control", action="store_true", help="also run the multiscale sum at 0.5 fs")
    parser.add_argument(
        "--thermostat",
        choices=("bussi", "langevin"),
        default="bussi",
        help="NVT thermostat of every run (default bussi, a global velocity rescaling); "
        "langevin: BAOAB (ASE's LangevinBAOAB single-step, LangevinRESPA with its friction at "
        "every inner step), friction 1/taut, per atom",
    )
    parser.add_argument(
        "--taut-fs",
        type=float,
        default=TAUT_FS,
        help="thermostat time constant of the production runs in fs (Bussi taut; Langevin friction "
        "1/taut); equilibration always uses 50 fs",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="independent replica: each run draws its own starting velocities and thermostat noise "
        "from (seed, run). Without it every run starts from the same velocities (seed 0) and "
        "thermostat seeds 1 and 2, so that baseline, MTS and control share their start",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        help="report stem: <out>.md and <out>_*.png (default benchmarks/results/md_physics for "
        "water, benchmarks/results/<system>/physics otherwise)",
    )
    parser.add_argument(
        "--runs-dir",
        type=pathlib.Path,
        help="where the trajectories and NVE logs go (default runs/, or runs/<system>/)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("baseline", "MTS", "control"),
        help="run only these NVT runs and write their trajectories to --runs-dir, without the NVE "
        "runs, the analysis and the report (to spread the runs over processes; xtb_comparison.py "
        "reads the trajectories). Each run has its own seeds, so its trajectory is the one a full "
        "run makes",
    )
    systems.add_model_arguments(parser)
    args = parser.parse_args(argv)
    if args.only:
        args.control = args.control or "control" in args.only
    system = systems.get(args.system)
    water = system.name == "water"
    distilled = args.mts_deploy is not None
    if args.out is None:
        args.out = (
            RESULTS / "md_physics"
            if water and not distilled and args.models_dir is None
            else systems.results_stem(system, args, "physics")
        )
    if args.runs_dir is None:
        args.runs_dir = RUNS / args.out.parent.name if args.out.parent != RESULTS else RUNS
    K_NVT, TEMPERATURE_K = args.k, system.temperature_K
    BANDS, RMIN_INTER = system.bands, system.compare_rmin

    from ase import units
    from ase.io import read, write
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    from nequip_mts.analysis.plots import plot_drift_vs_outer_step, plot_msd, plot_rdfs, plot_vdos
    from nequip_mts.analysis.report import analyze_log, analyze_run, compare_runs
    from nequip_mts.md import RESPA
    from nequip_mts.md.runner import make_integrator, make_single_step_integrator
    from nequip_mts.md.settings import MDSettings
    from nequip_mts.md.topology import TopologyWatch

    start_atoms = read(system.data(), index=0).repeat(tuple(args.replicate))
    thermalize_momenta(start_atoms, temperature_K=TEMPERATURE_K, rng=np.random.default_rng(0))
    Stationary(start_atoms)
    n = len(start_atoms)
    labels = ("baseline", "MTS", "control") if args.control else ("baseline", "MTS")
    if args.only:
        labels = tuple(label for label in labels if label in args.only)
    # control: the multiscale sum at a single 0.5 fs step, so that MTS-vs-control isolates
    # the integrator from the difference between the two trained models
    calc_kinds = {"baseline": "baseline", "MTS": "MTS", "control": "sum"}
    calcs = systems.calculators(system, args, tuple(calc_kinds[label] for label in labels))
    baseline_calc, mts_calc = calcs.get("baseline"), calcs.get("MTS")
    inner = INNER_FS * units.fs
    taut_eq, taut_prod = 50.0, args.taut_fs  # fs

    runs_dir = args.runs_dir
    runs_dir.mkdir(parents=True, exist_ok=True)
    runs = {}
    for label in labels:
        atoms = start_atoms.copy()
        atoms.calc = calcs[calc_kinds[label]]
        # the integrators nequip-mts md builds: ASE's single-step ones for baseline and
        # control, r-RESPA at K for MTS; taut in fs
        k_run = 1 if label in ("baseline", "control") else K_NVT
        build = make_single_step_integrator if k_run == 1 else make_integrator

        def make(taut_fs, rng, k_run=k_run, build=build, atoms=atoms):
            settings = MDSettings(
                ensemble=args.thermostat,
                timestep_fs=INNER_FS * k_run,
                inner_steps=k_run,
                steps=0,
                temperature_K=TEMPERATURE_K,
                thermostat_time_fs=taut_fs,
            )
            return build(atoms, settings, rng=rng), INNER_FS * k_run

        if args.seed is None:
            eq_rng, prod_rng = np.random.default_rng(1), np.random.default_rng(2)
        else:  # an independent replica: own velocities and thermostat noise per (seed, run)
            stream = np.random.SeedSequence([args.seed, ("baseline", "MTS", "control").index(label)])
            v_rng, eq_rng, prod_rng = (np.random.default_rng(s) for s in stream.spawn(3))
            thermalize_momenta(atoms, temperature_K=TEMPERATURE_K, rng=v_rng)
            Stationary(atoms)
        dyn, step_fs = make(taut_eq, eq_rng)
        run_collect(dyn, atoms, args.equilibration_ps * 1000, step_fs, 1e9, f"{label} equilibration")
        equilibrated = atoms.copy()
        dyn, step_fs = make(taut_prod, prod_rng)
        frames, wall = run_collect(
            dyn, atoms, args.production_ps * 1000, step_fs, FRAME_FS, f"{label} NVT production"
        )
        path = runs_dir / f"physics_{label}.extxyz"
        write(path, frames)  # not committed; the analysis below reads it back
        runs[label] = {"path": path, "wall": wall, "equilibrated": equilibrated}
        print(f"{label}: {len(frames)} frames in {wall:.0f} s", flush=True)
    if args.only:
        print(f"--only {' '.join(labels)}: trajectories in {runs_dir}; no NVE runs and no report", flush=True)
        return 0

    # --- structure and dynamics, from the files just written (as `nequip-mts analyze` reads them)
    options = system.analysis_options()
    analysis = {}
    for label, r in runs.items():
        r["frames"] = read(r["path"], index=":")
        analysis[label] = a = analyze_run(r["frames"], label, options, source=str(r["path"]))
        print(f"{label}: {a.n_frames} frames, mean T {a.mean_temperature_K:.1f} K", flush=True)
    # RDF differences beside the sampling noise (half vs half / sqrt(2), mean of the two runs)
    versus = compare_runs(analysis["baseline"], analysis["MTS"], RMIN_INTER)
    if args.control:
        versus_control = compare_runs(analysis["control"], analysis["MTS"], RMIN_INTER)
    vdos = {label: a.vdos for label, a in analysis.items()}  # frames every 3 fs: Nyquist 5560 cm^-1
    diff = {label: a.diffusion[system.diffusion_group] for label, a in analysis.items()}

    # --- NVE drift against the outer step, from the baseline's equilibrated state (MTSLogger logs)
    nve_start = runs["baseline"]["equilibrated"]
    logs = {}
    atoms = nve_start.copy()
    atoms.calc = baseline_calc
    logs["baseline"] = run_logged(
        verlet_with_conserved_energy(atoms, inner),
        atoms,
        args.nve_ps * 1000,
        INNER_FS,
        runs_dir / "physics_nve_baseline.log",
    )
    for k in args.nve_ks:
        atoms = nve_start.copy()
        atoms.calc = mts_calc
        dyn = RESPA(atoms, inner * k, inner_steps=k)
        logs[k] = run_logged(dyn, atoms, args.nve_ps * 1000, INNER_FS * k, runs_dir / f"physics_nve_K{k}.log")
    drift = {"baseline": (INNER_FS, analyze_log(logs["baseline"]).drift)}
    for k in args.nve_ks:
        drift[k] = (INNER_FS * k, analyze_log(logs[k]).drift)
        print(f"NVE K={k}: drift {drift[k][1]}", flush=True)

    # --- report
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stem = args.out
    plot_rdfs({k: (a.rdf.r, a.rdf.g) for k, a in analysis.items()}, stem.with_name(stem.name + "_rdf.png"))
    plot_vdos(vdos, stem.with_name(stem.name + "_vdos.png"))
    plot_msd(
        {k: (d.t_ps, d.msd) for k, d in diff.items()},
        stem.with_name(stem.name + "_msd.png"),
        fits={k: (d.D, d.window_ps) for k, d in diff.items()},
    )
    plot_drift_vs_outer_step(
        {
            "MTS r-RESPA (0.5 fs inner)": (
                [drift[k][0] for k in args.nve_ks],
                [drift[k][1].slope for k in args.nve_ks],
                [drift[k][1].stderr for k in args.nve_ks],
            )
        },
        stem.with_name(stem.name + "_drift.png"),
        reference=drift["baseline"][1].slope,
    )
    labels_cols = ["baseline", "MTS"] + (["control"] if args.control else [])

    def row(name, values, diff="", control_diff=""):
        cells = [name, *values, diff] + ([control_diff] if args.control else [])
        return "| " + " | ".join(cells) + " |"

    def longest_bond(frames):
        # longest distance from each H to its nearest O: > ~1.3 A means a broken bond
        worst = 0.0
        for f in frames[::10]:
            h = f.numbers == 1
            d = f.get_all_distances(mic=True)[np.ix_(h, f.numbers == 8)].min(axis=1)
            worst = max(worst, float(d.max()))
        return worst

    def topology_changes(frames):
        # frames whose covalent bonds differ from the run's start (broken or formed bonds)
        watch = TopologyWatch(start_atoms)
        bad = [i for i, f in enumerate(frames) if watch.check(f) is not None]
        first = f", first at {frames[bad[0]].info['md_time_fs'] / 1000:.2f} ps" if bad else ""
        return f"{len(bad)}/{len(frames)}{first}"

    def collapsed(frames):
        # frames with an H-H distance below 1.0 A: a collapsed molecule (the defect of
        # models trained without the distorted frames)
        count = 0
        for f in frames:
            h = f.numbers == 1
            d = f.get_all_distances(mic=True)[np.ix_(h, h)]
            count += bool((d[np.triu_indices(h.sum(), 1)] < 1.0).any())
        return f"{count}/{len(frames)}"

    cmd = "OMP_NUM_THREADS={} .venv/bin/python benchmarks/md_physics.py {}".format(
        os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:])
    ).strip()
    from collections import Counter

    from nequip_mts.analysis.molecules import find_molecules

    molecules_line = ", ".join(f"{c} {f}" for f, c in Counter(find_molecules(start_atoms).formulas).items())
    lines = [
        f"# Physics: single-step baseline vs MTS ({system.name}, GFN1-xTB models"
        + (", distilled MTS)" if distilled else ")"),
        "",
        f"Command: `{cmd}`  ",
        f"System: {n} atoms ({molecules_line}; the bundled box x {' x '.join(map(str, args.replicate))}), {TEMPERATURE_K:.0f} K, "
        f"{'Bussi' if args.thermostat == 'bussi' else 'Langevin BAOAB'} thermostat (taut {args.taut_fs:g} fs) after {args.equilibration_ps} ps equilibration; {args.production_ps} ps "
        f"production each; frames every {FRAME_FS} fs.  ",
        (
            f"Baseline: the teacher (the bundled single Allegro model), 0.5 fs. MTS: the distilled deploy "
            f"(slow = teacher - fast), 0.5 fs inner step x K={K_NVT} ({INNER_FS * K_NVT:g} fs outer); "
            "the potential of both runs is the same."
            if distilled
            else f"Baseline: single Allegro model, 0.5 fs. MTS: multiscale model, 0.5 fs inner step x "
            f"K={K_NVT} ({INNER_FS * K_NVT:g} fs outer)."
        ),
    ]
    if args.control:
        lines += [
            "",
            "Control: the multiscale model's sum at a single 0.5 fs step (same model as MTS, other integrator).",
        ]
    lines += [
        "",
        "RDF noise: each run's first half against its second half, divided by sqrt(2), averaged over "
        "the two runs; the difference expected between two independent full runs from sampling alone.",
        "",
        row("observable", labels_cols, "difference (MTS - baseline)", "MTS - control"),
        "|" + "---|" * (len(labels_cols) + 2 + (1 if args.control else 0)),
    ]
    for pair, d in sorted(versus.rdf_diff.items()):
        if RMIN_INTER is None:  # intermolecular RDFs: compared over all r
            lines.append(
                row(
                    f"intermolecular RDF g_{pair} max abs diff",
                    [f"noise: {versus.rdf_noise[pair]:.3f}"] + [""] * (len(labels_cols) - 1),
                    f"{d:.3f}",
                    f"{versus_control.rdf_diff[pair]:.3f} (noise {versus_control.rdf_noise[pair]:.3f})"
                    if args.control
                    else "",
                )
            )
            continue
        lines.append(
            row(
                f"RDF g_{pair} max abs diff: all r / r > {RMIN_INTER:g} A",
                [f"noise: {versus.rdf_noise[pair]:.3f} / {versus.rdf_noise_inter[pair]:.3f}"]
                + [""] * (len(labels_cols) - 1),
                f"{d:.3f} / {versus.rdf_diff_inter[pair]:.3f}",
                f"r > {RMIN_INTER:g} A: {versus_control.rdf_diff_inter[pair]:.3f}" if args.control else "",
            )
        )
    for band, (lo, hi) in BANDS.items():
        lines.append(
            row(
                f"VDOS {band}",
                [f"{analysis[k].band_peaks[(lo, hi)]:.0f}" for k in labels_cols],
                f"{versus.band_shift[(lo, hi)]:+.0f}",
                f"{versus_control.band_shift[(lo, hi)]:+.0f}" if args.control else "",
            )
        )
    group = system.diffusion_group
    lines.append(
        row(
            f"{group} self-diffusion (1e-5 cm^2/s)",
            [f"{diff[k].D_cgs:.2f} +/- {diff[k].D_err_cgs:.2f}" for k in labels_cols],
            "{:+.2f} ({:.1f} sigma)".format(*versus.diffusion[group]),
            "{:+.2f} ({:.1f} sigma)".format(*versus_control.diffusion[group]) if args.control else "",
        )
    )
    lines.append(
        row(
            "frames with a broken or formed covalent bond",
            [topology_changes(runs[k]["frames"]) for k in labels_cols],
        )
    )
    if water:
        lines.append(
            row(
                "longest H-to-nearest-O distance seen (A)",
                [f"{longest_bond(runs[k]['frames']):.2f}" for k in labels_cols],
            )
        )
        lines.append(
            row(
                "frames with H-H < 1.0 A (collapsed molecule)",
                [collapsed(runs[k]["frames"]) for k in labels_cols],
            )
        )
    lines.append(row("mean T (K)", [f"{analysis[k].mean_temperature_K:.1f}" for k in labels_cols]))
    wall = {k: runs[k]["wall"] for k in labels_cols}
    lines.append(
        row(
            "NVT wall time (s)",
            [f"{wall[k]:.0f}" for k in labels_cols],
            f"{wall['baseline'] / wall['MTS']:.2f}x",
            f"{wall.get('control', 0) / wall['MTS']:.2f}x",
        )
    )
    lines += [
        "",
        f"NVE drift of the conserved energy ({args.nve_ps} ps from the state after equilibration with the baseline, linear fit):",
        "",
        "| integrator | step (fs) | drift (meV/atom/ps) |",
        "|---|---|---|",
    ]
    b = drift["baseline"]
    lines.append(f"| baseline velocity Verlet | {b[0]:.1f} | {b[1].slope:+.3f} +/- {b[1].stderr:.3f} |")
    for k in args.nve_ks:
        dt, r = drift[k]
        lines.append(f"| MTS r-RESPA K={k} | {dt:.1f} outer | {r.slope:+.3f} +/- {r.stderr:.3f} |")

    files = " ".join(systems.shown(runs[k]["path"]) for k in labels_cols)
    log_files = " ".join(systems.shown(logs[k]) for k in ["baseline", *args.nve_ks])
    lines += [
        "",
        "Plots: " + ", ".join(f"`{stem.name}_{kind}.png`" for kind in ("rdf", "vdos", "msd", "drift")) + ".",
        "",
        "The same numbers from the files this run wrote (trajectories with `md_time_fs`, `MTSLogger` logs):",
        "",
        f"    nequip-mts analyze {files} --log {log_files} {system.analyze_args()} -o <dir>",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
