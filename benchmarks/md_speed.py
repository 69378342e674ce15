"""MD throughput: single-step baseline vs MTS, measured side by side in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/md_speed.py [--system water] [--replicate 2 2 2] [--time-fs 48] [--eager]
        [--thermostat nve|bussi|langevin]

The bundled box of the system (96 atoms; ``benchmarks/systems.py``) is replicated
(default 2x2x2: 768 atoms). The
baseline (a single Allegro model with the slow part's architecture) runs velocity
Verlet at 0.5 fs; MTS runs r-RESPA with a 0.5 fs inner step and K = 2, 4, 6, 8.
Each configuration simulates the same time in the steady state (after one untimed step
that pays the initial force evaluation); rounds are interleaved so that load
changes on the machine hit every configuration alike, and the median round is kept.
The per-evaluation costs of the fast and slow parts give f = t_fast / t_slow and the
ideal MTS speedup K / (K f + 1) (relative to a model as costly as the slow part),
printed beside the measured one. Results go to benchmarks/results/md_speed.{md,png}
(water) or benchmarks/results/<system>/md_speed.{md,png}.

The models are compiled (once, into the model cache: ``nequip_mts.deploy.cache``) unless
``--eager``. ``--thermostat`` times the NVT integrators instead of NVE ones, each side with
its own: Bussi (ASE's) against BussiRESPA, or Langevin BAOAB (ASE's LangevinBAOAB) against
LangevinRESPA, whose friction acts at every inner step; the report stem then ends in
``_bussi`` or ``_langevin``.
"""

import argparse
import os
import pathlib
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import systems  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def median_cost(calc, atoms, repeats):
    times = []
    for i in range(repeats + 1):
        a = atoms.copy()
        a.positions += 1e-4 * i  # new positions: no cached result
        a.calc = calc
        start = time.perf_counter()
        a.get_forces()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def timed(dyn, steps):
    """Wall time of ``steps`` steps in the steady state.

    One step runs first, untimed: it pays the initial force evaluation that every run
    pays once (one slow and one fast call for MTS, one call for the baseline), which in
    a run of a few dozen outer steps would be several per cent of the MTS wall time but
    not of a production run's.
    """
    dyn.run(1)
    start = time.perf_counter()
    dyn.run(steps)
    return time.perf_counter() - start


def integrators(thermostat, temperature_K):
    """The baseline's and MTS's integrators for one ensemble, as ``nequip-mts md`` builds them.

    ``baseline(atoms, dt_fs)`` is :func:`~nequip_mts.md.runner.make_single_step_integrator`
    (velocity Verlet, Bussi or LangevinBAOAB) and ``mts(atoms, inner_fs, k)``
    :func:`~nequip_mts.md.runner.make_integrator` (RESPA, BussiRESPA or LangevinRESPA), both
    with the default thermostat time (``DEFAULT_THERMOSTAT_TIME_FS``).
    """
    from nequip_mts.md.runner import make_integrator, make_single_step_integrator
    from nequip_mts.md.settings import MDSettings

    def settings(dt_fs, k):
        target = None if thermostat == "nve" else temperature_K
        return MDSettings(
            ensemble=thermostat, timestep_fs=dt_fs, inner_steps=k, steps=0, temperature_K=target
        )

    rng = np.random.default_rng
    return (
        lambda atoms, dt: make_single_step_integrator(atoms, settings(dt, 1), rng=rng(1)),
        lambda atoms, h, k: make_integrator(atoms, settings(h * k, k), rng=rng(2)),
    )


def baseline_stability(system, calc, args):
    """NVE single-step probes of the baseline at each time step longer than the first."""
    if args.stability_ps <= 0:
        return {}
    from ase.io import read

    from nequip_mts.md.topology import TopologyWatch, holds_molecules
    from nequip_mts.md.validate import ProbeSettings, md_probe

    atoms = read(system.data(), index=0)
    out = {}
    for dt in args.baseline_fs[1:]:
        probe = ProbeSettings(
            ensemble="nve",
            temperature_K=system.temperature_K,
            inner_timestep_fs=dt,
            ks=(1,),
            time_ps=args.stability_ps,
        )
        watch = TopologyWatch(atoms, interval=probe.topology_interval) if holds_molecules(atoms) else None
        out[dt] = md_probe(atoms, calc, 1, probe, watch=watch)
        print(f"baseline at {dt:g} fs: {'stable' if out[dt].passed else out[dt].problems}", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    systems.add_argument(parser)
    parser.add_argument("--replicate", type=int, nargs=3, default=(2, 2, 2))
    parser.add_argument(
        "--time-fs", type=float, default=48.0, help="simulated time per configuration and round"
    )
    parser.add_argument("--inner-fs", type=float, default=0.5)
    parser.add_argument(
        "--baseline-fs",
        type=float,
        nargs="+",
        default=[0.5, 1.0],
        help="time steps of the baseline's velocity Verlet runs (the first is the reference)",
    )
    parser.add_argument(
        "--stability-ps",
        type=float,
        default=2.0,
        help="length of the NVE probe (96-atom box, nequip-mts validate's single-step probe) that says "
        "whether the baseline is stable at each longer time step; 0 skips it",
    )
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--thermostat",
        choices=("nve", "bussi", "langevin"),
        default="nve",
        help="integrators timed: nve (velocity Verlet against RESPA, the default), bussi (Bussi against "
        "BussiRESPA) or langevin (LangevinBAOAB against LangevinRESPA), with nequip-mts md's default "
        "thermostat time",
    )
    parser.add_argument("--out", type=pathlib.Path, help="report stem (default: see above)")
    systems.add_model_arguments(parser)
    args = parser.parse_args(argv)
    system = systems.get(args.system)
    if args.out is None:
        suffix = "" if args.thermostat == "nve" else f"_{args.thermostat}"
        args.out = systems.results_stem(system, args, "md_speed" + suffix)

    from ase.io import read
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from nequip_mts.md.settings import DEFAULT_THERMOSTAT_TIME_FS as TAUT_FS

    atoms0 = read(system.data(), index=0).repeat(tuple(args.replicate))
    atoms0.calc = None
    MaxwellBoltzmannDistribution(atoms0, temperature_K=system.temperature_K, rng=np.random.default_rng(0))
    n = len(atoms0)
    calcs = systems.calculators(system, args)
    baseline, mts = calcs["baseline"], calcs["MTS"]
    # a distilled deploy has no slow model: its outer step evaluates the full one (slow = full - fast)
    fast_calc = mts.fast_calc
    slow_calc = mts.slow_calc if mts.slow_calc is not None else mts.full_calc

    costs = {
        "baseline": median_cost(baseline, atoms0, 5),
        "fast": median_cost(fast_calc, atoms0, 5),
        "slow": median_cost(slow_calc, atoms0, 5),
    }
    f = costs["fast"] / costs["slow"]
    print(
        f"{n} atoms; cost per energy+forces: "
        + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in costs.items())
        + f"; f = {f:.4f}",
        flush=True,
    )

    make_baseline, make_mts = integrators(args.thermostat, system.temperature_K)
    walls = {("baseline", dt): [] for dt in args.baseline_fs} | {k: [] for k in args.ks}
    for rnd in range(args.rounds):
        for dt in args.baseline_fs:
            atoms = atoms0.copy()
            atoms.calc = baseline
            steps = int(round(args.time_fs / dt))
            walls["baseline", dt].append(timed(make_baseline(atoms, dt), steps))
            print(f"round {rnd}: baseline {dt:g} fs {walls['baseline', dt][-1]:.1f} s", flush=True)
        for k in args.ks:
            atoms = atoms0.copy()
            atoms.calc = mts
            steps = int(round(args.time_fs / (args.inner_fs * k)))
            walls[k].append(timed(make_mts(atoms, args.inner_fs, k), steps))
            print(f"round {rnd}: MTS K={k} {walls[k][-1]:.1f} s", flush=True)

    ref_dt = args.baseline_fs[0]
    base_walls = {dt: float(np.median(walls["baseline", dt])) for dt in args.baseline_fs}
    rows = []
    for key, w in walls.items():
        wall = float(np.median(w))
        ns_day = args.time_fs * 1e-6 / (wall / 86400.0)
        # speed-up over each baseline run: ratio of simulated time per wall second
        over = {dt: base_walls[dt] / wall for dt in args.baseline_fs}
        if isinstance(key, tuple):
            rows.append((f"baseline, {key[1]:g} fs", f"{key[1]:g}", ns_day, over, None, None))
            continue
        bound = key / (key * f + 1.0)
        rows.append(
            (
                f"MTS {args.inner_fs} fs x {key}",
                f"{args.inner_fs * key:.1f}",
                ns_day,
                over,
                bound,
                over[ref_dt] / bound,
            )
        )
    stability = baseline_stability(system, baseline, args)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    cmd = "OMP_NUM_THREADS={} .venv/bin/python benchmarks/md_speed.py {}".format(
        os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:])
    ).strip()
    lines = [
        f"# MD throughput: baseline vs MTS ({system.name})",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} vCPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {systems.model_mode(args)} in ASE.  ",
        f"System: {n} atoms (bundled 96-atom GFN1-xTB {system.name} box x {args.replicate}), {args.time_fs:.0f} fs per configuration, median of {args.rounds} interleaved rounds, each timed after one untimed step "
        "(the initial force evaluation).  ",
        "Integrators: "
        + {
            "nve": "NVE, ASE velocity Verlet (baseline) and RESPA (MTS).",
            "bussi": f"NVT at {system.temperature_K:g} K, ASE Bussi (baseline) and BussiRESPA (MTS), taut {TAUT_FS:g} fs.",
            "langevin": f"NVT at {system.temperature_K:g} K, ASE LangevinBAOAB (baseline, T_tau {TAUT_FS:g} fs) and "
            f"LangevinRESPA (MTS, friction 1/{TAUT_FS:g} fs at every inner step).",
        }[args.thermostat],
        "",
        f"Cost per energy+forces evaluation (median of 5): baseline {costs['baseline'] * 1e3:.1f} ms, "
        f"fast part {costs['fast'] * 1e3:.1f} ms, "
        + ("full model (the outer step of slow = full - fast)" if mts.slow_calc is None else "slow part")
        + f" {costs['slow'] * 1e3:.1f} ms; f = t_fast/t_slow = {f:.4f}.",
        "",
        "| integrator | outer step (fs) | ns/day | "
        + " | ".join(f"speedup vs baseline {dt:g} fs" for dt in args.baseline_fs)
        + " | ideal K/(Kf+1) | fraction of ideal |",
        "|---|---|---|" + "---|" * len(args.baseline_fs) + "---|---|",
    ]
    for label, outer, ns_day, over, bound, frac in rows:
        lines.append(
            f"| {label} | {outer} | {ns_day:.4f} | "
            + " | ".join(f"{over[dt]:.2f}x" for dt in args.baseline_fs)
            + " | "
            + ("-" if bound is None else f"{bound:.2f}x")
            + " | "
            + ("-" if frac is None else f"{frac:.0%}")
            + " |"
        )
    lines += ["", f"The ideal bound and its fraction are against the baseline at {ref_dt:g} fs."]
    if stability:
        lines += [
            "",
            f"Is the baseline stable at its longer time steps? NVE probe of {args.stability_ps:g} ps on the "
            f"bundled 96-atom box (nequip-mts validate's single-step probe: ASE velocity Verlet, "
            "stability guard, molecules watched):",
            "",
        ]
        for dt, probe in stability.items():
            verdict = "stable" if probe.passed else "NOT stable: " + "; ".join(probe.problems)
            lines.append(
                f"- {dt:g} fs: {verdict}; drift {probe.drift:.3g} +- {probe.drift_stderr:.2g} meV/atom/ps "
                f"over {probe.steps_done} of {probe.steps} steps."
            )
    lines += [
        "",
        (
            "The ideal bound assumes the baseline costs as much as the slow part; here the baseline is the teacher, "
            "the very compiled model the outer step evaluates"
            if mts.slow_calc is None
            else "The ideal bound assumes the baseline costs as much as the slow part; the baseline is the slow "
            "part's architecture trained alone"
        )
        + f" (measured ratio baseline/slow = {costs['baseline'] / costs['slow']:.2f}).",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = np.array(args.ks)
    measured = [r[3][ref_dt] for r in rows if r[4] is not None]
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    ax.plot(ks, measured, "o-", label="measured")
    kk = np.linspace(1, ks.max(), 50)
    ax.plot(kk, kk / (kk * f + 1), "--", label=f"ideal K/(Kf+1), f={f:.3f}")
    ax.axhline(1.0, color="0.6", lw=0.6)
    ax.set_xlabel("K (inner steps per outer step; inner 0.5 fs)")
    ax.set_ylabel("speedup over baseline")
    ax.set_title(f"MTS speedup, {n}-atom {system.name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=130)


if __name__ == "__main__":
    main()
