"""Physics of MTS vs single-step MD on the bundled water models: RDFs, VDOS, diffusion, NVE drift.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/md_physics.py [--production-ps 6] [--replicate 2 1 1] [--control]

1. NVT (Bussi thermostat, 350 K, weak coupling) from the same start, after an
   equilibration: the baseline with a 0.5 fs step, MTS with a 0.5 fs inner step and
   K = 6 (3 fs outer step). Frames every 3 fs give the O-O/O-H/H-H RDFs, the VDOS
   (from velocities) and the O self-diffusion (MSD).
2. NVE from the equilibrated state: the baseline at 0.5 fs and MTS with outer steps of
   1, 2, 3 and 4 fs (K = 2, 4, 6, 8); the drift of the conserved energy in
   meV/atom/ps from a linear fit.
3. With ``--control``, the multiscale model's sum at a single 0.5 fs step as well: the
   same model as MTS under the baseline's integrator, which separates the integrator's
   effect from the difference between the two trained models.

The start is the first dataset frame, replicated by ``--replicate`` with fresh
Maxwell-Boltzmann velocities (identical copies would otherwise stay in step).

Results go to benchmarks/results/md_physics.md and PNG plots beside it.
"""

import argparse
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODELS = ROOT / "benchmarks" / "models"
DATA = ROOT / "benchmarks" / "data" / "water_gfn1.extxyz.gz"
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "runs"
TEMPERATURE_K = 350.0
INNER_FS = 0.5
K_NVT = 6
FRAME_FS = 3.0


def run_collect(dyn, atoms, total_fs, step_fs, every_fs, label):
    """Run ``total_fs`` of ``dyn``, keeping a frame (with momenta) every ``every_fs``."""
    from tqdm import tqdm

    frames = []
    interval = max(1, int(round(every_fs / step_fs)))
    dyn.attach(lambda: frames.append(atoms.copy()), interval=interval)
    steps = int(round(total_fs / step_fs))
    bar = tqdm(total=steps, desc=label, unit="step", mininterval=5)
    dyn.attach(lambda: bar.update(1), interval=1)
    start = time.perf_counter()
    dyn.run(steps)
    bar.close()
    return frames[1:], time.perf_counter() - start


def conserved_series(dyn, atoms, total_fs, step_fs, energy_fn):
    times, energies = [], []
    dyn.attach(lambda: (times.append(dyn.get_time() / 1.0), energies.append(energy_fn())), interval=1)
    dyn.run(int(round(total_fs / step_fs)))
    from ase import units

    return np.array(times) / units.fs, np.array(energies)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--equilibration-ps", type=float, default=0.3)
    parser.add_argument("--production-ps", type=float, default=6.0)
    parser.add_argument("--nve-ps", type=float, default=1.0)
    parser.add_argument("--nve-ks", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--replicate", type=int, nargs=3, default=[1, 1, 1], help="box repetitions")
    parser.add_argument("--control", action="store_true", help="also run the multiscale sum at 0.5 fs")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "md_physics")
    args = parser.parse_args(argv)

    from ase import units
    from ase.io import read, write
    from ase.md.bussi import Bussi
    from ase.md.verlet import VelocityVerlet
    from nequip.integrations.ase import NequIPCalculator

    from nequip_mts.analysis.diffusion import self_diffusion_from_frames
    from nequip_mts.analysis.drift import energy_drift
    from nequip_mts.analysis.plots import plot_drift_vs_outer_step, plot_msd, plot_rdfs, plot_vdos
    from nequip_mts.analysis.rdf import partial_rdfs, rdf_max_abs_diff
    from nequip_mts.analysis.vdos import band_peak, vdos_from_frames
    from nequip_mts.md import RESPA, BussiRESPA, MTSCalculator

    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    start_atoms = read(DATA, index=0).repeat(tuple(args.replicate))
    thermalize_momenta(start_atoms, temperature_K=TEMPERATURE_K, rng=np.random.default_rng(0))
    Stationary(start_atoms)
    n = len(start_atoms)
    baseline_calc = NequIPCalculator._from_saved_model(str(MODELS / "water_baseline.nequip.zip"), device="cpu")
    mts_calc = MTSCalculator.from_checkpoint(MODELS / "water_multiscale.nequip.zip")
    inner = INNER_FS * units.fs
    taut_eq, taut_prod = 50 * units.fs, 100 * units.fs

    RUNS.mkdir(exist_ok=True)
    runs = {}
    # control: the multiscale sum at a single 0.5 fs step, so that MTS-vs-control isolates
    # the integrator from the difference between the two trained models
    sum_calc = NequIPCalculator._from_saved_model(str(MODELS / "water_multiscale.nequip.zip"), device="cpu")
    labels = ("baseline", "MTS", "control") if args.control else ("baseline", "MTS")
    for label in labels:
        atoms = start_atoms.copy()
        atoms.calc = {"baseline": baseline_calc, "MTS": mts_calc, "control": sum_calc}[label]
        if label in ("baseline", "control"):
            make = lambda taut, seed: (Bussi(atoms, inner, TEMPERATURE_K, taut, rng=np.random.default_rng(seed)), INNER_FS)  # noqa: E731
        else:
            make = lambda taut, seed: (BussiRESPA(atoms, inner * K_NVT, K_NVT, temperature_K=TEMPERATURE_K, taut=taut, rng=seed), INNER_FS * K_NVT)  # noqa: E731
        dyn, step_fs = make(taut_eq, 1)
        run_collect(dyn, atoms, args.equilibration_ps * 1000, step_fs, 1e9, f"{label} equilibration")
        equilibrated = atoms.copy()
        dyn, step_fs = make(taut_prod, 2)
        frames, wall = run_collect(dyn, atoms, args.production_ps * 1000, step_fs, FRAME_FS, f"{label} NVT production")
        runs[label] = {"frames": frames, "wall": wall, "equilibrated": equilibrated}
        write(RUNS / f"physics_{label}.extxyz", frames)  # for inspection; not committed
        print(f"{label}: {len(frames)} frames in {wall:.0f} s; mean T {np.mean([f.get_temperature() for f in frames]):.1f} K", flush=True)

    # --- structure and dynamics
    rdfs = {label: partial_rdfs(r["frames"], rmax=6.0, nbins=120) for label, r in runs.items()}
    if args.control:
        control_diff = rdf_max_abs_diff(rdfs["control"][1], rdfs["MTS"][1], r=rdfs["MTS"][0], rmin=1.7)
    rdf_diff = rdf_max_abs_diff(rdfs["baseline"][1], rdfs["MTS"][1])
    # intermolecular range: beyond the sharp intramolecular O-H (~1 A) and H-H (~1.5 A) peaks
    rdf_diff_inter = rdf_max_abs_diff(rdfs["baseline"][1], rdfs["MTS"][1], r=rdfs["MTS"][0], rmin=1.7)
    # sampling noise of the comparison: each run's two halves against each other. A half
    # has twice the variance of the full run and the difference of two independent
    # samples twice that again, so the noise expected in "full run A - full run B" is
    # the half-vs-half difference / sqrt(2); averaged over the two runs
    def half_vs_half(frames, rmin):
        half = len(frames) // 2
        r, g1 = partial_rdfs(frames[:half], rmax=6.0, nbins=120)
        _, g2 = partial_rdfs(frames[half:], rmax=6.0, nbins=120)
        return rdf_max_abs_diff(g1, g2, r=r, rmin=rmin)

    rdf_noise, rdf_noise_inter = {}, {}
    for rmin, noise in ((0.0, rdf_noise), (1.7, rdf_noise_inter)):
        halves = [half_vs_half(runs[label]["frames"], rmin) for label in ("baseline", "MTS")]
        for pair in halves[0]:
            noise[pair] = 0.5 * (halves[0][pair] + halves[1][pair]) / np.sqrt(2)
    vdos = {label: vdos_from_frames(r["frames"], FRAME_FS) for label, r in runs.items()}
    diff = {label: self_diffusion_from_frames(r["frames"], FRAME_FS) for label, r in runs.items()}

    # --- NVE drift against the outer step, from the baseline's equilibrated state
    nve_start = runs["baseline"]["equilibrated"]
    drift = {}
    atoms = nve_start.copy()
    atoms.calc = baseline_calc
    dyn = VelocityVerlet(atoms, inner)
    t, e = conserved_series(dyn, atoms, args.nve_ps * 1000, INNER_FS, lambda: atoms.get_total_energy())
    drift["baseline"] = (INNER_FS, energy_drift(t, e, n))
    for k in args.nve_ks:
        atoms = nve_start.copy()
        atoms.calc = mts_calc
        dyn = RESPA(atoms, inner * k, inner_steps=k)
        t, e = conserved_series(dyn, atoms, args.nve_ps * 1000, INNER_FS * k, dyn.get_conserved_energy)
        drift[k] = (INNER_FS * k, energy_drift(t, e, n))
        print(f"NVE K={k}: drift {drift[k][1]}", flush=True)

    # --- report
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stem = args.out
    plot_rdfs({k: v for k, v in rdfs.items()}, stem.with_name(stem.name + "_rdf.png"))
    plot_vdos(vdos, stem.with_name(stem.name + "_vdos.png"))
    plot_msd({k: (d.t_ps, d.msd) for k, d in diff.items()}, stem.with_name(stem.name + "_msd.png"),
             fits={k: (d.D, d.window_ps) for k, d in diff.items()})
    plot_drift_vs_outer_step(
        {"MTS r-RESPA (0.5 fs inner)": ([drift[k][0] for k in args.nve_ks], [drift[k][1].slope for k in args.nve_ks], [drift[k][1].stderr for k in args.nve_ks])},
        stem.with_name(stem.name + "_drift.png"), reference=drift["baseline"][1].slope,
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

    def collapsed(frames):
        # frames with an H-H distance below 1.0 A: a collapsed molecule (the defect of
        # models trained without the distorted frames)
        count = 0
        for f in frames:
            h = f.numbers == 1
            d = f.get_all_distances(mic=True)[np.ix_(h, h)]
            count += bool((d[np.triu_indices(h.sum(), 1)] < 1.0).any())
        return f"{count}/{len(frames)}"

    def sigma(a, b):
        return abs(a.D - b.D) / np.hypot(a.D_err, b.D_err)

    cmd = "OMP_NUM_THREADS={} .venv/bin/python benchmarks/md_physics.py {}".format(os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:])).strip()
    n_mol = n // 3
    lines = [
        "# Physics: single-step baseline vs MTS (water, GFN1-xTB models)",
        "",
        f"Command: `{cmd}`  ",
        f"System: {n} atoms ({n_mol} H2O; the bundled box x {' x '.join(map(str, args.replicate))}), {TEMPERATURE_K:.0f} K, "
        f"Bussi thermostat (taut 100 fs) after {args.equilibration_ps} ps equilibration; {args.production_ps} ps "
        f"production each; frames every {FRAME_FS} fs.  ",
        f"Baseline: single Allegro model, 0.5 fs. MTS: multiscale model, 0.5 fs inner step x K={K_NVT} (3 fs outer).",
    ]
    if args.control:
        lines += ["", "Control: the multiscale model's sum at a single 0.5 fs step (same model as MTS, other integrator)."]
    lines += [
        "",
        "RDF noise: each run's first half against its second half, divided by sqrt(2), averaged over "
        "the two runs; the difference expected between two independent full runs from sampling alone.",
        "",
        row("observable", labels_cols, "difference (MTS - baseline)", "MTS - control"),
        "|" + "---|" * (len(labels_cols) + 2 + (1 if args.control else 0)),
    ]
    for pair, d in sorted(rdf_diff.items()):
        lines.append(row(
            f"RDF g_{pair} max abs diff: all r / r > 1.7 A",
            [f"noise: {rdf_noise[pair]:.3f} / {rdf_noise_inter[pair]:.3f}"] + [""] * (len(labels_cols) - 1),
            f"{d:.3f} / {rdf_diff_inter[pair]:.3f}",
            f"r > 1.7 A: {control_diff[pair]:.3f}" if args.control else "",
        ))
    for band, (lo, hi) in {"O-H stretch peak (cm^-1)": (2800, 4200), "H-O-H bend peak (cm^-1)": (1300, 1900)}.items():
        peaks = {k: band_peak(*vdos[k], lo, hi) for k in labels_cols}
        lines.append(row(f"VDOS {band}", [f"{peaks[k]:.0f}" for k in labels_cols],
                         f"{peaks['MTS'] - peaks['baseline']:+.0f}",
                         f"{peaks['MTS'] - peaks.get('control', 0):+.0f}"))
    dm, db = diff["MTS"], diff["baseline"]
    lines.append(row(
        "O self-diffusion (1e-5 cm^2/s)", [f"{diff[k].D_cgs:.2f} +/- {diff[k].D_err_cgs:.2f}" for k in labels_cols],
        f"{dm.D_cgs - db.D_cgs:+.2f} ({sigma(dm, db):.1f} sigma)",
        f"{dm.D_cgs - diff['control'].D_cgs:+.2f} ({sigma(dm, diff['control']):.1f} sigma)" if args.control else "",
    ))
    lines.append(row("longest H-to-nearest-O distance seen (A)", [f"{longest_bond(runs[k]['frames']):.2f}" for k in labels_cols]))
    lines.append(row("frames with H-H < 1.0 A (collapsed molecule)", [collapsed(runs[k]["frames"]) for k in labels_cols]))
    lines.append(row("mean T (K)", [f"{np.mean([f.get_temperature() for f in runs[k]['frames']]):.1f}" for k in labels_cols]))
    wall = {k: runs[k]["wall"] for k in labels_cols}
    lines.append(row("NVT wall time (s)", [f"{wall[k]:.0f}" for k in labels_cols],
                     f"{wall['baseline'] / wall['MTS']:.2f}x",
                     f"{wall.get('control', 0) / wall['MTS']:.2f}x"))
    lines += ["", f"NVE drift of the conserved energy ({args.nve_ps} ps from the state after equilibration with the baseline, linear fit):", "",
              "| integrator | step (fs) | drift (meV/atom/ps) |", "|---|---|---|"]
    b = drift["baseline"]
    lines.append(f"| baseline velocity Verlet | {b[0]:.1f} | {b[1].slope:+.3f} +/- {b[1].stderr:.3f} |")
    for k in args.nve_ks:
        dt, r = drift[k]
        lines.append(f"| MTS r-RESPA K={k} | {dt:.1f} outer | {r.slope:+.3f} +/- {r.stderr:.3f} |")
    lines += ["", "Plots: `md_physics_rdf.png`, `md_physics_vdos.png`, `md_physics_msd.png`, `md_physics_drift.png`."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
