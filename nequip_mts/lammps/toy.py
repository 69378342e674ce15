"""Small stand-in Allegro models for developing and testing the LAMMPS plugin.

These helpers make a tiny EMT data set for a binary fcc alloy, train a small Allegro
model on it for a few epochs with ``nequip-train`` and compile it with
``nequip-compile``.  Two such models with different cutoffs stand in for the FAST and
SLOW halves of a co-trained pair until a real deploy directory is available.

Nothing here is needed at MD run time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional, Sequence

__all__ = [
    "make_emt_alloy",
    "write_emt_dataset",
    "train_toy_allegro",
    "compile_model",
    "make_toy_deploy",
]


def make_emt_alloy(
    size: int = 3,
    species: Sequence[str] = ("Cu", "Ag"),
    fraction: float = 0.3,
    a: float = 3.7,
    rattle: float = 0.08,
    seed: int = 0,
):
    """An fcc supercell of ``species[0]`` with a random ``fraction`` of ``species[1]``."""
    import numpy as np
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    atoms = bulk(species[0], "fcc", a=a, cubic=True).repeat((size, size, size))
    symbols = np.array(atoms.get_chemical_symbols())
    n_sub = int(round(fraction * len(atoms)))
    symbols[rng.choice(len(atoms), n_sub, replace=False)] = species[1]
    atoms.set_chemical_symbols(symbols.tolist())
    atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.wrap()
    return atoms


def write_emt_dataset(
    path: os.PathLike,
    n_frames: int = 24,
    size: int = 2,
    species: Sequence[str] = ("Cu", "Ag"),
    seed: int = 0,
) -> Path:
    """Write ``n_frames`` EMT-labelled alloy structures (energy, forces, stress) to extxyz."""
    import ase.io
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for i in range(n_frames):
        atoms = make_emt_alloy(
            size=size,
            species=species,
            a=3.7 + 0.05 * ((i % 5) - 2),
            rattle=0.05 + 0.1 * (i % 3) / 2,
            seed=seed + i,
        )
        atoms.calc = EMT()
        res = dict(
            energy=atoms.get_potential_energy(),
            forces=atoms.get_forces(),
            stress=atoms.get_stress(),
        )
        atoms.calc = SinglePointCalculator(atoms, **res)
        frames.append(atoms)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, frames, format="extxyz")
    return path


_CONFIG = """\
run: [train]
seed: {seed}
cutoff_radius: {r_max}
model_type_names: {type_names}
chemical_species: ${{model_type_names}}

dataloader:
  _target_: torch.utils.data.DataLoader
  batch_size: 4

data:
  _target_: nequip.data.datamodule.ASEDataModule
  seed: ${{seed}}
  split_dataset:
    file_path: {dataset}
    train: {n_train}
    val: {n_val}
  transforms:
    - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
      model_type_names: ${{model_type_names}}
      chemical_species_to_atom_type_map: ${{list_to_identity_dict:${{chemical_species}}}}
    - _target_: nequip.data.transforms.NeighborListTransform
      r_max: ${{cutoff_radius}}
  train_dataloader: ${{dataloader}}
  val_dataloader: ${{dataloader}}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${{model_type_names}}

trainer:
  _target_: lightning.Trainer
  max_epochs: {max_epochs}
  enable_progress_bar: false
  logger: false
  enable_model_summary: false
  callbacks:
    - _target_: lightning.pytorch.callbacks.ModelCheckpoint
      dirpath: ${{hydra:runtime.output_dir}}
      filename: last
      save_top_k: 1
      save_last: false

training_module:
  _target_: nequip.train.NequIPLightningModule
  loss:
    _target_: nequip.train.EnergyForceLoss
    per_atom_energy: true
    coeffs:
      total_energy: 1.0
      forces: 1.0
  val_metrics:
    _target_: nequip.train.EnergyForceMetrics
    coeffs:
      total_energy_mae: 1.0
      forces_mae: 1.0
  optimizer:
    _target_: torch.optim.Adam
    lr: 0.005
  model:
    _target_: allegro.model.AllegroModel
    seed: ${{seed}}
    model_dtype: {model_dtype}
    type_names: ${{model_type_names}}
    r_max: ${{cutoff_radius}}
    l_max: 1
    radial_chemical_embed:
      _target_: allegro.nn.TwoBodyBesselScalarEmbed
      num_bessels: 8
    radial_chemical_embed_dim: {width}
    scalar_embed_mlp_hidden_layers_width: {width}
    num_layers: {num_layers}
    num_scalar_features: {width}
    num_tensor_features: 4
    allegro_mlp_hidden_layers_width: {width}
    readout_mlp_hidden_layers_width: {width}
    avg_num_neighbors: ${{training_data_stats:num_neighbors_mean}}
    per_type_energy_shifts: ${{training_data_stats:per_atom_energy_mean}}
    per_type_energy_scales: ${{training_data_stats:forces_rms}}
"""


def _tool(name: str) -> str:
    """Path of a console script living next to the running interpreter."""
    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else name


def _run(cmd, cwd=None, env=None):
    res = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(
            f"command failed ({res.returncode}): {' '.join(map(str, cmd))}\n"
            + res.stdout[-4000:]
        )
    return res.stdout


def train_toy_allegro(
    workdir: os.PathLike,
    dataset: os.PathLike,
    r_max: float,
    type_names: Sequence[str] = ("Cu", "Ag"),
    model_dtype: str = "float32",
    max_epochs: int = 2,
    width: int = 16,
    num_layers: int = 1,
    seed: int = 1,
    n_train: Optional[int] = None,
) -> Path:
    """Train a small Allegro model with ``nequip-train``; return the checkpoint path."""
    import ase.io

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    n_frames = len(ase.io.read(dataset, index=":"))
    n_train = n_train or max(1, n_frames - max(1, n_frames // 6))
    cfg = _CONFIG.format(
        seed=seed,
        r_max=float(r_max),
        type_names="[" + ", ".join(type_names) + "]",
        dataset=str(Path(dataset).resolve()),
        n_train=n_train,
        n_val=n_frames - n_train,
        max_epochs=max_epochs,
        model_dtype=model_dtype,
        width=width,
        num_layers=num_layers,
    )
    (workdir / "config.yaml").write_text(cfg)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    _run(
        [
            _tool("nequip-train"),
            "-cp",
            workdir,
            "-cn",
            "config",
            f"hydra.run.dir={workdir / 'run'}",
        ],
        cwd=workdir,
        env=env,
    )
    ckpt = workdir / "run" / "last.ckpt"
    if not ckpt.exists():
        raise RuntimeError(f"training finished but {ckpt} is missing")
    return ckpt


def compile_model(
    ckpt: os.PathLike,
    out: os.PathLike,
    target: str,
    model: str = "sole_model",
) -> Path:
    """``nequip-compile --mode aotinductor --device cpu --target <target>``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    _run(
        [
            _tool("nequip-compile"),
            ckpt,
            out,
            "--mode",
            "aotinductor",
            "--device",
            "cpu",
            "--target",
            target,
            "--model",
            model,
        ],
        env=env,
    )
    return out


def make_toy_deploy(
    outdir: os.PathLike,
    r_fast: float = 3.0,
    r_slow: float = 4.5,
    type_names: Sequence[str] = ("Cu", "Ag"),
    targets: Sequence[str] = ("pair_allegro", "ase"),
    max_epochs: int = 2,
    slow_width: int = 16,
    slow_layers: int = 1,
    parallel: int = 1,
) -> Path:
    """Train two independent toy models and lay them out like the deploy step would.

    Writes ``<outdir>/<target>/mts_deploy.json`` plus compiled files for every target.
    There is no real "sum" model for independent toys; ``sum`` is left out.
    ``parallel`` compiles run at once (each ``nequip-compile`` is mostly one core).
    """
    from concurrent.futures import ThreadPoolExecutor

    outdir = Path(outdir).resolve()
    data = write_emt_dataset(outdir / "work" / "emt.xyz", species=type_names)
    ckpts = {
        "fast": train_toy_allegro(
            outdir / "work" / "fast", data, r_fast, type_names, max_epochs=max_epochs
        ),
        "slow": train_toy_allegro(
            outdir / "work" / "slow",
            data,
            r_slow,
            type_names,
            max_epochs=max_epochs,
            width=slow_width,
            num_layers=slow_layers,
            seed=2,
        ),
    }
    r_max = {"fast": float(r_fast), "slow": float(r_slow)}
    jobs = []
    for target in targets:
        for part, ckpt in ckpts.items():
            out = outdir / target / f"{part}.nequip.pt2"
            if not out.exists():
                jobs.append((ckpt, out, target))
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for fut in [pool.submit(compile_model, *job) for job in jobs]:
            fut.result()
    for target in targets:
        meta = {
            "format": "nequip-mts-deploy/1",
            "target": target,
            "type_names": list(type_names),
            "model_dtype": "float32",
            "provenance": {"source": "nequip_mts.lammps.toy"},
        }
        for part in ckpts:
            meta[part] = {"file": f"{part}.nequip.pt2", "r_max": r_max[part]}
        (outdir / target / "mts_deploy.json").write_text(json.dumps(meta, indent=2))
    shutil.copy(data, outdir / "emt.xyz")
    return outdir


if __name__ == "__main__":  # pragma: no cover - manual use
    import argparse

    p = argparse.ArgumentParser(description=textwrap.dedent(__doc__))
    p.add_argument("outdir")
    p.add_argument("--r-fast", type=float, default=3.0)
    p.add_argument("--r-slow", type=float, default=4.5)
    a = p.parse_args()
    print(make_toy_deploy(a.outdir, a.r_fast, a.r_slow))
