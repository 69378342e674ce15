"""Timing-only scan of the slow part's size: what MTS would gain with a bigger slow model.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/slow_size_scan.py [--sizes NAME ...] [--calls 5]

The MTS bound K / (K f + 1), f = t_fast / t_slow, grows with the slow part's cost. The
bundled slow part is small (sized for CPU training), so its f is large; this scan keeps
the bundled fast part and times slow parts from the bundled size up to a production-size
Allegro (l_max 2, 2-3 layers, 64-128 tensor features, 6 A), on the bundled water's type
names and its 96-atom box replicated 2x2x2 (768 atoms), as ``md_speed.py`` runs.

The slow parts are **untrained**: each is the composite of ``water_multiscale.yaml`` with
only the slow part's hyperparameters (and ``r_max_slow``) overridden, instantiated as
``nequip-train`` instantiates it (the config's training module, hence
``nequip_mts.model.MultiscaleModel``) with randomly initialised weights, and written as a
checkpoint without any training step. The slow part's zero-initialised energy gate is set
to one, so that its forces are not identically zero. The data statistics the config asks
for (``avg_num_neighbors``, energy shifts and scales) are taken from the first frame
(neighbours within each cutoff in the replicated box, the frame's reference energy and
forces) instead of the training split: they scale the random weights and do not change
the cost. The checkpoints live in
``runs/slow_size_scan/`` (git-ignored).

Each slow part is compiled through the model cache (``nequip_mts.deploy.cache``, the
``slow`` part alone, no stress output: the best settings for MD in a fixed cell); the
compile time is measured on a cache miss and kept beside the checkpoint. The fast part is
the bundled one, compiled the same way (``md_speed.py``'s models). All models are timed in
one worker process of ``model_cost.py`` (glibc keeps freed memory, as in MD), interleaved
call by call: each round calls the fast part, the bundled trained slow part (a check that
the weights do not change the cost) and then every untrained slow part, at new positions.
The report gives the median CPU time per call (``getrusage``: user + system, little changed
by other jobs) and the median wall time; f and the bound use the CPU times.

Results go to benchmarks/results/slow_size_scan.{md,png}.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import model_cost  # noqa: E402
import systems  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "runs" / "slow_size_scan"
CONFIG = "water_multiscale"
KS = (4, 6, 8)
FAST_NAME = "fast"
#: the bundled trained slow part, timed beside its untrained twin (`bundled`) as a check
TRAINED_SLOW_NAME = "bundled-trained"


@dataclasses.dataclass(frozen=True)
class SlowSize:
    """Hyperparameters of one slow part; the rest is ``parts/slow_allegro.yaml``'s."""

    name: str
    r_max: float
    l_max: int
    num_layers: int
    num_scalar_features: int
    num_tensor_features: int
    mlp_width: int  # allegro_mlp_hidden_layers_width and readout_mlp_hidden_layers_width

    def overrides(self):
        """Hydra overrides of ``water_multiscale.yaml`` that give this slow part."""
        slow = "training_module.model.slow"
        return [
            f"r_max_slow={self.r_max}",
            f"{slow}.l_max={self.l_max}",
            f"{slow}.num_layers={self.num_layers}",
            f"{slow}.num_scalar_features={self.num_scalar_features}",
            f"{slow}.num_tensor_features={self.num_tensor_features}",
            f"{slow}.allegro_mlp_hidden_layers_width={self.mlp_width}",
            f"{slow}.readout_mlp_hidden_layers_width={self.mlp_width}",
        ]

    def label(self):
        return label(
            self.l_max,
            self.num_layers,
            self.num_scalar_features,
            self.num_tensor_features,
            self.mlp_width,
            self.r_max,
        )


def label(l_max, num_layers, num_scalar, num_tensor, mlp_width, r_max):
    """Short description of an Allegro part's size."""
    return f"l{l_max}, {num_layers}L, {num_scalar}s/{num_tensor}t, MLP {mlp_width}, {float(r_max):g} A"


def fast_label(cfg):
    """:func:`label` of the composed config's fast part."""
    fast = cfg.training_module.model.fast
    return label(
        fast.l_max,
        fast.num_layers,
        fast.num_scalar_features,
        fast.num_tensor_features,
        fast.allegro_mlp_hidden_layers_width,
        cfg.r_max_fast,
    )


#: the bundled slow part (parts/slow_allegro.yaml, r_max_slow of parts/common.yaml) first,
#: then larger ones up to production-size Allegro models
SIZES = (
    SlowSize("bundled", 5.0, 1, 2, 32, 8, 32),
    SlowSize("wider", 5.0, 1, 2, 64, 16, 64),
    SlowSize("l2", 5.0, 2, 2, 64, 32, 64),
    SlowSize("l2-6A", 6.0, 2, 2, 64, 32, 64),
    SlowSize("prod-2L", 6.0, 2, 2, 128, 64, 128),
    SlowSize("prod-3L", 6.0, 2, 3, 128, 64, 128),
    SlowSize("prod-2L-128t", 6.0, 2, 2, 128, 128, 128),
)
#: tiny settings for a smoke test of the script (``--sizes tiny``)
TINY = SlowSize("tiny", 4.0, 1, 1, 8, 4, 8)
BY_NAME = {s.name: s for s in SIZES + (TINY,)}


def compose(size: SlowSize):
    """``water_multiscale.yaml`` with the slow part of ``size``, as nequip-train composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from nequip_mts import resources

    resources.register_resolvers()
    with initialize_config_module(config_module=resources.CONFIG_PACKAGE, version_base=None):
        return hydra_compose(config_name=CONFIG, overrides=size.overrides())


def frame(system):
    """The bundled box (first frame), with its reference energy and forces."""
    from ase.io import read

    return read(system.data(), index=0)


def num_edges(atoms, r_max):
    """Directed edges (ordered pairs) within ``r_max``, as the models' neighbour list has them."""
    from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase

    atoms = atoms.copy()
    atoms.calc = None
    return int(AtomicDataDict.num_edges(compute_neighborlist_(from_ase(atoms), r_max=float(r_max))))


def box_statistics(reference, atoms, r_fast, r_slow):
    """The data statistics the config asks for, from one frame instead of the training split:
    neighbours per atom in ``atoms`` (the replicated box), energy per atom and force RMS of
    ``reference`` (the frame it replicates, which carries the reference results)."""
    n = len(atoms)
    return {
        "num_neighbors_mean": num_edges(atoms, r_slow) / n,
        "fast_num_neighbors_mean": num_edges(atoms, r_fast) / n,
        "per_atom_energy_mean": float(reference.get_potential_energy()) / len(reference),
        "forces_rms": float(np.sqrt(np.mean(reference.get_forces() ** 2))),
    }


def untrained_checkpoint(size: SlowSize, stats, path: pathlib.Path):
    """Instantiate the composite of ``size`` as nequip-train does, write it as a checkpoint
    (no training step; slow gate set to one); return its parameter counts."""
    import lightning
    import torch
    from hydra.utils import instantiate
    from nequip.utils import get_current_code_versions
    from nequip.utils.global_state import get_latest_global_state, set_global_state
    from omegaconf import OmegaConf

    from nequip_mts.manifest import FAST_KEY, SLOW_KEY
    from nequip_mts.nn import ZeroInitEnergyGate

    cfg = compose(size)
    set_global_state()
    # what nequip-train's `training_data_stats` resolver gives, from `stats`
    OmegaConf.register_new_resolver("training_data_stats", lambda name: stats[name], replace=True)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    module_cfg = OmegaConf.to_container(cfg.training_module, resolve=True)
    datamodule = instantiate(data, _recursive_=False)
    info_dict = {
        "versions": get_current_code_versions(verbose=False),
        "data": data,
        "trainer": {},
        "global_options": get_latest_global_state(),
        "runs": ["train"],
        "training_module": module_cfg,
    }
    module = instantiate(
        module_cfg,
        _recursive_=False,
        _convert_="all",
        num_datasets=datamodule.num_datasets,
        info_dict=info_dict,
    )
    gates = [m for m in module.model[SLOW_KEY].modules() if isinstance(m, ZeroInitEnergyGate)]
    if len(gates) != 1:
        raise RuntimeError(f"expected one energy gate in the slow part, found {len(gates)}")
    with torch.no_grad():
        gates[0].gate.fill_(1.0)
    slow_r_max = float(module.model[SLOW_KEY].metadata["r_max"])
    if slow_r_max != size.r_max:
        raise RuntimeError(f"slow part built with r_max {slow_r_max}, asked for {size.r_max}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # what Lightning's checkpoint holds and `load_from_checkpoint` reads
    torch.save(
        {
            "epoch": 0,
            "global_step": 0,
            "pytorch-lightning_version": lightning.__version__,
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
        },
        path,
    )
    return {
        "slow_params": sum(p.numel() for p in module.model[SLOW_KEY].parameters()),
        "fast_params": sum(p.numel() for p in module.model[FAST_KEY].parameters()),
        "slow_r_max": slow_r_max,
    }


def compiled_slow(checkpoint: pathlib.Path, cache_dir):
    """The slow part's compiled file (cache), and the compile time (measured on a miss,
    else the one recorded beside the checkpoint at that miss)."""
    from nequip_mts.deploy.cache import deployed
    from nequip_mts.files import sha256_file
    from nequip_mts.manifest import SLOW, read_manifest

    record = checkpoint.with_suffix(".compile.json")
    sha = sha256_file(checkpoint)
    start = time.perf_counter()
    entry = deployed(checkpoint, parts=(SLOW,), stress=False, cache_dir=cache_dir)
    seconds = time.perf_counter() - start
    known = json.loads(record.read_text()) if record.is_file() else {}
    if known.get("source_sha256") == sha:
        seconds, fresh = known["compile_s"], False
    elif seconds > 10.0:  # a compile, not a cache hit
        record.write_text(json.dumps({"source_sha256": sha, "compile_s": seconds}) + "\n")
        fresh = True
    else:  # a hit on an entry compiled before any record was kept
        seconds, fresh = None, False
    return read_manifest(entry, target="ase", required=(SLOW,))[SLOW]["path"], seconds, fresh


def compiled_bundled(system, cache_dir):
    """The bundled (trained) fast and slow parts, compiled as md_speed.py's MTS runs use them."""
    from nequip_mts.deploy.cache import deployed
    from nequip_mts.manifest import FAST, SLOW, read_manifest

    manifest = read_manifest(deployed(system.model("multiscale"), stress=False, cache_dir=cache_dir))
    return manifest[FAST]["path"], manifest[SLOW]["path"]


def bound(k, f):
    """The MTS speedup bound K / (K f + 1) over a model as costly as the slow part."""
    return k / (k * f + 1.0)


def time_models(files, system, replicate, calls, warmup):
    """Interleaved timing of ``files`` (name -> compiled file) in one model_cost worker."""
    spec = dict(
        system=system.name,
        replicate=list(replicate),
        models={name: ["compiled", "multiscale", str(path), False] for name, path in files.items()},
    )
    proc = model_cost.start_worker(spec, keep_memory=True)
    ready = model_cost.worker_reply(proc)
    if ready["ready"] != "tuned":
        raise SystemExit(f"worker reports malloc {ready['ready']!r}, expected 'tuned'")
    samples = {name: [] for name in files}
    start = time.perf_counter()
    for index in range(warmup + calls):
        for name in files:
            result = model_cost.worker_call(proc, name, index)
            if index >= warmup:
                samples[name].append(result)
        print(f"round {index + 1}/{warmup + calls} ({time.perf_counter() - start:.0f} s)", flush=True)
    proc.stdin.close()
    proc.wait()
    table = {}
    for name, s in samples.items():
        wall = np.array([r["wall"] for r in s]) * 1e3
        cpu = np.array([r["user"] + r["sys"] for r in s]) * 1e3
        table[name] = dict(
            cpu=float(np.median(cpu)),
            wall=float(np.median(wall)),
            q1=float(np.percentile(wall, 25)),
            q3=float(np.percentile(wall, 75)),
            sys=sum(r["sys"] for r in s) * 1e3 / max(cpu.sum(), 1e-9),
        )
    return ready["atoms"], table


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        choices=list(BY_NAME),
        default=[s.name for s in SIZES],
        help="slow-part sizes to scan (default: all but `tiny`, the smoke-test size)",
    )
    parser.add_argument("--replicate", type=int, nargs=3, default=(2, 2, 2))
    parser.add_argument("--calls", type=int, default=5, help="timed calls per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first")
    parser.add_argument("--cache-dir", type=pathlib.Path, help="model cache directory")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "slow_size_scan", help="report stem")
    args = parser.parse_args(argv)
    system = systems.get("water")
    sizes = [BY_NAME[name] for name in args.sizes]
    cfg = compose(sizes[0])
    r_fast = float(cfg.r_max_fast)

    reference = frame(system)
    atoms = reference.repeat(tuple(args.replicate))
    rows = []
    for size in sizes:
        stats = box_statistics(reference, atoms, r_fast, size.r_max)
        checkpoint = RUNS / f"{size.name}.ckpt"
        built = untrained_checkpoint(size, stats, checkpoint)
        path, compile_s, fresh = compiled_slow(checkpoint, args.cache_dir)
        rows.append(
            dict(
                size=size,
                path=path,
                compile_s=compile_s,
                fresh=fresh,
                edges=num_edges(atoms, size.r_max),
                **built,
            )
        )
        print(
            f"{size.name}: {built['slow_params']} parameters, {rows[-1]['edges']} edges; compile "
            + ("(cached, not recorded)" if compile_s is None else f"{compile_s:.0f} s")
            + ("" if fresh else " (cache hit)"),
            flush=True,
        )
    fast_path, trained_slow_path = compiled_bundled(system, args.cache_dir)
    files = {FAST_NAME: fast_path, TRAINED_SLOW_NAME: trained_slow_path}
    files |= {row["size"].name: row["path"] for row in rows}
    n_atoms, table = time_models(files, system, args.replicate, args.calls, args.warmup)
    fast_edges = num_edges(atoms, r_fast)
    write_report(args, n_atoms, fast_label(cfg), r_fast, fast_edges, rows, table)
    plot(args.out.with_suffix(".png"), rows, table, n_atoms)


def write_report(args, n_atoms, fast_settings, r_fast, fast_edges, rows, table):
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    niceness = os.nice(0)
    cmd = f"OMP_NUM_THREADS={threads} .venv/bin/python benchmarks/slow_size_scan.py {' '.join(sys.argv[1:])}".strip()
    if niceness:
        cmd = f"nice -n {niceness} env {cmd}"
    fast = table[FAST_NAME]
    lines = [
        "# Slow-part size scan: MTS bound vs the slow model's cost (water, untrained weights)",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} vCPUs shared with "
        f"other jobs, OMP_NUM_THREADS={threads}, torch on CPU, compiled models (AOTInductor, no "
        "stress output) in ASE.  ",
        f"System: {n_atoms} atoms (bundled 96-atom GFN1-xTB water box x {tuple(args.replicate)}); "
        f"{args.calls} timed calls per model after {args.warmup} untimed, interleaved call by call "
        "(each round: the fast part, the bundled trained slow part, then every untrained slow part), each at new positions, in one worker "
        "process (`model_cost.py`'s, glibc keeping freed memory).",
        "",
        "**Timing only: the slow parts have untrained, randomly initialised weights** (the composite "
        "of `water_multiscale.yaml` with the slow part's hyperparameters overridden, instantiated as "
        "`nequip-train` does and not trained; its zero-initialised energy gate set to one). A model's "
        "cost does not depend on its weights' values, so the times are those of trained models of the "
        "same architecture; the forces are meaningless. The fast part is the bundled trained one "
        f"(r_max {r_fast:g} A, {rows[0]['fast_params']} parameters, {fast_edges} edges).",
        "",
        "Per energy+forces call: median CPU time (user + system, `getrusage`), the share of the CPU "
        "time spent in the kernel, and median wall time (interquartile range); f = t_fast / t_slow from the CPU times; the bound K / (K f + 1) is "
        "the MTS speedup over a single-step model as costly as the slow part (`md_speed.py`). "
        "Unnamed settings are `parts/slow_allegro.yaml`'s (2-body Bessel embedding with 8 Bessels, "
        "scalar-embedding MLP width 64, one hidden layer per MLP).",
        "",
        "| slow part | settings | parameters | edges | compile (s) | CPU ms/call | kernel share | wall ms/call | f | "
        + " | ".join(f"K={k}" for k in KS)
        + " |",
        "|---|---|---|---|---|---|---|---|---|" + "---|" * len(KS),
        f"| {FAST_NAME} (bundled, trained) | {fast_settings} | {rows[0]['fast_params']} | {fast_edges} "
        f"| - | {fast['cpu']:.1f} | {fast['sys']:.0%} | {fast['wall']:.1f} ({fast['q1']:.0f}-{fast['q3']:.0f}) | - |"
        + " - |"
        * len(KS),
    ]
    for row in rows:
        size, t = row["size"], table[row["size"].name]
        f = fast["cpu"] / t["cpu"]
        compile_s = "-" if row["compile_s"] is None else f"{row['compile_s']:.0f}"
        lines.append(
            f"| {size.name} | {size.label()} | {row['slow_params']} | {row['edges']} | {compile_s} "
            f"| {t['cpu']:.1f} | {t['sys']:.0%} | {t['wall']:.1f} ({t['q1']:.0f}-{t['q3']:.0f}) | {f:.4f} | "
            + " | ".join(f"{bound(k, f):.2f}x" for k in KS)
            + " |"
        )
    shares = sorted(((row["size"].name, table[row["size"].name]["sys"]) for row in rows), key=lambda x: x[1])
    trained = table[TRAINED_SLOW_NAME]
    twin = next((table[row["size"].name] for row in rows if row["size"].name == "bundled"), None)
    lines += [
        "",
        f"Check that the weights do not matter: the bundled *trained* slow part, timed in the same rounds, "
        f"costs {trained['cpu']:.1f} CPU ms per call (wall {trained['wall']:.1f} ms)"
        + ("" if twin is None else f"; its untrained twin (`bundled` above) {twin['cpu']:.1f} ms")
        + f"; with it, f = {fast['cpu'] / trained['cpu']:.4f}.",
        "",
        f"Kernel share of the CPU time: {shares[0][1]:.0%} for `{shares[0][0]}`, {shares[-1][1]:.0%} "
        f"for `{shares[-1][0]}` (lowest and highest among the slow parts). Most likely page faults: "
        "a bigger slow part's per-edge intermediates (tens to hundreds of MB on tens of thousands of "
        "edges) are above glibc's largest mmap threshold (32 MiB, what "
        "`nequip_mts.md.memory.tune_malloc` sets), so each call maps and faults them in anew. That is "
        "part of what such a model costs in ASE with glibc's malloc, and it is counted here.",
        "",
        "The bound is an upper limit: with the bundled models, measured MD reached 85-90% of it "
        "(`md_speed.md`). `prod-*` are the production-size slow parts.",
        "",
        "The compile time is that of the slow part alone through the model cache "
        "(`nequip_mts.deploy.cache`, AOTInductor), measured when it was compiled (a cache hit "
        "reuses the recorded time); it is paid once per model file.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(path, rows, table, n_atoms):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(rows))
    names = [f"{row['size'].name}\n{row['slow_params'] / 1e3:.0f}k par." for row in rows]
    slow = np.array([table[row["size"].name]["cpu"] for row in rows])
    fast = table[FAST_NAME]["cpu"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.4, 4.0))
    ax1.semilogy(x, slow, "o-", label="slow part (untrained)")
    ax1.axhline(fast, color="tab:orange", ls="--", label="fast part (bundled)")
    ax1.set_ylabel("CPU ms per energy+forces call")
    ax1.legend(fontsize=8)
    for k in KS:
        ax2.plot(x, [bound(k, fast / t) for t in slow], "o-", label=f"K={k}")
        ax2.axhline(k, color="0.8", lw=0.6)
    ax2.set_ylabel("MTS bound K / (K f + 1)")
    ax2.legend(fontsize=8, loc="lower right")
    for ax in (ax1, ax2):
        ax.set_xticks(x, names, fontsize=7, rotation=30, ha="right")
        ax.set_xlabel("slow part (benchmarks/slow_size_scan.py sizes)")
    fig.suptitle(
        f"{n_atoms}-atom water, compiled, ASE on CPU, one thread (untrained slow parts)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
