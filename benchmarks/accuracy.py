"""Test-split errors of the water models: baseline, multiscale sum, fast part alone.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/accuracy.py [--models-dir runs/budget_2x]

The test split is the one nequip-train used (nequip's seeded random split with the
configs' seed and split sizes). Writes benchmarks/results/accuracy.md for the bundled
models, benchmarks/results/<folder>/accuracy.md for the packages of ``--models-dir <folder>``
(``train_models.py --out-dir``).
"""

import argparse
import os
import pathlib
import sys

import numpy as np
import torch

from nequip_mts.manifest import FAST_KEY, SUM_KEY
from nequip_mts.resources import CONFIG_PACKAGE, water_data

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import systems  # noqa: E402

DATA = water_data()


def test_indices(config_name, num_frames):
    # composed as nequip-train composes it: the split and seed live in configs/parts/water.yaml
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module=CONFIG_PACKAGE, version_base=None):
        cfg = OmegaConf.to_container(compose(config_name=config_name), resolve=False)
    split = cfg["data"]["split_dataset"]
    sizes = {k: v for k, v in split.items() if k != "file_path"}
    if sum(sizes.values()) != num_frames:
        raise ValueError(f"split {sizes} does not cover the {num_frames} frames")
    generator = torch.Generator().manual_seed(cfg["seed"])
    subsets = torch.utils.data.random_split(range(num_frames), list(sizes.values()), generator=generator)
    return list(subsets[list(sizes).index("test")].indices)


def errors(calc, frames):
    de, df = [], []
    for atoms in frames:
        ref_e, ref_f = atoms.get_potential_energy(), atoms.get_forces()
        a = atoms.copy()
        a.calc = calc
        de.append((a.get_potential_energy() - ref_e) / len(a))
        df.append((a.get_forces() - ref_f).ravel())
    de, df = np.array(de), np.concatenate(df)
    return {
        "E_MAE": 1e3 * np.abs(de).mean(),
        "E_RMSE": 1e3 * np.sqrt((de**2).mean()),
        "F_MAE": 1e3 * np.abs(df).mean(),
        "F_RMSE": 1e3 * np.sqrt((df**2).mean()),
    }


def cutoff(calc) -> float:
    """The cutoff (A) of a calculator's neighbour list transform."""
    return next(t.r_max for t in calc.transforms if getattr(t, "r_max", None))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--models-dir",
        type=pathlib.Path,
        help="the packages water_baseline.nequip.zip and water_multiscale.nequip.zip of this "
        "folder (train_models.py --out-dir) instead of the bundled ones",
    )
    return p.parse_args(argv)


def main(argv=None):
    from ase.io import read

    from nequip_mts.md.providers import saved_model_calculator

    args = parse_args(argv)
    water = systems.SYSTEMS["water"]
    frames = read(DATA, index=":")
    idx = test_indices("water_multiscale", len(frames))
    if idx != test_indices("water_baseline", len(frames)):
        raise RuntimeError("the two configs must share their test split")
    test = [frames[i] for i in idx]
    subsets = {"all": test}
    for kind in ("md", "distorted"):  # config_type written by the data scripts
        subsets[kind] = [f for f in test if f.info.get("config_type", "md") == kind]
    load = lambda kind, key: saved_model_calculator(systems.model_path(water, args, kind), key)  # noqa: E731
    base_calc, fast_calc = load("baseline", SUM_KEY), load("multiscale", FAST_KEY)
    base = f"baseline (single Allegro, r={cutoff(base_calc):g} A)"
    multi = "multiscale sum (fast + slow)"
    models = {
        base: base_calc,
        multi: load("multiscale", SUM_KEY),
        f"fast part alone (r={cutoff(fast_calc):g} A)": fast_calc,
    }
    rows = {
        (name, kind): errors(calc, subset)
        for name, calc in models.items()
        for kind, subset in subsets.items()
        if subset
    }
    ratio = {
        kind: rows[multi, kind]["F_MAE"] / rows[base, kind]["F_MAE"] for kind in subsets if subsets[kind]
    }
    command = (
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} .venv/bin/python benchmarks/accuracy.py"
    )
    if args.models_dir is not None:
        command += f" --models-dir {args.models_dir}"
    lines = [
        "# Accuracy on the test split (GFN1-xTB water)",
        "",
        f"Command: `{command}`  ",
        f"Models: {'the packages of ' + str(args.models_dir) if args.models_dir else 'the bundled ones'}.  ",
        f"{len(test)} test frames of {len(frames)} (nequip's split with the configs' seed): "
        f"{len(subsets['md'])} MD frames and {len(subsets['distorted'])} distorted ones "
        "(benchmarks/data/README.md). Energies in meV/atom, forces in meV/A.",
        "",
        "| model | test frames | E MAE | E RMSE | F MAE | F RMSE |",
        "|---|---|---|---|---|---|",
    ]
    for (name, kind), r in rows.items():
        lines.append(
            f"| {name} | {kind} ({len(subsets[kind])}) | {r['E_MAE']:.2f} | {r['E_RMSE']:.2f} | {r['F_MAE']:.1f} | {r['F_RMSE']:.1f} |"
        )
    lines += [
        "",
        "Composite force MAE / baseline force MAE (target <= 1.05): "
        + ", ".join(f"{kind} {value:.3f}" for kind, value in ratio.items())
        + ".",
    ]
    out = systems.results_stem(water, args, "accuracy").with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
