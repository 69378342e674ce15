"""Train a bundled system's two models from the shipped configs and package them.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_models.py [--system water] [--only baseline] [--max-epochs N]
    # on other data (relative path), e.g. the bundled frames plus an active-learning round
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_models.py --system methanol --data-file runs/methanol_al1/methanol_al1_train.extxyz.gz --out-dir runs/methanol_al1
    # at twice the water budget, into runs/ (the bundled models stay as they are)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_models.py --max-epochs 30 --stage1-epochs 8 --out-dir runs/budget_2x
    # keep the state of unfinished trainings (a few hundred kB, no machine paths) ...
    .venv/bin/python benchmarks/train_models.py --out-dir runs/budget_2x --snapshot SNAPSHOT_DIR
    # ... and continue them later, on another machine
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_models.py --max-epochs 30 --stage1-epochs 8 --out-dir runs/budget_2x --resume-from SNAPSHOT_DIR

For each model (``baseline``, ``multiscale``) of the system (``benchmarks/systems.py``)
this runs ``nequip-train`` from the repository root on the system's bundled data: water
with its configs ``water_baseline``/``water_multiscale``, any other system with the
templates ``baseline``/``multiscale`` given only the data file and the type names. It
keeps the run in ``runs/<system>_<model>/`` (git-ignored), and writes
``nequip_mts/pretrained/<system>_<model>.nequip.zip`` (the package data that
``nequip_mts.resources.bundled_model`` finds) with ``nequip-package``. Paths are given relative to the repository root so that the
packaged config names no path of the training machine. The two trainings are
independent and can run side by side (one thread each).
"""

import argparse
import os
import pathlib
import re
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import systems  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODELS = ("baseline", "multiscale")
# in the checkout (not an installed copy): the packages land in the source tree
CONFIG_DIR = ROOT / "nequip_mts" / "configs"
PRETRAINED = ROOT / "nequip_mts" / "pretrained"


def train_and_package(
    name: str, config: str, overrides, run_dir=None, package=None, resume_from=None
) -> pathlib.Path:
    """Train ``config`` with ``overrides`` into ``run_dir`` (``runs/<name>``), package its best checkpoint.

    The package goes to ``package`` (a path relative to the repository root), by default
    the bundled ``nequip_mts/pretrained/<name>.nequip.zip``; the log to ``<run_dir>.log``.
    With ``resume_from`` (a :func:`snapshot` folder) the training continues from the
    state kept there.
    """
    bindir = pathlib.Path(sys.executable).parent
    run_dir = run_dir or f"runs/{name}"
    # a run directory left by an earlier training would make Lightning write best-v1.ckpt
    # beside the old best.ckpt, which would then be packaged: keep the old run, renamed
    if (ROOT / run_dir).exists():
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime((ROOT / run_dir).stat().st_mtime))
        aside = ROOT / f"{run_dir}.{stamp}"
        (ROOT / run_dir).rename(aside)
        print(f"[{name}] the earlier run is kept as {aside.relative_to(ROOT)}", flush=True)
    resume = []
    if resume_from is not None:
        resume = [f"++ckpt_path={restore(pathlib.Path(resume_from), name, run_dir)}"]
        print(f"[{name}] continuing from {resume_from}", flush=True)
    cmd = [
        str(bindir / "nequip-train"),
        "-cp",
        str(CONFIG_DIR),
        "-cn",
        config,
        *overrides,
        f"output_dir={run_dir}",
        f"hydra.run.dir={run_dir}",
        "trainer.enable_progress_bar=false",
        *resume,
    ]
    print(f"[{name}] " + " ".join(cmd[1:]), flush=True)
    start = time.perf_counter()
    (ROOT / run_dir).parent.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f"{run_dir}.log", "w") as log:
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=log, stderr=subprocess.STDOUT)
    print(f"[{name}] trained in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    check_finished(ROOT / run_dir)

    package = ROOT / package if package else PRETRAINED / f"{name}.nequip.zip"
    best = best_checkpoint(ROOT / run_dir)
    print(f"[{name}] best checkpoint: {best.name}", flush=True)
    subprocess.run(
        [
            str(bindir / "nequip-package"),
            "build",
            str(best.relative_to(ROOT)),
            str(package.relative_to(ROOT)),
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    check_no_machine_paths(package)
    print(
        f"[{name}] packaged -> {package.relative_to(ROOT)} ({package.stat().st_size / 1e6:.2f} MB)",
        flush=True,
    )
    return package


#: the metric every validation logs (the checkpoint callback's monitor, parts/common.yaml)
VALIDATION_KEY = "val0_epoch/weighted_sum"
#: what a snapshot keeps of a run: its last checkpoint (to continue from) and its best one
SNAPSHOT_FILES = ("last.ckpt", "best.ckpt")


def _map_paths(obj, old: str, new: str):
    """``obj`` (nested dicts, lists, strings) with every string (and key) that starts
    with ``old`` starting with ``new`` instead."""
    if isinstance(obj, str):
        return new + obj[len(old) :] if obj.startswith(old) else obj
    if isinstance(obj, dict):
        return {_map_paths(k, old, new): _map_paths(v, old, new) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_paths(v, old, new) for v in obj)
    return obj


def snapshot(out_dir: str, dest: pathlib.Path, system_name: str):
    """Copy the last and best checkpoints of ``out_dir``'s runs of ``system_name`` to
    ``dest`` as ``<name>.last.ckpt`` and ``<name>.best.ckpt``, the checkpoint
    callback's absolute paths made relative to the repository root."""
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    for model in MODELS:
        name = f"{system_name}_{model}"
        run_dir = ROOT / out_dir / name
        if not (run_dir / "last.ckpt").is_file():
            print(f"[{name}] no checkpoint in {run_dir.relative_to(ROOT)}", flush=True)
            continue
        for file in SNAPSHOT_FILES:
            state = torch.load(run_dir / file, map_location="cpu", weights_only=False)
            state["callbacks"] = _map_paths(state["callbacks"], f"{ROOT}/", "")
            target = dest / f"{name}.{file}"
            torch.save(state, target)
            with zipfile.ZipFile(target) as archive:
                if any(str(ROOT).encode() in archive.read(entry) for entry in archive.namelist()):
                    target.unlink()
                    raise SystemExit(f"{target}: still names {ROOT}; not kept")
            print(f"[{name}] {file} (epoch {state['epoch']}) -> {target}", flush=True)


def restore(source: pathlib.Path, name: str, run_dir: str) -> pathlib.Path:
    """Put a snapshot's best checkpoint into ``run_dir`` and its last one beside it, the
    callback's paths made absolute on this machine; return the last one's path."""
    import shutil

    import torch

    last = ROOT / source / f"{name}.last.ckpt"
    if not last.is_file():
        raise SystemExit(f"--resume-from {source}: no {last.name}; make it with --snapshot")
    (ROOT / run_dir).mkdir(parents=True)
    shutil.copyfile(ROOT / source / f"{name}.best.ckpt", ROOT / run_dir / "best.ckpt")
    state = torch.load(last, map_location="cpu", weights_only=False)
    # a snapshot of the same --out-dir names this run directory: the callback then keeps
    # its best score; of another one, Lightning warns and restarts the best-model tracking
    state["callbacks"] = _map_paths(state["callbacks"], f"{run_dir}", f"{ROOT}/{run_dir}")
    resumed = ROOT / f"{run_dir}.resume.ckpt"
    torch.save(state, resumed)
    return resumed


def best_checkpoint(run_dir: pathlib.Path) -> pathlib.Path:
    """The checkpoint the run's checkpoint callback holds for its best, from ``last.ckpt``.

    Not always ``best.ckpt``: a run continued from a snapshot of another folder starts
    its best-model tracking anew beside the copied ``best.ckpt`` and writes its own best
    as ``best-v1.ckpt``.
    """
    import torch

    state = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)
    for key, value in state.get("callbacks", {}).items():
        if key.startswith("ModelCheckpoint") and value.get("best_model_path"):
            best = run_dir / pathlib.Path(value["best_model_path"]).name
            if best.is_file():
                return best
    return run_dir / "best.ckpt"


def check_finished(run_dir: pathlib.Path):
    """Raise unless the run in ``run_dir`` trained all its epochs.

    Lightning stops on SIGTERM with exit status 0, so a killed training would otherwise
    be packaged as if it had finished. The epochs come from the run's CSV log
    (0-based; the epochs whose validation metric was logged), the target from the config
    Hydra saved.
    """
    import csv

    from omegaconf import OmegaConf

    wanted = int(OmegaConf.select(OmegaConf.load(run_dir / ".hydra" / "config.yaml"), "trainer.max_epochs"))
    epochs = []
    for log in run_dir.glob("metrics/version_*/metrics.csv"):
        with open(log, newline="") as f:
            # an epoch is done when its validation is logged (a killed run logs a partial one)
            epochs += [int(float(row["epoch"])) for row in csv.DictReader(f) if row.get(VALIDATION_KEY)]
    done = max(epochs, default=-1) + 1
    if done < wanted:
        raise SystemExit(
            f"{run_dir.relative_to(ROOT)}: the training stopped after {done} of {wanted} epochs "
            "(killed?); not packaged. Train again."
        )


def check_no_machine_paths(package: pathlib.Path):
    """Raise unless the packaged config names no path of this machine."""
    with zipfile.ZipFile(package) as archive:
        for entry in archive.namelist():
            if entry.endswith("config.yaml"):
                text = archive.read(entry).decode()
                leaked = re.findall(r"(?<![\w.])/(?:home|root|tmp|work|Users)/\S+", text)
                if leaked:
                    raise RuntimeError(f"{package.name} names machine paths: {sorted(set(leaked))[:3]}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    systems.add_argument(parser)
    parser.add_argument("--only", choices=MODELS, help="train just this model")
    parser.add_argument("--max-epochs", type=int, help="override the config's max_epochs")
    parser.add_argument(
        "--stage1-epochs", type=int, help="override the multiscale config's stage1_epochs (fast part alone)"
    )
    parser.add_argument(
        "--out-dir",
        help="write the runs and packages to this folder (relative to the repository root) "
        "instead of runs/ and the bundled nequip_mts/pretrained/",
    )
    parser.add_argument(
        "--data-file",
        help="train on this extxyz (a path relative to the repository root, so that the package "
        "names no machine path) instead of the system's bundled data",
    )
    parser.add_argument(
        "--snapshot",
        type=pathlib.Path,
        help="copy the checkpoints of the runs in --out-dir (or runs/) to this folder, paths made "
        "relative, and exit: the state to continue an unfinished training from",
    )
    parser.add_argument(
        "--resume-from",
        type=pathlib.Path,
        help="continue each training from the --snapshot in this folder (with the same options)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.snapshot:
        snapshot(args.out_dir or "runs", args.snapshot, args.system)
        return
    (ROOT / "runs").mkdir(exist_ok=True)
    system = systems.get(args.system)
    extra = [f"max_epochs={args.max_epochs}"] if args.max_epochs else []
    if args.data_file:
        if pathlib.Path(args.data_file).is_absolute() or not (ROOT / args.data_file).is_file():
            raise SystemExit(f"--data-file {args.data_file}: give an existing file relative to {ROOT.name}/")
        extra.append(f"data_file={args.data_file}")
    for model in [args.only] if args.only else MODELS:
        config, overrides = system.train[model]
        stage1 = (
            [f"stage1_epochs={args.stage1_epochs}"] if args.stage1_epochs and model == "multiscale" else []
        )
        name = f"{system.name}_{model}"
        where = {}
        if args.out_dir:
            where = {"run_dir": f"{args.out_dir}/{name}", "package": f"{args.out_dir}/{name}.nequip.zip"}
        train_and_package(name, config, [*overrides, *extra, *stage1], resume_from=args.resume_from, **where)


if __name__ == "__main__":
    main()
