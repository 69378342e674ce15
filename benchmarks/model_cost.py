"""Cost of one model call in ASE: eager vs compiled, glibc memory kept or not, stress or not.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/model_cost.py [--system water] [--replicate 2 2 2] [--calls 20]

On the bundled box of the system replicated by ``--replicate`` (default 2x2x2: 768 atoms for
water), one energy+forces call of each model, at new positions each time:

- ``fast`` and ``slow``: the two parts of the multiscale model (what MTS evaluates);
- ``sum``: the multiscale model's sum as one model (single-step MD with it);
- ``baseline``: the single Allegro model of the demo;

each eager (``saved_model_calculator``), compiled with the stress output (nequip-compile
``--target ase``) and compiled without it (energies and forces only, as the model cache
compiles them for MD: ``nequip_mts.deploy.cache``). Eager models always compute the virial.

Each mode runs in two worker processes holding only its models: one with glibc's malloc
tuned to keep freed memory (``nequip_mts.md.memory.tune_malloc``), one with glibc's
defaults (``NEQUIP_MTS_MALLOC_TUNING=0``). The calls are interleaved: model by model and
call by call, the workers take turns, so load changes on the machine hit every
configuration alike. The report gives the median CPU time per call (``getrusage``: user
+ system, little changed by other jobs), the median wall time, and the kernel's share
(page faults of memory handed back).

Compiles go through the model cache (the first run compiles six models, about a minute
each; later runs reuse them). Results go to benchmarks/results/compiled_vs_eager.{md,png}
(water) or benchmarks/results/<system>/compiled_vs_eager.{md,png}.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import systems  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PARTS = ("fast", "slow", "sum", "baseline")
MODES = ("eager", "compiled, stress", "compiled, no stress")
MEMORY = ("glibc default", "memory kept")
NOTES = [
    "",
    "Notes: eager models always compute the virial (nequip's `ForceStressOutput` differentiates "
    "by the cell strain in the same backward pass), so *eager* has no stress-free variant; the "
    "compiled *no stress* models are compiled with the `ase` target's outputs less `stress` "
    "(`nequip_mts.deploy.split.ASE_NO_STRESS_TARGET`), so that the compiled graph need not compute that derivative and the "
    "cell-volume determinant. The compiles (through the model cache) are not timed here.",
]


def model_files(system, cache_dir):
    """The compiled model files of every (part, stress) pair, compiled on a cache miss."""
    from nequip_mts.deploy.cache import compiled_single, deployed
    from nequip_mts.manifest import read_manifest

    files = {}
    for stress in (True, False):
        manifest = read_manifest(deployed(system.model("multiscale"), stress=stress, cache_dir=cache_dir))
        files["fast", stress] = manifest["fast"]["path"]
        files["slow", stress] = manifest["slow"]["path"]
    # the single models only without stress: their stress cost is that of the slow part
    files["sum", False] = str(compiled_single(system.model("multiscale"), stress=False, cache_dir=cache_dir))
    files["baseline", False] = str(
        compiled_single(system.model("baseline"), stress=False, cache_dir=cache_dir)
    )
    return files


def worker(spec):
    """Load every model, then time one call per request line: ``<name> <index>``."""
    from nequip_mts.md.memory import tune_malloc

    state = tune_malloc()  # before the models allocate (a no-op with NEQUIP_MTS_MALLOC_TUNING=0)
    from ase.io import read

    from nequip_mts.md.providers import compiled_model_calculator, saved_model_calculator
    from nequip_mts.resources import bundled_model

    system = systems.get(spec["system"])
    atoms0 = read(system.data(), index=0).repeat(tuple(spec["replicate"]))
    atoms0.calc = None
    calcs = {}
    for name, (kind, source, key, stress) in spec["models"].items():
        if kind == "eager":
            calcs[name] = saved_model_calculator(bundled_model(source, system.name), key)
        else:
            calcs[name] = compiled_model_calculator(pathlib.Path(key), stress=stress)
    print(json.dumps({"ready": state, "atoms": len(atoms0)}), flush=True)
    for line in sys.stdin:
        name, index = line.rstrip("\n").rsplit(" ", 1)
        atoms = atoms0.copy()
        # new positions every call (no cached result), the same ones in both workers
        atoms.positions += 0.02 * np.random.default_rng(int(index)).standard_normal(atoms.positions.shape)
        atoms.calc = calcs[name]
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        atoms.get_forces()
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(
            json.dumps(
                {
                    "wall": wall,
                    "user": after.ru_utime - before.ru_utime,
                    "sys": after.ru_stime - before.ru_stime,
                }
            ),
            flush=True,
        )


def start_worker(spec, keep_memory=True):
    """Start a :func:`worker` process on ``spec`` (``system``, ``replicate``, ``models``:
    ``{name: [kind, source, key, stress]}``, kind ``eager`` or ``compiled``, key the
    compiled file for the latter); glibc keeps freed memory unless ``keep_memory=False``.
    Its first reply (:func:`worker_reply`) is ``{"ready": ..., "atoms": n}``."""
    env = dict(os.environ)
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
        env.pop(var, None)
    env["NEQUIP_MTS_MALLOC_TUNING"] = "1" if keep_memory else "0"
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def worker_reply(proc):
    """The next JSON line of a worker, skipping anything a library printed."""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("a worker died; see its error above")
        if line.startswith("{"):
            return json.loads(line)


def worker_call(proc, name, index):
    """Time one energy+forces call of model ``name`` at the positions of seed ``index``:
    ``{"wall", "user", "sys"}`` in seconds."""
    proc.stdin.write(f"{name} {index}\n")
    proc.stdin.flush()
    return worker_reply(proc)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    systems.add_argument(parser)
    parser.add_argument("--replicate", type=int, nargs=3, default=(2, 2, 2))
    parser.add_argument("--calls", type=int, default=20, help="timed calls per model and configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument("--cache-dir", type=pathlib.Path, help="model cache directory")
    parser.add_argument("--out", type=pathlib.Path, help="report stem (default: see above)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    system = systems.get(args.system)
    if args.out is None:
        stem = "compiled_vs_eager"
        args.out = RESULTS / stem if system.name == "water" else RESULTS / system.name / stem

    files = model_files(system, args.cache_dir)
    models = {}
    for part in PARTS:
        source, key = ("baseline", "sole_model") if part == "baseline" else ("multiscale", part)
        key = "sole_model" if part == "sum" else key
        models[part, MODES[0]] = ("eager", source, key, True)
        for stress, mode in ((True, MODES[1]), (False, MODES[2])):
            if (part, stress) in files:
                models[part, mode] = ("compiled", source, files[part, stress], stress)
    names = {f"{part}|{mode}": spec for (part, mode), spec in models.items()}

    # one worker per mode and memory setting, holding only that mode's models: glibc adapts
    # its thresholds to the blocks a process frees, so models of another mode in the same
    # process would change the result
    procs = {}
    for mode in MODES:
        worker_models = {n: list(spec) for n, spec in names.items() if n.split("|")[1] == mode}
        spec = dict(system=system.name, replicate=list(args.replicate), models=worker_models)
        for memory in MEMORY:
            procs[mode, memory] = start_worker(spec, keep_memory=memory == "memory kept")

    n_atoms = None
    for (mode, memory), proc in procs.items():
        ready = worker_reply(proc)
        n_atoms = ready["atoms"]
        expected = "tuned" if memory == "memory kept" else "opted out"
        if ready["ready"] != expected:
            raise SystemExit(
                f"worker {mode}/{memory} reports malloc {ready['ready']!r}, expected {expected!r}"
            )
    print(f"{len(procs)} workers ready", flush=True)

    samples = {(name, memory): [] for name in names for memory in MEMORY}
    start = time.perf_counter()
    for index in range(args.warmup + args.calls):
        for name in names:
            for memory in MEMORY:
                result = worker_call(procs[name.split("|")[1], memory], name, index)
                if index >= args.warmup:
                    samples[name, memory].append(result)
        print(
            f"round {index + 1}/{args.warmup + args.calls} ({time.perf_counter() - start:.0f} s)", flush=True
        )
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()

    def stat(name, memory):
        s = samples[name, memory]
        wall = np.array([r["wall"] for r in s])
        cpu = np.array([r["user"] + r["sys"] for r in s])
        return dict(
            wall=float(np.median(wall)) * 1e3,
            q1=float(np.percentile(wall, 25)) * 1e3,
            q3=float(np.percentile(wall, 75)) * 1e3,
            cpu=float(np.median(cpu)) * 1e3,
            sys=sum(r["sys"] for r in s) / max(cpu.sum(), 1e-12),
        )

    table = {key: stat(key[0], key[1]) for key in samples}
    write_report(args, system, n_atoms, names, table)
    plot(args.out.with_suffix(".png"), names, table, n_atoms, system.name)


def write_report(args, system, n_atoms, names, table):
    cmd = "OMP_NUM_THREADS={} .venv/bin/python benchmarks/model_cost.py {}".format(
        os.environ.get("OMP_NUM_THREADS", "unset"), " ".join(sys.argv[1:])
    ).strip()
    lines = [
        f"# Cost of one model call in ASE: compiled vs eager ({system.name})",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} vCPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, torch on CPU.  ",
        f"System: {n_atoms} atoms (bundled 96-atom GFN1-xTB {system.name} box x {tuple(args.replicate)}); "
        f"{args.calls} timed calls per cell after {args.warmup} untimed ones, each at new positions; "
        "the configurations interleaved call by call; each mode and memory setting is its own worker "
        "process (six in all), taking turns.",
        "",
        "Per energy+forces call: the median CPU time (user + system, from `getrusage`; what "
        "the call costs, little changed by other jobs on the machine), the median wall time "
        "(interquartile range), and the share of the CPU time spent in the kernel (mostly page "
        "faults of memory handed back). *glibc default*: glibc's malloc as it comes; *memory "
        "kept*: `nequip_mts.md.memory.tune_malloc` (what `nequip-mts md`, `demo`, `validate` and "
        "the benchmarks do; `NEQUIP_MTS_MALLOC_TUNING=0` turns it off). Each mode and memory "
        "setting is its own worker process.",
        "",
        "| model | mode | CPU ms, glibc default | CPU ms, memory kept | gain | wall ms, default | wall ms, kept | kernel share default / kept |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        part, mode = name.split("|")
        d, k = table[name, MEMORY[0]], table[name, MEMORY[1]]
        lines.append(
            f"| {part} | {mode} | {d['cpu']:.1f} | {k['cpu']:.1f} | {d['cpu'] / k['cpu']:.2f}x "
            f"| {d['wall']:.1f} ({d['q1']:.0f}-{d['q3']:.0f}) | {k['wall']:.1f} ({k['q1']:.0f}-{k['q3']:.0f}) "
            f"| {d['sys']:.0%} / {k['sys']:.0%} |"
        )

    def med(part, mode, memory):
        key = (f"{part}|{mode}", memory)
        return table[key]["cpu"] if key in table else None

    lines += ["", "Ratios of the median CPU times, memory kept:", ""]
    for part in PARTS:
        eager, nostress, stress = (med(part, m, MEMORY[1]) for m in (MODES[0], MODES[2], MODES[1]))
        text = f"- {part}: eager / compiled (no stress) = {eager / nostress:.2f}x"
        if stress is not None:
            text += f"; compiled with stress / without = {stress / nostress:.3f}x"
        lines.append(text)
    eager_default = med("slow", MODES[0], MEMORY[0]) + med("fast", MODES[0], MEMORY[0])
    main_road = med("slow", MODES[2], MEMORY[1]) + med("fast", MODES[2], MEMORY[1])
    lines += [
        f"- fast + slow (the models of one MTS outer step), eager with glibc defaults (the old "
        f"default) / compiled without stress, memory kept (the new one): {eager_default / main_road:.2f}x",
    ]
    lines += NOTES
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(path, names, table, n_atoms, system_name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PARTS), figsize=(3.2 * len(PARTS), 3.6))
    colors = {MODES[0]: "tab:gray", MODES[1]: "tab:orange", MODES[2]: "tab:blue"}
    for ax, part in zip(axes, PARTS):
        modes = [m for m in MODES if f"{part}|{m}" in names]
        x = np.arange(len(modes))
        for j, memory in enumerate(MEMORY):
            vals = [table[f"{part}|{m}", memory]["cpu"] for m in modes]
            ax.bar(
                x + (j - 0.5) * 0.38,
                vals,
                0.38,
                color=[colors[m] for m in modes],
                alpha=0.45 if memory == MEMORY[0] else 1.0,
                label=memory,
            )
        ax.set_xticks(x, [m.replace("compiled, ", "compiled\n") for m in modes], fontsize=8)
        ax.set_title(part)
        ax.set_ylabel("CPU ms per call (median)" if part == PARTS[0] else "")
    axes[0].legend(
        handles=[
            plt.Rectangle((0, 0), 1, 1, color="0.4", alpha=0.45, label="glibc default (light)"),
            plt.Rectangle((0, 0), 1, 1, color="0.4", label="memory kept (dark)"),
        ],
        fontsize=7,
        frameon=False,
    )
    fig.suptitle(f"one energy+forces call, {n_atoms}-atom {system_name}, ASE on CPU", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
