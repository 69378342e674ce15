"""Train a bundled system's two models from the shipped configs and package them.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_models.py [--system water] [--only baseline] [--max-epochs N]
    # at twice the water budget, into runs/ (the bundled models stay as they are)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_models.py --max-epochs 30 --stage1-epochs 8 --out-dir runs/budget_2x

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


def train_and_package(name: str, config: str, overrides, run_dir=None, package=None) -> pathlib.Path:
    """Train ``config`` with ``overrides`` into ``run_dir`` (``runs/<name>``), package its best checkpoint.

    The package goes to ``package`` (a path relative to the repository root), by default
    the bundled ``nequip_mts/pretrained/<name>.nequip.zip``; the log to ``<run_dir>.log``.
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
    ]
    print(f"[{name}] " + " ".join(cmd[1:]), flush=True)
    start = time.perf_counter()
    (ROOT / run_dir).parent.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f"{run_dir}.log", "w") as log:
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=log, stderr=subprocess.STDOUT)
    print(f"[{name}] trained in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    check_finished(ROOT / run_dir)

    package = ROOT / package if package else PRETRAINED / f"{name}.nequip.zip"
    subprocess.run(
        [str(bindir / "nequip-package"), "build", f"{run_dir}/best.ckpt", str(package.relative_to(ROOT))],
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


def check_finished(run_dir: pathlib.Path):
    """Raise unless the run in ``run_dir`` trained all its epochs.

    Lightning stops on SIGTERM with exit status 0, so a killed training would otherwise
    be packaged as if it had finished. The epochs come from the run's CSV log
    (0-based), the target from the config Hydra saved.
    """
    import csv

    from omegaconf import OmegaConf

    wanted = int(OmegaConf.select(OmegaConf.load(run_dir / ".hydra" / "config.yaml"), "trainer.max_epochs"))
    epochs = []
    for log in run_dir.glob("metrics/version_*/metrics.csv"):
        with open(log, newline="") as f:
            epochs += [int(float(row["epoch"])) for row in csv.DictReader(f) if row.get("epoch")]
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
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    (ROOT / "runs").mkdir(exist_ok=True)
    system = systems.get(args.system)
    extra = [f"max_epochs={args.max_epochs}"] if args.max_epochs else []
    for model in [args.only] if args.only else MODELS:
        config, overrides = system.train[model]
        stage1 = (
            [f"stage1_epochs={args.stage1_epochs}"] if args.stage1_epochs and model == "multiscale" else []
        )
        name = f"{system.name}_{model}"
        where = {}
        if args.out_dir:
            where = {"run_dir": f"{args.out_dir}/{name}", "package": f"{args.out_dir}/{name}.nequip.zip"}
        train_and_package(name, config, [*overrides, *extra, *stage1], **where)


if __name__ == "__main__":
    main()
